//! Correctness under retries, loss and concurrency: versions identified by
//! their dot, every loss accounted for, dotted version vectors.

mod common;

use common::{bundled, inline, run_twice, scenario_text};
use dynasim::RunReport;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every invariant the run could judge held.
fn assert_all_held(report: &RunReport, repro: &str) {
    for (name, verdict) in &report.summary.invariants {
        assert!(!verdict.starts_with("violated"), "{name}: {verdict}; {repro}");
    }
}

#[test]
fn requests_coordinated_twice_under_message_loss_break_no_invariant() {
    // Forwarders that miss a ForwardAck re-forward: the first coordinator
    // often did get the request, so one write becomes two versions.
    let text = scenario_text("quickstart.toml").replace("[network]\n", "[network]\nloss = 0.05\n");
    let report = run_twice(&inline(&text), 7);
    let c = &report.summary.consistency;
    assert!(c.duplicate_coordinations > 0, "some writes were coordinated twice");
    assert_eq!(c.false_conflicts, 0, "no clock was truncated, so no sibling pair is ordered");
    assert_eq!(report.summary.nodes.clock_truncations, 0);
    assert_all_held(&report, "repro: quickstart.toml with [network] loss = 0.05 --seed 7");
    let convergence = &report.summary.convergence;
    let converged = convergence.converged_after_heal_us.expect("anti-entropy converges despite the loss");
    assert!(converged <= convergence.bound_us);
}

#[test]
fn a_slow_node_makes_duplicate_coordinations_not_false_conflicts() {
    // 4 nodes, strict N3R2W2, one node 30 ms slow: forwards to it time out.
    let report = run_twice(
        &inline(
            "duration_ms = 4000\nquiesce_ms = 2000\n[cluster]\nnodes = 4\n[quorum]\nn = 3\nr = 2\nw = 2\n\
             [node]\nsloppy_quorum = false\n[workload]\nrate_per_s = 600\nkeys = 200\n\
             [[faults]]\nat_ms = 0\naction = \"slow\"\nnodes = [1]\nadded_ms = 30.0\nduration_ms = 4000\n",
        ),
        1,
    );
    let s = &report.summary;
    assert!(s.nodes.writes_coordinated > s.ops.writes, "more coordinations than writes issued");
    assert!(s.consistency.duplicate_coordinations > 0);
    assert_eq!(s.consistency.false_conflicts, 0);
    assert_eq!(s.consistency.causal_sibling_violations, 0);
    assert_all_held(&report, "slow node");
}

#[test]
fn a_sibling_cap_explains_the_writes_it_drops() {
    let text = scenario_text("quickstart.toml").replace("[quorum]", "[reconciliation]\nsibling_cap = 1\n\n[quorum]");
    let report = run_twice(&inline(&text), 7);
    let c = &report.summary.consistency;
    assert!(c.lost_writes_sibling_cap > 0, "the cap dropped siblings holding acknowledged writes");
    assert_eq!(c.lost_writes_unexplained, 0);
    assert_eq!(report.summary.invariants["no-lost-writes"], "held");
    assert!(report.summary.nodes.sibling_cap_drops >= c.lost_writes_sibling_cap);
}

#[test]
fn dotted_version_vectors_lose_no_update_where_vector_clocks_do() {
    let vector = run_twice(&bundled("clocks-vector-vs-dvv.toml"), 1);
    let text = scenario_text("clocks-vector-vs-dvv.toml").replace("clocks = \"vector\"", "clocks = \"dvv\"");
    let dvv = run_twice(&inline(&text), 1);
    let (v, d) = (&vector.summary.consistency, &dvv.summary.consistency);
    assert!(v.lost_updates > 100, "server-side vector clocks silently overwrite: {}", v.lost_updates);
    assert_eq!(d.lost_updates, 0);
    assert_eq!(d.lost_writes, 0, "under DVV concurrent writes become siblings instead");
    let with_siblings = |c: &dynasim::check::ConsistencyReport| {
        c.siblings_per_read.iter().filter(|(n, _)| n.parse::<u32>().is_ok_and(|n| n > 1)).map(|(_, c)| c).sum::<u64>()
    };
    assert!(with_siblings(d) > with_siblings(v) + 100, "the concurrency shows up as siblings");
    assert_eq!(v.lost_writes, v.lost_writes_overwritten, "every vector-clock loss is an overwrite");
    assert_all_held(&vector, "clocks-vector-vs-dvv.toml");
    assert_all_held(&dvv, "clocks-vector-vs-dvv.toml with clocks = dvv");
    // Per window, the lost updates add up.
    let per_window: u64 = vector.summary.windows.iter().map(|w| w.lost_updates).sum();
    assert_eq!(per_window, v.lost_updates);
}

