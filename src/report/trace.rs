//! `--trace-key KEY`: everything that touched one key, as a timeline a
//! person can read — client requests and their results, replica messages
//! with the versions and clocks they carried (lost, dropped at a crashed
//! node, or delivered), read repairs, hints, anti-entropy exchanges and
//! range transfers — ending with each stale read and the nodes that
//! answered it without holding the write it missed.
//!
//! The simulator feeds [`KeyTrace`] every message it sends and delivers;
//! only those concerning the key are kept (a reply carries no key, so
//! replies are matched by the coordination or request they answer).

use super::events::message_name;
use crate::check::history::{OpKind, OpRecord, Outcome};
use crate::node::vclock::VectorClock;
use crate::protocol::{Message, Version, WriteId};
use crate::types::{ClientId, Endpoint, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// A replica's answer to a read of the key: who answered, when, to which coordinator.
#[derive(Clone, Debug)]
struct ReplicaAnswer {
    at: Time,
    replica: Endpoint,
    coordinator: Endpoint,
}

/// The timeline of one key, collected while the simulation runs.
#[derive(Clone, Debug)]
pub struct KeyTrace {
    key: u64,
    /// (time, text) in the order things happened.
    lines: Vec<(Time, String)>,
    /// Coordinations (coordinator, id) of replica requests for the key.
    coordinations: BTreeSet<(Endpoint, u64)>,
    /// Client requests (client, sequence) for the key.
    requests: BTreeSet<(ClientId, u64)>,
    answers: Vec<ReplicaAnswer>,
    /// Per write: when each node first held a version of it.
    holders: BTreeMap<WriteId, BTreeMap<Endpoint, Time>>,
    /// Per client read: the coordinator that answered it.
    coordinators: BTreeMap<(ClientId, u64), Endpoint>,
}

impl KeyTrace {
    /// An empty trace of `key`.
    pub fn new(key: u64) -> KeyTrace {
        KeyTrace {
            key,
            lines: Vec::new(),
            coordinations: BTreeSet::new(),
            requests: BTreeSet::new(),
            answers: Vec::new(),
            holders: BTreeMap::new(),
            coordinators: BTreeMap::new(),
        }
    }

    /// The key traced.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// A message put on the wire; `delivered` is false when the network
    /// lost it or a partition blocked it.
    pub fn sent(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message, delivered: bool) {
        match message {
            Message::ReplicaRead { coordination, key } if key.id == self.key => {
                self.coordinations.insert((coordination.coordinator, coordination.id));
            }
            Message::ReplicaWrite { coordination, key, version, .. } if key.id == self.key => {
                self.coordinations.insert((coordination.coordinator, coordination.id));
                // The coordinator stored the version before sending it.
                if let Endpoint::Node(_) = from {
                    self.held(now, from, std::slice::from_ref(version));
                }
            }
            Message::Get { request, key, .. } | Message::Put { request, key, .. } if key.id == self.key => {
                self.requests.insert((request.client, request.sequence));
            }
            _ => {}
        }
        let tag = if delivered { "sent" } else { "LOST" };
        self.message_line(now, tag, from, to, message);
    }

    /// Notes that `node` holds `versions` from `now` on (unless earlier).
    fn held(&mut self, now: Time, node: Endpoint, versions: &[Version]) {
        for version in versions {
            self.holders.entry(version.write).or_default().entry(node).or_insert(now);
        }
    }

    /// A message arriving; `receiver_up` is false when its receiver is down.
    pub fn delivered(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message, receiver_up: bool) {
        if receiver_up {
            self.learn(now, from, to, message);
        }
        self.message_line(now, if receiver_up { "recv" } else { "DOWN" }, from, to, message);
    }

    /// Who answered which read, and who now holds which write.
    fn learn(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message) {
        let key = self.key;
        match message {
            Message::ReplicaReadReply { coordination, .. }
                if self.coordinations.contains(&(coordination.coordinator, coordination.id)) =>
            {
                self.answers.push(ReplicaAnswer { at: now, replica: from, coordinator: to });
            }
            Message::GetReply { request, .. } if self.requests.contains(&(request.client, request.sequence)) => {
                self.coordinators.insert((request.client, request.sequence), from);
            }
            Message::ReplicaWrite { key: k, version, .. } if k.id == key => {
                self.held(now, to, std::slice::from_ref(version))
            }
            Message::ReadRepair { key: k, versions } | Message::Handoff { key: k, versions } if k.id == key => {
                self.held(now, to, versions)
            }
            Message::KeyVersions { entries, .. } | Message::RangeData { entries, .. } => {
                if let Some((_, versions)) = entries.iter().find(|(k, _)| k.id == key) {
                    self.held(now, to, versions);
                }
            }
            _ => {}
        }
    }

    /// A fault (every fault matters to every key's story).
    pub fn fault(&mut self, now: Time, label: &str) {
        self.lines.push((now, format!("fault: {label}")));
    }

    /// A line for `message` if it concerns the key; `tag` says what
    /// happened: sent, LOST (network loss or partition), recv, or DOWN
    /// (arrived at a crashed node).
    fn message_line(&mut self, now: Time, tag: &str, from: Endpoint, to: Endpoint, message: &Message) {
        if let Some(what) = self.describe(message) {
            let mut line = format!("{tag:<4}  {from} -> {to}  {}", message_name(message));
            if !what.is_empty() {
                line.push(' ');
                line.push_str(&what);
            }
            self.lines.push((now, line));
        }
    }

    /// What `message` says about the key, or None when it does not concern it.
    fn describe(&self, message: &Message) -> Option<String> {
        let key = self.key;
        let ours = |coordination: &crate::protocol::Coordination| {
            self.coordinations.contains(&(coordination.coordinator, coordination.id))
        };
        let mine = |versions: &[Version]| versions.iter().map(version_text).collect::<Vec<_>>().join(", ");
        Some(match message {
            Message::Get { request, key: k, forwarded } if k.id == key => {
                format!(
                    "{}{}",
                    request_text(request.client, request.sequence),
                    if *forwarded { " (forwarded)" } else { "" }
                )
            }
            Message::Put { request, key: k, context, .. } if k.id == key => {
                format!("{} context {}", request_text(request.client, request.sequence), clock_text(context))
            }
            Message::GetReply { request, outcome } if self.requests.contains(&(request.client, request.sequence)) => {
                match outcome {
                    Ok(read) => format!("ok [{}]", mine(&read.versions)),
                    Err(failure) => format!("failed: {failure:?}"),
                }
            }
            Message::PutReply { request, outcome } if self.requests.contains(&(request.client, request.sequence)) => {
                match outcome {
                    Ok(ack) => format!("ok version {} clock {}", ack.dot, clock_text(&ack.clock)),
                    Err(failure) => format!("failed: {failure:?}"),
                }
            }
            Message::ReplicaRead { key: k, .. } if k.id == key => String::new(),
            Message::ReplicaReadReply { coordination, versions } if ours(coordination) => {
                format!("[{}]", mine(versions))
            }
            Message::ReplicaWrite { key: k, version, hint, .. } if k.id == key => match hint {
                Some(home) => format!("{} (hinted: meant for {home})", version_text(version)),
                None => version_text(version),
            },
            Message::ReplicaWriteAck { coordination } if ours(coordination) => String::new(),
            Message::ReadRepair { key: k, versions } | Message::Handoff { key: k, versions } if k.id == key => {
                format!("[{}]", mine(versions))
            }
            Message::HandoffAck { key: k, dots, owner } if k.id == key => {
                let dots = dots.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                if *owner {
                    dots
                } else {
                    format!("{dots} (not an owner here)")
                }
            }
            Message::KeyVersions { entries, wanted } => {
                let sent =
                    entries.iter().find(|(k, _)| k.id == key).map(|(_, v)| format!("(anti-entropy) [{}]", mine(v)));
                sent.or_else(|| wanted.iter().any(|k| k.id == key).then(|| "(anti-entropy) asks for it".to_string()))?
            }
            Message::RangeData { entries, .. } => {
                entries.iter().find(|(k, _)| k.id == key).map(|(_, v)| format!("(range transfer) [{}]", mine(v)))?
            }
            _ => return None,
        })
    }

    /// The timeline merged with the key's client operations from `history`,
    /// then the stale reads (`stale` holds every stale read's (client, sequence)).
    pub fn render(&self, history: &[OpRecord], stale: &BTreeSet<(ClientId, u64)>) -> String {
        let ops: Vec<&OpRecord> = history.iter().filter(|op| op.key == self.key).collect();
        let mut timeline: Vec<(Time, u8, String)> = self.lines.iter().map(|(t, text)| (*t, 1, text.clone())).collect();
        for op in &ops {
            let request = request_text(op.client, op.sequence);
            let kind = if op.kind == OpKind::Read { "read" } else { "write" };
            timeline.push((op.invoke, 0, format!("{} invokes {kind} {request}", op.client)));
            if let Some(complete) = op.complete() {
                let mark = if stale.contains(&(op.client, op.sequence)) { "  STALE" } else { "" };
                timeline.push((complete, 2, format!("{} {kind} {request} -> {}{mark}", op.client, result_text(op))));
            }
        }
        timeline.sort_by_key(|(t, class, _)| (*t, *class));
        let mut text = format!("trace of key {} ({} client operations)\n   time ms  event\n", self.key, ops.len());
        for (t, _, line) in &timeline {
            let _ = writeln!(text, "{:>10}  {line}", ms_text(*t));
        }
        self.render_stale(&mut text, &ops, stale);
        text
    }

    /// One paragraph per stale read: the write it missed, the nodes that
    /// answered it and which of them did not hold that write.
    fn render_stale(&self, text: &mut String, ops: &[&OpRecord], stale: &BTreeSet<(ClientId, u64)>) {
        let stale_ops: Vec<&&OpRecord> = ops.iter().filter(|op| stale.contains(&(op.client, op.sequence))).collect();
        let _ = writeln!(text, "\nstale reads: {}", stale_ops.len());
        for read in stale_ops {
            let Some(missed) = last_acknowledged_before(ops, read.invoke) else { continue };
            let write = missed.write().expect("an acknowledged write names its value");
            let answered = self.answered_by(read);
            let without: Vec<String> = answered
                .iter()
                .filter(|node| !self.held_by(write, **node, read.complete().unwrap_or(Time(u64::MAX))))
                .map(|node| match self.holders.get(&write).and_then(|h| h.get(node)) {
                    Some(at) => format!("{node} (it got the write at {} ms)", ms_text(*at)),
                    None => format!("{node} (never got the write)"),
                })
                .collect();
            let names: Vec<String> = answered.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                text,
                "  read {} invoked at {} ms returned {}\n    missed {} (version {}), acknowledged at {} ms\n    \
                 answered by: {}\n    missed by: {}",
                request_text(read.client, read.sequence),
                ms_text(read.invoke),
                versions_seen(read.returned()),
                write_text(write),
                missed.acked().map_or("?".to_string(), |v| v.dot.to_string()),
                ms_text(missed.complete().unwrap_or(Time::ZERO)),
                if names.is_empty() { "unknown".to_string() } else { names.join(", ") },
                if without.is_empty() { "none seen".to_string() } else { without.join(", ") },
            );
        }
    }

    /// The nodes that answered `read`: its coordinator (which reads its
    /// own store) and the replicas that replied to it during the read.
    fn answered_by(&self, read: &OpRecord) -> Vec<Endpoint> {
        let complete = read.complete().unwrap_or(Time(u64::MAX));
        let coordinator = self.coordinators.get(&(read.client, read.sequence)).copied();
        let mut nodes: BTreeSet<Endpoint> = self
            .answers
            .iter()
            .filter(|a| read.invoke <= a.at && a.at <= complete)
            .filter(|a| {
                coordinator.is_none_or(|c| a.coordinator == c) || a.coordinator == Endpoint::Client(read.client)
            })
            .map(|a| a.replica)
            .collect();
        nodes.extend(coordinator.filter(|c| matches!(c, Endpoint::Node(_))));
        nodes.into_iter().collect()
    }

    /// True when `node` held a version of `write` by `at`.
    fn held_by(&self, write: WriteId, node: Endpoint, at: Time) -> bool {
        self.holders.get(&write).and_then(|h| h.get(&node)).is_some_and(|&since| since <= at)
    }
}

