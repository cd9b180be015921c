//! The event queue: events ordered by (virtual time, sequence number).
//!
//! The sequence number is assigned at scheduling, so two events at the same
//! time fire in the order they were scheduled — deterministic, whatever the
//! heap's internal layout.
//!
//! Two layouts keep the queue cheap when it holds tens of thousands of
//! events (mostly timeouts), without changing the order they pop in:
//!
//! * A timing wheel (`engine::wheel`) holds the events of the next
//!   `2^WHEEL_BITS` µs in one FIFO slot per µs, and a binary heap the later
//!   ones: scheduling and popping cost O(1) for the messages and storage
//!   completions that make most of a run.
//! * FIFO *lanes* hold events the caller knows are scheduled in
//!   non-decreasing time order (timers that always fire a fixed delay after
//!   they are set): appending to a lane and taking its front cost O(1).
//!   Since sequence numbers only grow, each lane is sorted by
//!   (time, sequence), and popping the smallest of the wheel's first event
//!   and the lane fronts (the earliest front is remembered until a front
//!   changes) yields exactly the order a single heap would.
//!
//! A lane event can be *cancelled* (a timeout whose operation completed):
//! found by its time (engine::lane), it is left in place as a tombstone
//! and dropped when it reaches the lane's front, never popped. The other
//! events keep their sequence numbers, so they pop exactly as before.

use super::lane::Lane;
use super::wheel::Wheel;
use crate::types::Time;

/// The wheel's window: 2^15 µs (32.8 ms), past the bulk of message delays
/// and service times (later events wait in its heap); its slot arrays take
/// 256 KiB.
const WHEEL_BITS: u32 = 15;

/// An event with its firing time and tie-breaking sequence number.
#[derive(Debug)]
pub struct Scheduled<E> {
    /// When it fires.
    pub time: Time,
    /// Order among events at the same time.
    pub sequence: u64,
    /// What happens.
    pub event: E,
}

/// A priority queue of future events.
#[derive(Debug)]
pub struct EventQueue<E> {
    /// The events not in a lane.
    wheel: Wheel<E>,
    /// FIFO lanes, each sorted by (time, sequence); `None` marks a
    /// cancelled event.
    lanes: Vec<Lane<E>>,
    /// Cancelled events still in a lane.
    cancelled: usize,
    /// The earliest (time, sequence, lane) among the lanes' fronts, kept
    /// so a pop looks at the lanes only after one of their fronts changed.
    lane_front: Option<(Time, u64, usize)>,
    /// Some lane's front changed since `lane_front` was found.
    lane_fronts_changed: bool,
    next_sequence: u64,
    now: Time,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::with_wheel(WHEEL_BITS)
    }
}

impl<E> EventQueue<E> {
    /// An empty queue whose wheel spans `2^bits` µs.
    fn with_wheel(bits: u32) -> Self {
        EventQueue {
            wheel: Wheel::new(bits),
            lanes: Vec::new(),
            cancelled: 0,
            lane_front: None,
            lane_fronts_changed: false,
            next_sequence: 0,
            now: Time::ZERO,
        }
    }
}

impl<E> EventQueue<E> {
    /// An empty queue at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// The time of the last popped event.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Schedules `event` at `time`, which must not be in the past.
    pub fn schedule(&mut self, time: Time, event: E) {
        let sequence = self.take_sequence(time);
        self.wheel.schedule(time, sequence, event);
    }

    /// Schedules `event` at `time` (not in the past) in FIFO lane `lane`,
    /// which is cheaper than the wheel for events that arrive in time order,
    /// such as timers that always fire a fixed delay after they are set.
    ///
    /// The event pops exactly when [`schedule`](Self::schedule) would have
    /// popped it: it takes the next sequence number either way. If `time`
    /// is earlier than the last event in the lane, the lane would lose its
    /// order, so the event goes to the wheel instead. Lanes are numbered
    /// from 0 and created on first use; keep them few and dense, since a
    /// pop after a lane's front changed looks at the front of each.
    pub fn schedule_in_lane(&mut self, lane: usize, time: Time, event: E) {
        if lane >= self.lanes.len() {
            self.lanes.resize_with(lane + 1, Lane::default);
        }
        if self.lanes[lane].back().is_some_and(|last| time < last.time) {
            self.schedule(time, event);
            return;
        }
        let sequence = self.take_sequence(time);
        if self.lanes[lane].is_empty() && self.lane_front.is_none_or(|(first, ..)| time < first) {
            // The new front is the lanes' earliest (a later sequence loses every tie).
            self.lane_front = Some((time, sequence, lane));
        }
        self.lanes[lane].push_back(Scheduled { time, sequence, event: Some(event) });
    }

