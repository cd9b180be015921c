//! One random stream per directed link and message, in bounded memory.
//!
//! A message's loss and latency draws come from Philox2x64-10 (Salmon,
//! Moraes, Dror & Shaw, "Parallel Random Numbers: As Easy as 1, 2, 3",
//! SC 2011), a counter-based generator: each 128-bit output is a keyed
//! function of a 128-bit counter, here (link, the link's message number,
//! block), so a link is kept as one number — how many messages it has
//! carried — and the traffic of one link never shifts the draws of
//! another. Philox passes TestU01's BigCrush and is the counter-based
//! family cuRAND and TensorFlow ship. One call gives two 64-bit words — a
//! loss draw and a latency draw, what nearly every message needs — for ten
//! rounds of one 64×64-bit multiplication, ~70 instructions (Philox4x32-10,
//! with two 32-bit ones a round, measured ~125).
//!
//! Until session 24 a link read a ChaCha8 stream, 64 bytes a block, with
//! recent blocks in a 320 KiB cache; at a thousand nodes few messages found
//! their link's block still there, so most paid a whole block for two
//! words.
//!
//! Message counts live in dense tables by (sender, receiver) — nodes and
//! clients are numbered densely from 0 — so a message costs one random
//! memory access for its link's count.

use crate::engine::prefetch::prefetch;
use crate::engine::rng::{Purpose, Streams};
use crate::types::Endpoint;

/// Philox2x64's multiplier and Weyl key increment (Salmon et al., table 2).
const PHILOX_M: u64 = 0xD2B7_4407_B1CE_6E93;
const PHILOX_W: u64 = 0x9E37_79B9_7F4A_7C15;

/// Philox2x64-10: `counter` (low word first) under `key`, ten rounds.
fn philox2x64_10(counter: [u64; 2], key: u64) -> [u64; 2] {
    let (mut c, mut k) = (counter, key);
    for round in 0..10 {
        if round > 0 {
            k = k.wrapping_add(PHILOX_W);
        }
        let product = u128::from(PHILOX_M) * u128::from(c[0]);
        c = [(product >> 64) as u64 ^ c[1] ^ k, product as u64];
    }
    c
}

/// Bits of the counter given to a message's block number: 2^16 blocks,
/// 131,072 64-bit draws a message (a message draws two or three).
const BLOCK_BITS: u32 = 16;
/// Bits of the counter given to a link's message number (then the link id's 56).
const MESSAGE_BITS: u32 = 56;

/// The counter of block 0 of message `message` on link `link`: the link in
/// the top 56 bits, the message number below, the block in the low 16.
fn message_counter(link: u64, message: u64) -> u128 {
    debug_assert!(link < 1 << 56 && message < 1 << MESSAGE_BITS);
    (u128::from(link) << (MESSAGE_BITS + BLOCK_BITS)) | (u128::from(message) << BLOCK_BITS)
}

/// The link streams of one run.
#[derive(Debug)]
pub struct LinkStreams {
    /// The Philox key, drawn from the master seed's link stream.
    key: u64,
    /// Messages carried so far, by link: node to node, node to client,
    /// client to node, client to client.
    message_counts: [Grid; 4],
}

impl LinkStreams {
    /// No link used yet; the key derives from `streams`.
    pub fn new(streams: Streams) -> Self {
        // Link draws no longer read ChaCha streams of this purpose: its
        // stream 0 only gives the key.
        let mut keying = streams.stream(Purpose::Link, 0);
        LinkStreams { key: rand::RngCore::next_u64(&mut keying), message_counts: Default::default() }
    }

    /// Sizes the message-count tables for `nodes` nodes and `clients`
    /// clients (more may join later: the tables grow), so that a run's
    /// tables are no larger than its endpoints need — `8 · (nodes² + 2 ·
    /// nodes · clients)` bytes, which the scenario's memory estimate counts.
    pub fn reserve(&mut self, nodes: usize, clients: usize) {
        let [node_to_node, node_to_client, client_to_node, _] = &mut self.message_counts;
        node_to_node.reserve(nodes, nodes);
        node_to_client.reserve(nodes, clients);
        client_to_node.reserve(clients, nodes);
    }

    /// Hints that the link from `from` to `to` will carry a message soon:
    /// its count's line is fetched (see [`prefetch`]).
    pub fn prefetch(&self, from: Endpoint, to: Endpoint) {
        let (table, row, column) = Self::cell_of(from, to);
        self.message_counts[table].prefetch(row, column);
    }

    /// The count table, row and column of the link from `from` to `to`.
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

