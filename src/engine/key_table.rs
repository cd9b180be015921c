//! The store's index: a key id's entry in one probe, whose address is
//! known before the probe.
//!
//! At a thousand nodes and a million keys, nearly every replica access
//! finds its node's index cold. A B-tree missed the cache at each of its
//! levels; a SwissTable (hashbrown) misses twice, its control bytes and
//! then the slot they point to, which it keeps apart. Here a key's slot
//! holds its id beside its value, and the search starts at a slot the
//! key's hash names, so a lookup is one miss — and, knowing that address
//! in advance, the simulator can ask for the line while the request is
//! still in flight ([`SlotLocator::prefetch`]), so the replica finds it in
//! the cache. Open addressing with linear probing: a probe that moves on
//! reads the next slot, usually in the same or the adjacent line.
//!
//! Looked up by id only: [`KeyTable::iter`]'s order is the table's and
//! must never reach a result (the store sorts, or its callers collect
//! into an ordered set, before a walk can).
//!
//! The checker's lineage keeps its versions by key in one too: sized for
//! its keys at once, a slot is all a key costs, where a SwissTable's
//! power-of-two sizes left it half empty at some key counts.

use crate::engine::id_map::IdHasher;
use crate::engine::prefetch::prefetch;
use std::hash::{BuildHasher, BuildHasherDefault};

/// The id no key has: an empty slot.
const EMPTY: u64 = u64::MAX;
/// The fewest slots a table that holds anything has.
const MIN_SLOTS: usize = 16;

/// Entries by key id, in one array of (id, value) slots.
#[derive(Clone, Debug)]
pub struct KeyTable<V> {
    /// Empty, or at least [`MIN_SLOTS`] long; at most three quarters
    /// full, so a search meets an empty slot within a few steps, and at
    /// least three fifths full after it grew (by a quarter: doubling left
    /// grown tables under 40 % full, 120 bytes a stored copy on the bench's
    /// 1,000-node row against 55).
    slots: Vec<(u64, V)>,
    len: usize,
}

impl<V> Default for KeyTable<V> {
    fn default() -> Self {
        KeyTable { slots: Vec::new(), len: 0 }
    }
}

impl<V: Default> KeyTable<V> {
    /// An empty table with room for `entries` before it grows (three
    /// quarters full then).
    pub fn with_capacity(entries: usize) -> Self {
        if entries == 0 {
            return KeyTable::default();
        }
        let slots = (entries + entries.div_ceil(3)).max(MIN_SLOTS);
        KeyTable { slots: std::iter::repeat_with(|| (EMPTY, V::default())).take(slots).collect(), len: 0 }
    }

    /// The entry of `id`, inserted as `V::default()` if absent.
    pub fn entry(&mut self, id: u64) -> &mut V {
        self.entry_inserted(id).0
    }

    /// [`KeyTable::entry`], and whether it was inserted just now (what a
    /// caller keeping more about a key elsewhere need not look for).
    pub fn entry_inserted(&mut self, id: u64) -> (&mut V, bool) {
        assert_ne!(id, EMPTY, "key id {EMPTY} marks an empty slot");
        let at = match self.probe(id) {
            Ok(at) => at,
            Err(_) if (self.len + 1) * 4 > self.slots.len() * 3 => {
                self.grow();
                self.probe(id).expect_err("a grown table does not hold what it did not")
            }
            Err(empty) => empty,
        };
        let inserted = self.slots[at].0 == EMPTY;
        if inserted {
            self.len += 1;
            self.slots[at] = (id, V::default());
        }
        (&mut self.slots[at].1, inserted)
    }

    /// A quarter more slots (at least [`MIN_SLOTS`]), every entry placed again.
    fn grow(&mut self) {
        let slots = (self.slots.len() + self.slots.len() / 4).max(MIN_SLOTS);
        let old =
            std::mem::replace(&mut self.slots, std::iter::repeat_with(|| (EMPTY, V::default())).take(slots).collect());
        for (id, value) in old.into_iter().filter(|&(id, _)| id != EMPTY) {
            let at = self.probe(id).expect_err("ids are distinct");
            self.slots[at] = (id, value);
        }
    }

    /// Removes `id`'s entry, if any. The entries after it in its run of
    /// occupied slots that could sit earlier move back (backward-shift
    /// deletion), so no search ever stops at a hole it should have passed.
    pub fn remove(&mut self, id: u64) -> Option<V> {
        let mut hole = self.find(id)?;
        let removed = std::mem::take(&mut self.slots[hole].1);
        self.slots[hole].0 = EMPTY;
        self.len -= 1;
        let mut at = self.next(hole);
        while self.slots[at].0 != EMPTY {
            // The entry at `at` may fill the hole if its home is not in (hole, at].
            let home = self.home(self.slots[at].0);
            if self.steps(home, at) >= self.steps(hole, at) {
                self.slots.swap(hole, at);
                hole = at;
            }
            at = self.next(at);
        }
        Some(removed)
    }
}