/// The acknowledged write of these operations that completed last before `at`.
fn last_acknowledged_before<'a>(ops: &[&'a OpRecord], at: Time) -> Option<&'a OpRecord> {
    let acknowledged = ops.iter().filter(|op| op.is_acknowledged_write() && op.complete().is_some_and(|c| c < at));
    acknowledged.max_by_key(|op| op.complete()).copied()
}

fn result_text(op: &OpRecord) -> String {
    match op.outcome {
        Outcome::Ok if op.kind == OpKind::Read => format!("ok {}", versions_seen(op.returned())),
        Outcome::Ok => format!("ok version {}", op.acked().map_or("?".to_string(), |v| v.dot.to_string())),
        Outcome::Failed(failure) => format!("failed: {}", super::summary::failure_name(failure)),
        Outcome::TimedOut => "timed out".to_string(),
        Outcome::InFlight => "in flight".to_string(),
    }
}

fn versions_seen(versions: &[Version]) -> String {
    let texts: Vec<String> = versions
        .iter()
        .map(|v| format!("{} w={} clock {}", v.dot, write_text(v.write), clock_text(&v.clock)))
        .collect();
    format!("[{}]", texts.join(", "))
}

fn version_text(version: &Version) -> String {
    format!("{} w={} clock {}", version.dot, write_text(version.write), clock_text(&version.clock))
}

fn clock_text(clock: &VectorClock) -> String {
    let entries: Vec<String> = clock.entries().iter().map(ToString::to_string).collect();
    format!("{{{}}}", entries.join(","))
}

fn request_text(client: ClientId, sequence: u64) -> String {
    format!("{client}#{sequence}")
}

/// A write id as the client and its write number: `c3/w17` (the client's
/// 17th write; requests are named `c3#n` by their sequence number).
pub fn write_text(write: WriteId) -> String {
    format!("c{}/w{}", write.0 >> 40, write.0 & ((1 << 40) - 1))
}

/// µs as ms with three decimals.
fn ms_text(t: Time) -> String {
    format!("{}.{:03}", t.0 / 1000, t.0 % 1000)
}
