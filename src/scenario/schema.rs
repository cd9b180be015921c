//! The scenario file format: one TOML file is one experiment.
//!
//! Every field has a default, so a scenario names only what it changes.
//! Unknown fields are errors (a typo must never silently fall back to a
//! default). Times are in milliseconds; `crate::types::ms_to_us` converts.

use crate::dist::Dist;
use serde::{Deserialize, Serialize};

/// A whole scenario file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// Name used for the default output directory (`results/<name>/`), so
    /// one plain path component: ASCII letters, digits, `-`, `_`, `.`.
    /// Default: the file stem.
    #[serde(default)]
    pub name: Option<String>,
    /// Master seed; `--seed` overrides it. Any u64: seeds of 2^63 and more
    /// do not fit a TOML integer, so a string in decimal or `0x` hex is
    /// accepted too (`seed = "0xffffffffffffffff"`). Default 1.
    #[serde(default = "default_seed", with = "crate::scenario::seed")]
    pub seed: u64,
    /// How long clients issue requests, in ms of simulated time. Default 5000.
    #[serde(default = "default_duration_ms")]
    pub duration_ms: f64,
    /// Extra simulated time after the workload stops, so in-flight requests
    /// finish and background work settles, in ms. Default 2000.
    #[serde(default = "default_quiesce_ms")]
    pub quiesce_ms: f64,
    /// The bound for `converges`: every replica of every written key must
    /// hold the same versions within this long after the end of the
    /// workload or the last heal after it, ms. A run not converged when the
    /// quiesce period ends keeps going (clients stopped) until it converges
    /// or the bound passes. Default 60000.
    #[serde(default = "default_converge_within_ms")]
    pub converge_within_ms: f64,
    /// Invariants this scenario expects to hold (canonical names, DESIGN.md);
    /// `dynasim run` exits 1 when one is violated. Default: none.
    #[serde(default)]
    pub expect: Vec<String>,
    /// Invariants this scenario knowingly violates (canonical names): a
    /// run fails (exit 1) when any invariant's verdict is `violated` unless
    /// it is listed here. A comment in the file must say why. Default: none.
    #[serde(default)]
    pub tolerate: Vec<String>,
    /// Cluster size and partitioning.
    #[serde(default)]
    pub cluster: ClusterSpec,
    /// Replication and quorum sizes.
    #[serde(default)]
    pub quorum: QuorumSpec,
    /// Message latency and loss.
    #[serde(default)]
    pub network: NetworkSpec,
    /// The storage engine's service times.
    #[serde(default)]
    pub storage: StorageSpec,
    /// Node-side settings (timeouts, clocks).
    #[serde(default)]
    pub node: NodeSpec,
    /// The client workload.
    #[serde(default)]
    pub workload: WorkloadSpec,
    /// How clients reach the cluster.
    #[serde(default)]
    pub routing: RoutingSpec,
    /// How concurrent versions are resolved.
    #[serde(default)]
    pub reconciliation: ReconciliationSpec,
    /// Merkle-tree anti-entropy between replicas.
    #[serde(default)]
    pub anti_entropy: AntiEntropySpec,
    /// Faults applied at virtual times. Default: none.
    #[serde(default)]
    pub faults: Vec<crate::fault::FaultSpec>,
    /// `[sweep]`: the grid `dynasim sweep` runs, so a comparison is a
    /// checked-in file; `run` and `validate` ignore it.
    #[serde(default)]
    pub sweep: Option<SweepSpec>,
    /// How `dynasim explore` draws random fault schedules for this
    /// scenario; `run` ignores it. Default: see [`ExploreSpec`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explore: Option<ExploreSpec>,
}

impl ScenarioSpec {
    /// How many nodes join during the run: joiners take the ids after the
    /// initial `cluster.nodes`, one each.
    pub fn joins(&self) -> usize {
        self.faults.iter().filter(|f| f.action == crate::fault::FaultAction::Join).count()
    }
}

