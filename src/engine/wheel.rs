//! The event queue's events outside its lanes: a timing wheel for the
//! near future, a binary heap for the rest.
//!
//! Virtual time is a whole number of µs and never goes backwards, and most
//! events fire within a few milliseconds of being scheduled (messages,
//! storage completions). So the wheel has one slot per µs of a window of
//! `2^bits` µs starting at `base` (the time of the last event popped):
//! scheduling into the window appends to the slot of its µs, popping takes
//! the front of the first non-empty slot (found through two levels of
//! occupancy bits). A slot is a FIFO, and sequence numbers grow as events
//! are scheduled, so each slot is in (time, sequence) order and the wheel
//! pops exactly what one heap over (time, sequence) would, at O(1) a step
//! instead of O(log n) cache-missing sifts.
//!
//! Events beyond the window wait in the heap, keyed by (time, sequence).
//! Whenever `base` advances, those the window now covers move into their
//! slots in heap order: every event at a time the window has reached was
//! either scheduled into the wheel (after any that waited in the heap for
//! that time, which moved first) or moved from the heap in (time,
//! sequence) order, so each slot stays ordered. Every event in a slot is
//! earlier than every event in the heap.

use super::queue::Scheduled;
use super::slab::Slab;
use crate::types::Time;
use std::collections::BinaryHeap;

/// No event: the end of a slot's list, or an empty slot.
const NONE: u32 = u32::MAX;

/// When an event waits for, and the next of its slot: kept apart from the
/// event itself (indexed by the same handle), so finding the earliest event
/// reads 24 bytes instead of the whole event.
#[derive(Clone, Copy, Debug)]
struct Meta {
    time: Time,
    sequence: u64,
    /// The next event of the same slot (wheel only; [`NONE`] at the end).
    next: u32,
}

/// The first and last event of a slot's list ([`NONE`] when it is empty),
/// side by side: scheduling into an empty slot and popping its last event
/// write both, and the slot is a random one of thousands (32 Ki in the
/// event queue), so an array of heads and one of tails cost two cache
/// misses where one does.
#[derive(Clone, Copy, Debug)]
struct SlotEnds {
    head: u32,
    tail: u32,
}

/// Where the earliest event is, as [`Wheel::peek`] found it: pass it back
/// to [`Wheel::pop`] (with nothing scheduled in between) to take it
/// without searching again.
#[derive(Clone, Copy, Debug)]
pub struct First {
    /// Its time.
    pub time: Time,
    /// Its sequence number.
    pub sequence: u64,
    /// Its slot; None when it is the heap's top.
    slot: Option<usize>,
}

/// What the heap orders: an event's time (the high 64 bits), its sequence
/// number (the next 40) and its slab handle (the low 24), packed in one
/// `u128` — 16 bytes to sift and one comparison per step — and stored
/// complemented, so the max-heap pops the earliest (time, sequence) first.
/// Sequence numbers are unique, so the handle never decides an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key(u128);

/// Bits of a key holding the handle: at most 2^24 (16.7 M) events wait at once.
const HANDLE_BITS: u32 = 24;
/// Bits of a key holding the sequence number: a run schedules at most 2^40 (1.1 × 10^12) events.
const SEQUENCE_BITS: u32 = 40;

impl Key {
    fn new(time: Time, sequence: u64, handle: u32) -> Key {
        assert!(sequence >> SEQUENCE_BITS == 0, "a run schedules fewer than 2^40 events");
        assert!(handle >> HANDLE_BITS == 0, "fewer than 2^24 events wait in the heap at once");
        Key(!((u128::from(time.0) << 64) | (u128::from(sequence) << HANDLE_BITS) | u128::from(handle)))
    }

    fn time(self) -> Time {
        Time((!self.0 >> 64) as u64)
    }

    fn sequence(self) -> u64 {
        (!self.0 >> HANDLE_BITS) as u64 & ((1 << SEQUENCE_BITS) - 1)
    }

    fn handle(self) -> u32 {
        !self.0 as u32 & ((1 << HANDLE_BITS) - 1)
    }
}

