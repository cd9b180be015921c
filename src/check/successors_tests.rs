//! The fast lost-write classification against the quadratic one it
//! replaced, kept here as the reference oracle, on random small histories
//! (reused dots, duplicate coordinations, chains of contexts and all three
//! versionings included).

use super::durability::{check_end_state, EndState};
use super::history::{OpKind, OpRecord, Outcome};
use super::lineage::Lineage;
use super::ConsistencyReport;
use crate::node::vclock::{Dot, VectorClock};
use crate::node::versioning::Versioning;
use crate::protocol::{Stamp, WriteId};
use crate::protocol::{Version, VersionId};
use crate::types::{ClientId, NodeId, Time};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// The lost-write figures as the checker computed them before the index:
/// every known version of the key walked for every lost write.
mod oracle {
    use super::*;

    pub fn lost_writes(history: &[OpRecord], lineage: &Lineage, end: &EndState, versioning: Versioning) -> Figures {
        let mut figures = Figures::default();
        for op in history.iter().filter(|op| op.is_acknowledged_write()) {
            let Some(write) = op.write() else { continue };
            let held = end.final_versions.get(&op.key).map_or(&[][..], Vec::as_slice);
            let successors = successors(lineage, op.key, write, versioning);
            let sight = Sight { lineage, write, successors: &successors, versioning, truncated: end.clocks_truncated };
            if sight.present(held) {
                continue;
            }
            figures.lost += 1;
            let among = |versions: Option<&Vec<Version>>| versions.is_some_and(|vs| sight.present(vs));
            if sight.present(&(end.held_anywhere)(op.key)) {
                figures.unexplained += 1;
            } else if let Some(lost_update) = overwrite(lineage, &successors, write, versioning) {
                figures.overwritten += 1;
                if lost_update {
                    figures.lost_update_writes.insert(write);
                }
            } else if among(end.wiped.get(&op.key)) {
                figures.disk_or_buffer += 1;
            } else if among(end.capped.get(&op.key)) {
                figures.sibling_cap += 1;
            } else {
                figures.unexplained += 1;
            }
        }
        figures
    }

    struct Sight<'a, 'l> {
        lineage: &'a Lineage<'l>,
        write: WriteId,
        successors: &'a [&'a Version],
        versioning: Versioning,
        truncated: bool,
    }

    impl Sight<'_, '_> {
        fn present(&self, versions: &[Version]) -> bool {
            let (lineage, write, versioning) = (self.lineage, self.write, self.versioning);
            versions.iter().any(|v| v.write == write)
                || versions.iter().any(|v| {
                    let superseded =
                        v.write != write && lineage.versions_of(write).any(|old| versioning.supersedes(v, old));
                    let through = self.successors.iter().any(|s| s.id() == v.id() || versioning.supersedes(v, s));
                    (self.truncated || superseded || through) && v.write != write && lineage.saw(v.write, write)
                })
        }
    }

    fn successors<'l>(lineage: &'l Lineage, key: u64, write: WriteId, versioning: Versioning) -> Vec<&'l Version> {
        let known: Vec<&Version> = lineage.versions_of_key(key).filter(|v| v.write != write).collect();
        let mut found: Vec<&Version> = Vec::new();
        let mut frontier: Vec<&Version> = lineage.versions_of(write).collect();
        while let Some(older) = frontier.pop() {
            for &newer in &known {
                if versioning.supersedes(newer, older) && !found.iter().any(|f| f.id() == newer.id()) {
                    found.push(newer);
                    frontier.push(newer);
                }
            }
        }
        found
    }

    /// Some(lost update?) when a successor's writer never saw the write.
    fn overwrite(lineage: &Lineage, successors: &[&Version], write: WriteId, versioning: Versioning) -> Option<bool> {
        let seen_by = lineage.seen_by(write);
        let seen = successors.iter().any(|v| seen_by.contains(&v.write));
        let unseen = successors.iter().any(|v| !seen_by.contains(&v.write));
        unseen.then_some(!seen && versioning != Versioning::LastWriteWins)
    }
}

/// The figures the two classifications must agree on.
#[derive(Debug, Default, PartialEq, Eq)]
struct Figures {
    lost: u64,
    unexplained: u64,
    overwritten: u64,
    disk_or_buffer: u64,
    sibling_cap: u64,
    lost_update_writes: BTreeSet<WriteId>,
}

