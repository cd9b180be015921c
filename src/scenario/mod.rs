//! Scenario files: loading, and validation into a checked experiment.
//!
//! Errors name the file, the line where it can be found, the field and what
//! is allowed, because a user fixing a scenario has only the message to go on.

pub mod applicability;
pub mod limits;
pub mod overrides;
pub mod schema;
pub mod seed;

use crate::ring::Strategy;
use crate::types::ms_to_us;
pub use schema::*;
use std::fmt;
use std::path::Path;

/// The invariants a scenario may list in `expect` (DESIGN.md, canonical names).
pub const INVARIANT_NAMES: [&str; 5] =
    ["deterministic", "causal-siblings", "no-lost-writes", "converges", "no-stale-reads"];

/// Longest seed-gossip period, in gossip rounds: past it a run never gets
/// to a seed round (a day of 1 s rounds is 86,400).
pub const MAX_SEED_GOSSIP_EVERY: u32 = 1_000_000;

/// A scenario that parsed and passed every semantic check.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The scenario's name (the `name` field, else the file stem).
    pub name: String,
    /// Where it was read from (for messages and the repro line).
    pub origin: String,
    /// The checked contents.
    pub spec: ScenarioSpec,
    /// The `--set` overrides applied on top of the file, as written, in order.
    pub overrides: Vec<String>,
}

