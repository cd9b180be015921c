//! The event queue: events ordered by (virtual time, sequence number).
//!
//! The sequence number is assigned at scheduling, so two events at the same
//! time fire in the order they were scheduled — deterministic, whatever the
//! heap's internal layout.

use crate::types::Time;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

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

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    /// Reversed, so the max-heap pops the earliest (time, sequence) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.sequence).cmp(&(self.time, self.sequence))
    }
}

/// A priority queue of future events.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    next_sequence: u64,
    now: Time,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_sequence: 0, now: Time::ZERO }
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
        assert!(time >= self.now, "an event cannot be scheduled in the past ({time} < {})", self.now);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Scheduled { time, sequence, event });
    }

    /// Removes and returns the earliest event if it fires at or before `limit`.
    pub fn pop_until(&mut self, limit: Time) -> Option<Scheduled<E>> {
        if self.heap.peek()?.time > limit {
            return None;
        }
        let next = self.heap.pop()?;
        debug_assert!(next.time >= self.now, "virtual time never goes backwards");
        self.now = next.time;
        Some(next)
    }

    /// Number of pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
