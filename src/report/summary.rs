//! `summary.json`: every figure of one run, with stable keys.
//!
//! Everything in it is a function of (scenario, seed), so two runs give
//! byte-identical files; the machine-dependent `wall` figures go to
//! `wall.json` instead.

use crate::check::history::{OpKind, OpRecord, Outcome};
use crate::check::{pieces, ConsistencyReport};
use crate::node::versioning::Versioning;
use crate::node::NodeStats;
use crate::protocol::Failure;
use crate::scenario::applicability::not_applicable;
use crate::scenario::Scenario;
use crate::sim::RunOutcome;
use crate::types::ms_to_us;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// The summary of one run.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The layout of this file: raised whenever a key changes meaning or
    /// disappears, so readers can refuse what they do not understand.
    pub schema_version: u32,
    /// The dynasim release that wrote it (figures may change between releases).
    pub dynasim_version: &'static str,
    /// Scenario name.
    pub scenario: String,
    /// Master seed used.
    pub seed: u64,
    /// xxh3-64 of the ordered event trace (hex).
    pub digest: String,
    /// The configuration that matters when comparing runs.
    pub config: ConfigSummary,
    /// Client operation counts and availability.
    pub ops: OpsSummary,
    /// Latency percentiles per op type, µs.
    pub latency_us: BTreeMap<String, LatencySummary>,
    /// Successful ops per second of simulated workload time.
    pub throughput_ops_per_s: f64,
    /// Checker figures.
    pub consistency: ConsistencyReport,
    /// Staleness by time since a write: PBS t-visibility in probe mode,
    /// else reads binned by time since the key's last acknowledged write.
    pub staleness: super::staleness::Staleness,
    /// Invariant verdicts: held, violated, not-applicable (with why) or not-checked.
    pub invariants: BTreeMap<String, String>,
    /// Expectations that could not be judged: one message per invariant the
    /// scenario expects whose verdict is not-applicable or not-checked.
    pub warnings: Vec<String>,
    /// Network counters.
    pub network: crate::net::NetworkStats,
    /// Node counters summed over the cluster.
    pub nodes: NodeStats,
    /// Keys and requests per node, and load-balancing efficiency.
    pub load: LoadSummary,
    /// Faults in the order applied (the end-of-workload heal included).
    pub faults: Vec<crate::sim::AppliedFault>,
    /// Availability between consecutive fault times.
    pub windows: Vec<super::windows::WindowSummary>,
    /// Hinted handoff.
    pub hints: HintSummary,
    /// Anti-entropy and replica convergence.
    pub convergence: ConvergenceSummary,
    /// Joins and leaves: agreement by gossip, data moved, bootstrap time.
    pub membership: Vec<MembershipSummary>,
    /// Engine figures that do not depend on the machine.
    pub engine: EngineSummary,
    /// Wall-clock figures: the only part that differs between identical
    /// runs, so written to `wall.json`, never to summary.json.
    #[serde(skip)]
    pub wall: WallSummary,
}

/// Configuration echoed into the summary.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigSummary {
    /// Nodes (S).
    pub nodes: u32,
    /// Partitioning strategy.
    pub strategy: u8,
    /// N, R, W.
    pub n: u32,
    /// R.
    pub r: u32,
    /// W.
    pub w: u32,
    /// Routing mode.
    pub routing: crate::scenario::RoutingMode,
    /// Clients.
    pub clients: u32,
    /// Workload duration, µs.
    pub duration_us: u64,
}

/// Operation counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OpsSummary {
    /// Operations issued.
    pub total: u64,
    /// Reads issued.
    pub reads: u64,
    /// Writes issued (client-side reconciliation writes included).
    pub writes: u64,
    /// Reconciliation writes issued after reading siblings.
    pub reconcile_writes: u64,
    /// Operations that succeeded.
    pub succeeded: u64,
    /// Failures answered by a coordinator, by cause (every cause, 0 included).
    pub failed: BTreeMap<String, u64>,
    /// Operations the client gave up on.
    pub timed_out: u64,
    /// Operations still outstanding at the end.
    pub in_flight: u64,
    /// Succeeded / issued, per op type and overall (1 when none was issued).
    pub availability: BTreeMap<String, f64>,
}