    /// Cancels the first pending event in lane `lane` scheduled at `time`
    /// for which `matches` holds: it will never pop. Returns false when
    /// there is none (it already fired, was cancelled, or went to the wheel
    /// because it broke the lane's order — such an event still fires).
    ///
    /// Its place is found by galloping from a guess interpolated between
    /// the lane's front and back times, touching only entries near it (a
    /// plain binary search of a 100,000-event lane missed the cache at
    /// every step); then the events at that time are scanned
    /// (`Lane::cancel`).
    pub fn cancel_in_lane(&mut self, lane: usize, time: Time, matches: impl FnMut(&E) -> bool) -> bool {
        let Some(offset) = self.lanes.get_mut(lane).and_then(|events| events.cancel(time, matches)) else {
            return false;
        };
        self.cancelled += 1;
        self.lane_fronts_changed |= offset == 0;
        true
    }

    /// Removes and returns the earliest event if it fires at or before `limit`.
    pub fn pop_until(&mut self, limit: Time) -> Option<Scheduled<E>> {
        // The earliest (time, sequence) is the wheel's first or a lane's front.
        if self.lane_fronts_changed {
            self.lane_front = self.earliest_lane_front();
            self.lane_fronts_changed = false;
        }
        let first = self.wheel.peek();
        let (earliest, from_lane) = match (self.lane_front, first) {
            (Some((time, sequence, lane)), Some(first)) if (time, sequence) < (first.time, first.sequence) => {
                (time, Some(lane))
            }
            (Some((time, _, lane)), None) => (time, Some(lane)),
            (_, Some(first)) => (first.time, None),
            (None, None) => return None,
        };
        if earliest > limit {
            return None;
        }
        let next = match from_lane {
            Some(index) => {
                self.lane_fronts_changed = true;
                let Scheduled { time, sequence, event } = self.lanes[index].pop_front().expect("the lane has a front");
                self.wheel.advance(time);
                Scheduled { time, sequence, event: event.expect("a lane's front is not cancelled") }
            }
            None => self.wheel.pop(first.expect("the wheel has a first event")),
        };
        debug_assert!(next.time >= self.now, "virtual time never goes backwards");
        self.now = next.time;
        Some(next)
    }

    /// The earliest of the lanes' fronts, dropping the cancelled events
    /// that reached a front on the way.
    fn earliest_lane_front(&mut self) -> Option<(Time, u64, usize)> {
        let mut earliest: Option<(Time, u64, usize)> = None;
        for (index, lane) in self.lanes.iter_mut().enumerate() {
            while lane.front().is_some_and(|front| front.event.is_none()) {
                lane.pop_front();
                self.cancelled -= 1;
            }
            if let Some(front) = lane.front() {
                if earliest.is_none_or(|(time, sequence, _)| (front.time, front.sequence) < (time, sequence)) {
                    earliest = Some((front.time, front.sequence, index));
                }
            }
        }
        earliest
    }