impl<V> KeyTable<V> {
    /// The entry of `id`, if any.
    pub fn get(&self, id: u64) -> Option<&V> {
        self.find(id).map(|at| &self.slots[at].1)
    }

    /// The entry of `id` to change, if any.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        self.find(id).map(|at| &mut self.slots[at].1)
    }

    /// Where the slots lie now, for prefetching without reading the table
    /// itself ([`SlotLocator`]).
    pub fn locator(&self) -> SlotLocator {
        SlotLocator {
            first: self.slots.as_ptr() as usize,
            slots: self.slots.len(),
            slot_bytes: std::mem::size_of::<(u64, V)>(),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every (id, entry), in the table's order: sort before it can reach a result.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &V)> {
        self.slots.iter().filter(|(id, _)| *id != EMPTY).map(|(id, value)| (*id, value))
    }

    /// The slot holding `id`, if any.
    fn find(&self, id: u64) -> Option<usize> {
        self.probe(id).ok()
    }

    /// The search for `id` from its home slot: Ok with the slot holding
    /// it, or Err with the empty slot where it would go (Err(0) in a table
    /// without slots, where it cannot go before the table grows).
    fn probe(&self, id: u64) -> Result<usize, usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mut at = self.home(id);
        loop {
            match self.slots[at].0 {
                held if held == id => return Ok(at),
                EMPTY => return Err(at),
                _ => at = self.next(at),
            }
        }
    }

    /// Where the search for `id` starts (the table is not empty): its
    /// hash scaled to the table's length (a multiply, not a modulo).
    fn home(&self, id: u64) -> usize {
        home_slot(id, self.slots.len())
    }

    /// The slot after `at`, wrapping around.
    fn next(&self, at: usize) -> usize {
        if at + 1 == self.slots.len() {
            0
        } else {
            at + 1
        }
    }

    /// Steps forward, wrapping around, from slot `from` to slot `to`.
    fn steps(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + self.slots.len() - from
        }
    }
}

/// The slot a search for `id` starts at, in a table of `slots` slots (not 0).
fn home_slot(id: u64, slots: usize) -> usize {
    let hash = BuildHasherDefault::<IdHasher>::default().hash_one(id);
    ((u128::from(hash) * slots as u128) >> 64) as usize
}

/// A table's slot array as an address and a length, copied out of the
/// table: prefetching a key's slot through the table reads the table's
/// own fields first, and where the table is cold (the receiver of a
/// message, at a thousand nodes) that read is a cache miss the prefetch
/// waits for — most of the time it was meant to save. A copy kept where
/// it stays cached costs none. Only an address to prefetch: a stale copy
/// (the table grew since) wastes a fetch and changes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotLocator {
    /// The first slot's address.
    first: usize,
    /// Slots in the table; 0 for a table without any.
    slots: usize,
    /// Bytes a slot.
    slot_bytes: usize,
}

impl SlotLocator {
    /// Asks the CPU to bring `id`'s home slot and the next into its cache
    /// (a slot may end in the next line, and at three quarters full a
    /// search often reads a second slot): a hint, with no effect on what
    /// any lookup returns.
    pub fn prefetch(&self, id: u64) {
        if self.slots > 0 {
            let home = home_slot(id, self.slots);
            let next = if home + 1 == self.slots { 0 } else { home + 1 };
            for slot in [home, next] {
                prefetch(self.first.wrapping_add(slot * self.slot_bytes) as *const u8);
            }
        }
    }

    /// Slots in the table.
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Step {
        Put(u64, u32),
        Remove(u64),
    }