/// Why a scenario could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read scenario: {reason}")]
    Unreadable {
        /// The path as given.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// TOML syntax, an unknown field or a wrong type.
    #[error("{file}:{location}: {message}")]
    Syntax {
        /// The path as given.
        file: String,
        /// `line:column`, or `?` when unknown.
        location: String,
        /// What the parser said, with the offending line.
        message: String,
    },
    /// A configuration of another command (e.g. `dynasim ring`), not a scenario.
    #[error("{file}: this is a configuration for `{command}`, not a scenario; use `{usage}` (ring configurations live in scenarios/ring/)")]
    OtherCommand {
        /// The path as given.
        file: String,
        /// The command the file configures.
        command: String,
        /// How to use it.
        usage: String,
    },
    /// A `--set` that names no field, or gives it a value of the wrong type
    /// or outside what is allowed.
    #[error("{file}: --set {set}: {message}")]
    Override {
        /// The scenario file the override applies to.
        file: String,
        /// The override as written.
        set: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A value outside what is allowed.
    #[error("{file}{}: field `{field}`: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The path as given.
        file: String,
        /// The line that sets the field, when it is set explicitly.
        line: Option<usize>,
        /// Dotted path of the field, e.g. `quorum.r`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let (file, text) = read_text(path)?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
        Scenario::parse(&text, &file, stem)
    }

    /// Reads a scenario file, applies `overrides` (`--set`) in order, and
    /// validates the result.
    pub fn load_with(path: &Path, overrides: &[overrides::Override]) -> Result<Scenario, ScenarioError> {
        let (file, text) = read_text(path)?;
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("scenario");
        Scenario::parse_with(&text, &file, stem, overrides)
    }

    /// Like [`Scenario::parse`], with `overrides` applied to the document
    /// before it is checked. The file itself must parse; its values are
    /// validated only after the overrides, so `--set` can repair a value.
    /// Each override is deserialized as soon as it is applied, so a wrong
    /// type or an unknown field is blamed on the `--set` that brought it.
    pub fn parse_with(
        text: &str,
        origin: &str,
        default_name: &str,
        overrides: &[overrides::Override],
    ) -> Result<Scenario, ScenarioError> {
        if overrides.is_empty() {
            return Scenario::parse(text, origin, default_name);
        }
        let to_error = |set: &overrides::Override, message: String| ScenarioError::Override {
            file: origin.to_string(),
            set: set.to_string(),
            message,
        };
        let spec = Scenario::deserialize_with(text, origin, overrides)?;
        validate(&spec).map_err(|invalid| match overrides.iter().rev().find(|set| set.covers(&invalid.field)) {
            Some(set) => to_error(set, format!("field `{}`: {}", invalid.field, invalid.message)),
            None => {
                let all: Vec<String> = overrides.iter().map(|set| format!("--set {set}")).collect();
                ScenarioError::Invalid {
                    file: origin.to_string(),
                    line: locate(text, &invalid.field),
                    field: invalid.field,
                    message: format!("{} (with {})", invalid.message, all.join(" ")),
                }
            }
        })?;
        let name = spec.name.clone().unwrap_or_else(|| default_name.to_string());
        let overrides = overrides.iter().map(ToString::to_string).collect();
        Ok(Scenario { name, origin: origin.to_string(), spec, overrides })
    }

    /// The first half of [`Scenario::parse_with`]: the file parsed and the
    /// overrides applied, each deserialized as soon as it is applied, but
    /// no value checked. A sweep uses it to tell a `--set` naming no field or
    /// giving a wrong type (bad input) from a combination of values that is
    /// not allowed (skipped).
    pub fn deserialize_with(
        text: &str,
        origin: &str,
        overrides: &[overrides::Override],
    ) -> Result<ScenarioSpec, ScenarioError> {
        use serde::Deserialize;
        let parsed = toml::from_str::<ScenarioSpec>(text).map_err(|e| match other_command(text, origin) {
            Some(other) => other,
            None => syntax_error(text, origin, &e),
        })?;
        let mut document: toml::Table = toml::from_str(text).map_err(|e| syntax_error(text, origin, &e))?;
        let mut spec = parsed;
        for set in overrides {
            set.apply(&mut document).map_err(|message| ScenarioError::Override {
                file: origin.to_string(),
                set: set.to_string(),
                message,
            })?;
            spec = ScenarioSpec::deserialize(toml::Value::Table(document.clone())).map_err(|e| {
                ScenarioError::Override {
                    file: origin.to_string(),
                    set: set.to_string(),
                    message: e.message().trim_end().to_string(),
                }
            })?;
        }
        Ok(spec)
    }

    /// `text` (this scenario's file) headed by one comment line per
    /// override, for the run directory's scenario.toml: the file as written,
    /// with what the run changed in it.
    pub fn annotated(&self, text: &str) -> String {
        let header: String = self.overrides.iter().map(|set| format!("# run with --set {set}\n")).collect();
        header + text
    }

    /// The command line that repeats this run: the file, its overrides, the seed.
    pub fn repro(&self, seed: u64) -> String {
        let sets: String = self.overrides.iter().map(|set| format!(" --set {}", shell_word(set))).collect();
        format!("dynasim run {}{sets} --seed {seed}", shell_word(&self.origin))
    }

    /// Parses and validates scenario text; `origin` names it in messages,
    /// `default_name` is used when the text sets no `name`.
    pub fn parse(text: &str, origin: &str, default_name: &str) -> Result<Scenario, ScenarioError> {
        let spec: ScenarioSpec = toml::from_str(text).map_err(|e| match other_command(text, origin) {
            Some(other) => other,
            None => syntax_error(text, origin, &e),
        })?;
        validate(&spec).map_err(|invalid| ScenarioError::Invalid {
            file: origin.to_string(),
            line: locate(text, &invalid.field),
            field: invalid.field,
            message: invalid.message,
        })?;
        let name = spec.name.clone().unwrap_or_else(|| default_name.to_string());
        Ok(Scenario { name, origin: origin.to_string(), spec, overrides: Vec::new() })
    }

    /// The fault schedule (validated when the scenario was parsed), sorted by time.
    pub fn faults(&self) -> Vec<crate::fault::TimedFault> {
        let (nodes, clients) = (self.spec.cluster.nodes, self.spec.workload.clients);
        crate::fault::schedule(&self.spec.faults, nodes, clients).expect("fault schedule validated at parse time")
    }

    /// The partitioning strategy with its defaults filled in.
    pub fn strategy(&self) -> Strategy {
        strategy_of(&self.spec.cluster)
    }

    /// How versions are ordered: the policy and the clocks together.
    pub fn versioning(&self) -> crate::node::versioning::Versioning {
        use crate::node::versioning::Versioning;
        let reconciliation = &self.spec.reconciliation;
        match (reconciliation.policy, reconciliation.clocks) {
            (Policy::Lww, _) => Versioning::LastWriteWins,
            (_, Clocks::Vector) => Versioning::VectorClocks,
            (_, Clocks::Dvv) => Versioning::DottedVersionVectors,
        }
    }
}

/// Reads a scenario file as text: (the path for messages, the text). Bytes
/// that are not UTF-8 are a syntax error at their line and column.
fn read_text(path: &Path) -> Result<(String, String), ScenarioError> {
    let file = path.display().to_string();
    let bytes =
        std::fs::read(path).map_err(|e| ScenarioError::Unreadable { file: file.clone(), reason: e.to_string() })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok((file, text)),
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.as_bytes();
            let before = String::from_utf8_lossy(&bytes[..valid]);
            let (line, column) = line_column(&before, before.len());
            Err(ScenarioError::Syntax {
                file,
                location: format!("{line}:{column}"),
                message: format!("byte 0x{:02x} is not UTF-8; a scenario file is UTF-8 text", bytes[valid]),
            })
        }
    }
}