    /// The draws of the next message on the link from `from` to `to` (the
    /// link's count goes up by one).
    pub fn stream(&mut self, from: Endpoint, to: Endpoint) -> LinkRng {
        let link = (endpoint_index(from) << 28) | endpoint_index(to);
        let (table, row, column) = Self::cell_of(from, to);
        let count = self.message_counts[table].cell(row, column);
        let message = *count;
        *count += 1;
        LinkRng { key: self.key, counter: message_counter(link, message), words: [0; 2], next_word: 2 }
    }
}

/// Dense endpoint numbering for link ids: nodes from 0, clients from 2^27.
fn endpoint_index(endpoint: Endpoint) -> u64 {
    match endpoint {
        Endpoint::Node(n) => u64::from(n.0),
        Endpoint::Client(c) => (1 << 27) | u64::from(c.0),
    }
}

/// A row-major table of links' message counts that grows to the ids it is asked for.
#[derive(Debug, Default)]
struct Grid {
    rows: usize,
    columns: usize,
    cells: Vec<u64>,
}

impl Grid {
    /// The count at (`row`, `column`), 0 until the link's first message.
    fn cell(&mut self, row: usize, column: usize) -> &mut u64 {
        if row >= self.rows || column >= self.columns {
            self.grow(row, column);
        }
        &mut self.cells[row * self.columns + column]
    }

    /// Hints that the count at (`row`, `column`) will be read soon (if
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
        // A message reads its link's count at a random place in a table of
        // up to tens of MB: a TLB miss each with 4 KiB pages.
        let mut cells = crate::allocator::table_on_huge_pages(rows * columns, 0);
        for (old, new) in self.cells.chunks_exact(self.columns.max(1)).zip(cells.chunks_exact_mut(columns)) {
            new[..self.columns].copy_from_slice(old);
        }
        *self = Grid { rows, columns, cells };
    }
}

/// One message's draws, from [`LinkStreams::stream`]: blocks 0, 1, … of
/// its counter, two words each, computed as they are needed.
pub struct LinkRng {
    key: u64,
    /// The counter of the next block to compute.
    counter: u128,
    /// The block being read.
    words: [u64; 2],
    /// The first unread word of `words` (2: none left).
    next_word: usize,
}

