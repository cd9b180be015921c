//! One random stream per directed link, in bounded memory.
//!
//! Each link draws its loss and latency from its own ChaCha8 stream (the
//! shared key, the link's stream id), so the traffic of one link never
//! shifts the draws of another. A cluster of a thousand nodes and a
//! thousand clients uses millions of links, most of them rarely, so a link
//! is kept as one number — how many words of its stream it has drawn — and
//! the 64-byte ChaCha block its next words come from is computed directly
//! from (key, stream id, block number): ChaCha is a function of the block
//! counter. Recently used links keep that block in a direct-mapped cache;
//! a link pushed out of it is *parked* as its position alone. Every word
//! is the word `rand_chacha`'s `ChaCha8Rng` would have produced at that
//! position of that stream (tested below), so every draw, hence every
//! figure, is as if each link kept a generator of its own.
//!
//! Computing one block on a miss replaced rebuilding a 330-byte
//! `ChaCha8Rng` and refilling its four-block buffer: the 1,000-node row
//! missed on nearly every message.

use crate::engine::id_map::{IdHasher, IdMap};
use crate::engine::rng::{stream_id, Purpose, Streams};
use std::hash::{BuildHasher, BuildHasherDefault};

/// Cache slots at first; the cache doubles as more distinct links appear.
const FIRST_SLOTS: usize = 64;
/// Cache slots at most (~6 MB).
const MAX_SLOTS: usize = 1 << 16;
/// 32-bit words in a ChaCha block.
const BLOCK_WORDS: u64 = 16;
/// No link: a slot's `link` when the slot is empty (link ids stay below 2^56).
const NO_LINK: u64 = u64::MAX;

/// A link in the cache: where its stream stands and the block it is in.
#[derive(Clone, Debug)]
struct Resident {
    link: u64,
    /// Words of the stream drawn so far.
    position: u64,
    /// Which block `words` holds (`u64::MAX`: none yet).
    block: u64,
    words: [u32; 16],
}

impl Resident {
    const EMPTY: Resident = Resident { link: NO_LINK, position: 0, block: u64::MAX, words: [0; 16] };
}

/// The link streams of one run.
#[derive(Debug)]
pub struct LinkStreams {
    /// The shared ChaCha key, as the block function's eight words.
    key: [u32; 8],
    /// Recently used links, by `slot_of(link)`.
    slots: Vec<Resident>,
    /// Stream positions (in 32-bit words) of links pushed out of `slots`.
    /// Looked up by link only; its order never reaches a result.
    parked: IdMap<u64, u64>,
    /// Distinct links used so far.
    links_seen: usize,
}

impl LinkStreams {
    /// No link used yet; streams derive from `streams`.
    pub fn new(streams: Streams) -> Self {
        let seed = streams.key();
        let key = std::array::from_fn(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().expect("4 bytes")));
        LinkStreams { key, slots: vec![Resident::EMPTY; FIRST_SLOTS], parked: IdMap::default(), links_seen: 0 }
    }

    /// The stream of `link`, positioned after every draw made from it.
    pub fn stream(&mut self, link: u64) -> LinkRng<'_> {
        let slot = self.slot_of(link);
        let slot = if self.slots[slot].link == link { slot } else { self.load(link) };
        LinkRng { key: &self.key, stream: stream_id(Purpose::Link, link), resident: &mut self.slots[slot] }
    }

    /// Makes `link` resident at its parked position (or at the start of
    /// its stream), in the slot of the link it pushes out, which is parked.
    /// Returns the slot.
    fn load(&mut self, link: u64) -> usize {
        let position = self.parked.remove(&link);
        if position.is_none() {
            self.links_seen += 1;
            if self.links_seen * 4 > self.slots.len() && self.slots.len() < MAX_SLOTS {
                self.grow();
            }
        }
        let slot = self.slot_of(link); // the cache may have grown
        self.evict(slot);
        let resident = &mut self.slots[slot];
        resident.link = link;
        resident.position = position.unwrap_or(0);
        resident.block = u64::MAX;
        slot
    }

    /// Parks the link in `slot`, if any.
    fn evict(&mut self, slot: usize) {
        let resident = &mut self.slots[slot];
        if resident.link != NO_LINK {
            self.parked.insert(resident.link, resident.position);
            resident.link = NO_LINK;
        }
    }

    /// Doubles the cache; residents that collide in it are parked.
    fn grow(&mut self) {
        let doubled = vec![Resident::EMPTY; self.slots.len() * 2];
        let old = std::mem::replace(&mut self.slots, doubled);
        for resident in old.into_iter().filter(|r| r.link != NO_LINK) {
            let slot = self.slot_of(resident.link);
            self.evict(slot);
            self.slots[slot] = resident;
        }
    }

    fn slot_of(&self, link: u64) -> usize {
        // The id maps' SplitMix64 finaliser: links differ in a few low and high bits.
        (BuildHasherDefault::<IdHasher>::default().hash_one(link) as usize) & (self.slots.len() - 1)
    }
}

