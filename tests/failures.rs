//! End-to-end behaviour under faults (issue: failures). Every test asserts
//! that the mechanism it is about was exercised, so none passes vacuously.

mod common;

use common::{bundled, inline, run_twice, scenario_text};
use dynasim::check::history::{OpKind, OpRecord, Outcome};
use dynasim::node::versioning::Versioning;
use dynasim::types::{NodeId, Time};
use dynasim::{RunReport, Scenario, Simulation};

fn applied(report: &RunReport, label: &str) -> bool {
    report.summary.faults.iter().any(|f| f.label.starts_with(label))
}

fn writes_between(report: &RunReport, from_ms: u64, to_ms: u64) -> impl Iterator<Item = &OpRecord> {
    report.outcome.history.iter().filter(move |op| {
        op.kind == OpKind::Write && op.invoke >= Time(from_ms * 1000) && op.invoke < Time(to_ms * 1000)
    })
}

#[test]
fn w1_coordinator_cut_off_then_disk_loss_loses_acknowledged_writes() {
    let report = run_twice(&bundled("disk-loss-w1.toml"), 1);
    let c = &report.summary.consistency;
    assert!(applied(&report, "partition") && applied(&report, "disk-loss"), "faults applied");
    assert!(c.acknowledged_writes > 0);
    assert!(c.lost_writes_disk_or_buffer > 0, "W=1 writes held only by the lost disk are gone");
    assert_eq!(c.lost_writes_unexplained, 0, "every loss is explained by the disk loss");
    assert_eq!(report.summary.invariants["no-lost-writes"], "held");
}

#[test]
fn w2_makes_the_cut_off_coordinators_writes_fail_instead_of_being_lost() {
    let text = scenario_text("disk-loss-w1.toml").replace("w = 1", "w = 2");
    let report = run_twice(&inline(&text), 1);
    let c = &report.summary.consistency;
    assert!(applied(&report, "disk-loss"));
    assert!(c.acknowledged_writes > 0);
    let failed_during_partition = writes_between(&report, 1500, 4000).filter(|op| op.outcome != Outcome::Ok).count();
    assert!(failed_during_partition > 0, "the cut-off coordinator cannot gather W=2 acks");
    assert_eq!(c.lost_writes_disk_or_buffer, 0, "every acknowledged write reached a second replica");
    assert_eq!(c.lost_writes_unexplained, 0);
    assert_eq!(c.lost_writes, c.lost_writes_overwritten, "blind writes overwrite each other, by design");
}

#[test]
fn sloppy_quorum_keeps_writes_available_through_a_partition() {
    let report = run_twice(&bundled("partition-sloppy-on.toml"), 1);
    let s = &report.summary;
    let window = s.windows.iter().find(|w| w.label.starts_with("partition")).expect("partition window");
    assert!(window.end_us - window.start_us >= 50 * 100_000, "partition lasts >= 50x the 100 ms request timeout");
    assert!(window.writes > 1_000);
    let availability = window.writes_ok as f64 / window.writes as f64;
    assert!(availability >= 0.99, "write availability over the partition {availability}");
    assert!(s.hints.stored > 0);
    assert_eq!(s.consistency.lost_writes_unexplained, 0);
    assert_eq!(s.consistency.lost_writes, s.consistency.lost_writes_overwritten, "only silent overwrites");
}

/// Writes invoked well inside the partition to keys whose preference list holds `node`.
fn writes_to_keys_of<'a>(report: &'a RunReport, scenario: &Scenario, node: NodeId) -> Vec<&'a OpRecord> {
    let sim = Simulation::new(scenario, 1);
    writes_between(report, 2500, 7900).filter(|op| sim.preference_list(op.key).contains(&node)).collect()
}

#[test]
fn strict_quorum_fails_writes_to_keys_replicated_on_the_isolated_node() {
    let scenario = bundled("partition-sloppy-off.toml");
    let report = run_twice(&scenario, 1);
    let affected = writes_to_keys_of(&report, &scenario, NodeId(0));
    assert!(affected.len() > 100, "hot keys replicated on n0 were written");
    assert!(affected.iter().all(|op| op.outcome != Outcome::Ok), "W=3 of the top 3 cannot be met without n0");
    let others_ok = writes_between(&report, 2500, 7900).filter(|op| op.outcome == Outcome::Ok).count();
    assert!(others_ok > 100, "keys not replicated on n0 stay writable");
    assert_eq!(report.summary.hints.stored, 0);
}