/// Latency percentiles of successful operations, µs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Per-node load.
#[derive(Clone, Debug, Serialize)]
pub struct LoadSummary {
    /// Keys stored per node, by node id.
    pub keys_per_node: Vec<u64>,
    /// Replica reads + writes served per node, by node id.
    pub requests_per_node: Vec<u64>,
    /// Mean / max requests per node (Dynamo §6.2's measure).
    pub efficiency: f64,
}

/// One join or leave.
#[derive(Clone, Debug, Serialize)]
pub struct MembershipSummary {
    /// What happened.
    pub label: String,
    /// When, µs.
    pub at_us: u64,
    /// Until every live node held the same view including it, µs.
    pub agreed_after_us: Option<u64>,
    /// The same in gossip intervals.
    pub gossip_rounds_to_agree: Option<f64>,
    /// Keys sent in range transfers until the next change (or the end).
    pub keys_moved: u64,
    /// Bytes sent in range transfers until the next change (or the end).
    pub bytes_moved: u64,
    /// Keys moved / replica copies stored before the change.
    pub moved_fraction: f64,
    /// Join: from the administrator's command until the node held every
    /// range it fetched, µs (None if some never arrived).
    pub bootstrap_us: Option<u64>,
}

/// Anti-entropy and convergence figures.
#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceSummary {
    /// Anti-entropy rounds started (all nodes).
    pub anti_entropy_rounds: u64,
    /// Merkle tree nodes exchanged.
    pub tree_nodes_exchanged: u64,
    /// Keys whose versions anti-entropy changed.
    pub keys_repaired: u64,
    /// Bytes of anti-entropy messages.
    pub bytes_exchanged: u64,
    /// Bytes a full copy of every compared range would have taken.
    pub full_copy_bytes: u64,
    /// From the end of the workload, or the last heal after it if later,
    /// until every replica of every written key held the same versions, µs
    /// (None: not by the end of the run).
    pub converged_after_heal_us: Option<u64>,
    /// Written keys whose replicas still disagreed at the end.
    pub keys_not_converged: u64,
    /// The scenario's bound for `converges` (`converge_within_ms`), µs.
    pub bound_us: u64,
}

/// Hinted handoff figures. Every stored hint is in exactly one bucket:
/// `stored = delivered + superseded + dropped_by_sibling_cap + lost + pending_at_end`.
#[derive(Clone, Debug, Serialize)]
pub struct HintSummary {
    /// Hinted versions stored by fallback nodes.
    pub stored: u64,
    /// Hinted versions handed back and acknowledged.
    pub delivered: u64,
    /// Hinted versions replaced by a newer hint for the same key before handoff.
    pub superseded: u64,
    /// Hinted versions dropped by the sibling cap before handoff.
    pub dropped_by_sibling_cap: u64,
    /// Hinted versions that went down with their holder's disk.
    pub lost: u64,
    /// Hinted versions meant for a node that left, passed on to the key's
    /// current owners instead.
    pub retargeted: u64,
    /// Hinted versions still held at the end.
    pub pending_at_end: u64,
    /// From the last heal to the moment no node held a hint, µs (None if
    /// hints were still pending at the end, or nothing was healed).
    pub drained_after_last_heal_us: Option<u64>,
}

impl HintSummary {
    /// True when every stored hint is accounted for in exactly one bucket.
    pub fn balanced(&self) -> bool {
        self.stored
            == self.delivered
                + self.superseded
                + self.dropped_by_sibling_cap
                + self.lost
                + self.retargeted
                + self.pending_at_end
    }
}

/// Engine figures.
#[derive(Clone, Debug, Serialize)]
pub struct EngineSummary {
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end, µs.
    pub simulated_time_us: u64,
}

/// Machine-dependent figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct WallSummary {
    /// Wall-clock time of the run, seconds.
    pub seconds: f64,
    /// Events processed per wall-clock second.
    pub events_per_s: f64,
    /// Client operations simulated per wall-clock second.
    pub ops_per_s: f64,
}

/// The version of summary.json's layout (see [`RunSummary::schema_version`]).
pub const SCHEMA_VERSION: u32 = 1;

