//! Fault schedules: what the scenario's `[[faults]]` entries do, and when.
//!
//! The verbs follow what Jepsen and turmoil users know: crash / restart,
//! partition / heal (symmetric or one-way), loss, slow, clock skew. A fault
//! with `duration_ms` reverts itself; at the end of the workload every fault
//! still active is healed and every crashed node restarted, so the
//! end-of-run checks see a healed cluster.

use crate::types::{ms_to_us, ClientId, Endpoint, NodeId, Time};
use serde::{Deserialize, Serialize};

/// One `[[faults]]` entry as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// When it happens, ms of simulated time.
    pub at_ms: f64,
    /// What happens.
    pub action: FaultAction,
    /// crash, restart, disk-loss, slow, clock-skew: the nodes affected.
    #[serde(default)]
    pub nodes: Vec<u32>,
    /// partition: groups of endpoints that can no longer reach each other.
    /// Endpoints: `"n3"`, `"c0"`, `"nodes"`, `"clients"`, or `"others"`
    /// (everything not named in another group).
    #[serde(default)]
    pub groups: Vec<Vec<String>>,
    /// One-way partition or slow link: messages from these endpoints…
    #[serde(default)]
    pub from: Vec<String>,
    /// …to these endpoints are dropped (partition) or delayed (slow).
    #[serde(default)]
    pub to: Vec<String>,
    /// Revert the fault after this long, ms (crash and disk-loss: restart).
    pub duration_ms: Option<f64>,
    /// loss: the new message-loss probability.
    pub rate: Option<f64>,
    /// slow: delay multiplier (default 1).
    pub multiplier: Option<f64>,
    /// slow: delay added to every message, ms (default 0).
    pub added_ms: Option<f64>,
    /// clock-skew: offset of the nodes' clocks, ms (may be negative).
    pub skew_ms: Option<f64>,
    /// join: the seed node the new node contacts (default: the first seed).
    pub via: Option<u32>,
}

/// Fault verbs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultAction {
    /// Stop nodes; they lose volatile state (pending requests, timers, write buffers).
    Crash,
    /// Start crashed nodes again.
    Restart,
    /// Crash nodes and wipe their disks (a permanent failure).
    DiskLoss,
    /// Drop messages between groups (or from `from` to `to`).
    Partition,
    /// Remove every partition and slowdown and restore the scenario's loss rate.
    Heal,
    /// Set the message-loss probability.
    Loss,
    /// Delay messages to and from nodes, or on links from → to.
    Slow,
    /// Offset nodes' physical clocks (affects last-write-wins timestamps).
    ClockSkew,
    /// An administrator adds a new node (the next id) through a seed.
    Join,
    /// An administrator decommissions a node.
    Leave,
}

/// A set of endpoints: a bit per node id and per client id. Every message
/// sent while a partition or slowdown is active asks its rules whether
/// they cover its link; binary searches of 124-endpoint sets were 1.5 %
/// of the 64-node bench row, a bit test costs a load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointSet {
    /// Bit `id % 64` of word `id / 64`: node `id` is in the set.
    nodes: Vec<u64>,
    /// The same for client ids.
    clients: Vec<u64>,
}

impl EndpointSet {
    /// A set from any endpoints.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        let mut set = EndpointSet::default();
        for endpoint in endpoints {
            let (bits, id) = match endpoint {
                Endpoint::Node(node) => (&mut set.nodes, node.0),
                Endpoint::Client(client) => (&mut set.clients, client.0),
            };
            let word = id as usize / 64;
            if bits.len() <= word {
                bits.resize(word + 1, 0);
            }
            bits[word] |= 1 << (id % 64);
        }
        set
    }

    /// Membership test.
    pub fn contains(&self, endpoint: Endpoint) -> bool {
        let (bits, id) = match endpoint {
            Endpoint::Node(node) => (&self.nodes, node.0),
            Endpoint::Client(client) => (&self.clients, client.0),
        };
        bits.get(id as usize / 64).is_some_and(|word| word & (1 << (id % 64)) != 0)
    }
}