impl rand::RngCore for LinkRng {
    /// The low half of the next 64-bit word (the high half is not used).
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        if self.next_word == 2 {
            let c = self.counter;
            self.words = philox2x64_10([c as u64, (c >> 64) as u64], self.key);
            // The block number wraps within its 16 bits, never reaching the next message's.
            let block_mask = (1u128 << BLOCK_BITS) - 1;
            self.counter = (c & !block_mask) | (c.wrapping_add(1) & block_mask);
            self.next_word = 0;
        }
        self.next_word += 1;
        self.words[self.next_word - 1]
    }

    /// Whole 64-bit words, little-endian; a partial last word is consumed whole.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::{ks_distance, unit_f64};
    use crate::types::{ClientId, NodeId};
    use proptest::prelude::*;
    use rand::RngCore;

    /// Random123's known answers (`kat_vectors`: counter, key → output).
    #[test]
    fn philox_gives_the_published_known_answers() {
        let cases = [
            ([0, 0], 0, [0xca00_a045_9843_d731, 0x66c2_4222_c9a8_45b5]),
            ([u64::MAX, u64::MAX], u64::MAX, [0x65b0_21d6_0cd8_310f, 0x4d02_f322_2f86_df20]),
            (
                [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344],
                0xa409_3822_299f_31d0,
                [0x0a5e_742c_2997_341c, 0xb0f8_83d3_8000_de5d],
            ),
        ];
        for (counter, key, output) in cases {
            assert_eq!(philox2x64_10(counter, key), output);
        }
    }

    fn endpoint(client: bool, id: u32) -> Endpoint {
        if client {
            Endpoint::Client(ClientId(id))
        } else {
            Endpoint::Node(NodeId(id))
        }
    }

    /// Word `word` of message `message` on the link from `from` to `to`,
    /// straight from the generator.
    fn reference_word(links: &LinkStreams, from: Endpoint, to: Endpoint, message: u64, word: u64) -> u64 {
        let link = (endpoint_index(from) << 28) | endpoint_index(to);
        let c = message_counter(link, message) | u128::from(word / 2);
        philox2x64_10([c as u64, (c >> 64) as u64], links.key)[(word % 2) as usize]
    }

    proptest! {
        /// Whatever order links are used in (ids in any order, so the
        /// tables grow under the links already used) and whatever widths
        /// a message draws, each message of a link reads its own counter's
        /// blocks, word after word.
        #[test]
        fn every_message_of_a_link_reads_its_own_blocks(
            uses in prop::collection::vec(((any::<bool>(), 0u32..40), (any::<bool>(), 0u32..40), prop::collection::vec(0usize..4, 0..6)), 1..2000),
        ) {
            let mut links = LinkStreams::new(Streams::new(9));
            let mut sent: std::collections::BTreeMap<(Endpoint, Endpoint), u64> = Default::default();
            for ((from_client, from), (to_client, to), draws) in uses {
                let (from, to) = (endpoint(from_client, from), endpoint(to_client, to));
                let message = *sent.entry((from, to)).and_modify(|m| *m += 1).or_insert(0);
                let mut got = links.stream(from, to);
                let mut word = 0;
                let mut expect = |n: u64| { word += n; (word - n..word).map(|w| reference_word(&links, from, to, message, w)).collect::<Vec<_>>() };
                for draw in draws {
                    match draw {
                        0 => prop_assert_eq!(vec![u64::from(got.next_u32())], expect(1).iter().map(|&w| w & 0xffff_ffff).collect::<Vec<_>>()),
                        1 => prop_assert_eq!(vec![got.next_u64()], expect(1)),
                        bytes => {
                            let mut mine = [0u8; 13];
                            let dest = &mut mine[..bytes + 9]; // 11 or 12 bytes: two words, the last in part
                            if bytes == 2 {
                                got.fill_bytes(dest);
                            } else {
                                prop_assert!(got.try_fill_bytes(dest).is_ok());
                            }
                            let theirs: Vec<u8> = expect(2).iter().flat_map(|w| w.to_le_bytes()).take(bytes + 9).collect();
                            prop_assert_eq!(&mine[..bytes + 9], &theirs[..]);
                        }
                    }
                }
            }
            let counts: u64 = links.message_counts.iter().flat_map(|grid| grid.cells.iter()).sum();
            prop_assert_eq!(counts, sent.values().map(|m| m + 1).sum::<u64>(), "one count a link, its messages");
        }
    }

    /// Link, message and block occupy disjoint bits at their extremes, and
    /// a message drawing past its 65,536th block wraps within its own.
    #[test]
    fn counters_of_different_messages_never_meet() {
        let (link, message) = ((1 << 56) - 1, (1 << MESSAGE_BITS) - 1);
        assert_eq!(message_counter(link, 0) >> (MESSAGE_BITS + BLOCK_BITS), u128::from(link));
        assert_eq!(message_counter(0, message) >> BLOCK_BITS, u128::from(message));
        assert_eq!(message_counter(link, message) & 0xffff, 0);
        assert_eq!(message_counter(link, message), u128::MAX << BLOCK_BITS);
        let mut last_block = LinkRng { key: 1, counter: message_counter(5, 7) | 0xffff, words: [0; 2], next_word: 2 };
        last_block.next_u64();
        assert_eq!(last_block.counter, message_counter(5, 7), "back to block 0 of the same message");
    }

    /// The first draws of many links' many messages are uniform
    /// (Kolmogorov–Smirnov at the 1 % level) and a link's consecutive
    /// messages are uncorrelated: the counters feed the generator well.
    #[test]
    fn draws_across_links_and_messages_are_uniform_and_uncorrelated() {
        let mut links = LinkStreams::new(Streams::new(4));
        let mut draws = Vec::new();
        // 4,000 links (200 senders, 20 receivers), 50 messages each, in turn.
        for _ in 0..50 {
            for i in 0..4_000u32 {
                let (from, to) = (endpoint(i % 2 == 0, i / 2 % 100), endpoint(false, i / 200));
                draws.push(unit_f64(&mut links.stream(from, to)));
            }
        }
        let n = draws.len() as f64;
        let lagged: f64 = draws.windows(4_001).map(|w| (w[0] - 0.5) * (w[4_000] - 0.5)).sum::<f64>() / (n - 4_000.0);
        assert!(lagged.abs() < 4.0 / 12.0 / (n - 4_000.0).sqrt(), "next message's correlation {lagged}");
        let d = ks_distance(draws, |u| u);
        assert!(d < 1.63 / n.sqrt(), "D = {d}");
    }

    /// Tables sized for a run's endpoints are exactly that large, keep
    /// their counts when a joining node grows them, and grow by at
    /// least doubling.
    #[test]
    fn reserved_tables_fit_the_endpoints_and_grow_for_joiners() {
        let mut links = LinkStreams::new(Streams::new(3));
        links.reserve(1000, 7);
        let dims = |links: &LinkStreams| links.message_counts.each_ref().map(|grid| (grid.rows, grid.columns));
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
        // Counts survive both growths: each link goes on with its second message.
        for (from, to) in [(n3, n999), (c6, n3), (n3, joiner), (joiner, n3)] {
            assert_eq!(links.stream(from, to).next_u64(), reference_word(&links, from, to, 1, 0), "{from:?} to {to:?}");
        }
    }
}
