//! One random stream per directed link, in bounded memory.
//!
//! Each link draws its loss and latency from its own ChaCha8 stream (the
//! shared key, the link's stream id), so the traffic of one link never
//! shifts the draws of another. A cluster of a thousand nodes and a
//! thousand clients uses millions of links, most of them rarely, so a link
//! is kept as one number — how many words of its stream it has drawn — and
//! the 64-byte ChaCha block its next words come from is computed directly
//! from (key, stream id, block number): ChaCha is a function of the block
//! counter. Recently computed blocks stay in a small direct-mapped cache.
//! Every word is the word `rand_chacha`'s `ChaCha8Rng` would have produced
//! at that position of that stream (tested below), so every draw, hence
//! every figure, is as if each link kept a generator of its own.
//!
//! Positions live in dense tables by (sender, receiver) — nodes and
//! clients are numbered densely from 0 — and the blocks apart from them: a
//! message costs one random memory access for its link's position, and
//! the cache (small enough to stay in the CPU's cache) only saves
//! recomputing a block. At a thousand nodes few messages find their
//! link's block still cached; when the cache held the positions and a map
//! the positions of the links it had pushed out, a message cost three
//! random accesses (the slot, the map's control bytes, its entry), ~15 %
//! of the 1,000-node row's CPU.

use crate::engine::id_map::IdHasher;
use crate::engine::prefetch::prefetch;
use crate::engine::rng::{stream_id, Purpose, Streams};
use crate::types::Endpoint;
use std::hash::{BuildHasher, BuildHasherDefault};

/// Blocks in the cache (80 bytes each: 320 KiB).
const BLOCK_SLOTS: usize = 1 << 12;
/// 32-bit words in a ChaCha block.
const BLOCK_WORDS: u64 = 16;
/// No link: a slot's `link` when the slot is empty (link ids stay below 2^56).
const NO_LINK: u64 = u64::MAX;

/// A computed block of one link's stream.
#[derive(Clone, Debug)]
struct CachedBlock {
    link: u64,
    /// Which block of the link's stream `words` is.
    block: u64,
    words: [u32; 16],
}

impl CachedBlock {
    const EMPTY: CachedBlock = CachedBlock { link: NO_LINK, block: 0, words: [0; 16] };
}

/// The link streams of one run.
#[derive(Debug)]
pub struct LinkStreams {
    /// The shared ChaCha key, as the block function's eight words.
    key: [u32; 8],
    /// Words drawn so far, by link: node to node, node to client, client
    /// to node, client to client.
    positions: [Grid; 4],
    /// Recently computed blocks, in the slot the link's hash picks.
    blocks: Vec<CachedBlock>,
}

impl LinkStreams {
    /// No link used yet; streams derive from `streams`.
    pub fn new(streams: Streams) -> Self {
        Self::with_block_slots(streams, BLOCK_SLOTS)
    }

    /// No link used yet, with a cache of `slots` blocks (a power of two).
    fn with_block_slots(streams: Streams, slots: usize) -> Self {
        debug_assert!(slots.is_power_of_two());
        let seed = streams.key();
        let key = std::array::from_fn(|i| u32::from_le_bytes(seed[4 * i..4 * i + 4].try_into().expect("4 bytes")));
        LinkStreams { key, positions: Default::default(), blocks: vec![CachedBlock::EMPTY; slots] }
    }

    /// Sizes the position tables for `nodes` nodes and `clients` clients
    /// (more may join later: the tables grow), so that a run's tables are
    /// no larger than its endpoints need — `8 · (nodes² + 2 · nodes ·
    /// clients)` bytes, which the scenario's memory estimate counts.
    pub fn reserve(&mut self, nodes: usize, clients: usize) {
        let [node_to_node, node_to_client, client_to_node, _] = &mut self.positions;
        node_to_node.reserve(nodes, nodes);
        node_to_client.reserve(nodes, clients);
        client_to_node.reserve(clients, nodes);
    }

    /// Hints that the link from `from` to `to` will carry a message soon:
    /// its position's line is fetched (see [`prefetch`]).
    pub fn prefetch(&self, from: Endpoint, to: Endpoint) {
        let (table, row, column) = Self::cell_of(from, to);
        self.positions[table].prefetch(row, column);
    }

    /// The position table, row and column of the link from `from` to `to`.
    fn cell_of(from: Endpoint, to: Endpoint) -> (usize, usize, usize) {
        let (table, row) = match from {
            Endpoint::Node(n) => (0, n.0),
            Endpoint::Client(c) => (2, c.0),
        };
        match to {
            Endpoint::Node(n) => (table, row as usize, n.0 as usize),
            Endpoint::Client(c) => (table + 1, row as usize, c.0 as usize),
        }
    }