/// Messages from `from` to `to` are affected by a rule.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkRule {
    /// Senders.
    pub from: EndpointSet,
    /// Receivers.
    pub to: EndpointSet,
}

impl LinkRule {
    /// True when a message from → to falls under this rule.
    pub fn matches(&self, from: Endpoint, to: Endpoint) -> bool {
        self.from.contains(from) && self.to.contains(to)
    }
}

/// What a fault does to the simulated world.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultEffect {
    /// Crash nodes, wiping their disks when `disk_loss`.
    Crash {
        /// The nodes.
        nodes: Vec<NodeId>,
        /// Also lose the store.
        disk_loss: bool,
    },
    /// Restart crashed nodes.
    Restart {
        /// The nodes.
        nodes: Vec<NodeId>,
    },
    /// Start dropping messages on these directed links.
    Partition {
        /// Identifies the partition so its own end can remove it.
        id: usize,
        /// Blocked directions.
        rules: Vec<LinkRule>,
    },
    /// End one partition.
    EndPartition {
        /// The partition.
        id: usize,
    },
    /// Set the loss probability.
    Loss {
        /// New probability.
        rate: f64,
    },
    /// Restore the scenario's loss probability.
    RestoreLoss,
    /// Start delaying messages on these links.
    Slow {
        /// Identifies the slowdown.
        id: usize,
        /// Delayed directions.
        rules: Vec<LinkRule>,
        /// Delay multiplier.
        multiplier: f64,
        /// Added delay, µs.
        added_us: u64,
    },
    /// End one slowdown.
    EndSlow {
        /// The slowdown.
        id: usize,
    },
    /// Set nodes' clock offsets.
    ClockSkew {
        /// The nodes.
        nodes: Vec<NodeId>,
        /// Offset, µs.
        skew_us: i64,
    },
    /// A new node joins through `via` (a seed, or None for the first seed).
    Join {
        /// The new node's id.
        node: NodeId,
        /// The node it contacts.
        via: Option<NodeId>,
    },
    /// A node is decommissioned.
    Leave {
        /// The node.
        node: NodeId,
    },
    /// Heal everything: partitions, slowdowns, loss; restart crashed nodes
    /// when `restart`.
    HealAll {
        /// Also restart every crashed node (the end-of-workload heal).
        restart: bool,
    },
}

/// A fault effect at a time, with the label reports show.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    /// When.
    pub at: Time,
    /// What.
    pub effect: FaultEffect,
    /// Human label, e.g. `partition [n0] | [others]`.
    pub label: String,
}

/// Longest time a fault field may name, ms (about 31 years): with it every
/// derived time stays far below `u64::MAX` µs.
const TIME_MS_MAX: f64 = 1e12;

/// Largest `slow` multiplier: a clamped latency sample (1e12 µs) times this
/// still fits a u64 of microseconds.
pub const SLOW_MULTIPLIER_MAX: f64 = 1e6;

/// A fault entry that is not valid: (dotted field, what is wrong).
pub type FaultError = (String, String);

/// Turns the scenario's fault entries into timed effects (reverts included),
/// sorted by time (stable, so same-time faults keep file order). `nodes`
/// is the initial cluster size; joins add the next ids in time order.
pub fn schedule(specs: &[FaultSpec], nodes: u32, clients: u32) -> Result<Vec<TimedFault>, FaultError> {
    check_membership(specs, nodes)?;
    let nodes = nodes + specs.iter().filter(|s| s.action == FaultAction::Join).count() as u32;
    let mut timed = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let field = |name: &str| format!("faults[{index}].{name}");
        if !(spec.at_ms.is_finite() && (0.0..=TIME_MS_MAX).contains(&spec.at_ms)) {
            return Err((field("at_ms"), format!("must be a time between 0 and 1e12 ms, got {}", spec.at_ms)));
        }
        if let Some(d) = spec.duration_ms {
            // Virtual time counts whole µs: a shorter duration would end the
            // fault at the instant it starts.
            if !(d.is_finite() && ms_to_us(d) >= 1 && d <= TIME_MS_MAX) {
                return Err((field("duration_ms"), format!("must be between 0.001 ms (1 µs) and 1e12 ms, got {d}")));
            }
        }
        let at = Time::from_ms(spec.at_ms);
        let end = spec.duration_ms.map(|d| at.plus(ms_to_us(d)));
        let (effect, revert) = effect_of(spec, index, nodes, clients).map_err(|(f, m)| (field(&f), m))?;
        let label = label_of(spec);
        if let (Some(end), Some(revert)) = (end, revert) {
            timed.push(TimedFault { at: end, effect: revert, label: format!("end of {label}") });
        } else if end.is_some() {
            return Err((
                field("duration_ms"),
                format!("{:?} cannot be timed; heal it with another fault", spec.action),
            ));
        }
        timed.push(TimedFault { at, effect, label });
    }
    timed.sort_by_key(|f| f.at);
    Ok(timed)
}

