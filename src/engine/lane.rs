//! One FIFO lane of the event queue: events appended in time order, taken
//! from the front, cancelled in place.
//!
//! A lane holds timeouts, nearly all of which are cancelled: each is
//! appended, found again by its time and marked, then dropped when it
//! reaches the front. A `VecDeque` paid for its generality on each of
//! those steps (an index wraps by comparison, a range splits into two
//! slices); here the events are a power-of-two ring indexed by masking,
//! and the search and scan are plain loops over it.

use super::queue::Scheduled;
use super::search::partition_point_from;
use crate::types::Time;

/// Events sorted by (time, sequence), oldest at the front; `None` marks a
/// cancelled one (a tombstone).
#[derive(Debug)]
pub struct Lane<E> {
    /// The ring; empty, or a power of two long. Slots outside the lane hold
    /// tombstones at time zero.
    slots: Vec<Scheduled<Option<E>>>,
    /// Where the front is in `slots`.
    head: usize,
    /// Events (tombstones included) in the lane.
    len: usize,
}

impl<E> Default for Lane<E> {
    fn default() -> Self {
        Lane { slots: Vec::new(), head: 0, len: 0 }
    }
}

impl<E> Lane<E> {
    /// Events in the lane, tombstones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the lane holds nothing, not even a tombstone.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest event.
    pub fn front(&self) -> Option<&Scheduled<Option<E>>> {
        (self.len > 0).then(|| self.at(0))
    }

    /// The newest event.
    pub fn back(&self) -> Option<&Scheduled<Option<E>>> {
        (self.len > 0).then(|| self.at(self.len - 1))
    }

    /// Appends `event`, which must not be earlier than the back.
    pub fn push_back(&mut self, event: Scheduled<Option<E>>) {
        debug_assert!(self.back().is_none_or(|back| back.time <= event.time), "a lane stays in time order");
        if self.len == self.slots.len() {
            self.grow();
        }
        let at = self.slot(self.len);
        self.slots[at] = event;
        self.len += 1;
    }

    /// Takes the oldest event out.
    pub fn pop_front(&mut self) -> Option<Scheduled<Option<E>>> {
        if self.len == 0 {
            return None;
        }
        let front = std::mem::replace(&mut self.slots[self.head], Self::EMPTY);
        self.head = (self.head + 1) & (self.slots.len() - 1);
        self.len -= 1;
        Some(front)
    }

    /// Turns the first event at `time` for which `matches` holds into a
    /// tombstone; returns its offset from the front, or None if there is
    /// no such event.
    pub fn cancel(&mut self, time: Time, mut matches: impl FnMut(&E) -> bool) -> Option<usize> {
        let mut offset = self.first_at_or_after(time);
        while offset < self.len {
            let at = self.slot(offset);
            let scheduled = &mut self.slots[at];
            if scheduled.time != time {
                return None;
            }
            if scheduled.event.as_ref().is_some_and(&mut matches) {
                scheduled.event = None;
                return Some(offset);
            }
            offset += 1;
        }
        None
    }

    /// A slot outside the lane.
    const EMPTY: Scheduled<Option<E>> = Scheduled { time: Time::ZERO, sequence: 0, event: None };

    /// The event `offset` from the front (below `len`).
    fn at(&self, offset: usize) -> &Scheduled<Option<E>> {
        &self.slots[self.slot(offset)]
    }

    /// The index in `slots` of the event `offset` from the front.
    fn slot(&self, offset: usize) -> usize {
        (self.head + offset) & (self.slots.len() - 1)
    }

    /// Doubles the ring (at least 16 slots), the front moving to slot 0.
    fn grow(&mut self) {
        let length = (2 * self.slots.len()).max(16);
        let mut slots = Vec::with_capacity(length);
        let (wrapped, from_head) = self.slots.split_at_mut(self.head);
        slots.extend(from_head.iter_mut().chain(wrapped).map(|slot| std::mem::replace(slot, Self::EMPTY)));
        slots.resize_with(length, || Self::EMPTY);
        self.slots = slots;
        self.head = 0;
    }