/// Events by (time, sequence): a timing wheel over the next `2^bits` µs
/// and a heap beyond.
#[derive(Debug)]
pub struct Wheel<E> {
    /// Every waiting event, wheel and heap alike.
    events: Slab<E>,
    /// Each event's [`Meta`], by its handle in `events`.
    meta: Vec<Meta>,
    /// Slot `t mod 2^bits` holds the events at time `t` of the window.
    slots: Vec<SlotEnds>,
    /// A bit per slot: it holds some event.
    occupied: Vec<u64>,
    /// A bit per word of `occupied`: the word is not zero.
    summary: Vec<u64>,
    /// The window's first µs: every event in a slot is at `base` or later,
    /// and earlier than `base + 2^bits`; every event in the heap is not.
    base: Time,
    bits: u32,
    /// Events in slots.
    in_slots: usize,
    /// Events beyond the window.
    beyond: BinaryHeap<Key>,
    /// The earliest `base` whose window covers the heap's top (`u64::MAX`
    /// when the heap is empty): until the window gets there, moving it
    /// takes nothing in, which [`Wheel::advance`] finds without reading
    /// the heap.
    intake_from: Time,
}

impl<E> Wheel<E> {
    /// A wheel whose window spans `2^bits` µs (6 ≤ bits ≤ 24).
    pub fn new(bits: u32) -> Self {
        assert!((6..=24).contains(&bits), "a window of 2^6 to 2^24 µs");
        let slots = 1usize << bits;
        let words = slots / 64;
        Wheel {
            events: Slab::default(),
            meta: Vec::new(),
            slots: vec![SlotEnds { head: NONE, tail: NONE }; slots],
            occupied: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
            base: Time::ZERO,
            bits,
            in_slots: 0,
            beyond: BinaryHeap::new(),
            intake_from: Time(u64::MAX),
        }
    }

    /// Number of waiting events.
    pub fn len(&self) -> usize {
        self.in_slots + self.beyond.len()
    }

    /// Adds `event` at `time` (not before the last [`Wheel::advance`]) with its sequence number.
    pub fn schedule(&mut self, time: Time, sequence: u64, event: E) {
        debug_assert!(time >= self.base, "an event cannot be scheduled before the window");
        let handle = self.events.insert(event);
        let meta = Meta { time, sequence, next: NONE };
        match self.meta.get_mut(handle as usize) {
            Some(slot) => *slot = meta,
            None => self.meta.push(meta), // the slab grew by this handle
        }
        if self.in_window(time) {
            self.link(handle, time);
        } else {
            self.beyond.push(Key::new(time, sequence, handle));
            self.intake_from = self.intake_from.min(self.intake_for(time));
        }
    }

    /// The earliest event's time and sequence number, and where it is.
    pub fn peek(&self) -> Option<First> {
        match self.first_slot() {
            Some(slot) => {
                let first = self.meta[self.slots[slot].head as usize];
                Some(First { time: first.time, sequence: first.sequence, slot: Some(slot) })
            }
            None => self.beyond.peek().map(|key| First { time: key.time(), sequence: key.sequence(), slot: None }),
        }
    }

    /// Removes and returns the earliest event, which [`Wheel::peek`] just
    /// found as `first`, and moves the window to its time.
    pub fn pop(&mut self, first: First) -> Scheduled<E> {
        let handle = match first.slot {
            Some(slot) => self.unlink_front(slot),
            None => {
                let top = self.beyond.pop().expect("the heap has a top");
                self.refresh_intake();
                top.handle()
            }
        };
        debug_assert_eq!(self.meta[handle as usize].sequence, first.sequence, "nothing changed since the peek");
        let event = self.events.take(handle);
        self.advance(first.time);
        Scheduled { time: first.time, sequence: first.sequence, event }
    }

    /// Removes and returns the earliest event.
    #[cfg(test)]
    fn pop_earliest(&mut self) -> Option<Scheduled<E>> {
        self.peek().map(|first| self.pop(first))
    }

    /// Moves the window to start at `now` (the queue's time, which only
    /// grows), taking in the heap's events it now covers.
    pub fn advance(&mut self, now: Time) {
        if now <= self.base {
            return;
        }
        self.base = now;
        if now < self.intake_from {
            return;
        }
        while let Some(&key) = self.beyond.peek() {
            if !self.in_window(key.time()) {
                break;
            }
            self.beyond.pop();
            self.link(key.handle(), key.time());
        }
        self.refresh_intake();
    }