/// Builds the summary from a finished run; `wall_seconds` is measured by the caller.
pub fn summarize(
    scenario: &Scenario,
    seed: u64,
    outcome: &RunOutcome,
    consistency: ConsistencyReport,
    wall_seconds: f64,
) -> RunSummary {
    let spec = &scenario.spec;
    let history = &outcome.history;
    // The passes over the history (and the read verdicts), two at a time
    // on a long one; the windows' latency lists on the calling thread
    // (`pieces::join`).
    let ((windows, staleness), (ops, latency_us)) = pieces::join(
        history.len(),
        || {
            let lost_updates = &consistency.lost_update_writes;
            let windows = super::windows::windows(history, &outcome.faults, outcome.workload_end.0, lost_updates);
            (windows, super::staleness::staleness(scenario, &consistency, history))
        },
        || {
            let latency_us = BTreeMap::from([
                ("read".to_string(), latency_of(history, OpKind::Read)),
                ("write".to_string(), latency_of(history, OpKind::Write)),
            ]);
            (count_ops(history), latency_us)
        },
    );
    let duration_s = outcome.workload_end.0 as f64 / 1e6;
    let nodes = sum_stats(outcome.nodes.iter().map(|n| n.stats()));
    let convergence = ConvergenceSummary {
        anti_entropy_rounds: nodes.anti_entropy_rounds,
        tree_nodes_exchanged: nodes.anti_entropy_tree_nodes,
        keys_repaired: nodes.anti_entropy_keys_repaired,
        bytes_exchanged: nodes.anti_entropy_bytes,
        full_copy_bytes: nodes.anti_entropy_full_copy_bytes,
        converged_after_heal_us: outcome.converged_at.map(|t| {
            let from = outcome.last_heal.map_or(outcome.workload_end, |h| h.max(outcome.workload_end));
            t.since(from)
        }),
        keys_not_converged: outcome.keys_not_converged,
        bound_us: ms_to_us(spec.converge_within_ms),
    };
    let invariants = verdicts(scenario, &consistency, &nodes, &convergence);
    let requests_per_node: Vec<u64> =
        outcome.nodes.iter().map(|n| n.stats().replica_reads + n.stats().replica_writes).collect();
    let events = outcome.events;
    RunSummary {
        schema_version: SCHEMA_VERSION,
        dynasim_version: env!("CARGO_PKG_VERSION"),
        scenario: scenario.name.clone(),
        seed,
        digest: outcome.digest.clone(),
        config: ConfigSummary {
            nodes: spec.cluster.nodes,
            strategy: spec.cluster.strategy,
            n: spec.quorum.n,
            r: spec.quorum.r,
            w: spec.quorum.w,
            routing: spec.routing.mode,
            clients: spec.workload.clients,
            duration_us: outcome.workload_end.0,
        },
        throughput_ops_per_s: if duration_s > 0.0 { ops.succeeded as f64 / duration_s } else { 0.0 },
        ops,
        latency_us,
        staleness,
        consistency,
        invariants,
        warnings: Vec::new(),
        network: outcome.network.clone(),
        hints: HintSummary {
            stored: nodes.hints_stored,
            delivered: nodes.hints_delivered,
            superseded: nodes.hints_superseded,
            dropped_by_sibling_cap: nodes.hints_dropped_by_cap,
            lost: nodes.hints_lost,
            retargeted: nodes.hints_retargeted,
            pending_at_end: outcome.nodes.iter().map(|n| n.hints_pending()).sum(),
            drained_after_last_heal_us: outcome
                .last_heal
                .zip(outcome.hints_drained_at)
                .map(|(heal, drained)| drained.since(heal)),
        },
        convergence,
        membership: membership_summary(outcome),
        faults: outcome.faults.clone(),
        windows,
        nodes,
        load: LoadSummary {
            keys_per_node: outcome.nodes.iter().map(|n| n.store().key_count() as u64).collect(),
            efficiency: efficiency(&requests_per_node),
            requests_per_node,
        },
        engine: EngineSummary { events, simulated_time_us: outcome.end.0 },
        wall: WallSummary {
            seconds: wall_seconds,
            events_per_s: if wall_seconds > 0.0 { events as f64 / wall_seconds } else { 0.0 },
            ops_per_s: if wall_seconds > 0.0 { outcome.history.len() as f64 / wall_seconds } else { 0.0 },
        },
    }
}