#[test]
fn hints_are_handed_back_after_the_partition_heals() {
    // Read repair off, so hinted handoff is the only way back to n0.
    let text = scenario_text("partition-sloppy-on.toml")
        .replace("sloppy_quorum = true", "sloppy_quorum = true\nread_repair = false");
    let scenario = inline(&text);
    let report = run_twice(&scenario, 1);
    let hints = &report.summary.hints;
    assert!(hints.stored > 0 && hints.delivered > 0);
    assert_eq!(hints.pending_at_end, 0);
    assert!(hints.drained_after_last_heal_us.is_some());
    let n0 = &report.outcome.nodes[0];
    let acked: Vec<&OpRecord> =
        writes_to_keys_of(&report, &scenario, NodeId(0)).into_iter().filter(|op| op.outcome == Outcome::Ok).collect();
    assert!(acked.len() > 100);
    for op in acked {
        let write = op.write().expect("a write");
        let acked = op.acked().expect("an acknowledged write names its version");
        let held = n0.main_versions(op.key);
        let present = held.iter().any(|v| v.write == write || Versioning::VectorClocks.covers(v, acked));
        assert!(present, "n0 lacks write {write:?} to key {} after handoff", op.key);
    }
}

const STRICT_WITH_FAULTS: &str = r#"
duration_ms = 3000
quiesce_ms = 2000
expect = ["no-stale-reads"]
[cluster]
nodes = 6
[quorum]
n = 3
r = 2
w = 2
[node]
sloppy_quorum = false
request_timeout_ms = 100
[workload]
rate_per_s = 1500
keys = 100
popularity = { zipf = 1.1 }
timeout_ms = 150
[[faults]]
at_ms = 500
action = "crash"
nodes = [1]
duration_ms = 800
[[faults]]
at_ms = 1500
action = "partition"
groups = [["n2", "c0", "c1"], ["others"]]
duration_ms = 800
[[faults]]
at_ms = 2400
action = "partition"
from = ["n4"]
to = ["nodes"]
duration_ms = 300
"#;

/// Reads invoked within 20 ms after an acknowledged write of the same key.
fn reads_soon_after_writes(history: &[OpRecord]) -> usize {
    history
        .iter()
        .filter(|read| read.kind == OpKind::Read && read.outcome == Outcome::Ok)
        .filter(|read| {
            history.iter().any(|w| {
                w.key == read.key
                    && w.is_acknowledged_write()
                    && w.complete().is_some_and(|c| c < read.invoke && read.invoke.since(c) < 20_000)
            })
        })
        .count()
}

#[test]
fn strict_quorums_never_read_stale_under_crashes_and_partitions() {
    let scenario = inline(STRICT_WITH_FAULTS);
    run_twice(&scenario, 1);
    for seed in 1..=50 {
        let report = dynasim::run(&scenario, seed);
        let s = &report.summary;
        assert!(applied(&report, "crash") && applied(&report, "partition"));
        assert!(reads_soon_after_writes(&report.outcome.history) > 0, "seed {seed}: recently written keys were read");
        assert!(s.ops.succeeded < s.ops.total, "seed {seed}: the faults cost some requests");
        assert_eq!(s.consistency.stale_reads, 0, "repro: seed {seed}");
        assert_eq!(s.invariants["no-stale-reads"], "held");
    }
}

/// One key; its preference list [a, b, c] and the other nodes.
fn one_key_cluster(sloppy: bool) -> (String, Vec<NodeId>, Vec<NodeId>) {
    let base = format!(
        "duration_ms = 6000\nquiesce_ms = 2000\n[cluster]\nnodes = 6\n[quorum]\nn = 3\nr = 2\nw = 2\n\
         [node]\nsloppy_quorum = {sloppy}\nrequest_timeout_ms = 100\n\
         [workload]\nrate_per_s = 400\nkeys = 1\ntimeout_ms = 150\n[routing]\navoid_after_timeout_ms = 500\n"
    );
    let preference = Simulation::new(&inline(&base), 1).preference_list(0);
    let others = (0..6).map(NodeId).filter(|n| !preference.contains(n)).collect();
    (base, preference, others)
}

fn forced_stale_schedule(sloppy: bool) -> Scenario {
    let (base, preference, others) = one_key_cluster(sloppy);
    let name = |n: &NodeId| format!("\"n{}\"", n.0);
    let (b, c) = (name(&preference[1]), name(&preference[2]));
    let isolated: Vec<String> = std::iter::once(&preference[0]).chain(others.iter()).map(name).collect();
    // 1-3 s: b and c cut off, so writes land on a and a fallback (hinted).
    // 3-5 s: a and the fallbacks cut off, so reads reach only b and c.
    let faults = format!(
        "[[faults]]\nat_ms = 1000\naction = \"partition\"\ngroups = [[{b}, {c}], [\"others\"]]\nduration_ms = 2000\n\
         [[faults]]\nat_ms = 3000\naction = \"partition\"\ngroups = [[{}], [\"others\"]]\nduration_ms = 2000\n",
        isolated.join(", ")
    );
    inline(&(base + &faults))
}

