//! In-flight work by an id handed out in increasing order, in a window.
//!
//! A client numbers its requests from a counter, and a node its
//! coordinations and storage operations from one shared counter (its
//! `next_id`); what is in flight is a
//! recent stretch of those numbers, and most of it finishes in the order
//! it started. A hash map paid two cache misses a lookup at 1,000 nodes
//! (its control bytes, then the entry, in different lines of a table that
//! had gone cold since the request's last step); a window of slots
//! indexed by `id - first` pays one, the slot itself, and needs no hash.
//!
//! The window spans from the oldest id still in it to the newest: ids the
//! owner handed to other work, or whose work already finished, are empty
//! slots until the oldest finishes. Work in flight is bounded in time (a
//! timeout ends every request and coordination, a storage operation ends
//! when the disk serves it, a crash clears them all), so the window is too.

/// Values by increasing `u64` id: inserted newest-last, removed in any order.
///
/// The slots form a ring whose length is a power of two: the window is the
/// `len` slots from `head` on, and every slot outside it is empty. So the
/// front moves past emptied slots by moving `head` alone — nothing is
/// read but a slot's tag, nothing moved (a `VecDeque`'s `pop_front` moved
/// each emptied slot out only to drop it: 28 M instructions of the
/// 64-node bench row) — and ids between two inserts need no writes.
#[derive(Clone, Debug)]
pub struct IdWindow<V> {
    /// The id of the slot at `head` (meaningless while `len` is 0).
    first: u64,
    /// The ring; empty, or a power of two long.
    slots: Vec<Option<V>>,
    /// Where the window starts in `slots`; its slot is never empty.
    head: usize,
    /// The window's length in slots.
    len: usize,
}

impl<V> Default for IdWindow<V> {
    fn default() -> Self {
        IdWindow { first: 0, slots: Vec::new(), head: 0, len: 0 }
    }
}

impl<V> IdWindow<V> {
    /// Adds `value` under `id`, which must be above every id in the window
    /// (the owner's counter only grows).
    ///
    /// # Panics
    /// When `id` is not above the newest id in the window.
    pub fn insert(&mut self, id: u64, value: V) {
        if self.len == 0 {
            self.first = id;
        }
        let end = self.first + self.len as u64;
        assert!(id >= end, "id {id} inserted below the window's end {end}: ids must increase");
        // The ids between went to other work: their slots are already empty.
        let len = usize::try_from(id - self.first).ok().and_then(|offset| offset.checked_add(1));
        let len = len.expect("the window fits in memory");
        if len > self.slots.len() {
            self.grow(len);
        }
        let at = self.slot(len - 1);
        self.slots[at] = Some(value);
        self.len = len;
    }

    /// The value of `id`, if in flight.
    pub fn get(&self, id: u64) -> Option<&V> {
        self.slots[self.index(id)?].as_ref()
    }