/// `[sweep]`: axes and seeds of a sweep, in the command line's syntax
/// (`dynasim sweep` parses and checks them; see `crate::sweep::grid`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Axes in order, each as `--set` takes it: `"quorum.r=1,2,3"`,
    /// `"cluster.strategy=1..3"`, `"quorum={n=3,r=2,w=2},{n=3,r=1,w=1}"`.
    /// An array keeps the order, which is the order of the configurations.
    #[serde(default)]
    pub set: Vec<String>,
    /// Seeds as `--seeds` takes them: `"1..10"` or `"1,5,9"`.
    #[serde(default)]
    pub seeds: Option<String>,
}

/// The fault kinds `dynasim explore` can draw, as `[explore] kinds` names them.
pub const EXPLORE_KINDS: [&str; 10] = [
    "crash",
    "disk-loss",
    "partition",
    "one-way-partition",
    "loss",
    "slow-node",
    "slow-link",
    "clock-skew",
    "join",
    "leave",
];

/// `[explore]`: the random fault schedules `dynasim explore` draws. Every
/// schedule is appended to the scenario's own `[[faults]]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExploreSpec {
    /// Relative weight of each fault kind (names in [`EXPLORE_KINDS`]);
    /// a kind not listed is never drawn. Default: every kind at 1, except
    /// that a strict-mode scenario (R + W > N, sloppy quorum off, …) gets
    /// no disk-loss, join or leave, which would take it out of strict mode.
    #[serde(default)]
    pub kinds: Option<std::collections::BTreeMap<String, f64>>,
    /// Most faults in one schedule (each schedule draws 1..=this many).
    /// Default 4.
    #[serde(default)]
    pub max_faults: Option<u32>,
    /// Highest message-loss rate a `loss` fault draws, in [0, 1). Default 0.1.
    #[serde(default)]
    pub max_loss: Option<f64>,
    /// Longest fault, ms. Default: half the workload's duration.
    #[serde(default)]
    pub max_fault_ms: Option<f64>,
    /// Most runs spent shrinking one violation. Default 150.
    #[serde(default)]
    pub shrink_runs: Option<u32>,
}

/// `[reconciliation]`: the integration pattern (seed: "Integration Patterns").
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationSpec {
    /// `keep-all` (reads return every sibling; a client's next
    /// read-modify-write supersedes them), `merge` (values are shopping
    /// carts; clients merge siblings by set union and write the merge back)
    /// or `lww` (last write wins by (timestamp, writer)). Default keep-all.
    #[serde(default)]
    pub policy: Policy,
    /// Most siblings a node keeps per key; past it the oldest (by
    /// timestamp) is dropped and counted. 0 = no cap. Default 0.
    #[serde(default)]
    pub sibling_cap: u32,
    /// `vector` (server-side vector clocks, the paper's) or `dvv` (dotted
    /// version vectors: concurrent writes through one coordinator become
    /// siblings instead of silently overwriting each other). Not used by
    /// `lww`. Default vector.
    #[serde(default)]
    pub clocks: Clocks,
}

/// `[reconciliation] clocks`: how versions record causality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clocks {
    /// Server-side vector clocks (Dynamo §4.4).
    #[default]
    Vector,
    /// Dotted version vectors (Preguiça et al. 2010; Riak 2.0).
    Dvv,
}

/// `[anti_entropy]`: background replica synchronisation (Dynamo §4.7).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AntiEntropySpec {
    /// Run anti-entropy. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How often each node compares each of its ranges with another replica, ms. Default 1000.
    #[serde(default = "default_anti_entropy_ms")]
    pub interval_ms: f64,
    /// Merkle tree depth: 2^depth leaves per range (1..=20). Default 10.
    #[serde(default = "default_tree_depth")]
    pub tree_depth: u32,
}

impl Default for AntiEntropySpec {
    fn default() -> Self {
        AntiEntropySpec { enabled: true, interval_ms: default_anti_entropy_ms(), tree_depth: default_tree_depth() }
    }
}

