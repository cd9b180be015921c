//! The simulated network: per-kind latency distributions and message loss,
//! drawn from one random stream per directed link.

use crate::dist::Dist;
use crate::engine::rng::{unit_f64, Purpose, SimRng, Streams};
use crate::protocol::{Message, MESSAGE_KINDS};
use crate::scenario::NetworkSpec;
use crate::types::Endpoint;
use serde::Serialize;
use std::collections::HashMap;

/// Message counts and bytes, as the network saw them.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkStats {
    /// Messages handed to the network.
    pub messages_sent: u64,
    /// Messages lost on the way.
    pub messages_dropped: u64,
    /// Bytes of all messages sent.
    pub bytes_sent: u64,
}

/// Delivers messages with sampled delays, or drops them.
#[derive(Debug)]
pub struct Network {
    latency: [Dist; MESSAGE_KINDS],
    loss: f64,
    streams: Streams,
    // Looked up by key only, never iterated, so its order cannot reach results.
    links: HashMap<u64, SimRng>,
    stats: NetworkStats,
}

/// Dense endpoint numbering for link stream ids: nodes from 0, clients from 2^27.
fn endpoint_index(endpoint: Endpoint) -> u64 {
    match endpoint {
        Endpoint::Node(n) => u64::from(n.0),
        Endpoint::Client(c) => (1 << 27) | u64::from(c.0),
    }
}

impl Network {
    /// A network as the scenario describes it; link streams derive from `streams`.
    pub fn new(spec: &NetworkSpec, streams: Streams) -> Self {
        let by_kind = spec.by_kind.iter();
        let latency = std::array::from_fn(|kind| {
            by_kind[kind]
                .1
                .clone()
                .unwrap_or_else(|| spec.latency.clone())
        });
        Network {
            latency,
            loss: spec.loss,
            streams,
            links: HashMap::new(),
            stats: NetworkStats::default(),
        }
    }

    /// Sends `message` from `from` to `to`: returns its delay in µs, or None if it is lost.
    pub fn transit(&mut self, from: Endpoint, to: Endpoint, message: &Message) -> Option<u64> {
        self.stats.messages_sent += 1;
        self.stats.bytes_sent += message.wire_bytes();
        let link = (endpoint_index(from) << 28) | endpoint_index(to);
        let streams = self.streams;
        let rng = self
            .links
            .entry(link)
            .or_insert_with(|| streams.stream(Purpose::Link, link));
        if self.loss > 0.0 && unit_f64(rng) < self.loss {
            self.stats.messages_dropped += 1;
            return None;
        }
        Some(self.latency[message.kind() as usize].sample_us(rng))
    }

    /// Counters so far.
    pub fn stats(&self) -> &NetworkStats {
        &self.stats
    }
}
