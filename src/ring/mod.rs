//! The consistent-hashing ring and Dynamo's three partitioning strategies (§4.2, §6.2).
//!
//! Placement rule (DESIGN.md "Ring and placement"): a key hashes (MD5, §4.3)
//! to a position on the 128-bit ring and belongs to the first token clockwise
//! *at or after* that position, wrapping past the top. Its preference list is
//! the first N *distinct physical* nodes met walking clockwise from there.
//!
//! - Strategy 1: each node draws T random tokens; the ranges between
//!   consecutive tokens are the partitions.
//! - Strategy 2: each node draws T random tokens, which decide placement only;
//!   the ring is cut into Q equal partitions, and every key of a partition
//!   uses the preference list of the partition's *end* position.
//! - Strategy 3: Q equal partitions, each owned by one node (`floor(Q/S)` or
//!   `ceil(Q/S)` each); the partition's end is stored as a token owned by its
//!   owner, so the same "first token at or after" walk applies.
//!
//! The ring is an immutable value: joins and leaves build a new ring
//! ([`Ring::with_node_added`], [`Ring::with_node_removed`]), so a node's ring
//! view can be swapped atomically and old views stay valid for comparison.

pub mod analysis;
mod claim;
pub mod config;
mod error;
mod figure;
mod partition;
mod preference;
pub mod report;
pub mod shared;
pub mod stats;

pub use config::{RingAnalysisConfig, RingArgs};
pub use error::RingError;
pub use partition::{partition_end, partition_start};
pub use preference::ExtendedPreference;
pub use report::{render_table, ring_command, run_ring_analysis, RingAnalysisReport};

use crate::engine::search::{partition_point_from, share_of_ring};
use crate::types::{NodeId, Token};
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Window within which strategy 3 avoids placing one node twice, when the
/// caller does not say (Dynamo's usual N = 3).
pub const DEFAULT_TARGET_N: usize = 3;

/// Zone given to a node added to a zone-aware ring without a zone: all such
/// nodes share this one zone.
pub const UNKNOWN_ZONE: u32 = u32::MAX;

/// Partitioning strategy (Dynamo §6.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Strategy 1: T random tokens per node; partitions are the ranges between tokens.
    RandomTokens {
        /// Tokens each node draws (T ≥ 1).
        tokens_per_node: u32,
    },
    /// Strategy 2: T random tokens per node decide placement; ring cut into Q equal partitions.
    RandomTokensEqualPartitions {
        /// Tokens each node draws (T ≥ 1).
        tokens_per_node: u32,
        /// Equal partitions the ring is cut into (Q ≥ 1).
        partitions: u32,
    },
    /// Strategy 3: Q equal partitions, each node holds Q/S of them.
    EqualPartitions {
        /// Equal partitions the ring is cut into (Q ≥ S).
        partitions: u32,
    },
}

impl Strategy {
    /// The paper's number for this strategy (1, 2 or 3), used in tables and plots.
    pub fn number(&self) -> u8 {
        match self {
            Strategy::RandomTokens { .. } => 1,
            Strategy::RandomTokensEqualPartitions { .. } => 2,
            Strategy::EqualPartitions { .. } => 3,
        }
    }

    /// Tokens per node T (strategies 1 and 2), or `None` where T does not apply.
    pub fn tokens_per_node(&self) -> Option<u32> {
        match self {
            Strategy::RandomTokens { tokens_per_node }
            | Strategy::RandomTokensEqualPartitions { tokens_per_node, .. } => Some(*tokens_per_node),
            Strategy::EqualPartitions { .. } => None,
        }
    }

    /// Equal partitions Q (strategies 2 and 3), or `None` where Q does not apply.
    pub fn partitions(&self) -> Option<u32> {
        match self {
            Strategy::RandomTokens { .. } => None,
            Strategy::RandomTokensEqualPartitions { partitions, .. } | Strategy::EqualPartitions { partitions } => {
                Some(*partitions)
            }
        }
    }