/// One link's stream, borrowed from [`LinkStreams::stream`]: draws advance
/// the link's position.
pub struct LinkRng<'a> {
    key: &'a [u32; 8],
    stream: u64,
    resident: &'a mut Resident,
}

impl LinkRng<'_> {
    /// The block the link's position is in, computed if the cache holds another.
    fn current_block(&mut self) -> &[u32; 16] {
        let resident = &mut *self.resident;
        let block = resident.position / BLOCK_WORDS;
        if resident.block != block {
            resident.words = chacha8_block(self.key, block, self.stream);
            resident.block = block;
        }
        &resident.words
    }
}

impl rand::RngCore for LinkRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let offset = (self.resident.position % BLOCK_WORDS) as usize;
        let word = self.current_block()[offset];
        self.resident.position += 1;
        word
    }

    /// Two consecutive words, the first the low half (as `ChaCha8Rng`).
    fn next_u64(&mut self) -> u64 {
        let offset = (self.resident.position % BLOCK_WORDS) as usize;
        if offset + 1 == BLOCK_WORDS as usize {
            let low = self.next_u32(); // the pair straddles two blocks
            return (u64::from(self.next_u32()) << 32) | u64::from(low);
        }
        let words = self.current_block();
        let pair = (u64::from(words[offset + 1]) << 32) | u64::from(words[offset]);
        self.resident.position += 2;
        pair
    }

    /// Whole words, little-endian; a partial last word is consumed whole (as `ChaCha8Rng`).
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let word = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// Block `block` of ChaCha8 stream `stream` under `key`: D. J. Bernstein's
/// layout as `rand_chacha` uses it (constants, key, 64-bit block counter,
/// 64-bit stream id; four double rounds; the input added back).
fn chacha8_block(key: &[u32; 8], block: u64, stream: u64) -> [u32; 16] {
    let input: [u32; 16] = [
        0x6170_7865,
        0x3320_646e,
        0x7962_2d32,
        0x6b20_6574,
        key[0],
        key[1],
        key[2],
        key[3],
        key[4],
        key[5],
        key[6],
        key[7],
        block as u32,
        (block >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ];
    // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 CPU has it.
    #[cfg(target_arch = "x86_64")]
    return unsafe { sse2::rounds(&input) };
    #[cfg(not(target_arch = "x86_64"))]
    return portable_rounds(&input);
}

/// The eight rounds and the final addition, one quarter round at a time.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))] // x86-64 runs it in the tests, against `sse2`
fn portable_rounds(input: &[u32; 16]) -> [u32; 16] {
    let mut x = *input;
    for _ in 0..4 {
        for [a, b, c, d] in [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15]] {
            quarter_round(&mut x, a, b, c, d);
        }
        for [a, b, c, d] in [[0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]] {
            quarter_round(&mut x, a, b, c, d);
        }
    }
    std::array::from_fn(|i| x[i].wrapping_add(input[i]))
}