#[test]
fn sloppy_quorums_under_a_partition_can_read_stale_and_the_checker_counts_it() {
    let report = run_twice(&forced_stale_schedule(true), 1);
    let s = &report.summary;
    assert!(s.hints.stored > 0, "phase-1 writes were hinted to fallbacks");
    assert!(s.consistency.stale_reads > 0, "reads from b and c miss the writes held by a and the fallbacks");
    assert!(s.invariants["no-stale-reads"].starts_with("not-applicable"));
}

#[test]
fn the_same_schedule_with_strict_quorums_is_not_stale() {
    let report = run_twice(&forced_stale_schedule(false), 1);
    let s = &report.summary;
    assert!(s.consistency.reads_of_written_keys > 100);
    assert!(writes_between(&report, 1200, 3000).all(|op| op.outcome != Outcome::Ok), "phase-1 writes fail instead");
    assert_eq!(s.consistency.stale_reads, 0);
}

#[test]
fn last_write_wins_with_clock_skew_loses_updates() {
    let skewed = run_twice(&bundled("lww-clock-skew.toml"), 1);
    assert!(applied(&skewed, "clock-skew"));
    assert!(skewed.summary.consistency.acknowledged_writes > 1_000);
    let lost_skewed = skewed.summary.consistency.lww_lost_updates;
    let unskewed =
        run_twice(&inline(&scenario_text("lww-clock-skew.toml").replace("skew_ms = 500.0", "skew_ms = 0.0")), 1);
    let lost_unskewed = unskewed.summary.consistency.lww_lost_updates;
    assert!(lost_skewed > 10 * lost_unskewed.max(1), "skewed {lost_skewed} vs unskewed {lost_unskewed}");
}

#[test]
fn cart_merge_resurfaces_deleted_items() {
    let report = run_twice(&bundled("cart-merge-n3r2w2.toml"), 1);
    let c = &report.summary.consistency;
    let removes = report
        .outcome
        .history
        .iter()
        .filter(|op| {
            op.is_acknowledged_write() && matches!(op.cart(), Some(dynasim::check::history::CartOp::Remove(_)))
        })
        .count();
    assert!(removes > 100, "items were removed");
    assert!(c.resurfaced_deletes > 0, "concurrent add/remove branches merge by union");
    assert_eq!(c.causal_sibling_violations, 0);
}

#[test]
fn a_crash_and_restart_dips_availability_only_while_the_node_is_down() {
    let report = run_twice(&bundled("crash-restart.toml"), 1);
    let windows = &report.summary.windows;
    assert_eq!(windows.len(), 3);
    assert!(windows[0].availability > 0.999 && windows[2].availability > 0.999);
    assert!(windows[1].availability < windows[0].availability);
    assert!(report.summary.hints.stored > 0);
    assert_eq!(report.summary.hints.pending_at_end, 0);
    let c = &report.summary.consistency;
    assert_eq!(c.lost_writes_unexplained + c.lost_writes_disk_or_buffer, 0, "the crash lost no write");
}

#[test]
fn buffered_writes_cut_the_write_latency_tail() {
    // Dynamo §6.1: p99.9 write latency fell by a factor of 5 with buffered writes.
    let buffered = run_twice(&bundled("buffered-writes.toml"), 1);
    let direct = run_twice(
        &inline(&scenario_text("buffered-writes.toml").replace("buffered_writes = true", "buffered_writes = false")),
        1,
    );
    assert!(buffered.summary.nodes.flushes > 0);
    assert_eq!(direct.summary.nodes.flushes, 0);
    let (tail_buffered, tail_direct) =
        (buffered.summary.latency_us["write"].p999, direct.summary.latency_us["write"].p999);
    assert!(tail_buffered * 3 < tail_direct, "p99.9 {tail_buffered} µs buffered vs {tail_direct} µs direct");
}

/// Which versions of a key survive anywhere at the end (the checker asks
/// about each lost write) is answered by asking every node for the first
/// questions, then from an index of who holds what: both give every
/// node's versions, in node order.
#[test]
fn versions_held_anywhere_are_the_same_asked_node_by_node_or_through_the_index() {
    let outcome = Simulation::new(&bundled("disk-loss-w1.toml"), 1).run();
    let keys: std::collections::BTreeSet<u64> = outcome.history.iter().map(|op| op.key).collect();
    let expected: Vec<_> = keys
        .iter()
        .map(|&key| outcome.nodes.iter().flat_map(|node| node.local_versions(key)).collect::<Vec<_>>())
        .collect();
    // 300 keys, ~900 (key, node) pairs on 6 nodes: the first ~300
    // questions (each key once) ask every node, the next ones read the index.
    let first: Vec<_> = keys.iter().map(|&key| outcome.held_anywhere(key)).collect();
    let again: Vec<_> = keys.iter().map(|&key| outcome.held_anywhere(key)).collect();
    assert_eq!(first, expected);
    assert_eq!(again, expected);
    assert!(expected.iter().filter(|held| !held.is_empty()).count() > keys.len() / 2, "most keys are held");
    assert!(expected.iter().any(|held| held.len() > 1), "some key is held by several nodes");
}