/// Walks the faults in time order, checking membership: joins add the
/// next node id, a leave names a current member and keeps at least one,
/// and node faults name nodes that have joined by then.
fn check_membership(specs: &[FaultSpec], nodes: u32) -> Result<(), FaultError> {
    let mut order: Vec<(usize, &FaultSpec)> = specs.iter().enumerate().collect();
    // The order the schedule applies them in: rounded time, then file order.
    order.sort_by_key(|(index, spec)| (Time::from_ms(spec.at_ms), *index));
    let mut joined = nodes;
    let mut left: Vec<u32> = Vec::new();
    for (index, spec) in order {
        let field = |name: &str| format!("faults[{index}].{name}");
        match spec.action {
            FaultAction::Join => {
                if spec.nodes != [joined] {
                    let message = format!("join adds one new node, the next id in time order: nodes = [{joined}]");
                    return Err((field("nodes"), message));
                }
                if let Some(via) = spec.via.filter(|&v| v >= joined || left.contains(&v)) {
                    return Err((field("via"), format!("node {via} is not a member at that time")));
                }
                joined += 1;
            }
            FaultAction::Leave => {
                if let Some(&node) = spec.nodes.iter().find(|&&n| n >= joined || left.contains(&n)) {
                    return Err((field("nodes"), format!("node {node} is not a member at that time")));
                }
                left.extend(&spec.nodes);
                if left.len() as u32 >= joined {
                    return Err((field("nodes"), "the last member cannot leave".into()));
                }
            }
            _ => {
                if let Some(node) = spec.nodes.iter().find(|&&n| n >= joined) {
                    return Err((field("nodes"), format!("node {node} has not joined by at_ms = {}", spec.at_ms)));
                }
            }
        }
    }
    Ok(())
}

fn label_of(spec: &FaultSpec) -> String {
    let action =
        serde_json::to_value(spec.action).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let nodes: Vec<String> = spec.nodes.iter().map(|n| format!("n{n}")).collect();
    let groups: Vec<String> = spec.groups.iter().map(|g| format!("[{}]", g.join(","))).collect();
    let mut label = action;
    if !nodes.is_empty() {
        label.push_str(&format!(" {}", nodes.join(",")));
    }
    if !groups.is_empty() {
        label.push_str(&format!(" {}", groups.join(" | ")));
    }
    if !spec.from.is_empty() {
        label.push_str(&format!(" [{}] -> [{}]", spec.from.join(","), spec.to.join(",")));
    }
    label
}

type Resolved = (FaultEffect, Option<FaultEffect>);