const DEFAULT_TOKENS_PER_NODE: u32 = 8;
const DEFAULT_PARTITIONS: u32 = 64;

fn strategy_of(cluster: &ClusterSpec) -> Strategy {
    let tokens_per_node = cluster.tokens_per_node.unwrap_or(DEFAULT_TOKENS_PER_NODE);
    let partitions = cluster.partitions.unwrap_or(DEFAULT_PARTITIONS.max(cluster.nodes));
    match cluster.strategy {
        1 => Strategy::RandomTokens { tokens_per_node },
        2 => Strategy::RandomTokensEqualPartitions { tokens_per_node, partitions },
        _ => Strategy::EqualPartitions { partitions },
    }
}

/// A failed semantic check before its line is looked up.
struct Invalid {
    field: String,
    message: String,
}

fn invalid(field: &str, message: impl fmt::Display) -> Invalid {
    Invalid { field: field.to_string(), message: message.to_string() }
}

fn check(ok: bool, field: &str, message: impl fmt::Display) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(invalid(field, message))
    }
}

fn check_dist(field: &str, dist: &crate::dist::Dist) -> Result<(), Invalid> {
    dist.validate().map_err(|m| invalid(field, m))
}

/// Times are whole microseconds, so a nonzero time below 1 µs would round
/// to 0 (an interval of 0 fires forever at one instant); 1e12 ms keeps every
/// derived time far below `u64::MAX` µs.
fn check_ms(field: &str, ms: f64, allow_zero: bool) -> Result<(), Invalid> {
    let ok = ms.is_finite() && ((allow_zero && ms == 0.0) || crate::types::ms_to_us(ms) >= 1) && ms <= 1e12;
    let bound = if allow_zero { "0, or between 0.001 (1 µs)" } else { "between 0.001 (1 µs)" };
    check(ok, field, format!("must be a number of milliseconds {bound} and 1e12, got {ms}"))
}

/// The name becomes a directory under results/ when `--out` is not given,
/// so it must be one plain path component.
fn check_name(name: &str) -> Result<(), Invalid> {
    let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    check(
        plain && !name.is_empty() && name != "." && name != ".." && name.len() <= 128,
        "name",
        format!(
            "{name:?} is not a plain directory name: use 1 to 128 ASCII letters, digits, '-', '_' or '.' (not \
             \".\" or \"..\"), since the name becomes results/<name>/"
        ),
    )
}

fn check_fraction(field: &str, value: f64) -> Result<(), Invalid> {
    check((0.0..=1.0).contains(&value), field, format!("must be a fraction in [0, 1], got {value}"))
}

