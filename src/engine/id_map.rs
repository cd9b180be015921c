//! Hash maps for state looked up by a numeric id.
//!
//! A node keeps the requests it forwarded, a client the contexts of its
//! reads, and the checker its per-key and per-write indexes in maps that
//! are only ever looked up, inserted into and removed from — never
//! iterated in an order that could reach a result. (Work whose ids its
//! owner hands out in increasing order is in an
//! [`IdWindow`](super::id_window::IdWindow) instead.) A `BTreeMap` paid
//! for an order nobody used (its removals were among the hottest code of
//! a run), and the default SipHash pays for
//! protection against adversarial keys that a simulation never sees. The
//! SplitMix64 finaliser is deterministic on every platform and spreads
//! dense ids over every bit the table uses.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by ids, for lookups only: never let its iteration order
/// reach a result (sort first, or use a `BTreeMap`).
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Hashes integer keys with the SplitMix64 finaliser.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        let mut z = self.0.rotate_left(29) ^ value;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn consecutive_ids_spread_over_the_low_bits() {
        // hashbrown picks buckets by the low bits: consecutive ids (as
        // next_id hands them out) must not pile into a few of them.
        let build = BuildHasherDefault::<IdHasher>::default();
        let buckets: std::collections::BTreeSet<u64> = (0..1024u64).map(|id| build.hash_one(id) & 1023).collect();
        assert!(buckets.len() > 600, "only {} of 1024 buckets used", buckets.len());
    }

    #[test]
    fn a_map_finds_what_was_inserted() {
        let mut map: IdMap<u64, u64> = IdMap::default();
        for id in 0..10_000 {
            map.insert(id, id * 2);
        }
        assert!((0..10_000).all(|id| map.get(&id) == Some(&(id * 2))));
        assert_eq!(map.remove(&77), Some(154));
        assert_eq!(map.get(&77), None);
    }
}