fn effect_of(spec: &FaultSpec, id: usize, nodes: u32, clients: u32) -> Result<Resolved, (String, String)> {
    let node_list = || -> Result<Vec<NodeId>, (String, String)> {
        if spec.nodes.is_empty() {
            return Err(("nodes".into(), format!("{:?} needs a non-empty list of node ids", spec.action)));
        }
        match spec.nodes.iter().find(|&&n| n >= nodes) {
            Some(bad) => Err(("nodes".into(), format!("node {bad} does not exist; ids are 0..{}", nodes - 1))),
            None => Ok(spec.nodes.iter().map(|&n| NodeId(n)).collect()),
        }
    };
    let links = || -> Result<Vec<LinkRule>, (String, String)> {
        if !spec.groups.is_empty() {
            if spec.groups.len() < 2 {
                return Err(("groups".into(), "a partition needs at least two groups".into()));
            }
            let sets = resolve_groups(&spec.groups, nodes, clients)?;
            let mut rules = Vec::new();
            for (i, a) in sets.iter().enumerate() {
                for (j, b) in sets.iter().enumerate() {
                    if i != j {
                        rules.push(LinkRule { from: a.clone(), to: b.clone() });
                    }
                }
            }
            Ok(rules)
        } else if !spec.from.is_empty() && !spec.to.is_empty() {
            let from = EndpointSet::new(resolve_all(&spec.from, nodes, clients, "from")?);
            let to = EndpointSet::new(resolve_all(&spec.to, nodes, clients, "to")?);
            if from == to {
                let message = "`from` and `to` name the same endpoints, so the rule has no two sides; name the \
                               senders in `from` and different receivers in `to` (or use `groups` to cut both ways)";
                return Err(("to".into(), message.into()));
            }
            Ok(vec![LinkRule { from, to }])
        } else {
            Err(("groups".into(), "give `groups` (symmetric) or both `from` and `to` (one way)".into()))
        }
    };
    Ok(match spec.action {
        FaultAction::Crash => (
            FaultEffect::Crash { nodes: node_list()?, disk_loss: false },
            Some(FaultEffect::Restart { nodes: node_list()? }),
        ),
        FaultAction::DiskLoss => (
            FaultEffect::Crash { nodes: node_list()?, disk_loss: true },
            Some(FaultEffect::Restart { nodes: node_list()? }),
        ),
        FaultAction::Restart => (FaultEffect::Restart { nodes: node_list()? }, None),
        FaultAction::Partition => {
            (FaultEffect::Partition { id, rules: links()? }, Some(FaultEffect::EndPartition { id }))
        }
        FaultAction::Heal => (FaultEffect::HealAll { restart: false }, None),
        FaultAction::Loss => {
            let rate =
                spec.rate.ok_or(("rate".to_string(), "loss needs `rate`, a probability in [0, 1)".to_string()))?;
            if !(0.0..1.0).contains(&rate) {
                return Err(("rate".into(), format!("must be a probability in [0, 1), got {rate}")));
            }
            (FaultEffect::Loss { rate }, Some(FaultEffect::RestoreLoss))
        }
        FaultAction::Slow => {
            let multiplier = spec.multiplier.unwrap_or(1.0);
            let added_ms = spec.added_ms.unwrap_or(0.0);
            if !(multiplier.is_finite() && (1.0..=SLOW_MULTIPLIER_MAX).contains(&multiplier)) {
                return Err(("multiplier".into(), format!("must be a number between 1 and 1e6, got {multiplier}")));
            }
            if !(added_ms.is_finite() && (0.0..=TIME_MS_MAX).contains(&added_ms)) {
                return Err(("added_ms".into(), format!("must be between 0 and 1e12 ms, got {added_ms}")));
            }
            if multiplier == 1.0 && added_ms == 0.0 {
                return Err(("multiplier".into(), "slow needs `multiplier` > 1 or `added_ms` > 0".into()));
            }
            let rules = if spec.nodes.is_empty() {
                links()?
            } else {
                let slow = EndpointSet::new(node_list()?.into_iter().map(Endpoint::Node).collect());
                let all = EndpointSet::new(everyone(nodes, clients));
                vec![LinkRule { from: slow.clone(), to: all.clone() }, LinkRule { from: all, to: slow }]
            };
            let effect = FaultEffect::Slow { id, rules, multiplier, added_us: ms_to_us(added_ms) };
            (effect, Some(FaultEffect::EndSlow { id }))
        }
        FaultAction::Join => {
            let node = node_list()?[0];
            (FaultEffect::Join { node, via: spec.via.map(NodeId) }, None)
        }
        FaultAction::Leave => match node_list()?.as_slice() {
            [node] => (FaultEffect::Leave { node: *node }, None),
            _ => return Err(("nodes".into(), "leave decommissions one node: nodes = [id]".into())),
        },
        FaultAction::ClockSkew => {
            let skew_ms = spec.skew_ms.ok_or(("skew_ms".to_string(), "clock-skew needs `skew_ms`".to_string()))?;
            if !(skew_ms.is_finite() && skew_ms.abs() <= 1e9) {
                return Err(("skew_ms".into(), format!("must be a finite offset within ±1e9 ms, got {skew_ms}")));
            }
            let skew_us = libm::round(skew_ms * 1000.0) as i64;
            (
                FaultEffect::ClockSkew { nodes: node_list()?, skew_us },
                Some(FaultEffect::ClockSkew { nodes: node_list()?, skew_us: 0 }),
            )
        }
    })
}