fn validate(spec: &ScenarioSpec) -> Result<(), Invalid> {
    if let Some(name) = &spec.name {
        check_name(name)?;
    }
    check_ms("duration_ms", spec.duration_ms, false)?;
    check_ms("quiesce_ms", spec.quiesce_ms, true)?;
    check_ms("converge_within_ms", spec.converge_within_ms, true)?;
    for (field, names) in [("expect", &spec.expect), ("tolerate", &spec.tolerate)] {
        for name in names {
            check(
                INVARIANT_NAMES.contains(&name.as_str()),
                field,
                format!("unknown invariant {name:?}; allowed: {}", INVARIANT_NAMES.join(", ")),
            )?;
        }
    }
    if let Some(both) = spec.tolerate.iter().find(|name| spec.expect.contains(name)) {
        return Err(invalid(
            "tolerate",
            format!("{both:?} is listed in both `expect` and `tolerate`; an invariant is either expected or tolerated"),
        ));
    }
    validate_cluster(&spec.cluster)?;
    let q = &spec.quorum;
    check(q.n >= 1, "quorum.n", "N must be at least 1")?;
    check(
        q.n <= spec.cluster.nodes,
        "quorum.n",
        format!("N = {} exceeds the number of nodes ({})", q.n, spec.cluster.nodes),
    )?;
    check((1..=q.n).contains(&q.r), "quorum.r", format!("R must be between 1 and N = {}, got {}", q.n, q.r))?;
    check((1..=q.n).contains(&q.w), "quorum.w", format!("W must be between 1 and N = {}, got {}", q.n, q.w))?;
    let net = &spec.network;
    check_dist("network.latency", &net.latency)?;
    check(
        net.loss.is_finite() && (0.0..1.0).contains(&net.loss),
        "network.loss",
        format!("must be a probability in [0, 1), got {}", net.loss),
    )?;
    for (kind, dist) in net.by_kind.iter() {
        if let Some(dist) = dist {
            check_dist(&format!("network.by_kind.{kind}"), dist)?;
        }
    }
    check_dist("storage.read_service", &spec.storage.read_service)?;
    check_dist("storage.write_service", &spec.storage.write_service)?;
    check((1..=1024).contains(&spec.storage.servers), "storage.servers", "must be between 1 and 1024")?;
    check_ms("node.request_timeout_ms", spec.node.request_timeout_ms, false)?;
    check(spec.node.clock_max_entries >= 1, "node.clock_max_entries", "must be at least 1 (Dynamo uses 10)")?;
    check(
        !(spec.reconciliation.policy == Policy::Lww && spec.reconciliation.clocks == Clocks::Dvv),
        "reconciliation.clocks",
        "\"dvv\" orders versions by causality; policy \"lww\" orders them by timestamp: use \"keep-all\" or \"merge\" with dvv",
    )?;
    validate_workload(&spec.workload)?;
    validate_probes(spec)?;
    check_ms("routing.membership_poll_ms", spec.routing.membership_poll_ms, false)?;
    check_ms("routing.avoid_after_timeout_ms", spec.routing.avoid_after_timeout_ms, true)?;
    validate_node(&spec.node)?;
    let cluster = &spec.cluster;
    let joins = spec.joins() as u32;
    if let Strategy::EqualPartitions { partitions } = strategy_of(cluster) {
        check(
            partitions >= cluster.nodes + joins,
            "cluster.partitions",
            format!("strategy 3 needs Q >= S after every join: Q = {partitions}, S up to {}", cluster.nodes + joins),
        )?;
    }
    if let Some(seed) = cluster.seeds.iter().find(|&&s| s >= cluster.nodes) {
        return Err(invalid(
            "cluster.seeds",
            format!("seed {seed} is not an initial node (ids 0..{})", cluster.nodes - 1),
        ));
    }
    check_ms("cluster.gossip_interval_ms", cluster.gossip_interval_ms, false)?;
    check(
        cluster.seed_gossip_every <= MAX_SEED_GOSSIP_EVERY,
        "cluster.seed_gossip_every",
        format!(
            "must be between 0 (no extra gossip with seeds) and {MAX_SEED_GOSSIP_EVERY} gossip rounds, got {}",
            cluster.seed_gossip_every
        ),
    )?;
    check_ms("anti_entropy.interval_ms", spec.anti_entropy.interval_ms, false)?;
    let depth = spec.anti_entropy.tree_depth;
    check((1..=20).contains(&depth), "anti_entropy.tree_depth", format!("must be between 1 and 20, got {depth}"))?;
    check_ms("storage.flush_interval_ms", spec.storage.flush_interval_ms, false)?;
    crate::fault::schedule(&spec.faults, spec.cluster.nodes, spec.workload.clients)
        .map_err(|(field, message)| invalid(&field, message))?;
    let run_end_ms = spec.duration_ms + spec.quiesce_ms;
    for (index, fault) in spec.faults.iter().enumerate() {
        // A fault after the workload must heal itself before the end-of-run checks.
        let ends_in_time = fault.duration_ms.is_some_and(|d| fault.at_ms + d < run_end_ms);
        check(
            fault.at_ms < spec.duration_ms || ends_in_time,
            &format!("faults[{index}].at_ms"),
            format!(
                "a fault starts during the workload (at_ms < duration_ms = {}), or after it with a duration_ms that \
                 ends before the run does (at_ms + duration_ms < duration_ms + quiesce_ms = {run_end_ms})",
                spec.duration_ms
            ),
        )?;
    }
    if let Some(explore) = &spec.explore {
        validate_explore(explore)?;
    }
    limits::validate_limits(spec)
}