    /// The earliest `base` whose window covers `time`.
    fn intake_for(&self, time: Time) -> Time {
        Time(time.0.saturating_sub((1 << self.bits) - 1))
    }

    /// Sets `intake_from` for the heap's (new) top.
    fn refresh_intake(&mut self) {
        self.intake_from = self.beyond.peek().map_or(Time(u64::MAX), |key| self.intake_for(key.time()));
    }

    fn in_window(&self, time: Time) -> bool {
        time.0 - self.base.0 < 1 << self.bits
    }

    fn slot_of(&self, time: Time) -> usize {
        (time.0 & ((1 << self.bits) - 1)) as usize
    }

    /// Appends the event under `handle`, at `time` in the window, to its slot.
    fn link(&mut self, handle: u32, time: Time) {
        let slot = self.slot_of(time);
        let ends = &mut self.slots[slot];
        match ends.tail {
            NONE => {
                ends.head = handle;
                self.occupied[slot / 64] |= 1 << (slot % 64);
                self.summary[slot / 4096] |= 1 << (slot / 64 % 64);
            }
            tail => self.meta[tail as usize].next = handle,
        }
        ends.tail = handle;
        self.in_slots += 1;
    }

    /// Takes the first event off `slot`'s list; returns its handle.
    fn unlink_front(&mut self, slot: usize) -> u32 {
        let ends = &mut self.slots[slot];
        let handle = ends.head;
        let next = self.meta[handle as usize].next;
        ends.head = next;
        if next == NONE {
            ends.tail = NONE;
            self.occupied[slot / 64] &= !(1 << (slot % 64));
            if self.occupied[slot / 64] == 0 {
                self.summary[slot / 4096] &= !(1 << (slot / 64 % 64));
            }
        }
        self.in_slots -= 1;
        handle
    }

    /// The slot of the window's earliest event: the first occupied one from
    /// `base`'s, wrapping around.
    fn first_slot(&self) -> Option<usize> {
        if self.in_slots == 0 {
            return None;
        }
        let start = self.slot_of(self.base);
        self.first_occupied_from(start).or_else(|| self.first_occupied_from(0))
    }

    /// The first occupied slot at or after `from` (no wrapping).
    fn first_occupied_from(&self, from: usize) -> Option<usize> {
        let word = from / 64;
        let bits = self.occupied[word] & (u64::MAX << (from % 64));
        if bits != 0 {
            return Some(word * 64 + bits.trailing_zeros() as usize);
        }
        let next_word = word + 1;
        if next_word == self.occupied.len() {
            return None;
        }
        let mut group = next_word / 64;
        let mut words = self.summary[group] & (u64::MAX << (next_word % 64));
        loop {
            if words != 0 {
                let word = group * 64 + words.trailing_zeros() as usize;
                return Some(word * 64 + self.occupied[word].trailing_zeros() as usize);
            }
            group += 1;
            words = *self.summary.get(group)?;
        }
    }

    /// Whether some waiting event is `event`.
    #[cfg(test)]
    pub fn holds(&self, event: &E) -> bool
    where
        E: PartialEq,
    {
        self.events.any(|pending| pending == event)
    }

    /// Slab slots in use or free: the most events ever waiting at once.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.events.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Reverse;

    #[test]
    fn a_key_keeps_its_fields_and_orders_earliest_first() {
        let extremes = [
            (Time(u64::MAX), (1 << SEQUENCE_BITS) - 1, (1 << HANDLE_BITS) - 1),
            (Time::ZERO, 0, 0),
            (Time(1 << 40), 12_345, 678),
        ];
        for (time, sequence, handle) in extremes {
            let key = Key::new(time, sequence, handle);
            assert_eq!((key.time(), key.sequence(), key.handle()), (time, sequence, handle));
        }
        // Greater means popped first: earlier time, then smaller sequence, whatever the handle.
        assert!(Key::new(Time(5), 9, 0) > Key::new(Time(6), 1, 7));
        assert!(Key::new(Time(5), 1, (1 << HANDLE_BITS) - 1) > Key::new(Time(5), 2, 0));
    }