#[inline(always)]
fn quarter_round(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

/// The rounds with the state's four rows in four SSE2 registers (SSE2 is
/// part of x86-64 itself): the four quarter rounds of a column or diagonal
/// round run side by side, about a quarter of the scalar instructions.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_loadu_si128, _mm_or_si128, _mm_shuffle_epi32, _mm_slli_epi32, _mm_srli_epi32,
        _mm_storeu_si128, _mm_xor_si128,
    };

    #[target_feature(enable = "sse2")]
    pub(super) fn rounds(input: &[u32; 16]) -> [u32; 16] {
        // SAFETY: each load reads 16 bytes inside `input` (unaligned loads allowed).
        let load = |row: usize| unsafe { _mm_loadu_si128(input[4 * row..].as_ptr().cast()) };
        let rows = [load(0), load(1), load(2), load(3)];
        let [mut a, mut b, mut c, mut d] = rows;
        for _ in 0..4 {
            quarter_rounds(&mut a, &mut b, &mut c, &mut d);
            // Diagonals into columns: lane i of b, c, d moves to the word of diagonal i.
            b = _mm_shuffle_epi32::<0b00_11_10_01>(b);
            c = _mm_shuffle_epi32::<0b01_00_11_10>(c);
            d = _mm_shuffle_epi32::<0b10_01_00_11>(d);
            quarter_rounds(&mut a, &mut b, &mut c, &mut d);
            b = _mm_shuffle_epi32::<0b10_01_00_11>(b);
            c = _mm_shuffle_epi32::<0b01_00_11_10>(c);
            d = _mm_shuffle_epi32::<0b00_11_10_01>(d);
        }
        let mut out = [0u32; 16];
        for (row, (state, start)) in [a, b, c, d].into_iter().zip(rows).enumerate() {
            // SAFETY: each store writes 16 bytes inside `out`.
            unsafe { _mm_storeu_si128(out[4 * row..].as_mut_ptr().cast(), _mm_add_epi32(state, start)) };
        }
        out
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn quarter_rounds(a: &mut __m128i, b: &mut __m128i, c: &mut __m128i, d: &mut __m128i) {
        *a = _mm_add_epi32(*a, *b);
        *d = rotate::<16, 16>(_mm_xor_si128(*d, *a));
        *c = _mm_add_epi32(*c, *d);
        *b = rotate::<12, 20>(_mm_xor_si128(*b, *c));
        *a = _mm_add_epi32(*a, *b);
        *d = rotate::<8, 24>(_mm_xor_si128(*d, *a));
        *c = _mm_add_epi32(*c, *d);
        *b = rotate::<7, 25>(_mm_xor_si128(*b, *c));
    }

    /// Each lane rotated left by `LEFT` bits (`RIGHT` = 32 − `LEFT`).
    #[inline]
    #[target_feature(enable = "sse2")]
    fn rotate<const LEFT: i32, const RIGHT: i32>(x: __m128i) -> __m128i {
        _mm_or_si128(_mm_slli_epi32::<LEFT>(x), _mm_srli_epi32::<RIGHT>(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::SimRng;
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
                let mut got = cached.stream(link);
                for _ in 0..draws {
                    // Mixed widths leave the stream at odd word positions.
                    prop_assert_eq!(got.next_u32(), expected.next_u32());
                    prop_assert_eq!(got.next_u64(), expected.next_u64());
                }
            }
            prop_assert_eq!(cached.links_seen, reference.len());
        }
    }

    proptest! {
        /// The block function is `rand_chacha`'s: any stream, any
        /// position, any mix of draw widths and byte fills.
        #[test]
        fn a_link_stream_is_chacha8_at_every_position(
            seed in any::<u64>(),
            link in 0u64..(1 << 56),
            start in prop_oneof![0u64..40, any::<u64>().prop_map(|p| p >> 2)],
            draws in prop::collection::vec(0usize..6, 1..40),
        ) {
            let streams = Streams::new(seed);
            let mut reference = streams.stream(Purpose::Link, link);
            reference.set_word_pos(u128::from(start));
            let mut links = LinkStreams::new(streams);
            let slot = links.load(link);
            links.slots[slot].position = start;
            let mut got = links.stream(link);
            for draw in draws {
                match draw {
                    0 => prop_assert_eq!(got.next_u32(), reference.next_u32()),
                    1 => prop_assert_eq!(got.next_u64(), reference.next_u64()),
                    2 | 3 => {
                        let (mut mine, mut theirs) = ([0u8; 7], [0u8; 7]);
                        got.fill_bytes(&mut mine[..draw + 3]);
                        reference.fill_bytes(&mut theirs[..draw + 3]);
                        prop_assert_eq!(mine, theirs);
                    }
                    width => {
                        let (mut mine, mut theirs) = ([0u8; 9], [0u8; 9]);
                        prop_assert!(got.try_fill_bytes(&mut mine[..width + 1]).is_ok());
                        reference.fill_bytes(&mut theirs[..width + 1]);
                        prop_assert_eq!(mine, theirs);
                    }
                }
            }
        }
    }

    proptest! {
        /// The two round functions agree (x86-64 runs the SSE2 one; other
        /// targets run the portable one, checked here against it).
        #[test]
        fn the_portable_rounds_match_the_ones_in_use(input in any::<[u32; 16]>()) {
            let key: [u32; 8] = std::array::from_fn(|i| input[4 + i]);
            let block = u64::from(input[12]) | u64::from(input[13]) << 32;
            let stream = u64::from(input[14]) | u64::from(input[15]) << 32;
            let mut full = input;
            full[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
            prop_assert_eq!(chacha8_block(&key, block, stream), portable_rounds(&full));
        }
    }

    /// The cache keeps about four slots a link in use, no more (a small
    /// run's cache stays small), and spreads the links over them, so most
    /// stay resident. No figure would show a mutation of either rule: the
    /// cache only saves time.
    #[test]
    fn the_cache_grows_to_four_slots_a_link_and_keeps_most_resident() {
        let mut links = LinkStreams::new(Streams::new(1));
        for link in 1..=5_000u64 {
            links.stream(link).next_u32();
            let expected = (4 * link as usize).next_power_of_two().clamp(FIRST_SLOTS, MAX_SLOTS);
            assert_eq!(links.slots.len(), expected, "after {link} links");
        }
        let resident = links.slots.iter().filter(|r| r.link != NO_LINK).count();
        assert!(resident * 4 > 5_000 * 3, "{resident} of 5,000 links resident in {} slots", links.slots.len());
    }

    #[test]
    fn the_cache_stays_bounded_and_parks_the_rest() {
        let mut links = LinkStreams::new(Streams::new(1));
        for link in 0..200_000u64 {
            links.stream(link).next_u64();
        }
        assert_eq!(links.slots.len(), MAX_SLOTS);
        let resident = links.slots.iter().filter(|r| r.link != NO_LINK).count();
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