    /// The stream of the link from `from` to `to`, positioned after every
    /// draw made from it.
    pub fn stream(&mut self, from: Endpoint, to: Endpoint) -> LinkRng<'_> {
        let link = (endpoint_index(from) << 28) | endpoint_index(to);
        // The id maps' SplitMix64 finaliser: links differ in a few low and high bits.
        let slot = (BuildHasherDefault::<IdHasher>::default().hash_one(link) as usize) & (self.blocks.len() - 1);
        let (table, row, column) = Self::cell_of(from, to);
        LinkRng {
            key: &self.key,
            link,
            position: self.positions[table].cell(row, column),
            cached: &mut self.blocks[slot],
        }
    }
}

/// Dense endpoint numbering for link stream ids: nodes from 0, clients from 2^27.
fn endpoint_index(endpoint: Endpoint) -> u64 {
    match endpoint {
        Endpoint::Node(n) => u64::from(n.0),
        Endpoint::Client(c) => (1 << 27) | u64::from(c.0),
    }
}

/// A row-major table of stream positions that grows to the ids it is asked for.
#[derive(Debug, Default)]
struct Grid {
    rows: usize,
    columns: usize,
    cells: Vec<u64>,
}

impl Grid {
    /// The position at (`row`, `column`), 0 until the link's first draw.
    fn cell(&mut self, row: usize, column: usize) -> &mut u64 {
        if row >= self.rows || column >= self.columns {
            self.grow(row, column);
        }
        &mut self.cells[row * self.columns + column]
    }

    /// Hints that the position at (`row`, `column`) will be read soon (if
    /// the table has it yet).
    fn prefetch(&self, row: usize, column: usize) {
        if row < self.rows && column < self.columns {
            prefetch(&self.cells[row * self.columns + column]);
        }
    }

    /// Makes room for (`row`, `column`), at least doubling each dimension
    /// that is too small (ids arrive in order: a table grows a few times).
    #[cold]
    fn grow(&mut self, row: usize, column: usize) {
        let grown = |had: usize, needed: usize| if needed <= had { had } else { needed.max(2 * had) };
        self.reserve(grown(self.rows, row + 1), grown(self.columns, column + 1));
    }

    /// At least `rows` × `columns` cells, exactly that many if it grows.
    fn reserve(&mut self, rows: usize, columns: usize) {
        let (rows, columns) = (rows.max(self.rows), columns.max(self.columns));
        if (rows, columns) == (self.rows, self.columns) {
            return;
        }
        let mut cells = vec![0; rows * columns];
        for (old, new) in self.cells.chunks_exact(self.columns.max(1)).zip(cells.chunks_exact_mut(columns)) {
            new[..self.columns].copy_from_slice(old);
        }
        *self = Grid { rows, columns, cells };
    }
}

/// One link's stream, borrowed from [`LinkStreams::stream`]: draws advance
/// the link's position.
pub struct LinkRng<'a> {
    key: &'a [u32; 8],
    link: u64,
    /// Words of the stream drawn so far.
    position: &'a mut u64,
    /// The cache slot of the link's blocks (maybe holding another link's).
    cached: &'a mut CachedBlock,
}

impl LinkRng<'_> {
    /// The block the link's position is in, computed if the cache holds another.
    fn current_block(&mut self) -> &[u32; 16] {
        let block = *self.position / BLOCK_WORDS;
        let cached = &mut *self.cached;
        if cached.link != self.link || cached.block != block {
            cached.words = chacha8_block(self.key, block, stream_id(Purpose::Link, self.link));
            cached.link = self.link;
            cached.block = block;
        }
        &cached.words
    }
}

