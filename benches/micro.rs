//! Micro-benchmarks (divan): the event queue alone, and the bare quorum
//! loop's cost per operation.
//!
//! `cargo bench --bench micro` times:
//!
//! * `queue_hold`: `dynasim::engine::queue::EventQueue` under the classic
//!   hold model — pop the earliest event, push one at a random later time —
//!   with 1 k, 100 k and 1 M events pending. One iteration is one pop plus
//!   one push, so divan's `item/s` is hold operations per second (each one
//!   an event processed by a simulator).
//! * `bare_write`: one run of the bare quorum loop (`common/bare.rs`) over
//!   10 000 N=3, W=2 writes on the blind-8-nodes shape and on the
//!   1,000-node, 1 M-key shape; `item/s` is operations per second.
//!
//! Run without `--bench` (as `cargo test --all-targets` does) divan runs
//! each benchmark once, as a smoke test.

#[path = "common/bare.rs"]
mod bare;

use divan::counter::ItemsCount;
use divan::Bencher;
use dynasim::engine::queue::EventQueue;
use dynasim::types::Time;

fn main() {
    divan::main();
}

/// A cheap deterministic generator (xorshift64*), so the draws cost little
/// next to the queue operations being timed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Largest delay of a held event, µs: increments are uniform in [0, this).
const HOLD_DELAY_US: u64 = 1_000;

#[divan::bench(args = [1_000, 100_000, 1_000_000])]
fn queue_hold(bencher: Bencher, pending: usize) {
    let mut draws = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut queue = EventQueue::new();
    for event in 0..pending as u64 {
        queue.schedule(Time(draws.next() % HOLD_DELAY_US), event);
    }
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        let next = queue.pop_until(Time(u64::MAX)).expect("the hold model keeps the queue full");
        queue.schedule(Time(next.time.0 + draws.next() % HOLD_DELAY_US), next.event);
    });
    assert_eq!(queue.len(), pending, "hold operations keep the queue's size");
}

/// Operations per `bare_write` iteration.
const BARE_OPS: u64 = 10_000;

/// `nodes` = 8: the blind-8-nodes row's shape (1 k keys, 5000 ops/s);
/// 1000: the scale row's (1 M keys, 100 k ops/s). Latency and write
/// service time are the scenario defaults, as in those rows.
#[divan::bench(args = [8, 1_000])]
fn bare_write(bencher: Bencher, nodes: u32) {
    let (keys, rate_per_s, partitions) = if nodes == 8 { (1_000, 5_000, 64) } else { (1_000_000, 100_000, 4096) };
    let text = format!(
        "[cluster]\nnodes = {nodes}\npartitions = {partitions}\n[workload]\nkeys = {keys}\nrate_per_s = {rate_per_s}\n"
    );
    let scenario = dynasim::Scenario::parse(&text, "benches/micro.rs", "bare-write").expect("a valid shape");
    let shape = bare::Shape::of(&scenario.spec);
    bencher.counter(ItemsCount::new(BARE_OPS)).bench_local(|| {
        let run = bare::run(&shape, BARE_OPS);
        assert_eq!(run.ops, BARE_OPS, "every write completes");
        run
    });
}