/// R = 1 reads from one replica, and with 3 % message loss a replica often
/// lacks a sibling another holds. A dotted version vector's reader must
/// not supersede what it did not read: before session 35 a context claimed
/// every earlier dot of each actor it saw (a version vector's entry), and
/// 36 of 60 seeds of this shape lost updates (57 in all).
#[test]
fn dotted_version_vectors_lose_no_update_when_a_read_misses_a_sibling() {
    let text =
        "duration_ms = 2500\nquiesce_ms = 4000\nexpect = [\"no-lost-writes\", \"converges\", \"causal-siblings\"]\n\
        [cluster]\nnodes = 6\nstrategy = 2\ntokens_per_node = 4\npartitions = 24\n[quorum]\nn = 3\nr = 1\nw = 2\n\
        [network]\nlatency = { uniform = { low = 0.1, high = 4.0 } }\nloss = 0.03\n\
        [storage]\nwrite_service = { exponential = { rate = 5.0 } }\n\
        [node]\nsloppy_quorum = true\nrequest_timeout_ms = 300.0\nreplica_timeout_ms = 40.0\n\
        [workload]\nmode = \"open\"\nclients = 12\nrate_per_s = 800\nkeys = 150\nread_fraction = 0.5\n\
        blind_write_fraction = 0.5\nread_modify_write = true\ntimeout_ms = 500.0\n\
        [routing]\nmode = \"client-driven\"\nmembership_poll_ms = 300.0\n\
        [reconciliation]\npolicy = \"keep-all\"\nclocks = \"dvv\"\n[anti_entropy]\ninterval_ms = 300.0\n";
    let scenario = inline(text);
    let mut siblings_read = 0;
    for seed in 1..=12 {
        let report = if seed == 1 { run_twice(&scenario, seed) } else { dynasim::run(&scenario, seed) };
        let c = &report.summary.consistency;
        let repro = format!("seed {seed}: {c:?}");
        assert_eq!((c.lost_updates, c.lost_writes), (0, 0), "{repro}");
        assert_eq!(c.causal_sibling_violations, 0, "{repro}");
        assert_all_held(&report, &repro);
        siblings_read += c
            .siblings_per_read
            .iter()
            .filter(|(n, _)| n.parse::<u32>().is_ok_and(|n| n > 1))
            .map(|(_, c)| c)
            .sum::<u64>();
    }
    assert!(siblings_read > 1_000, "concurrent writes show as siblings: {siblings_read} reads with several");
}

/// Under dotted version vectors (`dvv`) without clock truncation, no
/// version was superseded by a writer that never saw it.
fn assert_dvv_overwrote_nothing(summary: &dynasim::RunSummary, dvv: bool, repro: &str) {
    if dvv && summary.nodes.clock_truncations == 0 {
        assert_eq!(summary.consistency.lost_updates, 0, "dotted version vectors never overwrite unseen: {repro}");
    }
}

/// A random strict-mode scenario (DESIGN's conditions: sloppy quorum off,
/// R + W > N, no disk loss, no membership change): message loss up to 10%,
/// a slow node, a partition (maybe one-way), a crash and restart.
fn random_strict_scenario(rng: &mut ChaCha8Rng, clocks: &str) -> String {
    let quorum = [(2, 2), (1, 3), (3, 1), (2, 3)][rng.gen_range(0..4)];
    random_scenario(rng, clocks, quorum)
}