    /// Checks that a ring of `node_count` nodes can be built with this
    /// strategy. [`Ring::build`] asserts the same conditions, so callers
    /// holding user input validate here first and report the error.
    pub fn validate(&self, node_count: usize) -> Result<(), RingError> {
        if self.tokens_per_node() == Some(0) {
            return Err(RingError::InvalidStrategy {
                strategy: self.clone(),
                reason: "tokens_per_node must be at least 1".into(),
            });
        }
        if self.partitions() == Some(0) {
            return Err(RingError::InvalidStrategy {
                strategy: self.clone(),
                reason: "partitions must be at least 1".into(),
            });
        }
        if let Strategy::EqualPartitions { partitions } = self {
            if (*partitions as usize) < node_count {
                return Err(RingError::InvalidStrategy {
                    strategy: self.clone(),
                    reason: format!(
                        "strategy 3 needs partitions >= nodes, got {partitions} partitions for {node_count} nodes"
                    ),
                });
            }
        }
        Ok(())
    }
}

/// MD5 of the key bytes, read big-endian, as a ring position (Dynamo §4.3).
///
/// Why MD5: it is what the paper uses, it spreads keys uniformly, and it is
/// a fixed, named function, so positions are the same on every machine.
pub fn key_position(key: &[u8]) -> Token {
    let digest = Md5::digest(key);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest);
    Token(u128::from_be_bytes(bytes))
}

/// A contiguous run of ring positions that share one preference list.
///
/// Why: load and data movement are computed exactly from these ranges
/// (issue 6) rather than by sampling keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacementRange {
    /// First position in the range.
    pub first: Token,
    /// Last position in the range (inclusive; the range wraps when `last < first`).
    pub last: Token,
    /// Token index the preference walk starts from.
    walk_start: usize,
}

impl PlacementRange {
    /// The range's share of the whole ring, in (0, 1].
    pub fn fraction(&self) -> f64 {
        (self.last.0.wrapping_sub(self.first.0) as f64 + 1.0) / 2f64.powi(128)
    }
}

/// Zone of each node, kept both raw (as configured) and densely renumbered.
#[derive(Clone, Debug)]
struct Zones {
    /// Raw zone id per node, indexed by `NodeId.0`.
    raw: Vec<u32>,
    /// Dense zone index per node (0..count), indexed by `NodeId.0`.
    dense: Vec<u32>,
    /// Distinct zones among the ring's nodes.
    count: usize,
}

impl Zones {
    fn new(raw: Vec<u32>, nodes: &[NodeId]) -> Zones {
        let mut numbering: BTreeMap<u32, u32> = BTreeMap::new();
        for node in nodes {
            let zone = raw[node.0 as usize];
            let next = numbering.len() as u32;
            numbering.entry(zone).or_insert(next);
        }
        let dense = raw.iter().map(|zone| numbering.get(zone).copied().unwrap_or(u32::MAX)).collect();
        Zones { raw, dense, count: numbering.len() }
    }

    fn dense(&self, node: NodeId) -> u32 {
        self.dense[node.0 as usize]
    }
}

/// The consistent-hashing ring: tokens, their owners, and how to walk them.
#[derive(Clone, Debug)]
pub struct Ring {
    strategy: Strategy,
    /// Strategy 3 avoids repeating a node within this many consecutive partitions.
    target_n: usize,
    /// Members, sorted by id.
    nodes: Vec<NodeId>,
    /// (token, owner), sorted by token then owner.
    tokens: Vec<(Token, NodeId)>,
    /// Strategies 2 and 3: the end position of each equal partition.
    partition_ends: Vec<Token>,
    /// Strategy 2: token index where each partition's preference walk starts.
    partition_walk_start: Vec<u32>,
    /// Strategy 3: owner of each partition.
    partition_owners: Vec<NodeId>,
    zones: Option<Zones>,
    /// The placement ranges, computed once and shared by every node that
    /// sees this ring (a copy per node grew memory with nodes × Q).
    placement: Arc<[PlacementRange]>,
    /// Every placement range's preference list, for the first replica
    /// count asked ([`Ring::kept_preference_list`], [`Ring::ranges_hosted_by`]).
    range_lists: OnceLock<RangeLists>,
}