fn validate_explore(explore: &ExploreSpec) -> Result<(), Invalid> {
    for (kind, weight) in explore.kinds.iter().flatten() {
        check(
            EXPLORE_KINDS.contains(&kind.as_str()),
            "explore.kinds",
            format!("unknown fault kind {kind:?}; allowed: {}", EXPLORE_KINDS.join(", ")),
        )?;
        check(
            weight.is_finite() && (0.0..=1e6).contains(weight),
            "explore.kinds",
            format!("the weight of {kind:?} must be a number between 0 and 1e6, got {weight}"),
        )?;
    }
    if let Some(kinds) = &explore.kinds {
        check(kinds.values().any(|&w| w > 0.0), "explore.kinds", "give at least one kind a weight > 0")?;
    }
    let max_faults = explore.max_faults.unwrap_or(1);
    check((1..=64).contains(&max_faults), "explore.max_faults", format!("must be between 1 and 64, got {max_faults}"))?;
    let max_loss = explore.max_loss.unwrap_or(0.0);
    check(
        max_loss.is_finite() && (0.0..1.0).contains(&max_loss),
        "explore.max_loss",
        format!("must be a probability in [0, 1), got {max_loss}"),
    )?;
    if let Some(ms) = explore.max_fault_ms {
        check_ms("explore.max_fault_ms", ms, false)?;
    }
    let shrink_runs = explore.shrink_runs.unwrap_or(0);
    check(shrink_runs <= 100_000, "explore.shrink_runs", format!("must be at most 100000, got {shrink_runs}"))
}

fn validate_node(node: &NodeSpec) -> Result<(), Invalid> {
    check_ms("node.replica_timeout_ms", node.replica_timeout_ms, false)?;
    check_ms("node.probe_interval_ms", node.probe_interval_ms, false)?;
    check_ms("node.handoff_interval_ms", node.handoff_interval_ms, false)?;
    check(node.handoff_batch >= 1, "node.handoff_batch", "must be at least 1")
}

fn validate_cluster(cluster: &ClusterSpec) -> Result<(), Invalid> {
    check(
        (1..=100_000).contains(&cluster.nodes),
        "cluster.nodes",
        format!("must be between 1 and 100000, got {}", cluster.nodes),
    )?;
    check(
        (1..=3).contains(&cluster.strategy),
        "cluster.strategy",
        format!("must be 1, 2 or 3 (Dynamo §6.2), got {}", cluster.strategy),
    )?;
    match (cluster.strategy, cluster.tokens_per_node, cluster.partitions) {
        (1, _, Some(_)) => Err(invalid(
            "cluster.partitions",
            "strategy 1 partitions the ring by token value; Q (partitions) applies only to strategies 2 and 3",
        )),
        (3, Some(_), _) => Err(invalid(
            "cluster.tokens_per_node",
            "strategy 3 gives each node Q/S partitions; T (tokens_per_node) applies only to strategies 1 and 2",
        )),
        _ => Ok(()),
    }?;
    if let Some(t) = cluster.tokens_per_node {
        check((1..=4096).contains(&t), "cluster.tokens_per_node", format!("must be between 1 and 4096, got {t}"))?;
    }
    if let Strategy::EqualPartitions { partitions } | Strategy::RandomTokensEqualPartitions { partitions, .. } =
        strategy_of(cluster)
    {
        check(
            (1..=1 << 20).contains(&partitions),
            "cluster.partitions",
            format!("must be between 1 and 1048576, got {partitions}"),
        )?;
        if cluster.strategy == 3 {
            check(
                partitions >= cluster.nodes,
                "cluster.partitions",
                format!(
                    "strategy 3 needs Q >= S so every node holds a partition: Q = {partitions}, S = {}",
                    cluster.nodes
                ),
            )?;
        }
    }
    Ok(())
}

fn validate_workload(w: &WorkloadSpec) -> Result<(), Invalid> {
    check(w.cart_items >= 1, "workload.cart_items", "must be at least 1")?;
    check_fraction("workload.remove_fraction", w.remove_fraction)?;
    check(
        (1..=100_000).contains(&w.clients),
        "workload.clients",
        format!("must be between 1 and 100000, got {}", w.clients),
    )?;
    check(
        w.rate_per_s.is_finite() && w.rate_per_s > 0.0,
        "workload.rate_per_s",
        format!("must be a number > 0, got {}", w.rate_per_s),
    )?;
    check_dist("workload.think", &w.think)?;
    check((1..=1 << 32).contains(&w.keys), "workload.keys", format!("must be between 1 and 2^32, got {}", w.keys))?;
    if let Popularity::Zipf(s) = w.popularity {
        check(s.is_finite() && s > 0.0, "workload.popularity", format!("zipf exponent must be a number > 0, got {s}"))?;
        check(w.keys <= 10_000_000, "workload.keys", "a zipf popularity supports at most 10000000 keys")?;
    }
    check_fraction("workload.read_fraction", w.read_fraction)?;
    check_fraction("workload.blind_write_fraction", w.blind_write_fraction)?;
    check(w.value_bytes <= 1 << 30, "workload.value_bytes", "must be at most 1 GiB")?;
    check_ms("workload.timeout_ms", w.timeout_ms, false)
}

