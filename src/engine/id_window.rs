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

use std::collections::VecDeque;

/// Values by increasing `u64` id: inserted newest-last, removed in any order.
#[derive(Clone, Debug)]
pub struct IdWindow<V> {
    /// The id of `slots[0]` (meaningless while `slots` is empty).
    first: u64,
    /// The value of each id from `first` on; the front slot is never empty.
    slots: VecDeque<Option<V>>,
}

impl<V> Default for IdWindow<V> {
    fn default() -> Self {
        IdWindow { first: 0, slots: VecDeque::new() }
    }
}

impl<V> IdWindow<V> {
    /// Adds `value` under `id`, which must be above every id in the window
    /// (the owner's counter only grows).
    ///
    /// # Panics
    /// When `id` is not above the newest id in the window.
    pub fn insert(&mut self, id: u64, value: V) {
        if self.slots.is_empty() {
            self.first = id;
        }
        let end = self.first + self.slots.len() as u64;
        assert!(id >= end, "id {id} inserted below the window's end {end}: ids must increase");
        // The ids between went to other work: empty slots.
        self.slots.extend((end..id).map(|_| None));
        self.slots.push_back(Some(value));
    }

    /// The value of `id`, if in flight.
    pub fn get(&self, id: u64) -> Option<&V> {
        self.slots.get(self.index(id)?)?.as_ref()
    }

    /// The value of `id`, if in flight, to change.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        let index = self.index(id)?;
        self.slots.get_mut(index)?.as_mut()
    }

    /// Takes the value of `id` out, if in flight; the window's front moves
    /// past the slots left empty.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let index = self.index(id)?;
        let value = self.slots.get_mut(index)?.take()?;
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.first += 1;
        }
        Some(value)
    }

    /// The values in flight, oldest id first.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten()
    }

    /// Drops everything in flight (a crash).
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    /// The slot index of `id`, if the window reaches it.
    fn index(&self, id: u64) -> Option<usize> {
        usize::try_from(id.checked_sub(self.first)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

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

    #[test]
    fn removing_the_oldest_moves_the_front_past_empty_slots() {
        let mut window = IdWindow::default();
        for id in 1..=100 {
            window.insert(id, id);
        }
        for id in 2..=99 {
            window.remove(id);
        }
        assert_eq!(window.slots.len(), 100, "the oldest holds the window open");
        window.remove(1);
        assert_eq!((window.first, window.slots.len()), (100, 1));
        window.remove(100);
        assert!(window.slots.is_empty());
        window.insert(7_000_000, 7);
        assert_eq!(window.slots.len(), 1, "an empty window starts again at the next id, whatever the gap");
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
                                prop_assert!(window.slots.front().is_none_or(Option::is_some));
                prop_assert!(window.values().eq(model.values()));
            }
        }
    }
}