    fn step(ids: impl Strategy<Value = u64> + Clone) -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (ids.clone(), any::<u32>()).prop_map(|(id, value)| Step::Put(id, value)),
            2 => ids.prop_map(Step::Remove),
        ]
    }

    proptest! {
        /// Whatever the puts and removals, the table holds what a map
        /// does: each id's last value, none for removed ones — with ids
        /// from a few (long runs of collisions, removals inside them and
        /// across the wrap) to many (growth).
        #[test]
        fn the_table_holds_what_a_map_holds(
            steps in prop_oneof![
                prop::collection::vec(step(0u64..24), 0..300),
                prop::collection::vec(step(0u64..5_000), 0..600),
                prop::collection::vec(step(any::<u64>().prop_map(|id| id.min(EMPTY - 1))), 0..200),
            ],
        ) {
            let mut table: KeyTable<u32> = KeyTable::default();
            let mut model: BTreeMap<u64, u32> = BTreeMap::new();
            for step in steps {
                match step {
                    Step::Put(id, value) => {
                        *table.entry(id) = value;
                        model.insert(id, value);
                    }
                    Step::Remove(id) => prop_assert_eq!(table.remove(id), model.remove(&id)),
                }
                prop_assert_eq!(table.len(), model.len());
            }
            for (&id, value) in &model {
                prop_assert_eq!(table.get(id), Some(value));
            }
            let mut held: Vec<(u64, u32)> = table.iter().map(|(id, &value)| (id, value)).collect();
            held.sort_unstable();
            prop_assert_eq!(held, model.into_iter().collect::<Vec<_>>());
            prop_assert!(table.slots.is_empty() || table.len() * 4 <= table.slots.len() * 3, "at most 3/4 full");
        }
    }

    #[test]
    fn an_entry_says_whether_it_was_inserted_just_now() {
        let mut table: KeyTable<u32> = KeyTable::default();
        let (value, inserted) = table.entry_inserted(7);
        assert!(inserted && *value == 0);
        *value = 3;
        assert_eq!(table.entry_inserted(7), (&mut 3, false), "held: not inserted again");
        table.remove(7);
        assert_eq!(table.entry_inserted(7), (&mut 0, true), "removed, then inserted anew");
        for id in 0..40 {
            assert!(table.entry_inserted(1_000 + id).1, "a new id while the table grows");
        }
        assert_eq!(table.entry_inserted(7), (&mut 0, false));
    }

    #[test]
    fn an_absent_id_is_found_nowhere_and_a_prefetch_changes_nothing() {
        let mut table: KeyTable<u32> = KeyTable::default();
        table.locator().prefetch(7); // empty: no slot to point at
        assert_eq!(table.get(7), None);
        assert_eq!(table.remove(7), None);
        *table.entry(7) += 5;
        *table.entry(7) += 1;
        table.locator().prefetch(7);
        table.locator().prefetch(8);
        assert_eq!((table.get(7), table.get(8), table.len()), (Some(&6), None, 1));
        assert!(!table.is_empty());
    }

    /// A table made for n entries takes them without growing, and is
    /// three quarters full then (or has the fewest slots).
    #[test]
    fn a_table_made_for_n_entries_holds_them_without_growing() {
        for n in [0usize, 1, 11, 12, 13, 100, 3_001] {
            let mut table: KeyTable<u32> = KeyTable::with_capacity(n);
            let slots = table.slots.len();
            for id in 0..n as u64 {
                *table.entry(id * 7919) = 1;
            }
            assert_eq!((table.len(), table.slots.len()), (n, slots), "{n} entries grew the table");
            assert!(n == 0 || slots == MIN_SLOTS || 4 * n > 3 * (slots - 2), "{n} in {slots}: too roomy");
            *table.entry(u64::from(u32::MAX)) = 1;
            assert!(n == 0 || slots == MIN_SLOTS || table.slots.len() > slots, "{n}: one more did not grow it");
        }
    }

    /// As it grows, a table stays between half and three quarters full
    /// (three fifths right after growing by a quarter): a store's memory
    /// is its slots, and doubling had left grown tables under 40 % full.
    #[test]
    fn a_growing_table_is_more_than_half_and_at_most_three_quarters_full() {
        let mut table: KeyTable<u32> = KeyTable::default();
        for id in 0..5_000u64 {
            *table.entry(id * 7919) = 1;
            let (len, slots) = (table.len(), table.slots.len());
            assert!(4 * len <= 3 * slots, "{len} in {slots}: over three quarters");
            assert!(slots == MIN_SLOTS || 2 * len > slots, "{len} in {slots}: half empty");
        }
    }

    /// A search starts at the slot the id's hash names, which the
    /// locator's prefetch brings in: a lone id sits there, and the ids'
    /// homes spread over the table.
    #[test]
    fn a_lone_id_sits_in_its_home_slot_and_homes_spread_over_the_table() {
        let mut homes = std::collections::BTreeSet::new();
        for id in 0..100u64 {
            let mut table: KeyTable<u32> = KeyTable::default();
            *table.entry(id) = 1;
            let home = home_slot(id, table.slots.len());
            assert_eq!(table.slots[home].0, id, "{id} is not in its home slot");
            homes.insert(home);
        }
        assert!(homes.len() > MIN_SLOTS / 2, "homes {homes:?}: bunched up");
    }

    #[test]
    #[should_panic(expected = "marks an empty slot")]
    fn the_empty_marker_is_no_key() {
        KeyTable::<u32>::default().entry(EMPTY);
    }
}
