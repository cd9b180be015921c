//! The hint books (issue 9, defect 2): every hinted version a fallback
//! stored ends in exactly one bucket — delivered, superseded, dropped by
//! the sibling cap, lost with its holder's disk, or still pending —
//! under disk losses, crashes, leaves, joins and message loss.

mod common;

use common::{bundled, inline, run_twice, scenario_text};
use dynasim::RunReport;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Asserts the identity cluster-wide (summary.json) and on every node.
fn assert_balanced(report: &RunReport, repro: &str) {
    let h = &report.summary.hints;
    assert!(
        h.balanced(),
        "stored {} != delivered {} + superseded {} + capped {} + lost {} + pending {}; repro: {repro}",
        h.stored,
        h.delivered,
        h.superseded,
        h.dropped_by_sibling_cap,
        h.lost,
        h.pending_at_end
    );
    for node in &report.outcome.nodes {
        assert!(node.hint_books().balanced(), "node {:?}: {:?}; repro: {repro}", node.id(), node.hint_books());
    }
}

#[test]
fn the_books_balance_on_the_bundled_disk_loss_scenarios_with_and_without_sloppy_quorums() {
    for name in ["disk-loss-anti-entropy.toml", "disk-loss-w1.toml"] {
        let sloppy = scenario_text(name).replace("sloppy_quorum = false", "sloppy_quorum = true");
        for (scenario, label) in [(bundled(name), name.to_string()), (inline(&sloppy), format!("{name} (sloppy)"))] {
            run_twice(&scenario, 1);
            for seed in 1..=20 {
                assert_balanced(&dynasim::run(&scenario, seed), &format!("{label} --seed {seed}"));
            }
        }
    }
}

/// Eight nodes, sloppy quorums; n0 and n1 are cut off from 1 s to 5 s so
/// the others hold hints for them; `faults` adds to that.
fn hinted_cluster(faults: &str) -> dynasim::Scenario {
    inline(&format!(
        "duration_ms = 6000\nquiesce_ms = 4000\n[cluster]\nnodes = 8\n[node]\nsloppy_quorum = true\n\
         request_timeout_ms = 100\n[workload]\nrate_per_s = 1000\nkeys = 500\ntimeout_ms = 150\n\
         [[faults]]\nat_ms = 1000\naction = \"partition\"\ngroups = [[\"n0\", \"n1\"], [\"others\"]]\n\
         duration_ms = 4000\n{faults}"
    ))
}

#[test]
fn hints_that_go_down_with_their_holders_disk_are_counted_lost() {
    let scenario =
        hinted_cluster("[[faults]]\nat_ms = 3000\naction = \"disk-loss\"\nnodes = [2, 3, 4]\nduration_ms = 500\n");
    let report = run_twice(&scenario, 1);
    let h = &report.summary.hints;
    assert!(h.lost > 0, "n2-n4 held hints for n0/n1 when their disks went: {h:?}");
    assert!(h.delivered > 0, "the surviving holders handed theirs back");
    assert_eq!(h.pending_at_end, 0);
    assert_balanced(&report, "hints_that_go_down_with_their_holders_disk_are_counted_lost");
    // Before this fix the identity missed exactly the lost ones.
    assert_ne!(h.stored, h.delivered + h.superseded + h.pending_at_end);
}

#[test]
fn a_plain_crash_keeps_hints_and_a_crash_during_handoff_only_delays_them() {
    // The holders crash just after the heal, while handoffs are in flight.
    let scenario =
        hinted_cluster("[[faults]]\nat_ms = 5020\naction = \"crash\"\nnodes = [2, 3, 4, 5]\nduration_ms = 400\n");
    let report = run_twice(&scenario, 1);
    let h = &report.summary.hints;
    assert!(h.stored > 0 && h.delivered > 0);
    assert_eq!(h.lost, 0, "hints are durable: a crash without disk loss keeps them");
    assert_eq!(h.pending_at_end, 0, "handed back after the restart");
    assert_balanced(&report, "a_plain_crash_keeps_hints_and_a_crash_during_handoff_only_delays_them");
}

