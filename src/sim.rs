//! The simulation: builds the cluster from a scenario and runs the event loop.
//!
//! The loop pops the earliest event, hands it to the node or client it
//! concerns, and schedules what that handler put in its outbox: messages
//! through the network, timers as they are. Every processed event enters
//! the run digest.

use crate::check::history::OpRecord;
use crate::client::workload::KeyChooser;
use crate::client::{Client, ClientConfig, ClientTimer};
use crate::engine::digest::{TraceDigest, TraceEvent};
use crate::engine::queue::EventQueue;
use crate::engine::rng::{Purpose, Streams};
use crate::net::{Network, NetworkStats};
use crate::node::{Node, NodeConfig, NodeTimer, Outbox};
use crate::protocol::Message;
use crate::ring::Ring;
use crate::scenario::Scenario;
use crate::types::{ms_to_us, ClientId, Endpoint, NodeId, Time};
use std::sync::Arc;

/// Something that happens at a virtual time.
#[derive(Debug)]
enum Event {
    /// A message arrives.
    Deliver {
        from: Endpoint,
        to: Endpoint,
        message: Message,
    },
    /// A node's timer fires.
    NodeTimer { node: NodeId, timer: NodeTimer },
    /// A client's timer fires.
    ClientTimer {
        client: ClientId,
        timer: ClientTimer,
    },
}

/// Everything a finished run leaves behind, for the checker and the report.
#[derive(Debug)]
pub struct RunOutcome {
    /// Every client operation, ordered by (invoke time, client, sequence).
    pub history: Vec<OpRecord>,
    /// The nodes in their final state (stores, counters).
    pub nodes: Vec<Node>,
    /// Network counters.
    pub network: NetworkStats,
    /// The digest of the event trace.
    pub digest: String,
    /// Events processed.
    pub events: u64,
    /// Virtual time when the run stopped.
    pub end: Time,
    /// When clients stopped issuing requests.
    pub workload_end: Time,
}

/// One run of a scenario with one seed.
#[derive(Debug)]
pub struct Simulation {
    queue: EventQueue<Event>,
    nodes: Vec<Node>,
    clients: Vec<Client>,
    network: Network,
    digest: TraceDigest,
    node_out: Outbox<NodeTimer>,
    client_out: Outbox<ClientTimer>,
    workload_end: Time,
    end: Time,
}

