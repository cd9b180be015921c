//! The observer: what the simulator reports while it runs, for the run
//! directory's time series, node table, fault windows, event stream and
//! key trace.
//!
//! It is omniscient like the checker (it reads every node's suspicions),
//! and it never feeds anything back: nodes cannot see it, and it draws no
//! random number, so observing changes no result. Per event it costs a
//! comparison (is an interval boundary due?) unless `--events` or
//! `--trace-key` asked for more; state is sampled once per interval.

use super::events::EventLog;
use super::fault_windows::{FaultWindow, FaultWindows};
use super::progress::Progress;
use super::trace::KeyTrace;
use crate::fault::TimedFault;
use crate::net::NetworkStats;
use crate::node::Node;
use crate::protocol::Message;
use crate::types::{Endpoint, Time};
use std::path::PathBuf;

/// What to observe beyond the always-on figures.
#[derive(Clone, Debug)]
pub struct ObserveOptions {
    /// Length of one `timeseries.csv` interval, µs (at least 1).
    pub interval_us: u64,
    /// Stream every node-level event to this file (`events.jsonl`).
    pub events: Option<PathBuf>,
    /// Keep the timeline of this key (`--trace-key`).
    pub trace_key: Option<u64>,
    /// Show a progress bar on stderr (when it is a terminal and `CI` is unset).
    pub progress: bool,
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions { interval_us: DEFAULT_INTERVAL_US, events: None, trace_key: None, progress: false }
    }
}

/// The default interval of `timeseries.csv`: 100 ms.
pub const DEFAULT_INTERVAL_US: u64 = 100_000;

/// The state of the cluster at the end of one interval.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// The interval's end, µs.
    pub end_us: u64,
    /// Messages sent since the start of the run.
    pub messages_total: u64,
    /// Bytes sent since the start of the run.
    pub bytes_total: u64,
    /// Hints held cluster-wide.
    pub hints_pending: u64,
    /// Nodes not running.
    pub nodes_down: u64,
    /// Nodes suspected by at least one running peer.
    pub nodes_suspected: u64,
}

/// What the simulator shows the observer when an interval ends.
#[derive(Debug)]
pub struct World<'a> {
    /// Network counters.
    pub network: &'a NetworkStats,
    /// Hints held cluster-wide.
    pub hints_pending: u64,
    /// Which nodes run, by id.
    pub alive: &'a [bool],
    /// Every node.
    pub nodes: &'a [Node],
    /// Events processed so far.
    pub events: u64,
}

/// Everything observed during one run.
#[derive(Debug, Default)]
pub struct Observations {
    /// The interval length, µs.
    pub interval_us: u64,
    /// One sample per interval end, the last at the run's end.
    pub samples: Vec<Sample>,
    /// When each fault was in force.
    pub fault_windows: Vec<FaultWindow>,
    /// Per node: µs spent down.
    pub time_down_us: Vec<u64>,
    /// Per node: the most running peers that suspected it at once (at an interval end).
    pub suspected_by_max: Vec<u64>,
    /// Per node: (bytes it sent, bytes sent to it that the network
    /// carried — lost and partitioned messages excluded).
    pub traffic: Vec<(u64, u64)>,
    /// The `--trace-key` timeline.
    pub trace: Option<KeyTrace>,
    /// Writing `events.jsonl` failed (the run itself is unaffected).
    pub events_error: Option<String>,
}

/// Collects [`Observations`] as the simulator runs.
#[derive(Debug)]
pub struct Observer {
    next_sample: Time,
    observed: Observations,
    faults: FaultWindows,
    /// Per node: since when it has been down.
    down_since: Vec<Option<Time>>,
    /// Scratch: per node, running peers suspecting it.
    suspecting: Vec<u64>,
    /// Per node: counters last seen, for derived events (suspicions, ring changes).
    last_counters: Vec<(u64, u64)>,
    events: Option<EventLog>,
    progress: Option<Progress>,
}

impl Observer {
    /// An observer for a run ending near `expected_end` (for the progress bar).
    pub fn new(options: &ObserveOptions, expected_end: Time) -> Observer {
        let interval_us = options.interval_us.max(1);
        let (events, events_error) = match options.events.as_deref().map(EventLog::create) {
            Some(Ok(log)) => (Some(log), None),
            Some(Err(error)) => (None, Some(error.to_string())),
            None => (None, None),
        };
        Observer {
            next_sample: Time(interval_us),
            observed: Observations {
                interval_us,
                trace: options.trace_key.map(KeyTrace::new),
                events_error,
                ..Observations::default()
            },
            faults: FaultWindows::default(),
            down_since: Vec::new(),
            suspecting: Vec::new(),
            last_counters: Vec::new(),
            events,
            progress: options.progress.then(|| Progress::start(expected_end)).flatten(),
        }
    }

    /// True when an interval ended at or before `now` (call [`Observer::sample`] then).
    #[inline]
    pub fn due(&self, now: Time) -> bool {
        now >= self.next_sample
    }

    /// Records the state at every interval end up to `now` (the state is
    /// the one before the event at `now` is processed); when `closing`,
    /// also at `now`, the end of the run's last, partial, interval.
    pub fn sample(&mut self, now: Time, world: &World, closing: bool) {
        while self.next_sample <= now {
            let end = self.next_sample;
            self.push_sample(end, world);
            self.next_sample = end.plus(self.observed.interval_us);
        }
        if closing {
            if self.observed.samples.last().is_none_or(|s| s.end_us < now.0) {
                self.push_sample(now, world);
            }
            self.observed.time_down_us.resize(world.nodes.len(), 0);
        }
        if let Some(progress) = &mut self.progress {
            progress.update(now, world.events);
        }
    }