    #[test]
    #[should_panic(expected = "2^40 events")]
    fn a_sequence_beyond_the_key_is_refused() {
        Key::new(Time::ZERO, 1 << SEQUENCE_BITS, 0);
    }

    #[test]
    #[should_panic(expected = "2^24 events")]
    fn a_handle_beyond_the_key_is_refused() {
        Key::new(Time::ZERO, 0, 1 << HANDLE_BITS);
    }

    #[test]
    fn events_beyond_the_window_wait_in_the_heap_and_come_back_in_order() {
        let mut wheel = Wheel::new(6); // 64 µs
        wheel.schedule(Time(100), 0, 'a'); // beyond
        wheel.schedule(Time(10), 1, 'b');
        wheel.schedule(Time(100), 2, 'c'); // beyond, same time
        wheel.schedule(Time(73), 3, 'd'); // beyond until the window starts at 10
        assert_eq!((wheel.in_slots, wheel.beyond.len()), (1, 3));
        assert_eq!(wheel.pop_earliest().map(|s| s.event), Some('b'));
        assert_eq!(wheel.base, Time(10));
        assert_eq!((wheel.in_slots, wheel.beyond.len()), (1, 2), "73 is in the window from 10 on");
        wheel.schedule(Time(60), 4, 'e');
        let rest: Vec<_> =
            std::iter::from_fn(|| wheel.pop_earliest().map(|s| (s.time.0, s.sequence, s.event))).collect();
        assert_eq!(rest, vec![(60, 4, 'e'), (73, 3, 'd'), (100, 0, 'a'), (100, 2, 'c')]);
        assert_eq!(wheel.len(), 0);
        assert!(wheel.occupied.iter().chain(&wheel.summary).all(|&w| w == 0));
    }

    #[test]
    fn the_first_slot_is_found_across_words_groups_and_the_wrap() {
        let mut wheel: Wheel<u64> = Wheel::new(13); // 8,192 slots: 128 words, two groups
        for (sequence, time) in [8_191u64, 4_100, 70, 9_000, 8_200].into_iter().enumerate() {
            wheel.schedule(Time(time), sequence as u64, time);
        }
        let popped: Vec<u64> = std::iter::from_fn(|| wheel.pop_earliest().map(|s| s.event)).collect();
        assert_eq!(popped, vec![70, 4_100, 8_191, 8_200, 9_000]);
    }

    proptest! {
        /// Any mix of scheduling (near, far, at the current time) and
        /// popping gives the order of one heap over (time, sequence), with
        /// small and large windows.
        #[test]
        fn the_wheel_pops_like_a_heap(
            bits in prop_oneof![Just(6u32), Just(7), Just(13)],
            ops in proptest::collection::vec(prop_oneof![
                3 => (0u64..40).prop_map(Some),
                1 => (0u64..20_000).prop_map(Some),
                3 => Just(None),
            ], 0..400),
        ) {
            let mut wheel = Wheel::new(bits);
            let mut reference = BinaryHeap::new();
            let mut now = 0;
            for (sequence, op) in ops.into_iter().enumerate() {
                let sequence = sequence as u64;
                match op {
                    Some(delay) => {
                        wheel.schedule(Time(now + delay), sequence, sequence);
                        reference.push(Reverse((now + delay, sequence)));
                    }
                    None => {
                        let expected = reference.pop().map(|Reverse(e)| e);
                        prop_assert_eq!(wheel.peek().map(|f| (f.time.0, f.sequence)), expected);
                        let popped = wheel.pop_earliest().map(|s| (s.time.0, s.sequence));
                        prop_assert_eq!(popped, expected);
                        if let Some((time, _)) = expected {
                            now = time;
                        }
                    }
                }
                prop_assert_eq!(wheel.len(), reference.len());
            }
            let rest: Vec<_> = std::iter::from_fn(|| wheel.pop_earliest().map(|s| (s.time.0, s.sequence))).collect();
            let expected: Vec<_> = std::iter::from_fn(|| reference.pop().map(|Reverse(e)| e)).collect();
            prop_assert_eq!(rest, expected);
        }
    }
}
