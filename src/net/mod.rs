//! The simulated network: per-kind latency distributions, message loss,
//! partitions and slow links, drawn from one random stream per directed link.

mod links;

use crate::dist::Dist;
use crate::engine::rng::{unit_f64, Streams};
use crate::fault::LinkRule;
use crate::protocol::{Message, MESSAGE_KINDS};
use crate::scenario::NetworkSpec;
use crate::types::Endpoint;
use serde::Serialize;

/// Message counts and bytes, as the network saw them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkStats {
    /// Messages handed to the network.
    pub messages_sent: u64,
    /// Messages lost to random loss.
    pub messages_dropped: u64,
    /// Messages dropped by a partition.
    pub messages_partitioned: u64,
    /// Messages that arrived at a crashed node and were dropped.
    pub messages_to_crashed_nodes: u64,
    /// Bytes of all messages sent.
    pub bytes_sent: u64,
}

/// A slowdown on some links.
#[derive(Clone, Debug)]
struct Slowdown {
    id: usize,
    rules: Vec<LinkRule>,
    multiplier: f64,
    added_us: u64,
}

/// Delivers messages with sampled delays, or drops them.
#[derive(Debug)]
pub struct Network {
    latency: [Dist; MESSAGE_KINDS],
    base_loss: f64,
    loss: f64,
    partitions: Vec<(usize, Vec<LinkRule>)>,
    slowdowns: Vec<Slowdown>,
    links: links::LinkStreams,
    stats: NetworkStats,
}

impl Network {
    /// A network as the scenario describes it; link streams derive from `streams`.
    pub fn new(spec: &NetworkSpec, streams: Streams) -> Self {
        let by_kind = spec.by_kind.iter();
        let background = crate::protocol::MessageKind::Background as usize;
        let latency = std::array::from_fn(|kind| {
            let fallback = if kind == background { spec.by_kind.write_request.as_ref() } else { None };
            by_kind[kind].1.as_ref().or(fallback).unwrap_or(&spec.latency).clone()
        });
        Network {
            latency,
            base_loss: spec.loss,
            loss: spec.loss,
            partitions: Vec::new(),
            slowdowns: Vec::new(),
            links: links::LinkStreams::new(streams),
            stats: NetworkStats::default(),
        }
    }

    /// Sends `message` of `bytes` bytes ([`Message::wire_bytes`]) from
    /// `from` to `to`: returns its delay in µs, or None if it is lost.
    pub fn transit(&mut self, from: Endpoint, to: Endpoint, message: &Message, bytes: u64) -> Option<u64> {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += bytes;
        if self.partitions.iter().any(|(_, rules)| rules.iter().any(|r| r.matches(from, to))) {
            self.stats.messages_partitioned += 1;
            return None;
        }
        let mut rng = self.links.stream(from, to);
        if self.loss > 0.0 && unit_f64(&mut rng) < self.loss {
            self.stats.messages_dropped += 1;
            return None;
        }
        let mut delay = self.latency[message.kind() as usize].sample_us(&mut rng);
        for slow in self.slowdowns.iter().filter(|s| s.rules.iter().any(|r| r.matches(from, to))) {
            delay = libm::round(delay as f64 * slow.multiplier) as u64 + slow.added_us;
        }
        Some(delay)
    }

    /// Hints that a message from `from` to `to` will be sent soon (the
    /// answer to one in flight the other way): its link's state is fetched
    /// into the cache. No effect on any draw.
    pub fn prefetch_link(&self, from: Endpoint, to: Endpoint) {
        self.links.prefetch(from, to);
    }

    /// Sizes the per-link state for the run's `nodes` and `clients`.
    pub fn reserve_links(&mut self, nodes: usize, clients: usize) {
        self.links.reserve(nodes, clients);
    }

    /// Counts a message that reached a crashed node.
    pub fn count_undeliverable(&mut self) {
        self.stats.messages_to_crashed_nodes += 1;
    }

    /// Starts dropping messages on `rules`' links.
    pub fn add_partition(&mut self, id: usize, rules: Vec<LinkRule>) {
        self.partitions.push((id, rules));
    }

    /// Ends partition `id`; false if it was not active.
    pub fn remove_partition(&mut self, id: usize) -> bool {
        let before = self.partitions.len();
        self.partitions.retain(|(p, _)| *p != id);
        self.partitions.len() != before
    }

    /// Starts delaying messages on `rules`' links.
    pub fn add_slowdown(&mut self, id: usize, rules: Vec<LinkRule>, multiplier: f64, added_us: u64) {
        self.slowdowns.push(Slowdown { id, rules, multiplier, added_us });
    }

    /// Ends slowdown `id`.
    pub fn remove_slowdown(&mut self, id: usize) {
        self.slowdowns.retain(|s| s.id != id);
    }

    /// Sets the loss probability (None restores the scenario's).
    pub fn set_loss(&mut self, rate: Option<f64>) {
        self.loss = rate.unwrap_or(self.base_loss);
    }

    /// Removes every partition and slowdown and restores the loss rate;
    /// false if none of them was active.
    pub fn heal(&mut self) -> bool {
        let active = !self.partitions.is_empty() || !self.slowdowns.is_empty() || self.loss != self.base_loss;
        self.partitions.clear();
        self.slowdowns.clear();
        self.loss = self.base_loss;
        active
    }

    /// Counters so far.
    pub fn stats(&self) -> &NetworkStats {
        &self.stats
    }
}