/// The faults and workload both kinds share, with R and W given.
fn random_scenario(rng: &mut ChaCha8Rng, clocks: &str, (r, w): (u32, u32)) -> String {
    let nodes = rng.gen_range(4..=7);
    let loss = rng.gen_range(0.0..0.1);
    let mut text = format!(
        "duration_ms = 2000\nquiesce_ms = 1000\nexpect = [\"no-stale-reads\", \"causal-siblings\", \
         \"no-lost-writes\", \"converges\"]\n[cluster]\nnodes = {nodes}\n[quorum]\nn = 3\nr = {r}\nw = {w}\n\
         [node]\nsloppy_quorum = false\n[reconciliation]\nclocks = \"{clocks}\"\n[network]\nloss = {loss:.3}\n\
         [workload]\nrate_per_s = 800\nkeys = {}\nblind_write_fraction = {:.2}\n",
        rng.gen_range(20..300),
        rng.gen_range(0.0..0.3)
    );
    let node = |rng: &mut ChaCha8Rng| rng.gen_range(0..nodes);
    let at = |rng: &mut ChaCha8Rng| rng.gen_range(0..1800);
    text += &format!(
        "[[faults]]\nat_ms = {}\naction = \"slow\"\nnodes = [{}]\nadded_ms = {:.1}\nduration_ms = {}\n",
        at(rng),
        node(rng),
        rng.gen_range(1.0..40.0),
        rng.gen_range(100..1500)
    );
    let a = node(rng);
    let b = (a + 1 + rng.gen_range(0..nodes - 1)) % nodes;
    if rng.gen_bool(0.5) {
        text += &format!(
            "[[faults]]\nat_ms = {}\naction = \"partition\"\nfrom = [\"n{a}\"]\nto = [\"n{b}\"]\nduration_ms = {}\n",
            at(rng),
            rng.gen_range(100..1500)
        );
    } else {
        let others: Vec<String> = (0..nodes).filter(|&n| n != a).map(|n| format!("\"n{n}\"")).collect();
        text += &format!(
            "[[faults]]\nat_ms = {}\naction = \"partition\"\ngroups = [[\"n{a}\"], [{}]]\nduration_ms = {}\n",
            at(rng),
            others.join(", "),
            rng.gen_range(100..1500)
        );
    }
    text += &format!(
        "[[faults]]\nat_ms = {}\naction = \"crash\"\nnodes = [{}]\nduration_ms = {}\n",
        at(rng),
        node(rng),
        rng.gen_range(100..1000)
    );
    text
}

/// The real-time check (no clock trusted) agrees with the clock-based one
/// in strict mode: no phantom version, nothing depending on its future, no
/// stale read either way — under dotted version vectors not even one the
/// real-time check alone sees (server-side vector clocks make those by
/// overwriting concurrent writes through one coordinator).
fn assert_realtime_agrees(c: &dynasim::check::ConsistencyReport, clocks: &str, repro: &str) {
    assert_eq!(c.realtime_phantom_versions, 0, "{repro}");
    assert_eq!(c.realtime_causality_violations, 0, "{repro}");
    assert_eq!(c.disagreements, 0, "{:?}\n{repro}", c.disagreeing_reads);
    if clocks == "dvv" {
        assert_eq!(c.realtime_stale_reads, 0, "{repro}");
    }
}