/// The preference lists of every placement range for one replica count,
/// read by range and by node.
#[derive(Clone, Debug)]
struct RangeLists {
    n: usize,
    /// Nodes in each list: `n`, or the ring's size when that is smaller.
    width: usize,
    /// Range `i`'s list is `by_range[i * width..][..width]`.
    by_range: Vec<NodeId>,
    /// (node, range index) for every node of every list, sorted, so the
    /// ranges a node hosts are one run of `hosts`.
    hosts: Vec<(NodeId, usize)>,
    /// Random tokens (strategy 1) only: [`share_starts`] of the ranges, as
    /// many shares as ranges, where a key's range is searched from. Empty
    /// for equal partitions, whose ranges the share finds exactly.
    starts: Vec<u32>,
}

/// For each of `ranges.len()` equal shares of the ring, the first range
/// whose last position lies in that share or a later one: every range
/// before it ends before the share does, so a position in the share is in
/// that range or a later one, usually the next.
///
/// Random tokens put ranges near, not at, the share a position is at:
/// searching 131,072 ranges (2,048 nodes × 64 tokens) from the share
/// galloped over ~±180 ranges, a dozen cache lines a request. From the
/// share's start it reads one entry of this table and one or two ranges.
fn share_starts(ranges: &[PlacementRange]) -> Vec<u32> {
    let len = ranges.len();
    let mut starts = Vec::with_capacity(len);
    let mut index = 0;
    for share in 0..len {
        while index < len && share_of_ring(ranges[index].last.0, len) < share {
            index += 1;
        }
        starts.push(u32::try_from(index).expect("fewer than 2^32 ranges"));
    }
    starts
}

impl Ring {
    /// Builds the ring for `nodes` (dense ids, any order). `token_rng(node)`
    /// returns that node's own random stream (used by strategies 1 and 2
    /// only). `zones`: optional zone id per node, indexed by `NodeId.0`;
    /// when `Some` and #distinct zones >= n, preference lists never repeat a
    /// zone. Strategy 3 avoids repeats within [`DEFAULT_TARGET_N`] partitions.
    ///
    /// Panics if the strategy is invalid for this many nodes (see
    /// [`Strategy::validate`]), a node is listed twice, or `zones` is too short.
    pub fn build<R: rand::RngCore>(
        strategy: &Strategy,
        nodes: &[NodeId],
        zones: Option<&[u32]>,
        token_rng: impl FnMut(NodeId) -> R,
    ) -> Ring {
        Ring::build_with_target_n(strategy, nodes, zones, DEFAULT_TARGET_N, token_rng)
    }

    /// As [`Ring::build`], with strategy 3 avoiding repeats of a node within
    /// any `target_n` consecutive partitions (where Q and S allow it).
    pub fn build_with_target_n<R: rand::RngCore>(
        strategy: &Strategy,
        nodes: &[NodeId],
        zones: Option<&[u32]>,
        target_n: usize,
        mut token_rng: impl FnMut(NodeId) -> R,
    ) -> Ring {
        if let Err(error) = strategy.validate(nodes.len()) {
            panic!("{error}");
        }
        let mut sorted = nodes.to_vec();
        sorted.sort_unstable();
        assert!(sorted.windows(2).all(|w| w[0] != w[1]), "a node is listed twice");
        let zones = zones.map(|raw| {
            assert!(sorted.iter().all(|n| (n.0 as usize) < raw.len()), "zones must have an entry for every node id");
            Zones::new(raw.to_vec(), &sorted)
        });
        let mut tokens = Vec::new();
        let mut owners = Vec::new();
        match strategy {
            Strategy::RandomTokens { tokens_per_node }
            | Strategy::RandomTokensEqualPartitions { tokens_per_node, .. } => {
                for &node in &sorted {
                    draw_tokens(node, *tokens_per_node, &mut token_rng(node), &mut tokens);
                }
            }
            Strategy::EqualPartitions { partitions } => {
                if !sorted.is_empty() {
                    owners = claim::initial(&striping_order(&sorted, zones.as_ref()), *partitions, target_n);
                }
            }
        }
        Ring::from_parts(strategy.clone(), target_n, sorted, tokens, owners, zones)
    }