    /// Number of pending events (cancelled ones are not).
    pub fn len(&self) -> usize {
        self.wheel.len() + self.lanes.iter().map(Lane::len).sum::<usize>() - self.cancelled
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number for an event at `time`, which must not be in the past.
    fn take_sequence(&mut self, time: Time) -> u64 {
        assert!(time >= self.now, "an event cannot be scheduled in the past ({time} < {})", self.now);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;
    use std::collections::{BTreeMap, BinaryHeap};

    fn drain<E>(q: &mut EventQueue<E>) -> Vec<(u64, u64, E)> {
        std::iter::from_fn(|| q.pop_until(Time(u64::MAX)).map(|s| (s.time.0, s.sequence, s.event))).collect()
    }

    #[test]
    fn events_pop_by_time_then_scheduling_order() {
        let mut q = EventQueue::new();
        q.schedule(Time(5), 'a');
        q.schedule(Time(1), 'b');
        q.schedule(Time(5), 'c');
        q.schedule(Time(1), 'd');
        let order: Vec<char> = std::iter::from_fn(|| q.pop_until(Time(10)).map(|s| s.event)).collect();
        assert_eq!(order, vec!['b', 'd', 'a', 'c']);
    }

    #[test]
    fn pop_until_leaves_later_events() {
        let mut q = EventQueue::new();
        q.schedule(Time(20), ());
        assert!(q.pop_until(Time(10)).is_none());
        assert_eq!(q.len(), 1);
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug() {
        let mut q = EventQueue::new();
        q.schedule(Time(10), ());
        q.pop_until(Time(10));
        q.schedule(Time(5), ());
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn scheduling_in_the_past_is_a_bug_in_a_lane_too() {
        let mut q = EventQueue::new();
        q.schedule(Time(10), ());
        q.pop_until(Time(10));
        q.schedule_in_lane(0, Time(5), ());
    }

    #[test]
    fn lanes_and_heap_interleave_by_time_then_sequence() {
        let mut q = EventQueue::new();
        q.schedule_in_lane(0, Time(5), 'a'); // sequence 0
        q.schedule(Time(5), 'b'); // 1
        q.schedule_in_lane(1, Time(3), 'c'); // 2
        q.schedule_in_lane(0, Time(5), 'd'); // 3: same time as the lane's back
        q.schedule(Time(1), 'e'); // 4
        q.schedule_in_lane(1, Time(5), 'f'); // 5
        q.schedule_in_lane(0, Time(9), 'g'); // 6
        q.schedule(Time(9), 'h'); // 7
        assert_eq!((q.lanes[0].len(), q.lanes[1].len(), q.wheel.len()), (3, 2, 3));
        assert_eq!(q.len(), 8);
        let order: Vec<char> = drain(&mut q).into_iter().map(|(_, _, e)| e).collect();
        assert_eq!(order, vec!['e', 'c', 'a', 'b', 'd', 'f', 'g', 'h']);
        assert!(q.is_empty());
    }

    #[test]
    fn an_out_of_order_lane_event_goes_to_the_heap() {
        let mut q = EventQueue::new();
        q.schedule_in_lane(0, Time(10), 'a');
        q.schedule_in_lane(0, Time(4), 'b'); // earlier than the lane's back
        q.schedule_in_lane(0, Time(10), 'c');
        assert_eq!((q.lanes[0].len(), q.wheel.len()), (2, 1));
        assert_eq!(drain(&mut q), vec![(4, 1, 'b'), (10, 0, 'a'), (10, 2, 'c')]);
    }

    #[test]
    fn pop_until_leaves_later_lane_events() {
        let mut q = EventQueue::new();
        q.schedule_in_lane(2, Time(20), ());
        q.schedule(Time(30), ());
        assert!(q.pop_until(Time(10)).is_none());
        assert_eq!(q.len(), 2);
        assert_eq!(q.now(), Time::ZERO);
        assert_eq!(q.pop_until(Time(20)).map(|s| s.time), Some(Time(20)));
        assert!(q.pop_until(Time(25)).is_none());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn popped_slots_are_reused() {
        let mut q = EventQueue::new();
        q.schedule(Time(1_000), 0);
        for round in 0..100 {
            q.schedule(Time(round), round);
            q.schedule(Time(round), round);
            assert!(q.pop_until(Time(round)).is_some() && q.pop_until(Time(round)).is_some());
        }
        assert_eq!(q.len(), 1);
        assert_eq!(q.wheel.capacity(), 3, "two slots in turn and the one still pending");
    }

    #[test]
    fn a_cancelled_lane_event_never_pops_and_the_others_keep_their_order() {
        let mut q = EventQueue::new();
        q.schedule_in_lane(0, Time(5), 'a'); // sequence 0
        q.schedule_in_lane(0, Time(5), 'b'); // 1
        q.schedule(Time(5), 'c'); // 2
        q.schedule_in_lane(0, Time(8), 'd'); // 3
        q.schedule_in_lane(1, Time(8), 'e'); // 4
        assert!(q.cancel_in_lane(0, Time(5), |&e| e == 'b'), "found at its time");
        assert!(!q.cancel_in_lane(0, Time(5), |&e| e == 'b'), "already cancelled");
        assert!(!q.cancel_in_lane(0, Time(8), |&e| e == 'e'), "another lane's");
        assert!(!q.cancel_in_lane(0, Time(6), |&e| e == 'd'), "not at that time");
        assert!(!q.cancel_in_lane(0, Time(5), |&e| e == 'c'), "on the heap");
        assert!(!q.cancel_in_lane(7, Time(5), |_| true), "no such lane");
        assert_eq!(q.len(), 4);
        assert!(q.cancel_in_lane(0, Time(8), |&e| e == 'd'), "the lane's last");
        assert_eq!(drain(&mut q), vec![(5, 0, 'a'), (5, 2, 'c'), (8, 4, 'e')]);
        assert!(q.is_empty());
        assert_eq!(q.lanes[0].len(), 0, "the tombstones are gone");
        assert!(!q.cancel_in_lane(0, Time(5), |&e| e == 'a'), "already fired");
    }

    #[test]
    fn a_queue_holding_only_cancelled_events_is_empty_and_pops_nothing() {
        let mut q = EventQueue::new();
        q.schedule_in_lane(0, Time(5), 'a');
        assert!(q.cancel_in_lane(0, Time(5), |_| true));
        assert!(q.is_empty());
        assert!(q.pop_until(Time(10)).is_none());
        assert_eq!(q.now(), Time::ZERO, "a cancelled event does not move time");
    }

    /// Delays of the fixed-delay timers in `Op::Timer`, one per lane.
    const LANE_DELAYS: [u64; 3] = [7, 3, 12];

    #[derive(Clone, Debug)]
    enum Op {
        /// Schedule at now + `delay` on the wheel, or in `lane` (which may
        /// fall back to the wheel when the delay breaks the lane's order).
        Schedule { lane: Option<usize>, delay: u64 },
        /// Schedule a fixed-delay timer in `lane`, as the simulator does.
        Timer { lane: usize },
        /// Pop the earliest event at or before now + `horizon`.
        Pop { horizon: u64 },
        /// Cancel the `pick`-th (modulo) pending event, from the lane it
        /// was scheduled in (it may have gone to the wheel).
        Cancel { pick: usize },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (proptest::option::of(0..LANE_DELAYS.len()), prop_oneof![4 => 0u64..20, 1 => 0u64..300])
                .prop_map(|(lane, delay)| Op::Schedule { lane, delay }),
            3 => (0..LANE_DELAYS.len()).prop_map(|lane| Op::Timer { lane }),
            4 => prop_oneof![4 => 0u64..15, 1 => 0u64..400].prop_map(|horizon| Op::Pop { horizon }),
            2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        ]
    }

    proptest! {
        /// Whatever mix of wheel and lane scheduling and cancellation,
        /// events pop in the order of a single binary heap over (time,
        /// sequence) holding the events not cancelled, with the same
        /// sequence numbers; a lane event cancels while it is pending, a
        /// heap event never.
        #[test]
        fn the_queue_pops_like_a_single_heap(
            ops in proptest::collection::vec(op(), 0..300), small_wheel in any::<bool>(),
        ) {
            // A 64 µs wheel sends the far delays beyond its window.
            let mut queue = EventQueue::with_wheel(if small_wheel { 6 } else { WHEEL_BITS });
            let mut reference: BinaryHeap<Reverse<(u64, u64, usize)>> = BinaryHeap::new();
            // Lane (if any) of each scheduled id.
            let mut lanes: BTreeMap<usize, Option<usize>> = BTreeMap::new();
            let mut now = 0u64;
            let mut sequence = 0u64;
            for (id, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Schedule { lane, delay } => {
                        match lane {
                            Some(lane) => queue.schedule_in_lane(lane, Time(now + delay), id),
                            None => queue.schedule(Time(now + delay), id),
                        }
                        reference.push(Reverse((now + delay, sequence, id)));
                        lanes.insert(id, lane);
                        sequence += 1;
                    }
                    Op::Timer { lane } => {
                        let time = now + LANE_DELAYS[lane];
                        queue.schedule_in_lane(lane, Time(time), id);
                        reference.push(Reverse((time, sequence, id)));
                        lanes.insert(id, Some(lane));
                        sequence += 1;
                    }
                    Op::Cancel { pick } => {
                        let mut pending: Vec<(u64, u64, usize)> = reference.iter().map(|Reverse(e)| *e).collect();
                        pending.sort_unstable();
                        let Some(&(time, _, target)) = pending.get(pick % pending.len().max(1)) else { continue };
                        let lane = lanes[&target].unwrap_or(0);
                        let on_heap = queue.wheel.holds(&target);
                        let cancelled = queue.cancel_in_lane(lane, Time(time), |&e| e == target);
                        prop_assert_eq!(cancelled, lanes[&target].is_some() && !on_heap);
                        if cancelled {
                            reference.retain(|Reverse(e)| e.2 != target);
                        }
                    }
                    Op::Pop { horizon } => {
                        let limit = now + horizon;
                        let expected = match reference.peek() {
                            Some(Reverse(top)) if top.0 <= limit => reference.pop().map(|Reverse(e)| e),
                            _ => None,
                        };
                        let popped = queue.pop_until(Time(limit)).map(|s| (s.time.0, s.sequence, s.event));
                        prop_assert_eq!(popped, expected);
                        if let Some((time, _, _)) = expected {
                            now = time;
                        }
                        prop_assert_eq!(queue.now(), Time(now));
                    }
                }
                prop_assert_eq!(queue.len(), reference.len());
            }
            let expected: Vec<(u64, u64, usize)> =
                std::iter::from_fn(|| reference.pop().map(|Reverse(e)| e)).collect();
            prop_assert_eq!(drain(&mut queue), expected);
            prop_assert!(queue.is_empty());
        }
    }
}
