//! The hinted-replica database (Dynamo §4.6): versions a fallback node
//! holds on behalf of unreachable nodes, kept apart from its main data.
//!
//! Every way a hint enters or leaves this store goes through one method
//! that says how many versions moved, so the books always balance:
//! stored = delivered + superseded + capped + lost + retargeted + pending
//! (see [`HintBooks`]). The store is durable: a plain crash keeps it, a
//! disk loss takes it.

use super::store::{PutEffect, Store, StoreRules};
use super::vclock::Dot;
use crate::protocol::{Key, Version};
use crate::types::NodeId;
use std::collections::BTreeMap;

/// Hinted versions by the node they are meant for, with their count kept
/// in step (the simulator reads it after every event).
#[derive(Clone, Debug, Default)]
pub struct Hints {
    by_intended: BTreeMap<NodeId, Store>,
    versions: u64,
}

/// Where every hinted version a node ever stored went. Each version is in
/// exactly one bucket, so
/// `stored == delivered + superseded + capped + lost + retargeted + pending`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HintBooks {
    /// Hinted versions stored.
    pub stored: u64,
    /// Handed back to the intended node and acknowledged by it.
    pub delivered: u64,
    /// Replaced by a newer hint for the same key and intended node.
    pub superseded: u64,
    /// Dropped by the sibling cap (too many concurrent hints for one key).
    pub capped: u64,
    /// Gone with the holder's disk.
    pub lost: u64,
    /// Meant for a node that left the ring: moved to the holder's main
    /// data, to be passed on to the key's current owners (see `handover.rs`).
    pub retargeted: u64,
    /// Still held.
    pub pending: u64,
}

impl HintBooks {
    /// True when every stored hint is in exactly one bucket.
    pub fn balanced(&self) -> bool {
        self.stored == self.delivered + self.superseded + self.capped + self.lost + self.retargeted + self.pending
    }
}

/// What storing one hinted version did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HintPut {
    /// The version was stored (false: an equal or newer hint was there).
    pub stored: bool,
    /// Older hints it replaced.
    pub superseded: u64,
    /// Hints (possibly itself) the sibling cap dropped.
    pub capped: Vec<Version>,
}

impl Hints {
    /// Stores `version` of `key` on behalf of `intended`.
    pub fn put(&mut self, intended: NodeId, key: Key, version: Version, rules: StoreRules) -> HintPut {
        let hints = self.by_intended.entry(intended).or_default();
        let before = hints.get(key.id);
        let replaced = before.iter().filter(|old| rules.versioning.covers(&version, old)).count() as u64;
        let before = before.len() as u64;
        let effect = hints.put(key, version, rules);
        let after = hints.get(key.id).len() as u64;
        if hints.is_empty() {
            self.by_intended.remove(&intended);
        }
        self.versions = self.versions + after - before;
        match effect {
            PutEffect::Obsolete => HintPut::default(),
            PutEffect::Stored => HintPut { stored: true, superseded: replaced, capped: Vec::new() },
            PutEffect::StoredOverCap(dropped) => HintPut { stored: true, superseded: replaced, capped: dropped },
        }
    }

    /// `intended` acknowledged storing the versions `dots` of `key`: drops
    /// those hints and returns how many (0 for a duplicate or late
    /// acknowledgement).
    pub fn remove_delivered(&mut self, intended: NodeId, key: u64, dots: &[Dot]) -> u64 {
        let Some(hints) = self.by_intended.get_mut(&intended) else { return 0 };
        let delivered = hints.remove_dots(key, dots) as u64;
        if hints.is_empty() {
            self.by_intended.remove(&intended);
        }
        self.versions -= delivered;
        delivered
    }