fn membership_summary(outcome: &RunOutcome) -> Vec<MembershipSummary> {
    let totals = (
        outcome.nodes.iter().map(|n| n.stats().transfer_keys_sent).sum::<u64>(),
        outcome.nodes.iter().map(|n| n.stats().transfer_bytes_sent).sum::<u64>(),
    );
    let changes = &outcome.membership;
    changes
        .iter()
        .enumerate()
        .map(|(index, change)| {
            let next = changes.get(index + 1).map_or(totals, |c| c.transferred_before);
            let keys_moved = next.0 - change.transferred_before.0;
            let agreed_after_us = change.agreed_at.map(|t| t.since(change.at));
            let node = &outcome.nodes[change.node.0 as usize];
            let bootstrap_us = match node.bootstrap() {
                (Some(joined), Some(done)) if change.label.starts_with("join") => Some(done.since(joined)),
                _ => None,
            };
            MembershipSummary {
                label: change.label.clone(),
                at_us: change.at.0,
                agreed_after_us,
                gossip_rounds_to_agree: agreed_after_us.map(|us| us as f64 / outcome.gossip_interval_us.max(1) as f64),
                keys_moved,
                bytes_moved: next.1 - change.transferred_before.1,
                moved_fraction: keys_moved as f64 / change.replica_keys_before.max(1) as f64,
                bootstrap_us,
            }
        })
        .collect()
}

fn count_ops(history: &[OpRecord]) -> OpsSummary {
    let mut ops = OpsSummary::default();
    // Every key is present whatever happened, so readers never miss one.
    for failure in [Failure::Timeout, Failure::NotEnoughReplicas] {
        ops.failed.insert(failure_name(failure).to_string(), 0);
    }
    let mut issued: BTreeMap<&str, (u64, u64)> = BTreeMap::from([("read", (0, 0)), ("write", (0, 0))]);
    for op in history {
        ops.total += 1;
        let kind = match op.kind {
            OpKind::Read => "read",
            OpKind::Write => "write",
        };
        match op.kind {
            OpKind::Read => ops.reads += 1,
            OpKind::Write => ops.writes += 1,
        }
        ops.reconcile_writes += u64::from(op.reconcile());
        let entry = issued.entry(kind).or_default();
        entry.0 += 1;
        match op.outcome {
            Outcome::Ok => {
                ops.succeeded += 1;
                entry.1 += 1;
            }
            Outcome::Failed(failure) => *ops.failed.entry(failure_name(failure).to_string()).or_default() += 1,
            Outcome::TimedOut => ops.timed_out += 1,
            Outcome::InFlight => ops.in_flight += 1,
        }
    }
    let availability = |ok: u64, total: u64| if total == 0 { 1.0 } else { ok as f64 / total as f64 };
    for (kind, (total, ok)) in issued {
        ops.availability.insert(kind.to_string(), availability(ok, total));
    }
    ops.availability.insert("all".to_string(), availability(ops.succeeded, ops.total));
    ops
}

/// The name of a failure cause in summary.json (and the history).
pub fn failure_name(failure: Failure) -> &'static str {
    match failure {
        Failure::Timeout => "timeout",
        Failure::NotEnoughReplicas => "not_enough_replicas",
    }
}

fn latency_of(history: &[OpRecord], kind: OpKind) -> LatencySummary {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 1_000_000_000_000, 3).expect("valid histogram bounds");
    let mut sum: u128 = 0;
    for op in history.iter().filter(|op| op.kind == kind && op.outcome == Outcome::Ok) {
        let latency = op.latency_us().unwrap_or(0).max(1);
        histogram.saturating_record(latency);
        sum += u128::from(latency);
    }
    let count = histogram.len();
    if count == 0 {
        return LatencySummary::default();
    }
    LatencySummary {
        count,
        mean: sum as f64 / count as f64,
        p50: histogram.value_at_quantile(0.50),
        p95: histogram.value_at_quantile(0.95),
        p99: histogram.value_at_quantile(0.99),
        p999: histogram.value_at_quantile(0.999),
        max: histogram.max(),
    }
}

fn sum_stats<'a>(stats: impl Iterator<Item = &'a NodeStats>) -> NodeStats {
    stats.fold(NodeStats::default(), |mut total, s| {
        total.add(s);
        total
    })
}

/// Mean load / max load; 1.0 is perfect balance.
pub fn efficiency(loads: &[u64]) -> f64 {
    let max = loads.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return 1.0;
    }
    let mean = loads.iter().sum::<u64>() as f64 / loads.len() as f64;
    mean / max as f64
}

