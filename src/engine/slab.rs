//! A slab: values parked under small integer handles, slots reused.
//!
//! The event queue parks its pending events here so its wheel's slots and
//! heap hold 4-byte handles (the heap in 16-byte keys), and the simulator
//! parks every message in flight here so an event carries a 4-byte handle
//! instead of a heap allocation of its own: a run
//! sends millions of messages, and a `Box` per message was a `malloc` and a
//! `free` each. Freed slots are reused last-in first-out, so the slab stays
//! as large as the most values ever parked at once, and the slot reused is
//! the one most recently touched (still in cache).

/// Values under `u32` handles; a handle is valid from [`Slab::insert`]
/// until the [`Slab::take`] that returns its value.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new() }
    }
}

impl<T> Slab<T> {
    /// Parks `value`; returns its handle.
    pub fn insert(&mut self, value: T) -> u32 {
        match self.free.pop() {
            Some(handle) => {
                let slot = &mut self.slots[handle as usize];
                debug_assert!(slot.is_none(), "a free slot is empty");
                *slot = Some(value);
                handle
            }
            None => {
                let handle = u32::try_from(self.slots.len()).expect("fewer than 2^32 values parked at once");
                self.slots.push(Some(value));
                handle
            }
        }
    }

    /// Takes the value parked under `handle` back; the handle is free again.
    ///
    /// # Panics
    /// If `handle` holds no value: it was never returned by `insert`, or
    /// was already taken (a bug in the caller).
    pub fn take(&mut self, handle: u32) -> T {
        let value = self.slots[handle as usize].take().expect("a handle is taken once");
        self.free.push(handle);
        value
    }

    /// How many slots exist (parked or free): the most values ever parked at once.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Whether some parked value satisfies `test`.
    #[cfg(test)]
    pub fn any(&self, test: impl Fn(&T) -> bool) -> bool {
        self.slots.iter().flatten().any(test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_slot_is_reused_last_in_first_out() {
        let mut slab = Slab::default();
        let (a, b, c) = (slab.insert('a'), slab.insert('b'), slab.insert('c'));
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(slab.take(a), 'a');
        assert_eq!(slab.take(c), 'c');
        assert!(!slab.any(|&v| v == 'a') && slab.any(|&v| v == 'b'));
        assert_eq!(slab.insert('d'), c, "the slot freed last is reused first");
        assert_eq!(slab.insert('e'), a);
        assert_eq!(slab.insert('f'), 3, "a new slot only when none is free");
        assert_eq!(slab.capacity(), 4);
        assert_eq!([slab.take(0), slab.take(1), slab.take(2), slab.take(3)], ['e', 'b', 'd', 'f']);
    }

    #[test]
    #[should_panic(expected = "taken once")]
    fn taking_a_handle_twice_is_a_bug() {
        let mut slab = Slab::default();
        let handle = slab.insert(1);
        slab.take(handle);
        slab.take(handle);
    }
}