fn default_anti_entropy_ms() -> f64 {
    1_000.0
}

fn default_tree_depth() -> u32 {
    10
}

/// Reconciliation policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Vector clocks; siblings are returned to the application.
    #[default]
    KeepAll,
    /// Vector clocks; shopping-cart values merged by set union.
    Merge,
    /// Last write wins by (timestamp, writer id); vector clocks unused.
    Lww,
}

impl Default for ReconciliationSpec {
    fn default() -> Self {
        ReconciliationSpec { policy: Policy::KeepAll, sibling_cap: 0, clocks: Clocks::Vector }
    }
}

/// `[cluster]`: how many nodes and how the ring is partitioned (Dynamo §6.2).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Number of storage nodes (S). Default 8.
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    /// Partitioning strategy 1, 2 or 3. Default 3.
    #[serde(default = "default_strategy")]
    pub strategy: u8,
    /// Tokens per node (T), strategies 1 and 2 only. Default 8 there.
    #[serde(default)]
    pub tokens_per_node: Option<u32>,
    /// Number of equal partitions (Q), strategies 2 and 3 only. Default 64 there.
    #[serde(default)]
    pub partitions: Option<u32>,
    /// Seed nodes: every node gossips with one of them now and then, so
    /// nodes joined through different seeds learn of each other. Default `[0]`.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u32>,
    /// Interval between a node's gossip rounds, ms (Dynamo: 1 s). Default 1000.
    #[serde(default = "default_gossip_ms")]
    pub gossip_interval_ms: f64,
    /// Every this many of its gossip rounds a node also gossips with a
    /// random seed, at a phase of its own (so the cluster's seed contacts
    /// are spread over the period, not all in one round). 0 = seeds get no
    /// extra gossip (pure epidemic; seeds still answer joins). Default 4.
    #[serde(default = "default_seed_gossip_every")]
    pub seed_gossip_every: u32,
}

/// `[quorum]`: N replicas, R reads and W writes needed (Dynamo §4.5).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumSpec {
    /// Replicas per key. Default 3.
    #[serde(default = "default_n")]
    pub n: u32,
    /// Replies a read waits for. Default 2.
    #[serde(default = "default_rw")]
    pub r: u32,
    /// Acknowledgements a write waits for, the coordinator included. Default 2.
    #[serde(default = "default_rw")]
    pub w: u32,
}

/// `[network]`: one-way message delay and loss.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// One-way delay of every message, unless `by_kind` overrides it.
    /// Default `{ lognormal = { mu = -1.2, sigma = 0.5 } }` (median ≈ 0.3 ms).
    #[serde(default = "default_latency")]
    pub latency: Dist,
    /// Probability that a message is lost, in [0, 1). Default 0.
    #[serde(default)]
    pub loss: f64,
    /// Per-message-kind overrides of `latency`.
    #[serde(default)]
    pub by_kind: LatencyByKind,
}

/// `[network.by_kind]`: latency per message kind; unset kinds use `network.latency`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyByKind {
    /// Client → node requests (and a node forwarding one).
    pub client_request: Option<Dist>,
    /// Node → client replies.
    pub client_response: Option<Dist>,
    /// Coordinator → replica write.
    pub write_request: Option<Dist>,
    /// Replica → coordinator write acknowledgement.
    pub write_ack: Option<Dist>,
    /// Coordinator → replica read.
    pub read_request: Option<Dist>,
    /// Replica → coordinator read reply.
    pub read_response: Option<Dist>,
    /// Membership polls and replies.
    pub membership: Option<Dist>,
    /// Read repair and hinted handoff. Default: `write_request`'s, else `latency`.
    pub background: Option<Dist>,
}