fn everyone(nodes: u32, clients: u32) -> Vec<Endpoint> {
    (0..nodes).map(|n| Endpoint::Node(NodeId(n))).chain((0..clients).map(|c| Endpoint::Client(ClientId(c)))).collect()
}

fn resolve_all(names: &[String], nodes: u32, clients: u32, field: &str) -> Result<Vec<Endpoint>, (String, String)> {
    let mut out = Vec::new();
    for name in names {
        out.extend(resolve(name, nodes, clients).map_err(|m| (field.to_string(), m))?);
    }
    Ok(out)
}

/// Endpoints named by one selector.
fn resolve(name: &str, nodes: u32, clients: u32) -> Result<Vec<Endpoint>, String> {
    let allowed = "allowed: \"n<id>\", \"c<id>\", \"nodes\", \"clients\", \"others\" (groups only)";
    match name {
        "nodes" => Ok((0..nodes).map(|n| Endpoint::Node(NodeId(n))).collect()),
        "clients" => Ok((0..clients).map(|c| Endpoint::Client(ClientId(c))).collect()),
        _ => {
            let unknown = || format!("unknown endpoint {name:?}; {allowed}");
            let missing = || format!("endpoint {name:?} does not exist ({nodes} nodes, {clients} clients)");
            if let Some(id) = name.strip_prefix('n') {
                let id: u32 = id.parse().map_err(|_| unknown())?;
                (id < nodes).then(|| vec![Endpoint::Node(NodeId(id))]).ok_or_else(missing)
            } else if let Some(id) = name.strip_prefix('c') {
                let id: u32 = id.parse().map_err(|_| unknown())?;
                (id < clients).then(|| vec![Endpoint::Client(ClientId(id))]).ok_or_else(missing)
            } else {
                Err(unknown())
            }
        }
    }
}

/// A partition cuts groups apart, so an endpoint may belong to one group only.
fn refuse_overlap(groups: &[Vec<String>], named: &[Vec<Endpoint>]) -> Result<(), (String, String)> {
    let mut owner: std::collections::BTreeMap<Endpoint, usize> = std::collections::BTreeMap::new();
    for (index, members) in named.iter().enumerate() {
        for &endpoint in members {
            if let Some(first) = owner.insert(endpoint, index).filter(|&first| first != index) {
                let message = format!(
                    "endpoint {endpoint} is in group {first} ({:?}) and group {index} ({:?}); each endpoint may be in \
                     one group only (\"others\" is everything no group names)",
                    groups[first], groups[index]
                );
                return Err(("groups".into(), message));
            }
        }
    }
    let others = groups.iter().filter(|g| g.iter().any(|n| n == "others")).count();
    if others > 1 {
        return Err(("groups".into(), "\"others\" may appear in one group only".into()));
    }
    Ok(())
}