/// Seeds to explore: `DYNASIM_SEEDS` (e.g. 200 for the figure the issue
/// asks for), else a number that fits CI.
fn exploration_seeds() -> u64 {
    std::env::var("DYNASIM_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(100)
}

#[test]
fn strict_mode_holds_every_invariant_under_loss_slow_nodes_partitions_and_crashes() {
    for seed in 1..=exploration_seeds() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let clocks = if seed % 2 == 0 { "dvv" } else { "vector" };
        let text = random_strict_scenario(&mut rng, clocks);
        let report = dynasim::run(&inline(&text), seed);
        let repro = format!("repro (seed {seed}):\n{text}");
        assert_all_held(&report, &repro);
        let s = &report.summary;
        assert_eq!(s.invariants["no-stale-reads"], "held", "{repro}");
        assert_realtime_agrees(&s.consistency, clocks, &repro);
        if s.nodes.clock_truncations == 0 {
            assert_eq!(s.consistency.false_conflicts, 0, "{repro}");
        }
        assert_eq!(s.consistency.lost_writes, s.consistency.lost_writes_overwritten, "{repro}");
        assert_dvv_overwrote_nothing(s, clocks == "dvv", &repro);
        assert!(s.hints.balanced());
    }
}

/// A random scenario with everything allowed: sloppy quorums, W = 1,
/// last-write-wins, dotted version vectors, buffered writes, small clocks,
/// sibling caps, on top of the strict faults; and one of a disk loss, a
/// join or a leave (a third of the seeds each).
fn random_sloppy_scenario(rng: &mut ChaCha8Rng) -> String {
    let clocks = ["vector", "dvv"][rng.gen_range(0..2)];
    let quorum = [(1, 1), (2, 2), (1, 2), (2, 1)][rng.gen_range(0..4)];
    let mut text = random_scenario(rng, clocks, quorum)
        .replace("sloppy_quorum = false", "sloppy_quorum = true")
        .replace("expect = [\"no-stale-reads\", ", "expect = [");
    if rng.gen_bool(0.3) {
        text = text.replace(&format!("clocks = \"{clocks}\""), "policy = \"lww\"");
    } else if rng.gen_bool(0.3) {
        text =
            text.replace("[reconciliation]\n", &format!("[reconciliation]\nsibling_cap = {}\n", rng.gen_range(1..3)));
    }
    if rng.gen_bool(0.3) {
        text = text.replace("[node]\n", &format!("[node]\nclock_max_entries = {}\n", rng.gen_range(1..4)));
    }
    if rng.gen_bool(0.2) {
        text += "[storage]\nbuffered_writes = true\n";
    }
    let nodes: u32 =
        text.split("nodes = ").nth(1).and_then(|s| s.lines().next()).and_then(|n| n.parse().ok()).expect("nodes");
    match rng.gen_range(0..3) {
        0 => {
            text += &format!(
                "[[faults]]\nat_ms = {}\naction = \"disk-loss\"\nnodes = [{}]\nduration_ms = 300\n",
                rng.gen_range(0..1500),
                rng.gen_range(0..nodes)
            )
        }
        1 => text += &format!("[[faults]]\nat_ms = {}\naction = \"join\"\nnodes = [{nodes}]\n", rng.gen_range(0..1500)),
        _ => {
            text += &format!(
                "[[faults]]\nat_ms = {}\naction = \"leave\"\nnodes = [{}]\n",
                rng.gen_range(0..1500),
                rng.gen_range(0..nodes)
            )
        }
    }
    text
}

#[test]
fn with_everything_and_joins_and_leaves_no_write_is_lost_unexplained_and_replicas_converge() {
    for seed in 1..=exploration_seeds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1_000_000 + seed);
        let text = random_sloppy_scenario(&mut rng);
        let report = dynasim::run(&inline(&text), seed);
        let repro = format!("repro (seed {seed}):\n{text}");
        assert_all_held(&report, &repro);
        let s = &report.summary;
        assert_eq!(s.consistency.lost_writes_unexplained, 0, "{repro}");
        assert_eq!(s.consistency.realtime_phantom_versions, 0, "{repro}");
        assert_eq!(s.consistency.realtime_causality_violations, 0, "{repro}");
        assert_dvv_overwrote_nothing(s, text.contains("clocks = \"dvv\""), &repro);
        assert!(s.hints.balanced(), "{repro}");
    }
}