#[test]
fn hints_for_a_node_that_left_and_held_by_a_node_that_left_are_accounted() {
    // n0 is decommissioned while cut off (its hints are still delivered to
    // it: it keeps running to serve transfers); n2, a holder, leaves too.
    let faults = "[[faults]]\nat_ms = 3000\naction = \"leave\"\nnodes = [0]\n\
                  [[faults]]\nat_ms = 3500\naction = \"leave\"\nnodes = [2]\n";
    let report = run_twice(&hinted_cluster(faults), 1);
    let h = &report.summary.hints;
    assert!(h.stored > 0 && h.delivered > 0);
    assert!(report.outcome.nodes[2].hint_books().stored > 0, "the leaver n2 held hints");
    assert_eq!(h.pending_at_end, 0);
    assert_balanced(&report, "hints_for_a_node_that_left_and_held_by_a_node_that_left_are_accounted");
}

#[test]
fn the_sibling_cap_on_hints_is_its_own_bucket() {
    let text = "duration_ms = 4000\nquiesce_ms = 3000\n[cluster]\nnodes = 6\n[node]\nsloppy_quorum = true\n\
                [reconciliation]\nsibling_cap = 1\n[workload]\nrate_per_s = 2000\nkeys = 20\n\
                blind_write_fraction = 1.0\n\
                [[faults]]\nat_ms = 500\naction = \"partition\"\ngroups = [[\"n0\"], [\"others\"]]\nduration_ms = 2500\n";
    let report = run_twice(&inline(text), 1);
    let h = &report.summary.hints;
    assert!(h.dropped_by_sibling_cap > 0, "concurrent blind writes to hot keys overflow a cap of 1: {h:?}");
    assert_balanced(&report, "the_sibling_cap_on_hints_is_its_own_bucket");
}

/// A random fault schedule (from `seed`) over an 8-node sloppy cluster:
/// partitions, crashes, disk losses, message loss, slow nodes, a join and a leave.
fn random_schedule(seed: u64) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut faults = String::new();
    let mut joined = false;
    let mut left = false;
    for _ in 0..rng.gen_range(2..=5) {
        let at = rng.gen_range(100..2800);
        let node = rng.gen_range(0..8);
        let duration = rng.gen_range(100..1500);
        let fault = match rng.gen_range(0..7) {
            0 | 1 => {
                format!("action = \"partition\"\ngroups = [[\"n{node}\"], [\"others\"]]\nduration_ms = {duration}")
            }
            2 => format!("action = \"crash\"\nnodes = [{node}]\nduration_ms = {duration}"),
            3 => format!("action = \"disk-loss\"\nnodes = [{node}]\nduration_ms = {duration}"),
            4 => format!("action = \"loss\"\nrate = 0.{}\nduration_ms = {duration}", rng.gen_range(1..3)),
            5 if !joined => {
                joined = true;
                "action = \"join\"\nnodes = [8]".to_string()
            }
            6 if !left => {
                left = true;
                format!("action = \"leave\"\nnodes = [{node}]")
            }
            _ => format!("action = \"slow\"\nnodes = [{node}]\nadded_ms = 20\nduration_ms = {duration}"),
        };
        faults.push_str(&format!("[[faults]]\nat_ms = {at}\n{fault}\n"));
    }
    format!(
        "duration_ms = 3000\nquiesce_ms = 3000\n[cluster]\nnodes = 8\n[node]\nsloppy_quorum = true\n\
         request_timeout_ms = 100\nhandoff_interval_ms = 100\n[workload]\nrate_per_s = 500\nkeys = 200\n\
         timeout_ms = 150\n{faults}"
    )
}

#[test]
fn the_books_balance_over_three_hundred_random_fault_schedules() {
    let (mut lost, mut delivered) = (0, 0);
    for seed in 1..=300 {
        let text = random_schedule(seed);
        let scenario = dynasim::Scenario::parse(&text, "random.toml", "random")
            .unwrap_or_else(|e| panic!("schedule {seed} is valid: {e}\n{text}"));
        let report = dynasim::run(&scenario, seed);
        assert_balanced(&report, &format!("random_schedule({seed}) with --seed {seed}:\n{text}"));
        lost += report.summary.hints.lost;
        delivered += report.summary.hints.delivered;
    }
    assert!(lost > 0 && delivered > 0, "the schedules exercised both: lost {lost}, delivered {delivered}");
}
