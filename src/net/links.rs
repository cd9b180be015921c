//! One random stream per directed link, in bounded memory.
//!
//! Each link draws its loss and latency from its own ChaCha stream, so the
//! traffic of one link never shifts the draws of another. A stream's full
//! state is ~330 bytes; a cluster of a thousand nodes and a thousand
//! clients uses millions of links, most of them rarely. So only recently
//! used links keep their generator, in a direct-mapped cache; a link pushed
//! out of it is *parked* as its position in its stream (one number), and
//! rebuilt from the master seed at that position when it is used again.
//! ChaCha is seekable, so the rebuilt stream continues exactly where the
//! parked one stopped: every draw, hence every figure, is the same as if
//! every generator had been kept.

use crate::engine::id_map::{IdHasher, IdMap};
use crate::engine::rng::{Purpose, SimRng, Streams};
use std::hash::{BuildHasher, BuildHasherDefault};

/// Cache slots at first; the cache doubles as more distinct links appear.
const FIRST_SLOTS: usize = 64;
/// Cache slots at most (~22 MB of generators).
const MAX_SLOTS: usize = 1 << 16;

/// The link streams of one run.
#[derive(Debug)]
pub struct LinkStreams {
    streams: Streams,
    /// Generators of recently used links, by `slot_of(link)`.
    slots: Vec<Option<(u64, SimRng)>>,
    /// Stream positions (in 32-bit words) of links pushed out of `slots`.
    /// Looked up by link only; its order never reaches a result.
    parked: IdMap<u64, u64>,
    /// Distinct links used so far.
    links_seen: usize,
}

impl LinkStreams {
    /// No link used yet; streams derive from `streams`.
    pub fn new(streams: Streams) -> Self {
        LinkStreams { streams, slots: empty_slots(FIRST_SLOTS), parked: IdMap::default(), links_seen: 0 }
    }

    /// The stream of `link`, positioned after every draw made from it.
    pub fn stream(&mut self, link: u64) -> &mut SimRng {
        let slot = self.slot_of(link);
        if matches!(&self.slots[slot], Some((resident, _)) if *resident == link) {
            return match &mut self.slots[slot] {
                Some((_, rng)) => rng,
                None => unreachable!("the slot holds the link"),
            };
        }
        self.load(link)
    }

    /// Makes `link` resident, rebuilt at its parked position (or fresh), in
    /// the slot of the link it pushes out, which is parked. The generator
    /// is rebuilt in place: a miss moves no 330-byte state around.
    fn load(&mut self, link: u64) -> &mut SimRng {
        let position = self.parked.remove(&link);
        if position.is_none() {
            self.links_seen += 1;
            if self.links_seen * 2 > self.slots.len() && self.slots.len() < MAX_SLOTS {
                self.grow();
            }
        }
        let slot = self.slot_of(link); // the cache may have grown
        let fresh = self.streams.stream(Purpose::Link, link);
        let (resident, rng) = match &mut self.slots[slot] {
            Some((resident, rng)) => {
                self.parked.insert(*resident, word_position(rng));
                *rng = fresh;
                (resident, rng)
            }
            empty => {
                let (resident, rng) = empty.insert((link, fresh));
                (resident, rng)
            }
        };
        *resident = link;
        if let Some(position) = position {
            rng.set_word_pos(u128::from(position));
        }
        rng
    }

    /// Parks the generator in `slot`, if any.
    fn evict(&mut self, slot: usize) {
        if let Some((resident, rng)) = self.slots[slot].take() {
            self.parked.insert(resident, word_position(&rng));
        }
    }

    /// Doubles the cache; residents that collide in it are parked.
    fn grow(&mut self) {
        let doubled = empty_slots(self.slots.len() * 2);
        let old = std::mem::replace(&mut self.slots, doubled);
        for (link, rng) in old.into_iter().flatten() {
            let slot = self.slot_of(link);
            self.evict(slot);
            self.slots[slot] = Some((link, rng));
        }
    }

    fn slot_of(&self, link: u64) -> usize {
        // The id maps' SplitMix64 finaliser: links differ in a few low and high bits.
        (BuildHasherDefault::<IdHasher>::default().hash_one(link) as usize) & (self.slots.len() - 1)
    }
}

/// Where `rng` stands in its stream, in 32-bit words.
fn word_position(rng: &SimRng) -> u64 {
    u64::try_from(rng.get_word_pos()).expect("a link draws fewer than 2^64 words")
}

fn empty_slots(count: usize) -> Vec<Option<(u64, SimRng)>> {
    std::iter::repeat_with(|| None).take(count).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::RngCore;

    proptest! {
        /// Whatever order links are used in, and however often the cache
        /// pushes them out, each link yields exactly its own stream.
        #[test]
        fn every_link_yields_its_own_stream_whatever_the_cache_does(
            uses in prop::collection::vec((0u64..300, 1usize..5, any::<bool>()), 1..2000),
        ) {
            let streams = Streams::new(9);
            let mut cached = LinkStreams::new(streams);
            let mut reference: std::collections::BTreeMap<u64, SimRng> = Default::default();
            for (link, draws, wide) in uses {
                // Spread links over both halves of the id, as endpoint pairs are.
                let link = if wide { (link << 28) | (link % 7) } else { link };
                let expected = reference.entry(link).or_insert_with(|| streams.stream(Purpose::Link, link));
                let got = cached.stream(link);
                for _ in 0..draws {
                    // Mixed widths leave the stream at odd word positions.
                    prop_assert_eq!(got.next_u32(), expected.next_u32());
                    prop_assert_eq!(got.next_u64(), expected.next_u64());
                }
            }
            prop_assert_eq!(cached.links_seen, reference.len());
        }
    }

    #[test]
    fn the_cache_stays_bounded_and_parks_the_rest() {
        let mut links = LinkStreams::new(Streams::new(1));
        for link in 0..200_000u64 {
            links.stream(link).next_u64();
        }
        assert_eq!(links.slots.len(), MAX_SLOTS);
        let resident = links.slots.iter().flatten().count();
        assert_eq!(resident + links.parked.len(), 200_000, "every link is resident or parked, once");
        // Parked links come back where they stopped: the second draw of
        // their own stream, not a fresh first one.
        for link in 0..1_000u64 {
            let mut reference = Streams::new(1).stream(Purpose::Link, link);
            reference.next_u64();
            assert_eq!(links.stream(link).next_u64(), reference.next_u64(), "link {link}");
        }
    }
}