impl Simulation {
    /// Builds the cluster, network and clients for `scenario` with master `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> Simulation {
        let spec = &scenario.spec;
        let streams = Streams::new(seed);
        let node_ids: Vec<NodeId> = (0..spec.cluster.nodes).map(NodeId).collect();
        // Strategy 3 spreads each node's partitions at least N apart.
        let target_n = spec.quorum.n as usize;
        let ring = Arc::new(Ring::build_with_target_n(
            &scenario.strategy(),
            &node_ids,
            None,
            target_n,
            |node| streams.stream(Purpose::RingTokens, u64::from(node.0)),
        ));
        let node_config = Arc::new(NodeConfig {
            n: spec.quorum.n as usize,
            r: spec.quorum.r as usize,
            w: spec.quorum.w as usize,
            request_timeout_us: ms_to_us(spec.node.request_timeout_ms),
            clock_max_entries: spec.node.clock_max_entries as usize,
            read_service: spec.storage.read_service.clone(),
            write_service: spec.storage.write_service.clone(),
            servers: spec.storage.servers as usize,
        });
        let nodes = node_ids
            .iter()
            .map(|&id| {
                Node::new(
                    id,
                    Arc::clone(&node_config),
                    Arc::clone(&ring),
                    streams.stream(Purpose::Node, u64::from(id.0)),
                )
            })
            .collect();
        let workload_end = Time::from_ms(spec.duration_ms);
        let w = &spec.workload;
        let client_config = Arc::new(ClientConfig {
            mode: w.mode,
            mean_interarrival_us: 1e6 * f64::from(w.clients) / w.rate_per_s,
            think: w.think.clone(),
            read_fraction: w.read_fraction,
            blind_write_fraction: w.blind_write_fraction,
            read_modify_write: w.read_modify_write,
            value_bytes: w.value_bytes,
            timeout_us: ms_to_us(w.timeout_ms),
            reconcile: w.reconcile,
            routing: spec.routing.mode,
            write_to_fastest_replica: spec.routing.write_to_fastest_replica,
            membership_poll_us: ms_to_us(spec.routing.membership_poll_ms),
            avoid_after_timeout_us: ms_to_us(spec.routing.avoid_after_timeout_ms),
            n: spec.quorum.n as usize,
            r: spec.quorum.r as usize,
            nodes: spec.cluster.nodes,
            workload_end,
            keys: Arc::new(KeyChooser::new(w.keys, w.popularity)),
        });
        let clients = (0..w.clients)
            .map(|c| {
                Client::new(
                    ClientId(c),
                    Arc::clone(&client_config),
                    Arc::clone(&ring),
                    streams.stream(Purpose::Client, u64::from(c)),
                )
            })
            .collect();
        Simulation {
            queue: EventQueue::new(),
            nodes,
            clients,
            network: Network::new(&spec.network, streams),
            digest: TraceDigest::new(),
            node_out: Outbox::default(),
            client_out: Outbox::default(),
            workload_end,
            end: workload_end.plus(ms_to_us(spec.quiesce_ms)),
        }
    }

    /// Runs to the end (workload, then the quiesce period) and returns what happened.
    pub fn run(mut self) -> RunOutcome {
        for index in 0..self.clients.len() {
            self.clients[index].on_start(Time::ZERO, &mut self.client_out);
            self.drain_client(Endpoint::Client(ClientId(index as u32)));
        }
        while let Some(next) = self.queue.pop_until(self.end) {
            self.process(next.time, next.sequence, next.event);
        }
        for client in &mut self.clients {
            client.finish();
        }
        let mut history: Vec<OpRecord> = self
            .clients
            .iter()
            .flat_map(|c| c.history().iter().cloned())
            .collect();
        history.sort_by_key(|op| (op.invoke, op.client, op.sequence));
        RunOutcome {
            history,
            nodes: self.nodes,
            network: self.network.stats().clone(),
            digest: self.digest.hex(),
            events: self.digest.events(),
            end: self.end,
            workload_end: self.workload_end,
        }
    }

    fn process(&mut self, now: Time, sequence: u64, event: Event) {
        match event {
            Event::Deliver { from, to, message } => {
                self.trace(
                    now,
                    sequence,
                    0x100 | u16::from(message.code()),
                    from,
                    to,
                    message.key_id(),
                );
                match to {
                    Endpoint::Node(node) => {
                        self.nodes[node.0 as usize].on_message(
                            now,
                            from,
                            message,
                            &mut self.node_out,
                        );
                        self.drain_node(to);
                    }
                    Endpoint::Client(client) => {
                        self.clients[client.0 as usize].on_message(
                            now,
                            from,
                            message,
                            &mut self.client_out,
                        );
                        self.drain_client(to);
                    }
                }
            }
            Event::NodeTimer { node, timer } => {
                let owner = Endpoint::Node(node);
                self.trace(
                    now,
                    sequence,
                    0x200 | u16::from(timer.code()),
                    owner,
                    owner,
                    None,
                );
                self.nodes[node.0 as usize].on_timer(now, timer, &mut self.node_out);
                self.drain_node(owner);
            }
            Event::ClientTimer { client, timer } => {
                let owner = Endpoint::Client(client);
                self.trace(
                    now,
                    sequence,
                    0x300 | u16::from(timer.code()),
                    owner,
                    owner,
                    None,
                );
                self.clients[client.0 as usize].on_timer(now, timer, &mut self.client_out);
                self.drain_client(owner);
            }
        }
    }

    fn trace(
        &mut self,
        now: Time,
        sequence: u64,
        kind: u16,
        source: Endpoint,
        destination: Endpoint,
        key: Option<u64>,
    ) {
        self.digest.record(TraceEvent {
            time: now.0,
            sequence,
            kind,
            source: source.code(),
            destination: destination.code(),
            key: key.unwrap_or(u64::MAX),
        });
    }

    fn drain_node(&mut self, from: Endpoint) {
        let Endpoint::Node(node) = from else { return };
        let now = self.queue.now();
        for (at, timer) in self.node_out.timers.drain(..) {
            self.queue
                .schedule(at.max(now), Event::NodeTimer { node, timer });
        }
        let mut messages = std::mem::take(&mut self.node_out.messages);
        self.send_all(from, &mut messages);
        self.node_out.messages = messages;
    }

    fn drain_client(&mut self, from: Endpoint) {
        let Endpoint::Client(client) = from else {
            return;
        };
        let now = self.queue.now();
        for (at, timer) in self.client_out.timers.drain(..) {
            self.queue
                .schedule(at.max(now), Event::ClientTimer { client, timer });
        }
        let mut messages = std::mem::take(&mut self.client_out.messages);
        self.send_all(from, &mut messages);
        self.client_out.messages = messages;
    }

    /// Puts each message on the wire; the buffer is left empty for reuse.
    fn send_all(&mut self, from: Endpoint, messages: &mut Vec<(Endpoint, Message)>) {
        let now = self.queue.now();
        for (to, message) in messages.drain(..) {
            if let Some(delay) = self.network.transit(from, to, &message) {
                self.queue
                    .schedule(now.plus(delay), Event::Deliver { from, to, message });
            }
        }
    }
}