impl rand::RngCore for LinkRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let offset = (*self.position % BLOCK_WORDS) as usize;
        let word = self.current_block()[offset];
        *self.position += 1;
        word
    }

    /// Two consecutive words, the first the low half (as `ChaCha8Rng`).
    fn next_u64(&mut self) -> u64 {
        let offset = (*self.position % BLOCK_WORDS) as usize;
        if offset + 1 == BLOCK_WORDS as usize {
            let low = self.next_u32(); // the pair straddles two blocks
            return (u64::from(self.next_u32()) << 32) | u64::from(low);
        }
        let words = self.current_block();
        let pair = (u64::from(words[offset + 1]) << 32) | u64::from(words[offset]);
        *self.position += 2;
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
    use crate::types::{ClientId, NodeId};
    use proptest::prelude::*;
    use rand::RngCore;

    fn endpoint(client: bool, id: u32) -> Endpoint {
        if client {
            Endpoint::Client(ClientId(id))
        } else {
            Endpoint::Node(NodeId(id))
        }
    }

    fn reference_stream(streams: Streams, from: Endpoint, to: Endpoint) -> SimRng {
        streams.stream(Purpose::Link, (endpoint_index(from) << 28) | endpoint_index(to))
    }

    proptest! {
        /// Whatever order links are used in (ids in any order, so the
        /// tables grow under the links already used), and however often
        /// the cache pushes blocks out, each link yields exactly its own
        /// stream.
        #[test]
        fn every_link_yields_its_own_stream_whatever_the_cache_does(
            uses in prop::collection::vec(((any::<bool>(), 0u32..40), (any::<bool>(), 0u32..40), 1usize..5), 1..2000),
            slots in prop_oneof![Just(1usize), Just(16), Just(BLOCK_SLOTS)],
        ) {
            let streams = Streams::new(9);
            let mut cached = LinkStreams::with_block_slots(streams, slots);
            let mut reference: std::collections::BTreeMap<(Endpoint, Endpoint), SimRng> = Default::default();
            for ((from_client, from), (to_client, to), draws) in uses {
                let (from, to) = (endpoint(from_client, from), endpoint(to_client, to));
                let expected = reference.entry((from, to)).or_insert_with(|| reference_stream(streams, from, to));
                let mut got = cached.stream(from, to);
                for _ in 0..draws {
                    // Mixed widths leave the stream at odd word positions.
                    prop_assert_eq!(got.next_u32(), expected.next_u32());
                    prop_assert_eq!(got.next_u64(), expected.next_u64());
                }
            }
            let used: usize = cached.positions.iter().map(|grid| grid.cells.iter().filter(|&&p| p > 0).count()).sum();
            prop_assert_eq!(used, reference.len(), "one position a link used, and only those");
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
            let links = LinkStreams::new(streams);
            let (mut position, mut cached) = (start, CachedBlock::EMPTY);
            let mut got = LinkRng { key: &links.key, link, position: &mut position, cached: &mut cached };
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

    /// Tables sized for a run's endpoints are exactly that large, keep
    /// their positions when a joining node grows them, and grow by at
    /// least doubling.
    #[test]
    fn reserved_tables_fit_the_endpoints_and_grow_for_joiners() {
        let streams = Streams::new(3);
        let mut links = LinkStreams::new(streams);
        links.reserve(1000, 7);
        let dims = |links: &LinkStreams| links.positions.each_ref().map(|grid| (grid.rows, grid.columns));
        assert_eq!(dims(&links), [(1000, 1000), (1000, 7), (7, 1000), (0, 0)]);
        let (n3, n999, c6) = (Endpoint::Node(NodeId(3)), Endpoint::Node(NodeId(999)), Endpoint::Client(ClientId(6)));
        links.stream(n3, n999).next_u64();
        links.stream(c6, n3).next_u64();
        assert_eq!(dims(&links), [(1000, 1000), (1000, 7), (7, 1000), (0, 0)], "no growth within the reserve");
        let joiner = Endpoint::Node(NodeId(1000));
        links.stream(n3, joiner).next_u64();
        assert_eq!(dims(&links)[0], (1000, 2000), "a new column, doubled");
        links.stream(joiner, n3).next_u64();
        assert_eq!(dims(&links)[0], (2000, 2000), "a new row, doubled");
        // Positions survive both growths: each link goes on with its own second draw.
        for (from, to) in [(n3, n999), (c6, n3), (n3, joiner), (joiner, n3)] {
            let mut reference = reference_stream(streams, from, to);
            reference.next_u64();
            assert_eq!(links.stream(from, to).next_u64(), reference.next_u64(), "{from:?} to {to:?}");
        }
    }

    #[test]
    fn the_cache_stays_bounded_and_every_link_keeps_its_position() {
        let streams = Streams::new(1);
        let mut links = LinkStreams::new(streams);
        let link = |i: u32| (Endpoint::Node(NodeId(i / 400)), Endpoint::Client(ClientId(i % 400)));
        for (from, to) in (0..200_000).map(link) {
            links.stream(from, to).next_u64();
        }
        assert_eq!(links.blocks.len(), BLOCK_SLOTS);
        let node_to_client = &links.positions[1];
        assert_eq!((node_to_client.rows, node_to_client.columns), (512, 512));
        assert_eq!(node_to_client.cells.iter().filter(|&&p| p == 2).count(), 200_000, "one position a link");
        // Links whose blocks left the cache long ago go on where they
        // stopped: the second draw of their own stream, not a fresh first one.
        for (from, to) in (0..1_000).map(link) {
            let mut reference = reference_stream(streams, from, to);
            reference.next_u64();
            assert_eq!(links.stream(from, to).next_u64(), reference.next_u64(), "{from:?} to {to:?}");
        }
    }
}