/// `[storage]`: each node's storage engine, a FIFO service queue.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    /// Time to serve one local read. Default `{ constant = 0.05 }`.
    #[serde(default = "default_read_service")]
    pub read_service: Dist,
    /// Time to serve one local write. Default `{ constant = 0.1 }`.
    #[serde(default = "default_write_service")]
    pub write_service: Dist,
    /// Requests served at once (disks/threads). Default 4.
    #[serde(default = "default_servers")]
    pub servers: u32,
    /// Dynamo §6.1: replicas buffer writes in memory and flush them
    /// periodically; the coordinator asks one replica for a durable write
    /// that does not count toward W. A crash loses the buffer. Default false.
    #[serde(default)]
    pub buffered_writes: bool,
    /// How often a node flushes its write buffer, ms. Default 100.
    #[serde(default = "default_flush_ms")]
    pub flush_interval_ms: f64,
    /// Bandwidth a node sends range transfers at (join/leave), MB/s. Default 50.
    #[serde(default = "default_transfer_mb_per_s")]
    pub transfer_mb_per_s: f64,
    /// Strategies 1-2: time to scan one stored key while looking for a
    /// range's keys, µs. Default 2.
    #[serde(default = "default_scan_key_us")]
    pub scan_key_us: u64,
}

/// `[node]`: node-side settings.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// A coordinator answers failure if its quorum has not answered by then, ms. Default 300.
    #[serde(default = "default_node_timeout_ms")]
    pub request_timeout_ms: f64,
    /// Vector clock entries kept before the oldest is dropped (Dynamo: 10). Default 10.
    #[serde(default = "default_clock_entries")]
    pub clock_max_entries: u32,
    /// Sloppy quorum (Dynamo §4.6): use the first N *healthy* nodes of the
    /// extended preference list, leaving hints for the skipped ones. When
    /// false, only the top N are used and too few reachable replicas fail
    /// the request. Default true.
    #[serde(default = "default_true")]
    pub sloppy_quorum: bool,
    /// A replica that has not answered a coordinator within this long is
    /// suspected unreachable (and, with sloppy quorum, replaced by the next
    /// healthy node), ms. Default 50.
    #[serde(default = "default_replica_timeout_ms")]
    pub replica_timeout_ms: f64,
    /// How often a node probes the peers it suspects, ms. Default 200.
    #[serde(default = "default_probe_ms")]
    pub probe_interval_ms: f64,
    /// How often a node tries to hand hinted replicas back, ms. Default 500.
    #[serde(default = "default_handoff_ms")]
    pub handoff_interval_ms: f64,
    /// Most keys handed back to one node per handoff round. Default 64.
    #[serde(default = "default_handoff_batch")]
    pub handoff_batch: u32,
    /// After a read, send replicas that replied the versions they lack. Default true.
    #[serde(default = "default_true")]
    pub read_repair: bool,
}

/// `[workload]`: what clients ask for and how often.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// `open` (Poisson arrivals at `rate_per_s`), `closed` (each client
    /// waits for its reply, then thinks) or `probe` (PBS t-visibility
    /// probes, see `probe_delays_ms`). Default open.
    #[serde(default)]
    pub mode: LoadMode,
    /// Number of client processes. Default 16.
    #[serde(default = "default_clients")]
    pub clients: u32,
    /// Open loop: total requests per second across all clients. Default 2000.
    #[serde(default = "default_rate")]
    pub rate_per_s: f64,
    /// Closed loop: pause between a reply and the next request. Default `{ constant = 1.0 }`.
    #[serde(default = "default_think")]
    pub think: Dist,
    /// Number of distinct keys. Default 1000.
    #[serde(default = "default_keys")]
    pub keys: u64,
    /// Key popularity: `"uniform"` or `{ zipf = s }`. Default uniform.
    #[serde(default)]
    pub popularity: Popularity,
    /// Fraction of requests that are reads, in [0, 1]. Default 0.5.
    #[serde(default = "default_read_fraction")]
    pub read_fraction: f64,
    /// Fraction of writes sent with an empty context (blind), in [0, 1];
    /// the others carry the context of the client's last read of the key. Default 0.1.
    #[serde(default = "default_blind")]
    pub blind_write_fraction: f64,
    /// Non-blind writes first read the key and write with the context that
    /// read returned (a read-modify-write, as Dynamo's applications do; the
    /// read is an operation of its own). When false, a write carries the
    /// context of the client's last read of the key, however old. Default true.
    #[serde(default = "default_true")]
    pub read_modify_write: bool,
    /// Size of each written value in bytes. Default 1024.
    #[serde(default = "default_value_bytes")]
    pub value_bytes: u32,
    /// A client gives up on a request after this long, ms. Default 1000.
    #[serde(default = "default_client_timeout_ms")]
    pub timeout_ms: f64,
    /// Shopping carts (`merge` policy): number of distinct items. Default 16.
    #[serde(default = "default_cart_items")]
    pub cart_items: u32,
    /// Shopping carts: fraction of cart writes that remove an item. Default 0.3.
    #[serde(default = "default_remove_fraction")]
    pub remove_fraction: f64,
    /// Probe mode only: the delays t after a probe write commits at which
    /// one read each is issued, ms, in increasing order (Bailis et al.,
    /// PBS, VLDB 2012: P(consistent read | t)). Default
    /// [`DEFAULT_PROBE_DELAYS_MS`] in probe mode; an error in other modes.
    #[serde(default)]
    pub probe_delays_ms: Option<Vec<f64>>,
}