    /// The value of `id`, if in flight, to change.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        let at = self.index(id)?;
        self.slots[at].as_mut()
    }

    /// Takes the value of `id` out, if in flight; the window's front moves
    /// past the slots left empty.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let at = self.index(id)?;
        let value = self.slots[at].take()?;
        while self.len > 0 && self.slots[self.head].is_none() {
            self.head = (self.head + 1) & (self.slots.len() - 1);
            self.first += 1;
            self.len -= 1;
        }
        Some(value)
    }

    /// The values in flight, oldest id first.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        (0..self.len).filter_map(|offset| self.slots[self.slot(offset)].as_ref())
    }

    /// Drops everything in flight (a crash).
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|slot| *slot = None);
        self.len = 0;
    }

    /// The index in `slots` of the window's slot `offset` (below the ring's length).
    fn slot(&self, offset: usize) -> usize {
        (self.head + offset) & (self.slots.len() - 1)
    }

    /// The index in `slots` of `id`, if the window reaches it.
    fn index(&self, id: u64) -> Option<usize> {
        let offset = usize::try_from(id.checked_sub(self.first)?).ok()?;
        (offset < self.len).then(|| self.slot(offset))
    }

    /// Makes the ring at least `len` slots long, the window starting at 0.
    fn grow(&mut self, len: usize) {
        let length = len.next_power_of_two().max(8);
        let mut slots: Vec<Option<V>> = Vec::with_capacity(length);
        if !self.slots.is_empty() {
            let (wrapped, from_head) = self.slots.split_at_mut(self.head);
            slots.extend(from_head.iter_mut().chain(wrapped).take(self.len).map(Option::take));
        }
        slots.resize_with(length, || None);
        self.slots = slots;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::ops::RangeInclusive;

    #[test]
    fn a_window_finds_what_was_inserted_and_forgets_what_was_removed() {
        let mut window = IdWindow::default();
        window.insert(5, "a");
        window.insert(9, "b");
        assert_eq!((window.get(5), window.get(7), window.get(9), window.get(4)), (Some(&"a"), None, Some(&"b"), None));
        assert_eq!(window.remove(9), Some("b"));
        assert_eq!(window.remove(9), None, "removed once");
        assert_eq!(window.get(9), None);
        assert_eq!(window.values().count(), 1);
        window.insert(12, "c");
        assert_eq!(window.values().collect::<Vec<_>>(), vec![&"a", &"c"]);
    }

    /// A window of the ids `inserted` (each its own value) after removing `removed`.
    fn window_of(inserted: RangeInclusive<u64>, removed: RangeInclusive<u64>) -> IdWindow<u64> {
        let mut window = IdWindow::default();
        inserted.for_each(|id| window.insert(id, id));
        removed.for_each(|id| assert_eq!(window.remove(id), Some(id)));
        window
    }

    #[test]
    fn removing_the_oldest_moves_the_front_past_empty_slots() {
        let mut window = window_of(1..=100, 2..=99);
        assert_eq!(window.len, 100, "the oldest holds the window open");
        window.remove(1);
        assert_eq!((window.first, window.len), (100, 1));
        window.remove(100);
        assert_eq!(window.len, 0);
        window.insert(7_000_000, 7);
        assert_eq!(window.len, 1, "an empty window starts again at the next id, whatever the gap");
        assert_eq!(window.slots.len(), 128, "and keeps its ring");
    }

    #[test]
    fn a_wrapped_window_grows_in_order() {
        let mut window = window_of(1..=6, 1..=5);
        assert_eq!((window.head, window.slots.len()), (5, 8));
        for id in 7..=10 {
            window.insert(id, id); // slots 6, 7, 0, 1: the window wraps
        }
        assert_eq!((window.head, window.len, window.slots.len()), (5, 5, 8));
        window.insert(13, 13); // fills the ring exactly: no new layout
        assert_eq!((window.head, window.len, window.slots.len()), (5, 8, 8));
        window.insert(14, 14); // needs 9 slots: a ring of 16, the window from 0
        assert_eq!((window.head, window.len, window.slots.len()), (0, 9, 16));
        assert_eq!(window.values().copied().collect::<Vec<_>>(), vec![6, 7, 8, 9, 10, 13, 14]);
        assert_eq!((window.get(8), window.get(11), window.get(14), window.get(15)), (Some(&8), None, Some(&14), None));
    }

    #[test]
    fn a_cleared_window_forgets_everything_and_starts_again_anywhere() {
        let mut window = IdWindow::default();
        window.insert(3, 'a');
        window.insert(8, 'b');
        window.clear();
        assert_eq!((window.get(3), window.get(8)), (None, None));
        window.insert(5, 'c');
        assert_eq!(window.values().collect::<Vec<_>>(), vec![&'c'], "below the old end: a new window");
    }

    #[test]
    #[should_panic(expected = "ids must increase")]
    fn an_id_below_the_end_is_refused() {
        let mut window = IdWindow::default();
        window.insert(5, ());
        window.remove(5);
        window.insert(6, ());
        window.insert(6, ());
    }

    proptest! {
        /// Any interleaving of inserts at increasing ids, removals and
        /// lookups behaves as a map; the front slot is never empty.
        #[test]
        fn a_window_behaves_as_a_map(steps in prop::collection::vec((0..3u8, 1..6u64), 0..200)) {
            let (mut window, mut model, mut next) = (IdWindow::default(), BTreeMap::new(), 0u64);
            for (action, n) in steps {
                match action {
                    0 => {
                        next += n;
                        window.insert(next, next * 10);
                        model.insert(next, next * 10);
                    }
                    1 => {
                        let id = next.saturating_sub(n * 2);
                        prop_assert_eq!(window.remove(id), model.remove(&id));
                    }
                    _ => {
                        let id = next.saturating_sub(n);
                        prop_assert_eq!(window.get(id), model.get(&id));
                        if let Some(value) = window.get_mut(id) {
                            *value += 1;
                            *model.get_mut(&id).unwrap() += 1;
                        }
                    }
                }
                prop_assert!(window.len == 0 || window.slots[window.head].is_some(), "the front slot is never empty");
                let mut outside = window.len..window.slots.len();
                prop_assert!(outside.all(|offset| window.slots[window.slot(offset)].is_none()), "nothing outside the window");
                prop_assert!(window.values().eq(model.values()));
            }
        }
    }
}