    /// Assembles a ring and its derived lookup tables.
    fn from_parts(
        strategy: Strategy,
        target_n: usize,
        nodes: Vec<NodeId>,
        mut tokens: Vec<(Token, NodeId)>,
        partition_owners: Vec<NodeId>,
        zones: Option<Zones>,
    ) -> Ring {
        let partition_ends = strategy.partitions().map(partition::partition_ends).unwrap_or_default();
        if let Strategy::EqualPartitions { .. } = strategy {
            assert!(tokens.is_empty(), "strategy 3 tokens come from its partitions");
            tokens = partition_ends.iter().copied().zip(partition_owners.iter().copied()).collect();
        }
        tokens.sort_unstable();
        let zones = zones.map(|z| Zones::new(z.raw, &nodes));
        let mut ring = Ring {
            strategy,
            target_n,
            nodes,
            tokens,
            partition_ends,
            partition_walk_start: Vec::new(),
            partition_owners,
            zones,
            placement: Arc::from([]),
            range_lists: OnceLock::new(),
        };
        if let Strategy::RandomTokensEqualPartitions { .. } = ring.strategy {
            ring.partition_walk_start =
                ring.partition_ends.iter().map(|&end| ring.first_token_at_or_after(end) as u32).collect();
        }
        ring.placement = ring.compute_placement_ranges().into();
        ring.assert_invariants();
        ring
    }

    fn assert_invariants(&self) {
        assert!(self.nodes.windows(2).all(|w| w[0] < w[1]), "nodes sorted and distinct");
        assert!(self.tokens.windows(2).all(|w| w[0] <= w[1]), "tokens sorted");
        if let Some(t) = self.strategy.tokens_per_node() {
            assert_eq!(self.tokens.len(), self.nodes.len() * t as usize, "every node holds T tokens");
        }
        if let Strategy::EqualPartitions { partitions } = self.strategy {
            if !self.nodes.is_empty() {
                assert_eq!(self.partition_owners.len(), partitions as usize, "every partition has an owner");
            }
        }
    }

    /// Index of the first token at or after `position`, wrapping to 0.
    fn first_token_at_or_after(&self, position: Token) -> usize {
        let index = self.tokens.partition_point(|(token, _)| token.0 < position.0);
        if index == self.tokens.len() {
            0
        } else {
            index
        }
    }

    /// Token index the preference walk for `position` starts from.
    fn walk_start(&self, position: Token) -> usize {
        match self.strategy {
            Strategy::RandomTokensEqualPartitions { .. } => {
                self.partition_walk_start[partition::partition_of(&self.partition_ends, position)] as usize
            }
            // Strategy 3's tokens are the partitions' ends, in order.
            Strategy::EqualPartitions { .. } => partition::partition_of(&self.partition_ends, position),
            Strategy::RandomTokens { .. } => self.first_token_at_or_after(position),
        }
    }