/// The probe delays used when a probe workload names none, ms.
pub const DEFAULT_PROBE_DELAYS_MS: [f64; 10] = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

impl WorkloadSpec {
    /// The probe delays in ms (the defaults when unset).
    pub fn probe_delays_ms(&self) -> Vec<f64> {
        self.probe_delays_ms.clone().unwrap_or_else(|| DEFAULT_PROBE_DELAYS_MS.to_vec())
    }
}

/// Open or closed loop load generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadMode {
    /// Poisson arrivals independent of replies.
    #[default]
    Open,
    /// One outstanding request per client, then a think time.
    Closed,
    /// PBS probes: each client starts probes at Poisson times (`rate_per_s`
    /// across clients) until `duration_ms`; a probe writes a key never
    /// written before and, once the write commits at the client, reads it
    /// once at each of `probe_delays_ms` after the commit.
    Probe,
}

/// Which keys requests go to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Popularity {
    /// Every key equally likely.
    #[default]
    Uniform,
    /// Key of rank k has weight 1/k^s.
    Zipf(f64),
}

/// `[routing]`: how a client picks the node it talks to (Dynamo §4.5, §6.4).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// `load-balancer`, `partition-aware` or `client-driven`. Default load-balancer.
    #[serde(default)]
    pub mode: RoutingMode,
    /// Send a write to the replica that answered the preceding read fastest (§5). Default false.
    #[serde(default)]
    pub write_to_fastest_replica: bool,
    /// How often partition-aware and client-driven clients poll a random node
    /// for membership, ms (Dynamo §6.4: 10 s). Default 10000.
    #[serde(default = "default_poll_ms")]
    pub membership_poll_ms: f64,
    /// How long a client avoids a node after a request to it timed out, ms. Default 5000.
    #[serde(default = "default_avoid_ms")]
    pub avoid_after_timeout_ms: f64,
}

/// Client routing modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingMode {
    /// A random node the client has not seen time out; it forwards if not in the top N.
    #[default]
    LoadBalancer,
    /// Straight to the first of the key's top N (the next one after a timeout).
    PartitionAware,
    /// The client coordinates reads itself and sends writes to a preference-list node.
    ClientDriven,
}