    /// The disk is gone: removes and returns every hinted version.
    pub fn take_all(&mut self) -> Vec<(u64, Version)> {
        self.versions = 0;
        std::mem::take(&mut self.by_intended)
            .into_values()
            .flat_map(|store| {
                store.iter().flat_map(|(key, vs)| vs.iter().map(move |v| (key.id, v.clone()))).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Removes and returns every hint meant for `intended`.
    pub fn take_intended(&mut self, intended: NodeId) -> Vec<(Key, Version)> {
        let Some(hints) = self.by_intended.remove(&intended) else { return Vec::new() };
        let taken: Vec<(Key, Version)> =
            hints.iter().flat_map(|(key, versions)| versions.iter().map(move |v| (key, v.clone()))).collect();
        self.versions -= taken.len() as u64;
        taken
    }

    /// Nodes some hint is meant for, in id order.
    pub fn intended(&self) -> Vec<NodeId> {
        self.by_intended.keys().copied().collect()
    }

    /// Up to `limit` keys (in key order) hinted for `intended`, with their versions.
    pub fn batch(&self, intended: NodeId, limit: usize) -> Vec<(Key, Vec<Version>)> {
        let Some(hints) = self.by_intended.get(&intended) else { return Vec::new() };
        hints.iter().take(limit).map(|(key, versions)| (key, versions.to_vec())).collect()
    }

    /// The hinted versions of `key` for each node they are meant for
    /// (empty for nodes that hold none), each list reconciled as a store's is.
    pub fn versions_of(&self, key: u64) -> impl Iterator<Item = &[Version]> {
        self.by_intended.values().map(move |h| h.get(key))
    }

    /// The keys of every hint held (a key hinted for several nodes repeats).
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_intended.values().flat_map(|hints| hints.iter().map(|(key, _)| key.id))
    }

    /// Hinted versions held.
    pub fn pending(&self) -> u64 {
        debug_assert_eq!(self.versions, self.by_intended.values().map(|s| s.version_count() as u64).sum::<u64>());
        self.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::store::tests::version;
    use crate::node::versioning::Versioning;

    /// Keeps the books the way the node does, from what each call returns.
    #[derive(Default)]
    struct Ledger {
        hints: Hints,
        books: HintBooks,
    }

    impl Ledger {
        fn put(&mut self, intended: u32, key: u64, v: Version, rules: StoreRules) {
            let put = self.hints.put(NodeId(intended), Key::new(key), v, rules);
            self.books.stored += u64::from(put.stored);
            self.books.superseded += put.superseded;
            self.books.capped += put.capped.len() as u64;
        }
        fn ack(&mut self, intended: u32, key: u64, writes: &[u64]) {
            let dots: Vec<Dot> = writes.iter().map(|&w| Dot { actor: NodeId(99).into(), counter: w }).collect();
            self.books.delivered += self.hints.remove_delivered(NodeId(intended), Key::new(key).id, &dots);
        }
        fn balanced(&mut self) -> bool {
            self.books.pending = self.hints.pending();
            self.books.balanced()
        }
    }

    const VC: StoreRules = StoreRules::VECTOR_CLOCKS;

    #[test]
    fn every_hint_ends_in_exactly_one_bucket() {
        let mut l = Ledger::default();
        l.put(1, 7, version(1, &[(0, 1)]), VC);
        l.put(1, 7, version(2, &[(0, 2)]), VC); // supersedes write 1
        l.put(1, 7, version(2, &[(0, 2)]), VC); // obsolete: not stored again
        l.put(2, 7, version(3, &[(0, 1)]), VC); // another intended node: apart
        assert_eq!((l.books.stored, l.books.superseded, l.hints.pending()), (3, 1, 2));
        assert!(l.balanced());
        l.ack(1, 7, &[2]);
        l.ack(1, 7, &[2]); // a duplicate acknowledgement delivers nothing more
        l.ack(1, 7, &[1]); // a late one for a superseded hint neither
        assert_eq!(l.books.delivered, 1);
        assert!(l.balanced());
        l.books.lost += l.hints.take_all().len() as u64;
        assert_eq!((l.books.lost, l.hints.pending()), (1, 0));
        assert!(l.balanced());
    }

    #[test]
    fn the_books_balance_only_when_stored_is_the_sum_of_every_bucket() {
        // Every bucket non-zero and distinct, so no bucket can be dropped,
        // subtracted or multiplied in without the sum changing.
        let books =
            HintBooks { stored: 21, delivered: 1, superseded: 2, capped: 3, lost: 4, retargeted: 5, pending: 6 };
        assert!(books.balanced());
        for off_by_one in [
            HintBooks { stored: 22, ..books },
            HintBooks { delivered: 2, ..books },
            HintBooks { superseded: 3, ..books },
            HintBooks { capped: 4, ..books },
            HintBooks { lost: 5, ..books },
            HintBooks { retargeted: 6, ..books },
            HintBooks { pending: 7, ..books },
        ] {
            assert!(!off_by_one.balanced(), "{off_by_one:?}");
        }
    }

    #[test]
    fn taking_the_hints_of_one_intended_node_leaves_the_others() {
        let mut hints = Hints::default();
        hints.put(NodeId(1), Key::new(7), version(1, &[(0, 1)]), VC);
        hints.put(NodeId(1), Key::new(8), version(2, &[(0, 2)]), VC);
        hints.put(NodeId(2), Key::new(7), version(3, &[(0, 3)]), VC);
        let taken = hints.take_intended(NodeId(1));
        let mut writes: Vec<u64> = taken.iter().map(|(_, v)| v.write.0).collect();
        writes.sort_unstable();
        assert_eq!(writes, [1, 2]);
        assert_eq!((hints.pending(), hints.intended()), (1, vec![NodeId(2)]));
        assert!(hints.take_intended(NodeId(1)).is_empty(), "taken once");
        assert_eq!(hints.take_intended(NodeId(2)).len(), 1);
        assert_eq!((hints.pending(), hints.intended()), (0, vec![]));
    }

    #[test]
    fn the_sibling_cap_drops_hints_into_their_own_bucket() {
        let capped = StoreRules { versioning: Versioning::VectorClocks, sibling_cap: 1 };
        let mut l = Ledger::default();
        l.put(1, 7, version(5, &[(0, 1)]), capped);
        l.put(1, 7, version(3, &[(1, 1)]), capped); // concurrent and older: dropped itself
        l.put(1, 7, version(9, &[(2, 1)]), capped); // concurrent and newer: drops write 5
        assert_eq!((l.books.stored, l.books.superseded, l.books.capped, l.hints.pending()), (3, 0, 2, 1));
        assert!(l.balanced());
    }
}