    /// Fills `out` (cleared first) with the first `n` distinct physical nodes
    /// for a key at `position` (fewer if the ring has fewer nodes). Hot path:
    /// no allocation beyond `out`'s growth; a copy of the kept list for the
    /// ring's replica count ([`Ring::kept_preference_list`]), a walk of the
    /// ring for another.
    pub fn preference_list_into(&self, position: Token, n: usize, out: &mut Vec<NodeId>) {
        out.clear();
        if self.tokens.is_empty() {
            return;
        }
        if let Some(list) = self.kept_preference_list(position, n) {
            out.extend_from_slice(list);
            return;
        }
        let want = n.min(self.nodes.len());
        self.walk_into(self.walk_start(position), want, out);
        assert_eq!(out.len(), want, "n <= S gives exactly n nodes");
        if out.len() <= 16 {
            for (i, node) in out.iter().enumerate() {
                assert!(!out[..i].contains(node), "a preference list never repeats a physical node");
            }
        }
    }

    /// Convenience: allocating version of [`Ring::preference_list_into`].
    pub fn preference_list(&self, position: Token, n: usize) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(n.min(self.nodes.len()));
        self.preference_list_into(position, n, &mut out);
        out
    }

    /// All distinct physical nodes in preference order for `position` (the
    /// "extended preference list" used by sloppy quorum: the first n are the
    /// preference list, the rest are fallbacks in ring order).
    pub fn extended_preference_list(&self, position: Token) -> impl Iterator<Item = NodeId> + '_ {
        let start = if self.tokens.is_empty() { 0 } else { self.walk_start(position) };
        ExtendedPreference::new(self, start)
    }

    /// The nodes on the ring, sorted by id.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The partitioning strategy this ring follows.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// (token, owner) pairs sorted by token. For strategy 3 these are the
    /// partition ends and their owners.
    pub fn tokens(&self) -> &[(Token, NodeId)] {
        &self.tokens
    }

    /// Strategy 3: the owner of each partition in ring order (empty otherwise).
    pub fn partition_owners(&self) -> &[NodeId] {
        &self.partition_owners
    }

    /// Number of pairs of same-owner tokens fewer than `window` places apart
    /// in ring order. For strategy 3 this counts partitions where one node
    /// appears twice among `window` consecutive partitions (Riak's claim
    /// target: zero for Q = 1024, S = 30, N = 3).
    pub fn window_violations(&self, window: usize) -> usize {
        let owners: Vec<NodeId> = self.tokens.iter().map(|(_, owner)| *owner).collect();
        claim::violations(&owners, window)
    }

    /// The ranges of positions that share a preference list, in ring order:
    /// the spans between tokens (strategy 1) or the equal partitions
    /// (strategies 2, 3). Empty ring: no ranges. Why: exact load and
    /// movement accounting.
    pub fn placement_ranges(&self) -> &[PlacementRange] {
        &self.placement
    }

    /// [`Ring::placement_ranges`], shared: a node keeps them without a copy.
    pub fn shared_placement_ranges(&self) -> Arc<[PlacementRange]> {
        Arc::clone(&self.placement)
    }

    fn compute_placement_ranges(&self) -> Vec<PlacementRange> {
        if self.tokens.is_empty() {
            return Vec::new();
        }
        match self.strategy {
            Strategy::RandomTokens { .. } => self.token_ranges(),
            Strategy::RandomTokensEqualPartitions { .. } | Strategy::EqualPartitions { .. } => self.partition_ranges(),
        }
    }

    fn token_ranges(&self) -> Vec<PlacementRange> {
        let count = self.tokens.len();
        let mut ranges = Vec::with_capacity(count);
        for index in 0..count {
            let previous = self.tokens[(index + count - 1) % count].0;
            let token = self.tokens[index].0;
            if count > 1 && previous == token {
                continue; // a duplicate token owns nothing: the first one at this position wins
            }
            ranges.push(PlacementRange { first: Token(previous.0.wrapping_add(1)), last: token, walk_start: index });
        }
        if ranges.is_empty() {
            // Every token at one position: the first one owns the whole ring.
            let token = self.tokens[0].0;
            ranges.push(PlacementRange { first: Token(token.0.wrapping_add(1)), last: token, walk_start: 0 });
        }
        ranges
    }

    fn partition_ranges(&self) -> Vec<PlacementRange> {
        let count = self.partition_ends.len();
        (0..count)
            .map(|index| {
                let first = Token(if index == 0 { 0 } else { self.partition_ends[index - 1].0 + 1 });
                let last = self.partition_ends[index];
                PlacementRange { first, last, walk_start: self.walk_start(last) }
            })
            .collect()
    }

    /// Index into [`Ring::placement_ranges`] of the range holding `position`
    /// (ranges are in ring order): a search from the position's share of
    /// the ring, where equal partitions (strategies 2 and 3) put it exactly
    /// and random tokens put it near.
    pub fn range_index(ranges: &[PlacementRange], position: Token) -> usize {
        Ring::range_index_from(ranges, position, share_of_ring(position.0, ranges.len()))
    }

    /// [`Ring::range_index`] searched from `guess` (any index; the nearer
    /// the answer, the fewer ranges read).
    fn range_index_from(ranges: &[PlacementRange], position: Token, guess: usize) -> usize {
        let index = partition_point_from(ranges.len(), guess, |i| ranges[i].last < position);
        if index == ranges.len() {
            0 // past the last token: the range that wraps around
        } else {
            index
        }
    }

    /// Preference list (first `n` distinct nodes) shared by every key in `range`.
    pub fn range_preference_list_into(&self, range: &PlacementRange, n: usize, out: &mut Vec<NodeId>) {
        out.clear();
        let want = n.min(self.nodes.len());
        self.walk_into(range.walk_start, want, out);
        assert_eq!(out.len(), want, "n <= S gives exactly n nodes");
    }

    /// The indexes ([`Ring::placement_ranges`]), ascending, of the ranges
    /// whose first `n` distinct nodes include `node`: the ranges it hosts.
    /// From the lists kept with the ring (walked once, on the first call)
    /// when `n` is the count they were kept for: each of a cluster's S
    /// nodes, which share one ring, asks at start, and walking the ring
    /// S × Q times was 17 % of a short 1,000-node run, scanning S × Q kept
    /// lists 5.5 %. Another `n` is walked range by range.
    pub fn ranges_hosted_by(&self, node: NodeId, n: usize) -> Vec<usize> {
        let lists = self.kept_lists(n);
        if lists.n == n {
            let first = lists.hosts.partition_point(|&(host, _)| host < node);
            return lists.hosts[first..]
                .iter()
                .take_while(|&&(host, _)| host == node)
                .map(|&(_, index)| index)
                .collect();
        }
        let mut list = Vec::new();
        (0..self.placement.len())
            .filter(|&index| {
                self.range_preference_list_into(&self.placement[index], n, &mut list);
                list.contains(&node)
            })
            .collect()
    }

    /// The lists of every range, walked on the first call for the `n`
    /// asked then (later calls may ask another `n`: the caller checks).
    fn kept_lists(&self, n: usize) -> &RangeLists {
        self.range_lists.get_or_init(|| {
            let width = n.min(self.nodes.len());
            let mut by_range = Vec::with_capacity(self.placement.len() * width);
            let mut list = Vec::new();
            for range in self.placement.iter() {
                self.range_preference_list_into(range, n, &mut list);
                by_range.extend_from_slice(&list);
            }
            let mut hosts: Vec<(NodeId, usize)> =
                by_range.iter().enumerate().map(|(at, &node)| (node, at / width.max(1))).collect();
            hosts.sort_unstable();
            let starts = match self.strategy {
                Strategy::RandomTokens { .. } => share_starts(&self.placement),
                _ => Vec::new(),
            };
            RangeLists { n, width, by_range, hosts, starts }
        })
    }

    /// The preference list of placement range `index` into `out`: read
    /// from the lists kept with the ring when `n` is the count they were
    /// kept for, else walked.
    pub fn range_preference_list_at(&self, index: usize, n: usize, out: &mut Vec<NodeId>) {
        let lists = self.kept_lists(n);
        if lists.n == n {
            out.clear();
            out.extend_from_slice(&lists.by_range[index * lists.width..][..lists.width]);
        } else {
            self.range_preference_list_into(&self.placement[index], n, out);
        }
    }

    /// The first `n` distinct nodes for a key at `position`, read from the
    /// lists kept with the ring when `n` is the count they were kept for
    /// (None for another `n`: the caller walks). Every request asks for its
    /// key's list once or twice, and walking the ring for it cost ~250
    /// instructions.
    pub fn kept_preference_list(&self, position: Token, n: usize) -> Option<&[NodeId]> {
        if self.placement.is_empty() {
            return None;
        }
        let lists = self.kept_lists(n);
        if lists.n != n {
            return None;
        }
        let index = self.kept_range_index(lists, position);
        Some(&lists.by_range[index * lists.width..][..lists.width])
    }

    /// [`Ring::range_index`] of `position`, searched from its share's
    /// start where `lists` keep them (random tokens).
    fn kept_range_index(&self, lists: &RangeLists, position: Token) -> usize {
        if lists.starts.is_empty() {
            Ring::range_index(&self.placement, position)
        } else {
            let share = share_of_ring(position.0, lists.starts.len());
            Ring::range_index_from(&self.placement, position, lists.starts[share] as usize)
        }
    }

    /// Ring with one more node, following the strategy's rules (1, 2: the
    /// joiner draws T random tokens from `token_rng`, others keep theirs; 3:
    /// the joiner steals `floor(Q/S')` partitions from the most loaded nodes,
    /// avoiding repeats within `target_n`). `zone` is ignored on a ring
    /// without zones; on a zone-aware ring `None` means [`UNKNOWN_ZONE`].
    /// Adding a member returns an unchanged copy. Panics if strategy 3 would
    /// have fewer partitions than nodes.
    pub fn with_node_added<R: rand::RngCore>(&self, node: NodeId, zone: Option<u32>, mut token_rng: R) -> Ring {
        if self.nodes.binary_search(&node).is_ok() {
            return self.clone();
        }
        let mut nodes = self.nodes.clone();
        nodes.push(node);
        nodes.sort_unstable();
        if let Err(error) = self.strategy.validate(nodes.len()) {
            panic!("{error}");
        }
        let zones = self.zones.as_ref().map(|z| {
            let mut raw = z.raw.clone();
            if raw.len() <= node.0 as usize {
                raw.resize(node.0 as usize + 1, UNKNOWN_ZONE);
            }
            raw[node.0 as usize] = zone.unwrap_or(UNKNOWN_ZONE);
            Zones::new(raw, &nodes)
        });
        let mut tokens = Vec::new();
        let mut owners = Vec::new();
        match self.strategy {
            Strategy::RandomTokens { tokens_per_node }
            | Strategy::RandomTokensEqualPartitions { tokens_per_node, .. } => {
                tokens = self.tokens.clone();
                draw_tokens(node, tokens_per_node, &mut token_rng, &mut tokens);
            }
            Strategy::EqualPartitions { partitions } => {
                owners = if self.nodes.is_empty() {
                    claim::initial(&[node], partitions, self.target_n)
                } else {
                    claim::join(&self.partition_owners, &self.nodes, node, self.target_n)
                };
            }
        }
        Ring::from_parts(self.strategy.clone(), self.target_n, nodes, tokens, owners, zones)
    }

    /// A ring rebuilt from a membership view: `nodes` are the members,
    /// `tokens` their tokens (strategies 1, 2) and `partition_owners` the
    /// claimed owner of each partition (strategy 3, one per partition;
    /// partitions of non-members are reassigned and shares rebalanced
    /// deterministically). Why: nodes learn placement by gossip and rebuild
    /// their ring view from it. Returns None when the assignment does not
    /// fit the strategy.
    pub fn from_assignment(
        strategy: &Strategy,
        target_n: usize,
        nodes: Vec<NodeId>,
        tokens: Vec<(Token, NodeId)>,
        partition_owners: Vec<NodeId>,
    ) -> Option<Ring> {
        let mut nodes = nodes;
        nodes.sort_unstable();
        nodes.dedup();
        if nodes.is_empty() {
            return None;
        }
        match strategy {
            Strategy::EqualPartitions { partitions } => {
                // Claims made concurrently on different views are settled
                // the same way by every node that holds the same table.
                let owners = claim::rebalance(&partition_owners, &nodes, target_n);
                let fits = owners.len() == *partitions as usize;
                fits.then(|| Ring::from_parts(strategy.clone(), target_n, nodes, Vec::new(), owners, None))
            }
            _ => {
                let fits = !tokens.is_empty() && tokens.iter().all(|(_, o)| nodes.binary_search(o).is_ok());
                fits.then(|| Ring::from_parts(strategy.clone(), target_n, nodes, tokens, Vec::new(), None))
            }
        }
    }

    /// Ring with one fewer node (1, 2: its tokens disappear; 3: each of its
    /// partitions goes to a least-loaded node, avoiding repeats within
    /// `target_n`). Removing a non-member returns an unchanged copy.
    pub fn with_node_removed(&self, node: NodeId) -> Ring {
        if self.nodes.binary_search(&node).is_err() {
            return self.clone();
        }
        let nodes: Vec<NodeId> = self.nodes.iter().copied().filter(|&n| n != node).collect();
        let mut tokens = Vec::new();
        let mut owners = Vec::new();
        match self.strategy {
            Strategy::RandomTokens { .. } | Strategy::RandomTokensEqualPartitions { .. } => {
                tokens = self.tokens.iter().copied().filter(|(_, owner)| *owner != node).collect();
            }
            Strategy::EqualPartitions { .. } => {
                if !nodes.is_empty() {
                    owners = claim::leave(&self.partition_owners, &self.nodes, node, self.target_n);
                }
            }
        }
        Ring::from_parts(self.strategy.clone(), self.target_n, nodes, tokens, owners, self.zones.clone())
    }

    /// Bytes of membership metadata per node: strategies 1-2: S·T·20 (16-byte
    /// token + 4-byte node id per token, every node's token list), strategy 3:
    /// Q·4 (the partition → node table). Why: Figure 8's x-axis.
    pub fn metadata_bytes(&self) -> u64 {
        match self.strategy {
            Strategy::RandomTokens { tokens_per_node }
            | Strategy::RandomTokensEqualPartitions { tokens_per_node, .. } => {
                self.nodes.len() as u64 * u64::from(tokens_per_node) * 20
            }
            Strategy::EqualPartitions { partitions } => u64::from(partitions) * 4,
        }
    }
}