    fn push_sample(&mut self, end: Time, world: &World) {
        self.suspecting.clear();
        self.suspecting.resize(world.nodes.len(), 0);
        for (node, _) in world.nodes.iter().enumerate().filter(|(i, _)| world.alive[*i]) {
            for (peer, _) in world.nodes[node].suspected_peers() {
                if let Some(count) = self.suspecting.get_mut(peer.0 as usize) {
                    *count += 1;
                }
            }
        }
        let maxima = &mut self.observed.suspected_by_max;
        maxima.resize(world.nodes.len(), 0);
        for (max, &count) in maxima.iter_mut().zip(&self.suspecting) {
            *max = (*max).max(count);
        }
        self.observed.samples.push(Sample {
            end_us: end.0,
            messages_total: world.network.messages_sent,
            bytes_total: world.network.bytes_sent,
            hints_pending: world.hints_pending,
            nodes_down: world.alive.iter().filter(|&&alive| !alive).count() as u64,
            nodes_suspected: self.suspecting.iter().filter(|&&count| count > 0).count() as u64,
        });
    }

    /// A fault was just applied; `alive` is which nodes run after it.
    pub fn fault(&mut self, now: Time, fault: &TimedFault, alive: &[bool]) {
        self.faults.apply(now, fault, alive);
        self.down_since.resize(alive.len(), None);
        self.observed.time_down_us.resize(alive.len(), 0);
        for (node, &alive) in alive.iter().enumerate() {
            match (self.down_since[node], alive) {
                (None, false) => self.down_since[node] = Some(now),
                (Some(since), true) => {
                    self.observed.time_down_us[node] += now.since(since);
                    self.down_since[node] = None;
                }
                _ => {}
            }
        }
        if let Some(log) = &mut self.events {
            log.record(now, "fault", None, None, None, &fault.label);
        }
        if let Some(trace) = &mut self.observed.trace {
            trace.fault(now, &fault.label);
        }
    }

    /// A message of `bytes` put on the wire; `carried` is false when the
    /// network lost it or a partition blocked it.
    #[inline]
    pub fn traffic(&mut self, from: Endpoint, to: Endpoint, bytes: u64, carried: bool) {
        if let Endpoint::Node(node) = from {
            self.node_traffic(node.0 as usize).0 += bytes;
        }
        if let (Endpoint::Node(node), true) = (to, carried) {
            self.node_traffic(node.0 as usize).1 += bytes;
        }
    }

    fn node_traffic(&mut self, index: usize) -> &mut (u64, u64) {
        let traffic = &mut self.observed.traffic;
        if traffic.len() <= index {
            traffic.resize(index + 1, (0, 0));
        }
        &mut traffic[index]
    }

    /// True when messages and timers must be reported one by one.
    #[inline]
    pub fn wants_events(&self) -> bool {
        self.events.is_some() || self.observed.trace.is_some()
    }

    /// A message put on the wire (`delivered` false: lost or blocked).
    pub fn sent(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message, delivered: bool) {
        if let Some(log) = &mut self.events {
            log.sent(now, from, to, message, delivered);
        }
        if let Some(trace) = &mut self.observed.trace {
            trace.sent(now, from, to, message, delivered);
        }
    }

    /// A message arriving (`receiver_up` false: its node is down).
    pub fn delivered(&mut self, now: Time, from: Endpoint, to: Endpoint, message: &Message, receiver_up: bool) {
        if let Some(log) = &mut self.events {
            log.delivered(now, from, to, message, receiver_up);
        }
        if let Some(trace) = &mut self.observed.trace {
            trace.delivered(now, from, to, message, receiver_up);
        }
    }

    /// A timer fired at `owner`; `name` describes it (Debug of the timer).
    pub fn timer(&mut self, now: Time, owner: Endpoint, name: &dyn std::fmt::Debug) {
        if let Some(log) = &mut self.events {
            let text = format!("{name:?}");
            let kind = text.split([' ', '{', '(']).next().unwrap_or_default();
            log.record(now, "timer", Some(owner), Some(owner), None, kind);
        }
    }

    /// A node handled an event: reports the suspicions and ring changes it made.
    pub fn node_handled(&mut self, now: Time, node: &Node) {
        let Some(log) = &mut self.events else { return };
        let index = node.id().0 as usize;
        if self.last_counters.len() <= index {
            self.last_counters.resize(index + 1, (0, 0));
        }
        let stats = node.stats();
        let (suspected, ring_changes) =
            std::mem::replace(&mut self.last_counters[index], (stats.peers_suspected, stats.ring_changes));
        if stats.peers_suspected > suspected {
            for (peer, _) in node.suspected_peers().filter(|(_, since)| *since == now) {
                log.suspected(now, node.id(), peer);
            }
        }
        if stats.ring_changes > ring_changes {
            log.ring_changed(now, node.id());
        }
    }

    /// Ends the observation at the run's `end` (after the closing
    /// sample): closes the event stream and returns what was observed.
    pub fn finish(&mut self, end: Time) -> Observations {
        for (node, since) in self.down_since.iter().enumerate() {
            if let Some(since) = since {
                self.observed.time_down_us[node] += end.since(*since);
            }
        }
        if let Some(log) = self.events.take() {
            if let Err(error) = log.finish() {
                self.observed.events_error = Some(error.to_string());
            }
        }
        if let Some(progress) = self.progress.take() {
            progress.finish();
        }
        self.observed.fault_windows = self.faults.windows().to_vec();
        std::mem::take(&mut self.observed)
    }
}