/// Probe mode: the delays are times (0 allowed) in increasing order, and
/// the run lasts long enough for the last probe's reads: a probe started
/// just before `duration_ms` may take `timeout_ms` to commit, then reads at
/// the largest delay, which may take `timeout_ms` to answer.
fn validate_probes(spec: &ScenarioSpec) -> Result<(), Invalid> {
    let workload = &spec.workload;
    let field = "workload.probe_delays_ms";
    if workload.mode != LoadMode::Probe {
        return check(
            workload.probe_delays_ms.is_none(),
            field,
            "applies only to mode = \"probe\" (PBS t-visibility probes); remove it or set workload.mode = \"probe\"",
        );
    }
    let delays = workload.probe_delays_ms();
    check(!delays.is_empty(), field, "a probe workload needs at least one delay, e.g. [0, 1, 2, 5, 10]")?;
    for (index, &delay) in delays.iter().enumerate() {
        check_ms(&format!("{field}[{index}]"), delay, true)
            .map_err(|e| invalid(field, format!("entry {index}: {}", e.message)))?;
    }
    // Each delay is one row of staleness.csv, told apart by its microsecond.
    if let Some(pair) = delays.windows(2).find(|pair| ms_to_us(pair[0]) >= ms_to_us(pair[1])) {
        return Err(invalid(
            field,
            format!(
                "delays must be in increasing order, at least 0.001 ms (1 µs) apart, got {} then {}",
                pair[0], pair[1]
            ),
        ));
    }
    let largest = delays.last().copied().unwrap_or(0.0);
    let needed_ms = largest + 2.0 * workload.timeout_ms;
    check(
        spec.quiesce_ms >= needed_ms,
        "quiesce_ms",
        format!(
            "a probe workload needs quiesce_ms >= the largest of workload.probe_delays_ms ({largest}) + 2 × \
             workload.timeout_ms ({}) = {needed_ms}, so the reads of a probe started just before the workload \
             ends are issued and answered before the run does; got {}",
            workload.timeout_ms, spec.quiesce_ms
        ),
    )
}

impl LatencyByKind {
    /// (scenario name of the kind, override) for every message kind, in a fixed order.
    pub fn iter(&self) -> [(&'static str, &Option<crate::dist::Dist>); 8] {
        [
            ("client_request", &self.client_request),
            ("client_response", &self.client_response),
            ("write_request", &self.write_request),
            ("write_ack", &self.write_ack),
            ("read_request", &self.read_request),
            ("read_response", &self.read_response),
            ("membership", &self.membership),
            ("background", &self.background),
        ]
    }
}

/// The error for a file that configures another command, if `text` is one.
fn other_command(text: &str, origin: &str) -> Option<ScenarioError> {
    toml::from_str::<crate::ring::RingAnalysisConfig>(text).ok().map(|_| ScenarioError::OtherCommand {
        file: origin.to_string(),
        command: "dynasim ring".into(),
        usage: format!("dynasim ring --config {origin}"),
    })
}

/// `word` quoted for a POSIX shell when it holds anything but plain characters.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '=' | ',' | ':' | '+'));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Turns a TOML error into a message with the file, line, column and the offending line.
fn syntax_error(text: &str, origin: &str, error: &toml::de::Error) -> ScenarioError {
    let (location, snippet) = match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            let line_text = text.lines().nth(line - 1).unwrap_or("");
            (format!("{line}:{column}"), format!("\n  {line} | {line_text}"))
        }
        None => ("?".to_string(), String::new()),
    };
    ScenarioError::Syntax {
        file: origin.to_string(),
        location,
        message: format!("{}{snippet}", error.message().trim_end()),
    }
}

/// The 1-based (line, column) of byte `offset` in `text`, for messages.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