/// Draws `count` uniform u128 tokens for `node` (high 64 bits first) and appends them.
fn draw_tokens(node: NodeId, count: u32, rng: &mut impl rand::RngCore, tokens: &mut Vec<(Token, NodeId)>) {
    for _ in 0..count {
        let high = u128::from(rng.next_u64());
        let low = u128::from(rng.next_u64());
        tokens.push((Token((high << 64) | low), node));
    }
}

/// Strategy 3's striping order: node ids in order, or with zones one node
/// per zone in turn (zones in id order), so neighbouring partitions sit in
/// different zones and zone-aware walks stay short.
fn striping_order(sorted: &[NodeId], zones: Option<&Zones>) -> Vec<NodeId> {
    let Some(zones) = zones else { return sorted.to_vec() };
    let mut by_zone: BTreeMap<u32, Vec<NodeId>> = BTreeMap::new();
    for &node in sorted {
        by_zone.entry(zones.raw[node.0 as usize]).or_default().push(node);
    }
    let longest = by_zone.values().map(Vec::len).max().unwrap_or(0);
    let mut order = Vec::with_capacity(sorted.len());
    for round in 0..longest {
        order.extend(by_zone.values().filter_map(|members| members.get(round).copied()));
    }
    order
}

#[cfg(test)]
mod tests;