fn resolve_groups(groups: &[Vec<String>], nodes: u32, clients: u32) -> Result<Vec<EndpointSet>, (String, String)> {
    let mut named: Vec<Vec<Endpoint>> = Vec::new();
    for group in groups {
        let mut members = Vec::new();
        for name in group.iter().filter(|n| n.as_str() != "others") {
            members.extend(resolve(name, nodes, clients).map_err(|m| ("groups".to_string(), m))?);
        }
        named.push(members);
    }
    refuse_overlap(groups, &named)?;
    let listed: Vec<Endpoint> = named.iter().flatten().copied().collect();
    let others: Vec<Endpoint> = everyone(nodes, clients).into_iter().filter(|e| !listed.contains(e)).collect();
    Ok(groups
        .iter()
        .zip(named)
        .map(|(group, mut members)| {
            if group.iter().any(|n| n == "others") {
                members.extend(others.iter().copied());
            }
            EndpointSet::new(members)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> FaultSpec {
        toml::from_str(toml_text).expect("fault parses")
    }

    #[test]
    fn an_endpoint_set_holds_exactly_its_nodes_and_clients() {
        let (n, c) = (|id| Endpoint::Node(NodeId(id)), |id| Endpoint::Client(ClientId(id)));
        let members = [n(0), n(63), n(64), n(200), c(1), c(64), n(64)];
        let set = EndpointSet::new(members.to_vec());
        for id in 0..300 {
            assert_eq!(set.contains(n(id)), [0, 63, 64, 200].contains(&id), "node {id}");
            assert_eq!(set.contains(c(id)), [1, 64].contains(&id), "client {id}");
        }
        assert!(!set.contains(n(u32::MAX)) && !set.contains(c(u32::MAX)));
        let reordered: Vec<Endpoint> = members.iter().rev().copied().collect();
        assert_eq!(EndpointSet::new(reordered), set, "a set, whatever the order and repeats");
        assert!(!EndpointSet::new(Vec::new()).contains(n(0)));
    }

    #[test]
    fn a_timed_crash_restarts_itself() {
        let faults =
            schedule(&[spec("at_ms = 100\naction = \"crash\"\nnodes = [2]\nduration_ms = 50\n")], 4, 1).expect("valid");
        assert_eq!(faults.len(), 2);
        assert_eq!(faults[0].at, Time(100_000));
        assert_eq!(faults[0].effect, FaultEffect::Crash { nodes: vec![NodeId(2)], disk_loss: false });
        assert_eq!(faults[1].at, Time(150_000));
        assert_eq!(faults[1].effect, FaultEffect::Restart { nodes: vec![NodeId(2)] });
    }

    #[test]
    fn others_completes_a_partition_group() {
        let faults = schedule(&[spec("at_ms = 0\naction = \"partition\"\ngroups = [[\"n0\"], [\"others\"]]\n")], 3, 2)
            .expect("valid");
        let FaultEffect::Partition { rules, .. } = &faults[0].effect else { panic!("a partition") };
        assert_eq!(rules.len(), 2, "both directions");
        let n0 = Endpoint::Node(NodeId(0));
        let c1 = Endpoint::Client(ClientId(1));
        assert!(rules.iter().any(|r| r.matches(n0, c1)));
        assert!(rules.iter().any(|r| r.matches(c1, n0)));
        assert!(!rules.iter().any(|r| r.matches(Endpoint::Node(NodeId(1)), Endpoint::Node(NodeId(2)))));
    }

    #[test]
    fn a_one_way_partition_blocks_one_direction() {
        let faults = schedule(&[spec("at_ms = 0\naction = \"partition\"\nfrom = [\"n0\"]\nto = [\"nodes\"]\n")], 3, 1)
            .expect("valid");
        let FaultEffect::Partition { rules, .. } = &faults[0].effect else { panic!("a partition") };
        assert!(rules[0].matches(Endpoint::Node(NodeId(0)), Endpoint::Node(NodeId(1))));
        assert!(!rules[0].matches(Endpoint::Node(NodeId(1)), Endpoint::Node(NodeId(0))));
    }

    #[test]
    fn bad_entries_name_the_field_and_the_rule() {
        let err = schedule(&[spec("at_ms = 0\naction = \"crash\"\nnodes = [9]\n")], 4, 1).unwrap_err();
        assert_eq!(err.0, "faults[0].nodes");
        assert!(err.1.contains("node 9 has not joined"), "{}", err.1);
        let err = schedule(&[spec("at_ms = 0\naction = \"partition\"\ngroups = [[\"x1\"], [\"others\"]]\n")], 4, 1)
            .unwrap_err();
        assert!(err.1.contains("allowed"), "{}", err.1);
        let err = schedule(&[spec("at_ms = 0\naction = \"partition\"\ngroups = [[\"é1\"], [\"others\"]]\n")], 4, 1)
            .unwrap_err();
        assert!(err.1.contains("unknown endpoint"), "{}", err.1);
        let err = schedule(&[spec("at_ms = 0\naction = \"loss\"\n")], 4, 1).unwrap_err();
        assert_eq!(err.0, "faults[0].rate");
        let err = schedule(&[spec("at_ms = 0\naction = \"heal\"\nduration_ms = 5\n")], 4, 1).unwrap_err();
        assert_eq!(err.0, "faults[0].duration_ms");
        let join = spec("at_ms = 10\naction = \"join\"\nnodes = [4]\n");
        let early_crash = spec("at_ms = 5\naction = \"crash\"\nnodes = [4]\n");
        let err = schedule(&[join.clone(), early_crash], 4, 1).unwrap_err();
        assert!(err.1.contains("has not joined"), "{}", err.1);
        let err = schedule(&[spec("at_ms = 0\naction = \"join\"\nnodes = [7]\n")], 4, 1).unwrap_err();
        assert!(err.1.contains("nodes = [4]"), "{}", err.1);
        let twice = spec("at_ms = 0\naction = \"leave\"\nnodes = [1]\n");
        let err = schedule(&[twice.clone(), twice], 4, 1).unwrap_err();
        assert!(err.1.contains("not a member"), "{}", err.1);
        assert!(schedule(&[join, spec("at_ms = 20\naction = \"crash\"\nnodes = [4]\n")], 4, 1).is_ok());
    }

    #[test]
    fn a_node_in_two_groups_of_a_partition_is_refused() {
        let text = "at_ms = 0\naction = \"partition\"\ngroups = [[\"n1\", \"n2\"], [\"n2\", \"n3\"]]\n";
        let err = schedule(&[spec(text)], 4, 1).unwrap_err();
        assert_eq!(err.0, "faults[0].groups");
        assert!(err.1.contains("endpoint n2 is in group 0"), "{}", err.1);
        let text = "at_ms = 0\naction = \"partition\"\ngroups = [[\"nodes\"], [\"n0\"]]\n";
        assert!(schedule(&[spec(text)], 4, 1).unwrap_err().1.contains("endpoint n0"));
        let text = "at_ms = 0\naction = \"partition\"\ngroups = [[\"others\"], [\"others\"]]\n";
        assert!(schedule(&[spec(text)], 4, 1).unwrap_err().1.contains("one group only"));
    }

    #[test]
    fn a_one_way_rule_from_a_set_to_itself_is_refused() {
        let text = "at_ms = 0\naction = \"partition\"\nfrom = [\"n1\"]\nto = [\"n1\"]\n";
        let err = schedule(&[spec(text)], 4, 1).unwrap_err();
        assert_eq!(err.0, "faults[0].to");
        assert!(err.1.contains("same endpoints"), "{}", err.1);
        let text =
            "at_ms = 0\naction = \"slow\"\nmultiplier = 2.0\nfrom = [\"nodes\"]\nto = [\"n0\", \"n1\", \"n2\"]\n";
        assert!(schedule(&[spec(text)], 3, 1).is_err(), "\"nodes\" is n0..n2 here");
    }

    #[test]
    fn times_below_a_microsecond_and_huge_multipliers_are_refused() {
        let text = "at_ms = 1\naction = \"crash\"\nnodes = [0]\nduration_ms = 0.0001\n";
        assert!(schedule(&[spec(text)], 4, 1).unwrap_err().1.contains("0.001 ms"));
        let text = "at_ms = 1\naction = \"slow\"\nnodes = [0]\nmultiplier = 1e300\n";
        assert!(schedule(&[spec(text)], 4, 1).unwrap_err().1.contains("between 1 and 1e6"));
        let text = "at_ms = 1\naction = \"slow\"\nnodes = [0]\nadded_ms = 1e300\n";
        assert!(schedule(&[spec(text)], 4, 1).unwrap_err().1.contains("1e12"));
        let text = "at_ms = 1e300\naction = \"heal\"\n";
        assert_eq!(schedule(&[spec(text)], 4, 1).unwrap_err().0, "faults[0].at_ms");
    }
}