impl Figures {
    fn of(report: &ConsistencyReport) -> Figures {
        Figures {
            lost: report.lost_writes,
            unexplained: report.lost_writes_unexplained,
            overwritten: report.lost_writes_overwritten,
            disk_or_buffer: report.lost_writes_disk_or_buffer,
            sibling_cap: report.lost_writes_sibling_cap,
            lost_update_writes: report.lost_update_writes.iter().copied().collect(),
        }
    }
}

/// One random version: (write, dot node, dot counter, clock entries, stamp).
type VersionSpec = (u64, u32, u64, Vec<(u32, u64)>, u64);

fn version((write, node, counter, clock, stamp): &VersionSpec) -> Version {
    let mut c = VectorClock::new();
    for &(actor, count) in clock {
        if c.counter(NodeId(actor)) < count {
            c.set(NodeId(actor), count, Time(0));
        }
    }
    let dot = Dot { actor: NodeId(*node).into(), counter: *counter };
    Version::of_write(*write, dot, c, Stamp { time_us: *stamp, writer: *node })
}

/// Small values so dots, clocks and stamps collide often.
fn version_spec(writes: u64) -> impl Strategy<Value = VersionSpec> {
    (1..=writes, 0..3u32, 1..5u64, prop::collection::vec((0..3u32, 1..5u64), 0..3), 0..6u64)
}

/// Writes 1..=writes on keys 1 and 2, each acknowledged or not, with a
/// context of earlier writes' versions; and the end state's versions.
fn scenario() -> impl Strategy<Value = (Vec<OpRecord>, [Vec<Version>; 4], bool)> {
    let writes = 6u64;
    let ops = prop::collection::vec(
        (
            1..3u64,
            any::<bool>(),
            prop::option::of(version_spec(writes)),
            prop::collection::vec(version_spec(writes), 0..3),
        ),
        writes as usize,
    );
    let shown = || prop::collection::vec(version_spec(writes), 0..5);
    (ops, [shown(), shown(), shown(), shown()], any::<bool>()).prop_map(|(ops, shown, truncated)| {
        let history = ops
            .into_iter()
            .enumerate()
            .map(|(index, (key, acknowledged, acked, context))| {
                let id = index as u64 + 1;
                let mut op = OpRecord::invoked(ClientId(0), id, OpKind::Write, key, Time(id * 10));
                op.set_write(WriteId(id), false, false);
                op.outcome = if acknowledged { Outcome::Ok } else { Outcome::TimedOut };
                if let Some(spec) = acked {
                    op.set_acked(version(&(id, spec.1, spec.2, spec.3, spec.4)));
                }
                op.set_context(
                    context.iter().map(|spec| VersionId { write: WriteId(spec.0), dot: version(spec).dot }).collect(),
                );
                op
            })
            .collect();
        (history, shown.map(|specs| specs.iter().map(version).collect()), truncated)
    })
}

proptest! {
    #[test]
    fn the_fast_lost_write_classification_equals_the_quadratic_one((history, shown, truncated) in scenario()) {
        let [held, anywhere, wiped, capped] = shown;
        // All on key 1 (key 2 writes have no end-state versions: held nowhere).
        let by_key = |versions: Vec<Version>| BTreeMap::from([(1, versions)]);
        let (final_versions, wiped, capped) = (by_key(held), by_key(wiped), by_key(capped));
        let held_anywhere = |key: u64| if key == 1 { anywhere.clone() } else { Vec::new() };
        let mut lineage = Lineage::from_history(&history);
        for (key, versions) in final_versions.iter().chain(&wiped).chain(&capped) {
            lineage.add(*key, versions);
        }
        let end = EndState { final_versions: &final_versions, held_anywhere: &held_anywhere, wiped: &wiped, capped: &capped, clocks_truncated: truncated };
        for versioning in [Versioning::VectorClocks, Versioning::DottedVersionVectors, Versioning::LastWriteWins] {
            let mut report = ConsistencyReport::default();
            check_end_state(&mut report, &history, &lineage, &end, versioning);
            prop_assert_eq!(Figures::of(&report), oracle::lost_writes(&history, &lineage, &end, versioning), "{:?}", versioning);
        }
    }
}
