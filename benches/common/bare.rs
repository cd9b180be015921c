//! The bare quorum loop: the floor every dynasim figure is compared with.
//!
//! A minimal discrete-event loop — a binary heap of `(time, sequence)`
//! events, no node logic, no checker — that carries each operation as an
//! N-replica, W-acknowledgement write: client → coordinator (writes locally)
//! → the other N−1 replicas → acknowledgements → reply to the client once W
//! copies (the coordinator's included) are written. Arrivals are an open
//! Poisson stream at the scenario's rate over its key count and node count;
//! every message takes a one-way delay drawn from the scenario's latency
//! distribution, and a replica answers after a draw of its write service
//! time. That is 7 events per operation (arrival, request, N−1 replica
//! writes, N−1 acks, reply when N = 3).
//!
//! Absolute times on a shared 2-core machine mean little; the ratio of
//! dynasim's cost to this loop's on the same shape is what the benchmarks
//! report and what issue 13's targets are stated in.

use dynasim::dist::Dist;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The shape of the workload the loop carries, taken from a scenario.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Servers; a key's replicas are `N` consecutive nodes from its home node.
    pub nodes: u32,
    /// Keys, drawn uniformly.
    pub keys: u64,
    /// Replicas per key (N).
    pub n: u32,
    /// Acknowledgements needed, the coordinator's own write included (W).
    pub w: u32,
    /// Open-loop arrival rate, operations per simulated second.
    pub rate_per_s: f64,
    /// One-way message delay.
    pub latency: Dist,
    /// A replica's write service time.
    pub write_service: Dist,
    /// Seeds the arrival and network streams.
    pub seed: u64,
}

impl Shape {
    /// The shape of `spec`: its cluster size, key count, N, W, rate,
    /// network latency and write service time.
    pub fn of(spec: &dynasim::scenario::ScenarioSpec) -> Shape {
        Shape {
            nodes: spec.cluster.nodes,
            keys: spec.workload.keys,
            n: spec.quorum.n,
            w: spec.quorum.w,
            rate_per_s: spec.workload.rate_per_s,
            latency: spec.network.latency.clone(),
            write_service: spec.storage.write_service.clone(),
            seed: spec.seed,
        }
    }
}

/// What one run of the loop did; identical for identical (shape, ops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BareRun {
    /// Operations completed (all of them: nothing fails).
    pub ops: u64,
    /// Events popped from the heap.
    pub events: u64,
    /// A fold of every reply's (time, op): repetitions must agree on it.
    pub digest: u64,
}

/// One pending event. Ordered only so it can sit in the heap's tuple; the
/// sequence number before it decides every tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The next client operation starts.
    Arrival,
    /// The request reaches the coordinator.
    Request { op: u32 },
    /// The coordinator's copy reaches replica `rank` (1..N) of the key.
    Replicate { op: u32, rank: u32 },
    /// A replica's acknowledgement reaches the coordinator.
    Ack { op: u32 },
    /// The coordinator's answer reaches the client.
    Reply { op: u32 },
}

/// An operation in flight.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    key: u64,
    acks: u32,
    /// The reply reached the client.
    answered: bool,
}

/// Runs `ops` operations of `shape` to completion.
pub fn run(shape: &Shape, ops: u64) -> BareRun {
    assert!(shape.nodes > 0 && shape.keys > 0 && shape.n > 0 && shape.w > 0 && shape.w <= shape.n);
    let interarrival = Dist::Exponential { rate: shape.rate_per_s / 1000.0 };
    let mut workload = ChaCha8Rng::seed_from_u64(shape.seed);
    let mut network = ChaCha8Rng::seed_from_u64(shape.seed ^ 0x9e37_79b9_7f4a_7c15);
    // Each replica's version counter for each key, (key × N) dense.
    let mut store = vec![0u32; (shape.keys * u64::from(shape.n)) as usize];
    // Operations in flight, in a slab whose slots are reused.
    let mut pending: Vec<Pending> = Vec::new();
    let mut free: Vec<u32> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let mut sequence = 0u64;
    let mut schedule = |heap: &mut BinaryHeap<_>, time: u64, event: Event| {
        heap.push(Reverse((time, sequence, event)));
        sequence += 1;
    };
    let mut result = BareRun { ops: 0, events: 0, digest: 0 };
    let mut issued = 0u64;
    if ops > 0 {
        schedule(&mut heap, 0, Event::Arrival);
    }
    while let Some(Reverse((now, _, event))) = heap.pop() {
        result.events += 1;
        match event {
            Event::Arrival => {
                issued += 1;
                if issued < ops {
                    schedule(&mut heap, now + interarrival.sample_us(&mut workload), Event::Arrival);
                }
                let key = workload.gen_range(0..shape.keys);
                let op = match free.pop() {
                    Some(slot) => slot,
                    None => {
                        pending.push(Pending::default());
                        (pending.len() - 1) as u32
                    }
                };
                pending[op as usize] = Pending { key, acks: 0, answered: false };
                schedule(&mut heap, now + shape.latency.sample_us(&mut network), Event::Request { op });
            }
            Event::Request { op } => {
                let entry = &mut pending[op as usize];
                store[(entry.key * u64::from(shape.n)) as usize] += 1;
                entry.acks = 1;
                for rank in 1..shape.n {
                    schedule(&mut heap, now + shape.latency.sample_us(&mut network), Event::Replicate { op, rank });
                }
                if shape.w == 1 {
                    schedule(&mut heap, now + shape.latency.sample_us(&mut network), Event::Reply { op });
                }
            }
            Event::Replicate { op, rank } => {
                let key = pending[op as usize].key;
                store[(key * u64::from(shape.n) + u64::from(rank)) as usize] += 1;
                let delay = shape.write_service.sample_us(&mut network) + shape.latency.sample_us(&mut network);
                schedule(&mut heap, now + delay, Event::Ack { op });
            }
            Event::Ack { op } => {
                let entry = &mut pending[op as usize];
                entry.acks += 1;
                if entry.acks == shape.w {
                    schedule(&mut heap, now + shape.latency.sample_us(&mut network), Event::Reply { op });
                }
                if entry.acks == shape.n && entry.answered {
                    free.push(op);
                }
            }
            Event::Reply { op } => {
                result.ops += 1;
                result.digest = result.digest.rotate_left(7) ^ now ^ (u64::from(op) << 40);
                let entry = &mut pending[op as usize];
                entry.answered = true;
                // The slot is free once the client has its answer and every replica acked.
                if entry.acks == shape.n {
                    free.push(op);
                }
            }
        }
    }
    debug_assert!(free.len() == pending.len(), "every operation finished");
    result
}