    /// The offset of the first event at or after `time`: from a first
    /// guess interpolated between the front's and back's times (a timeout
    /// lane fills at about the rate its timers are set), galloping towards
    /// the answer ([`partition_point_from`]). A cancelled timeout usually
    /// lies hundreds of events from the back of a lane that holds tens of
    /// thousands, which galloping back from the newest event took ~400
    /// instructions to reach at 1,000 nodes.
    fn first_at_or_after(&self, time: Time) -> usize {
        let Some(back) = self.back().map(|back| back.time) else { return 0 };
        if back < time {
            return self.len;
        }
        let front = self.at(0).time;
        if front >= time {
            return 0;
        }
        // front < time <= back, so the answer is in 1..len, and front < back.
        let (span, behind, last) = (back.0 - front.0, back.0 - time.0, self.len as u64 - 1);
        let behind = match behind.checked_mul(last) {
            Some(product) => product / span,
            None => (u128::from(behind) * u128::from(last) / u128::from(span)) as u64,
        };
        partition_point_from(self.len, self.len - 1 - behind as usize, |offset| self.at(offset).time < time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A lane of events at `times` (sorted), `skew` events having passed
    /// through it first so that it wraps around its ring.
    fn lane_at(times: &[u64], skew: usize) -> Lane<u64> {
        let mut lane = Lane::default();
        let first = times.first().copied().unwrap_or(0);
        for _ in 0..skew {
            lane.push_back(Scheduled { time: Time(first), sequence: 0, event: None });
        }
        for (i, &time) in times.iter().enumerate() {
            lane.push_back(Scheduled { time: Time(time), sequence: i as u64, event: Some(i as u64) });
            if lane.front().is_some_and(|front| front.event.is_none()) {
                lane.pop_front();
            }
        }
        while lane.front().is_some_and(|front| front.event.is_none()) {
            lane.pop_front();
        }
        lane
    }

    fn times(lane: &Lane<u64>) -> Vec<u64> {
        (0..lane.len()).map(|offset| lane.at(offset).time.0).collect()
    }

    #[test]
    fn a_lane_is_first_in_first_out_across_the_ring_s_end_and_growth() {
        let mut lane = Lane::default();
        let mut expected = std::collections::VecDeque::new();
        for i in 0..100u64 {
            lane.push_back(Scheduled { time: Time(i), sequence: i, event: Some(i) });
            expected.push_back(i);
            if i % 3 == 0 {
                assert_eq!(lane.pop_front().and_then(|s| s.event), expected.pop_front());
            }
            assert_eq!(lane.len(), expected.len());
            assert_eq!(lane.front().and_then(|s| s.event), expected.front().copied());
            assert_eq!(lane.back().and_then(|s| s.event), expected.back().copied());
        }
        while let Some(front) = lane.pop_front() {
            assert_eq!(front.event, expected.pop_front());
        }
        assert_eq!((lane.len(), lane.is_empty()), (0, true));
        assert!(expected.is_empty());
        assert!(lane.slots.iter().all(|slot| slot.event.is_none()), "nothing is kept outside the lane");
        lane.push_back(Scheduled { time: Time(200), sequence: 200, event: Some(200) });
        assert!(!lane.is_empty(), "one event");
    }

    #[test]
    fn a_cancel_marks_the_first_match_at_its_time_only() {
        let mut lane = lane_at(&[3, 5, 5, 5, 8], 13);
        assert_eq!(lane.cancel(Time(5), |&e| e % 2 == 0), Some(2), "events 1, 2, 3 are at 5: 2 is the first even");
        assert_eq!(lane.cancel(Time(5), |&e| e % 2 == 0), None, "2 is a tombstone now");
        assert_eq!(lane.cancel(Time(5), |&e| e == 4), None, "4 is at 8");
        assert_eq!(lane.cancel(Time(6), |_| true), None, "nothing at 6");
        assert_eq!(lane.cancel(Time(9), |_| true), None, "after the back");
        assert_eq!(lane.cancel(Time(3), |_| true), Some(0));
        assert_eq!(lane.cancel(Time(8), |_| true), Some(4));
        let left: Vec<Option<u64>> = (0..lane.len()).map(|offset| lane.at(offset).event).collect();
        assert_eq!(left, vec![None, Some(1), None, Some(3), None]);
        assert_eq!(Lane::<u64>::default().cancel(Time(0), |_| true), None, "an empty lane");
    }

    #[test]
    fn the_gallop_finds_the_first_event_at_or_after_a_time_like_a_binary_search() {
        for len in 0..40u64 {
            // Times 0, 2, 2, 4, 6, 6, ...: repeats and gaps.
            let at: Vec<u64> = (0..len).map(|i| i / 3 * 4 + i % 3 / 2 * 2).collect();
            for skew in [0, 5, 11] {
                let lane = lane_at(&at, skew);
                assert_eq!(times(&lane), at);
                for time in 0..len * 2 + 3 {
                    let expected = at.partition_point(|&t| t < time);
                    assert_eq!(lane.first_at_or_after(Time(time)), expected, "len {len}, skew {skew}, time {time}");
                }
            }
        }
    }

    #[test]
    fn the_guess_survives_times_whose_product_overflows_64_bits() {
        let lane = lane_at(&[0, 1, u64::MAX / 2, u64::MAX - 1], 0);
        assert_eq!(lane.first_at_or_after(Time(2)), 2);
        assert_eq!(lane.first_at_or_after(Time(u64::MAX - 1)), 3);
    }

    proptest! {
        /// Whatever the spacing of a lane's times (bursts, gaps, equal
        /// times) and wherever it sits in its ring, the guess and gallop
        /// land where a binary search does.
        #[test]
        fn the_interpolated_search_finds_what_a_binary_search_finds(
            gaps in prop::collection::vec(prop_oneof![Just(0u64), 1u64..4, 1_000u64..100_000], 0..300),
            start in 0u64..1_000,
            skew in 0usize..40,
            probes in prop::collection::vec(any::<prop::sample::Index>(), 1..40),
        ) {
            let at: Vec<u64> = gaps
                .iter()
                .scan(start, |time, gap| {
                    *time += gap;
                    Some(*time)
                })
                .collect();
            let lane = lane_at(&at, skew);
            let last = at.last().copied().unwrap_or(start);
            for probe in probes {
                // Times at, between, before and after the lane's.
                let time = probe.index(last as usize + 3) as u64;
                prop_assert_eq!(lane.first_at_or_after(Time(time)), at.partition_point(|&t| t < time));
            }
        }
    }
}