/// Why strict mode (`no-stale-reads`) does not apply to this run, if it
/// does not: the scenario's own reasons, or a clock truncation.
fn strict_mode_exclusion(scenario: &Scenario, nodes: &NodeStats) -> Option<String> {
    not_applicable(&scenario.spec, "no-stale-reads").or_else(|| {
        (nodes.clock_truncations > 0).then(|| format!("{} vector clock truncations", nodes.clock_truncations))
    })
}

/// `converges`: held when every replica agreed within the bound; a
/// failure names the bound and what may have kept it.
fn convergence_verdict(scenario: &Scenario, convergence: &ConvergenceSummary) -> String {
    let within = convergence.converged_after_heal_us.is_some_and(|us| us <= convergence.bound_us);
    if within && convergence.keys_not_converged == 0 {
        return "held".to_string();
    }
    let spec = &scenario.spec;
    let cause = if !spec.anti_entropy.enabled {
        "anti-entropy is off, so nothing repairs replicas read repair does not reach".to_string()
    } else if spec.network.loss > 0.0 {
        format!(
            "the base [network] loss = {} is never healed (the end-of-workload heal ends loss faults, not the \
             network's own loss), so exchanges keep failing; raise converge_within_ms",
            spec.network.loss
        )
    } else {
        "anti-entropy did not repair them in time".to_string()
    };
    format!(
        "violated: {} keys still differed at the end of the run (bound: converge_within_ms = {} after the workload \
         or its last heal): {cause}",
        convergence.keys_not_converged, spec.converge_within_ms
    )
}

/// Verdicts for the invariants this build can check.
fn verdicts(
    scenario: &Scenario,
    consistency: &ConsistencyReport,
    nodes: &NodeStats,
    convergence: &ConvergenceSummary,
) -> BTreeMap<String, String> {
    let held = |ok: bool| if ok { "held".to_string() } else { "violated".to_string() };
    let mut verdicts = BTreeMap::new();
    let stale = strict_mode_exclusion(scenario, nodes).map(|why| format!("not-applicable: {why}"));
    verdicts.insert("no-stale-reads".to_string(), stale.unwrap_or_else(|| held(consistency.stale_reads == 0)));
    verdicts.insert("causal-siblings".to_string(), causal_siblings_verdict(scenario, consistency, nodes));
    verdicts.insert("no-lost-writes".to_string(), held(consistency.lost_writes_unexplained == 0));
    verdicts.insert("converges".to_string(), convergence_verdict(scenario, convergence));
    verdicts.insert("deterministic".to_string(), "not-checked: run twice and compare digests".to_string());
    verdicts
}

/// The `causal-siblings` verdict: read siblings pairwise concurrent, a
/// write superseding what its read returned, and, under dotted version
/// vectors, which promise more, no version superseded by a writer that
/// never saw it (server-side vector clocks do that to concurrent writes
/// through one coordinator, by design).
fn causal_siblings_verdict(scenario: &Scenario, consistency: &ConsistencyReport, nodes: &NodeStats) -> String {
    if let Some(why) = not_applicable(&scenario.spec, "causal-siblings") {
        return format!("not-applicable: {why}");
    }
    if nodes.clock_truncations > 0 {
        // Truncation forgets causality by design; its effect is counted as false conflicts.
        return format!("not-applicable: {} clock truncations", nodes.clock_truncations);
    }
    let dvv_overwrote = scenario.versioning() == Versioning::DottedVersionVectors && consistency.lost_updates > 0;
    let held = consistency.causal_sibling_violations == 0 && !dvv_overwrote;
    if held { "held" } else { "violated" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_update_violates_causal_siblings_under_dvv_only() {
        let lost_update = ConsistencyReport { lost_updates: 1, ..ConsistencyReport::default() };
        let verdict = |clocks: &str, consistency: &ConsistencyReport| {
            let text = format!("[reconciliation]\nclocks = \"{clocks}\"\n");
            let scenario = Scenario::parse(&text, "inline.toml", "inline").expect("parses");
            causal_siblings_verdict(&scenario, consistency, &NodeStats::default())
        };
        assert_eq!(verdict("dvv", &lost_update), "violated");
        assert_eq!(verdict("vector", &lost_update), "held", "vector clocks overwrite by design");
        assert_eq!(verdict("dvv", &ConsistencyReport::default()), "held");
        let sibling_violation = ConsistencyReport { causal_sibling_violations: 1, ..ConsistencyReport::default() };
        assert_eq!(verdict("vector", &sibling_violation), "violated");
    }
}