/// The 1-based line that sets dotted `field` (e.g. `quorum.r`), if written explicitly.
/// An entry of an array of tables is `faults[2].nodes`: the third
/// `[[faults]]` header counts as table `faults[2]`.
fn locate(text: &str, field: &str) -> Option<usize> {
    let (table, key) = field.rsplit_once('.').unwrap_or(("", field));
    let mut current = String::new();
    let mut entries: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = header.trim_matches('[').trim().to_string();
            if line.starts_with("[[") {
                let count = entries.entry(current.clone()).or_insert(0);
                current = format!("{current}[{count}]");
                *count += 1;
                if current == field {
                    return Some(index + 1);
                }
            }
            continue;
        }
        let Some((lhs, _)) = line.split_once('=') else {
            continue;
        };
        let lhs = lhs.trim();
        let full = if current.is_empty() { lhs.to_string() } else { format!("{current}.{lhs}") };
        if full == field || (current.is_empty() && lhs == format!("{table}.{key}")) {
            return Some(index + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        Scenario::parse(text, "bad.toml", "bad").unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_is_a_valid_scenario_with_defaults() {
        let s = Scenario::parse("", "empty.toml", "empty").expect("defaults are valid");
        assert_eq!(s.name, "empty");
        assert_eq!((s.spec.quorum.n, s.spec.quorum.r, s.spec.quorum.w), (3, 2, 2));
        assert_eq!(s.strategy(), Strategy::EqualPartitions { partitions: 64 });
    }

    #[test]
    fn unknown_fields_name_the_field_the_line_and_the_allowed_ones() {
        let e = error_of("seed = 3\n[quorum]\nn = 3\nx = 1\n");
        assert!(e.starts_with("bad.toml:4:1:"), "{e}");
        assert!(e.contains("unknown field `x`"), "{e}");
        assert!(e.contains("`r`"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_line() {
        let e = error_of("[quorum]\nr = \"two\"\n");
        assert!(e.starts_with("bad.toml:2:"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
    }

    #[test]
    fn quorum_larger_than_n_is_rejected_with_the_rule() {
        let e = error_of("[quorum]\nn = 3\nr = 4\n");
        assert_eq!(e, "bad.toml:3: field `quorum.r`: R must be between 1 and N = 3, got 4");
    }

    #[test]
    fn strategy_parameters_are_checked_per_strategy() {
        assert!(error_of("[cluster]\nstrategy = 1\npartitions = 16\n")
            .contains("Q (partitions) applies only to strategies 2 and 3"));
        assert!(error_of("[cluster]\nstrategy = 3\ntokens_per_node = 4\n").contains("T (tokens_per_node) applies only"));
        assert!(error_of("[cluster]\nnodes = 8\npartitions = 4\n").contains("Q >= S"));
        assert!(error_of("[cluster]\nstrategy = 4\n").contains("must be 1, 2 or 3"));
        assert!(error_of("[cluster]\nnodes = 2\n").contains("exceeds the number of nodes"));
    }

    #[test]
    fn unknown_invariants_list_the_allowed_names() {
        assert!(error_of("expect = [\"linearizable\"]\n").contains("allowed: deterministic, causal-siblings"));
        let e = error_of("tolerate = [\"no-stale\"]\n");
        assert!(e.starts_with("bad.toml:1: field `tolerate`: unknown invariant \"no-stale\""), "{e}");
        assert!(e.contains("allowed: deterministic"), "{e}");
    }

    #[test]
    fn an_invariant_both_expected_and_tolerated_is_refused() {
        let e = error_of("expect = [\"converges\"]\ntolerate = [\"converges\"]\n");
        assert!(e.contains("field `tolerate`") && e.contains("both `expect` and `tolerate`"), "{e}");
    }

    #[test]
    fn names_that_are_not_one_plain_path_component_are_refused() {
        for bad in ["/abs/dir", "a/../../x", "..", ".", "", "a b", "a\\\\b", "é"] {
            let e = error_of(&format!("name = {bad:?}\n"));
            assert!(e.starts_with("bad.toml:1: field `name`"), "{bad}: {e}");
            assert!(e.contains("plain directory name"), "{e}");
        }
        for good in ["quickstart", "n3-r2_w2.v1", "..x"] {
            assert!(Scenario::parse(&format!("name = {good:?}\n"), "ok.toml", "ok").is_ok(), "{good}");
        }
    }

    #[test]
    fn seeds_cover_the_whole_u64_range_as_strings_or_hex() {
        let seed = |text: &str| Scenario::parse(text, "s.toml", "s").map(|s| s.spec.seed);
        assert_eq!(seed("seed = \"18446744073709551615\"\n").unwrap(), u64::MAX);
        assert_eq!(seed("seed = \"0x8000000000000000\"\n").unwrap(), 1 << 63);
        assert_eq!(seed("seed = 9223372036854775807\n").unwrap(), i64::MAX as u64);
        let e = seed("seed = -1\n").unwrap_err().to_string();
        assert!(e.starts_with("s.toml:1:8:") && e.contains("negative"), "{e}");
        let e = seed("seed = \"18446744073709551616\"\n").unwrap_err().to_string();
        assert!(e.contains("0x hexadecimal"), "{e}");
    }

    #[test]
    fn every_interval_that_rounds_below_a_microsecond_is_refused() {
        let fields = [
            ("", "duration_ms"),
            ("cluster", "gossip_interval_ms"),
            ("node", "request_timeout_ms"),
            ("node", "replica_timeout_ms"),
            ("node", "probe_interval_ms"),
            ("node", "handoff_interval_ms"),
            ("storage", "flush_interval_ms"),
            ("anti_entropy", "interval_ms"),
            ("routing", "membership_poll_ms"),
            ("workload", "timeout_ms"),
        ];
        for (table, key) in fields {
            let header = if table.is_empty() { String::new() } else { format!("[{table}]\n") };
            let dotted = if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
            for tiny in ["0.0001", "0.0", "1e300"] {
                let e = error_of(&format!("{header}{key} = {tiny}\n"));
                assert!(e.contains(&format!("field `{dotted}`")), "{dotted} = {tiny}: {e}");
                assert!(e.contains("0.001 (1 µs)"), "{e}");
            }
            assert!(Scenario::parse(&format!("{header}{key} = 0.001\n"), "ok.toml", "ok").is_ok(), "{dotted}");
        }
        assert!(error_of("quiesce_ms = 0.0001\n").contains("0, or between 0.001"));
        assert!(Scenario::parse("quiesce_ms = 0\n", "ok.toml", "ok").is_ok());
    }

    #[test]
    fn a_ring_configuration_is_named_as_such_with_the_command_to_use() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/ring/figure8.toml"))
            .expect("bundled ring configuration");
        let e = Scenario::parse(&text, "figure8.toml", "figure8").unwrap_err().to_string();
        assert!(e.contains("configuration for `dynasim ring`, not a scenario"), "{e}");
        assert!(e.contains("use `dynasim ring --config figure8.toml`"), "{e}");
    }

    #[test]
    fn an_error_in_a_fault_entry_names_the_line_that_sets_it() {
        let text = "[[faults]]\nat_ms = 1\naction = \"heal\"\n\n[[faults]]\nat_ms = 2\naction = \"partition\"\n\
                    groups = [[\"n1\"], [\"n1\"]]\n";
        let e = error_of(text);
        assert!(e.starts_with("bad.toml:8: field `faults[1].groups`: endpoint n1 is in group 0"), "{e}");
    }

    #[test]
    fn probe_delays_are_checked_with_the_field_and_the_rule() {
        let probe = "quiesce_ms = 3000\n[workload]\nmode = \"probe\"\n";
        let cases = [
            ("probe_delays_ms = []", "at least one delay"),
            ("probe_delays_ms = [0, -1]", "entry 1: must be a number of milliseconds"),
            ("probe_delays_ms = [0, 1e300]", "entry 1: must be a number of milliseconds"),
            ("probe_delays_ms = [5, 1]", "increasing order"),
            ("probe_delays_ms = [1, 1.0001]", "at least 0.001 ms (1 µs) apart"),
        ];
        for (line, rule) in cases {
            let e = error_of(&format!("{probe}{line}\n"));
            assert!(e.starts_with("bad.toml:4: field `workload.probe_delays_ms`"), "{line}: {e}");
            assert!(e.contains(rule), "{line}: {e}");
        }
        let e = error_of("[workload]\nprobe_delays_ms = [0, 1]\n");
        assert!(e.starts_with("bad.toml:2: field `workload.probe_delays_ms`: applies only to mode = \"probe\""), "{e}");
        let e = error_of(&format!("{probe}probe_delays_ms = [0, 1500]\n"));
        assert!(e.starts_with("bad.toml:1: field `quiesce_ms`"), "{e}");
        assert!(e.contains("(1500) + 2 × workload.timeout_ms (1000) = 3500"), "{e}");
        let defaults = Scenario::parse(probe, "ok.toml", "ok").expect("default delays fit the quiesce");
        assert_eq!(defaults.spec.workload.probe_delays_ms(), DEFAULT_PROBE_DELAYS_MS.to_vec());
    }
}
