//! Preference-list walks: distinct physical nodes clockwise from a start token.
//!
//! Without zones the walk takes each physical node the first time it is met
//! (Dynamo §4.3: "skip positions of physical nodes already chosen"). With
//! zones it walks in *rounds*: round `r` takes a node the first time it is met
//! if its zone has been used fewer than `r` times. Round 1 therefore yields
//! one node per zone, so with at least `n` zones the first `n` entries never
//! share a zone; later rounds spread the rest over zones as evenly as ring
//! order allows. `preference_list(n)` is always the first `n` entries of the
//! extended list, which is what sloppy quorum needs (its fallbacks follow
//! the preference list in the same order).

use super::Ring;
use crate::types::NodeId;
use smallvec::SmallVec;

/// Nodes an extended walk remembers in a list before it switches to a
/// bitmap by node id: a request's walk stops after N of them, and a
/// bitmap sized by the cluster (a kilobyte at 1,000 nodes, zeroed) cost an
/// allocation per request.
const LISTED: usize = 8;

impl Ring {
    /// Fills `out` with up to `want` nodes walking clockwise from token index
    /// `start`. No allocation beyond `out`'s growth.
    pub(super) fn walk_into(&self, start: usize, want: usize, out: &mut Vec<NodeId>) {
        let count = self.tokens.len();
        if count == 0 || want == 0 {
            return;
        }
        let mut round: usize = 1;
        while out.len() < want {
            let before = out.len();
            let mut index = start;
            for _ in 0..count {
                let node = self.tokens[index].1;
                if self.eligible(node, round, out) {
                    out.push(node);
                    if out.len() == want {
                        return;
                    }
                }
                index += 1;
                if index == count {
                    index = 0;
                }
            }
            if self.zones.is_none() || out.len() == before {
                return;
            }
            round += 1;
        }
    }

    /// May `node` join the list `chosen` in walk round `round`?
    fn eligible(&self, node: NodeId, round: usize, chosen: &[NodeId]) -> bool {
        if chosen.contains(&node) {
            return false;
        }
        match &self.zones {
            None => true,
            Some(zones) => {
                let zone = zones.dense(node);
                chosen.iter().filter(|&&m| zones.dense(m) == zone).count() < round
            }
        }
    }
}

/// Iterator over a position's extended preference list: every physical node
/// once, in the order described in the module doc.
#[derive(Debug)]
pub struct ExtendedPreference<'a> {
    ring: &'a Ring,
    start: usize,
    offset: usize,
    round: u32,
    emitted: usize,
    seen: Seen,
    zone_used: Vec<u32>,
}

/// The nodes a walk has emitted: listed while few, then a bitmap.
#[derive(Debug)]
struct Seen {
    listed: SmallVec<[NodeId; LISTED]>,
    /// By node id, once more than [`LISTED`] nodes were emitted (empty before).
    bitmap: Vec<bool>,
    /// One more than the largest node id (the bitmap's length).
    id_limit: usize,
}

impl Seen {
    fn contains(&self, node: NodeId) -> bool {
        if self.bitmap.is_empty() {
            self.listed.contains(&node)
        } else {
            self.bitmap[node.0 as usize]
        }
    }

    fn insert(&mut self, node: NodeId) {
        if self.bitmap.is_empty() && self.listed.len() < LISTED {
            self.listed.push(node);
            return;
        }
        if self.bitmap.is_empty() {
            self.bitmap = vec![false; self.id_limit];
            for listed in self.listed.drain(..) {
                self.bitmap[listed.0 as usize] = true;
            }
        }
        self.bitmap[node.0 as usize] = true;
    }
}

impl<'a> ExtendedPreference<'a> {
    pub(super) fn new(ring: &'a Ring, start: usize) -> Self {
        let id_limit = ring.nodes.last().map_or(0, |n| n.0 as usize + 1);
        let zone_count = ring.zones.as_ref().map_or(0, |z| z.count);
        ExtendedPreference {
            ring,
            start,
            offset: 0,
            round: 1,
            emitted: 0,
            seen: Seen { listed: SmallVec::new(), bitmap: Vec::new(), id_limit },
            zone_used: vec![0; zone_count],
        }
    }
}

impl Iterator for ExtendedPreference<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        let count = self.ring.tokens.len();
        while self.emitted < self.ring.nodes.len() && count > 0 {
            if self.offset == count {
                self.offset = 0;
                self.round += 1;
                assert!(self.round as usize <= self.ring.nodes.len() + 1, "every round emits at least one node");
            }
            let node = self.ring.tokens[(self.start + self.offset) % count].1;
            self.offset += 1;
            if self.seen.contains(node) {
                continue;
            }
            if let Some(zones) = &self.ring.zones {
                let zone = zones.dense(node) as usize;
                if self.zone_used[zone] >= self.round {
                    continue;
                }
                self.zone_used[zone] += 1;
            }
            self.seen.insert(node);
            self.emitted += 1;
            return Some(node);
        }
        None
    }
}