fn default_seed() -> u64 {
    1
}
fn default_duration_ms() -> f64 {
    5_000.0
}
fn default_converge_within_ms() -> f64 {
    60_000.0
}
fn default_quiesce_ms() -> f64 {
    2_000.0
}
fn default_nodes() -> u32 {
    8
}
fn default_strategy() -> u8 {
    3
}
fn default_n() -> u32 {
    3
}
fn default_rw() -> u32 {
    2
}
fn default_latency() -> Dist {
    Dist::Lognormal { mu: -1.2, sigma: 0.5 }
}
fn default_read_service() -> Dist {
    Dist::Constant(0.05)
}
fn default_write_service() -> Dist {
    Dist::Constant(0.1)
}
fn default_servers() -> u32 {
    4
}
fn default_node_timeout_ms() -> f64 {
    300.0
}
fn default_clock_entries() -> u32 {
    10
}
fn default_clients() -> u32 {
    16
}
fn default_rate() -> f64 {
    2_000.0
}
fn default_think() -> Dist {
    Dist::Constant(1.0)
}
fn default_keys() -> u64 {
    1_000
}
fn default_read_fraction() -> f64 {
    0.5
}
fn default_blind() -> f64 {
    0.1
}
fn default_seeds() -> Vec<u32> {
    vec![0]
}
fn default_gossip_ms() -> f64 {
    1_000.0
}
fn default_seed_gossip_every() -> u32 {
    4
}
fn default_transfer_mb_per_s() -> f64 {
    50.0
}
fn default_scan_key_us() -> u64 {
    2
}
fn default_flush_ms() -> f64 {
    100.0
}
fn default_replica_timeout_ms() -> f64 {
    50.0
}
fn default_probe_ms() -> f64 {
    200.0
}
fn default_handoff_ms() -> f64 {
    500.0
}
fn default_handoff_batch() -> u32 {
    64
}
fn default_cart_items() -> u32 {
    16
}
fn default_remove_fraction() -> f64 {
    0.3
}
fn default_true() -> bool {
    true
}
fn default_value_bytes() -> u32 {
    1_024
}
fn default_client_timeout_ms() -> f64 {
    1_000.0
}
fn default_poll_ms() -> f64 {
    10_000.0
}
fn default_avoid_ms() -> f64 {
    5_000.0
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            nodes: default_nodes(),
            strategy: default_strategy(),
            tokens_per_node: None,
            partitions: None,
            seeds: default_seeds(),
            gossip_interval_ms: default_gossip_ms(),
            seed_gossip_every: default_seed_gossip_every(),
        }
    }
}

impl Default for QuorumSpec {
    fn default() -> Self {
        QuorumSpec { n: default_n(), r: default_rw(), w: default_rw() }
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec { latency: default_latency(), loss: 0.0, by_kind: LatencyByKind::default() }
    }
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            read_service: default_read_service(),
            write_service: default_write_service(),
            servers: default_servers(),
            buffered_writes: false,
            flush_interval_ms: default_flush_ms(),
            transfer_mb_per_s: default_transfer_mb_per_s(),
            scan_key_us: default_scan_key_us(),
        }
    }
}

impl Default for NodeSpec {
    fn default() -> Self {
        NodeSpec {
            request_timeout_ms: default_node_timeout_ms(),
            clock_max_entries: default_clock_entries(),
            sloppy_quorum: true,
            replica_timeout_ms: default_replica_timeout_ms(),
            probe_interval_ms: default_probe_ms(),
            handoff_interval_ms: default_handoff_ms(),
            handoff_batch: default_handoff_batch(),
            read_repair: true,
        }
    }
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            mode: LoadMode::default(),
            clients: default_clients(),
            rate_per_s: default_rate(),
            think: default_think(),
            keys: default_keys(),
            popularity: Popularity::default(),
            read_fraction: default_read_fraction(),
            blind_write_fraction: default_blind(),
            read_modify_write: true,
            value_bytes: default_value_bytes(),
            timeout_ms: default_client_timeout_ms(),
            cart_items: default_cart_items(),
            remove_fraction: default_remove_fraction(),
            probe_delays_ms: None,
        }
    }
}

impl Default for RoutingSpec {
    fn default() -> Self {
        RoutingSpec {
            mode: RoutingMode::default(),
            write_to_fastest_replica: false,
            membership_poll_ms: default_poll_ms(),
            avoid_after_timeout_ms: default_avoid_ms(),
        }
    }
}
