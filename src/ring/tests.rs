//! Placement tests for the ring: hand-built rings for the exact rules, and
//! property tests over random rings for the laws every strategy must keep.

use super::*;
use crate::engine::rng::{Purpose, Streams};
use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_oneof, proptest, Just};
use proptest::strategy::Strategy as Gen;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An rng that returns preset tokens (each as two u64 draws, high first).
struct FixedTokens {
    draws: Vec<u64>,
    next: usize,
}

impl FixedTokens {
    fn new(tokens: &[u128]) -> FixedTokens {
        let draws = tokens.iter().flat_map(|t| [(t >> 64) as u64, *t as u64]).collect();
        FixedTokens { draws, next: 0 }
    }
}

impl RngCore for FixedTokens {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let value = self.draws[self.next];
        self.next += 1;
        value
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        dest.fill(0);
        Ok(())
    }
}

fn ids(count: u32) -> Vec<NodeId> {
    (0..count).map(NodeId).collect()
}

/// A ring whose node `i` holds exactly `tokens[i]`.
fn fixed_ring(strategy: &Strategy, tokens: &[&[u128]]) -> Ring {
    let nodes = ids(tokens.len() as u32);
    Ring::build(strategy, &nodes, None, |node| FixedTokens::new(tokens[node.0 as usize]))
}

fn seeded_ring(strategy: &Strategy, node_count: u32, seed: u64, zones: Option<&[u32]>) -> Ring {
    let streams = Streams::new(seed);
    Ring::build(strategy, &ids(node_count), zones, |node| streams.stream(Purpose::RingTokens, u64::from(node.0)))
}

const ONE_TOKEN: Strategy = Strategy::RandomTokens { tokens_per_node: 1 };

#[test]
fn key_position_is_md5_read_big_endian() {
    // MD5("") = d41d8cd98f00b204e9800998ecf8427e (RFC 1321 test suite).
    assert_eq!(key_position(b""), Token(0xd41d8cd98f00b204e9800998ecf8427e));
}

#[test]
fn strategies_carry_the_papers_numbers() {
    assert_eq!(ONE_TOKEN.number(), 1);
    assert_eq!(Strategy::RandomTokensEqualPartitions { tokens_per_node: 1, partitions: 4 }.number(), 2);
    assert_eq!(Strategy::EqualPartitions { partitions: 4 }.number(), 3);
}

#[test]
fn a_key_exactly_at_a_token_belongs_to_that_token() {
    let ring = fixed_ring(&ONE_TOKEN, &[&[100], &[200], &[300]]);
    assert_eq!(ring.preference_list(Token(200), 1), vec![NodeId(1)]);
    assert_eq!(ring.preference_list(Token(199), 1), vec![NodeId(1)]);
    assert_eq!(ring.preference_list(Token(201), 1), vec![NodeId(2)]);
}

#[test]
fn a_key_past_the_last_token_wraps_to_the_first() {
    let ring = fixed_ring(&ONE_TOKEN, &[&[100], &[200], &[300]]);
    assert_eq!(ring.preference_list(Token(301), 3), vec![NodeId(0), NodeId(1), NodeId(2)]);
    assert_eq!(ring.preference_list(Token(u128::MAX), 2), vec![NodeId(0), NodeId(1)]);
    assert_eq!(ring.preference_list(Token(0), 1), vec![NodeId(0)]);
}

#[test]
fn the_walk_skips_tokens_of_nodes_already_chosen() {
    let two = Strategy::RandomTokens { tokens_per_node: 2 };
    let ring = fixed_ring(&two, &[&[100, 150], &[200, 400], &[300, 350]]);
    assert_eq!(ring.preference_list(Token(120), 3), vec![NodeId(0), NodeId(1), NodeId(2)]);
    assert_eq!(ring.preference_list(Token(210), 3), vec![NodeId(2), NodeId(1), NodeId(0)]);
}

#[test]
fn asking_for_more_nodes_than_the_ring_has_returns_them_all() {
    let ring = fixed_ring(&ONE_TOKEN, &[&[100], &[200]]);
    assert_eq!(ring.preference_list(Token(150), 5), vec![NodeId(1), NodeId(0)]);
}

#[test]
fn strategy_two_keys_of_one_partition_share_the_list_of_its_end() {
    let quarter = 1u128 << 126;
    let strategy = Strategy::RandomTokensEqualPartitions { tokens_per_node: 1, partitions: 4 };
    // Tokens inside partition 0 (at 10) and partition 1 (at quarter + 10).
    let ring = fixed_ring(&strategy, &[&[10], &[quarter + 10], &[3 * quarter]]);
    // Partition 0 ends at quarter - 1: the first token at or after it is node 1's.
    assert_eq!(ring.preference_list(Token(0), 3), vec![NodeId(1), NodeId(2), NodeId(0)]);
    assert_eq!(ring.preference_list(Token(5), 3), vec![NodeId(1), NodeId(2), NodeId(0)]);
    assert_eq!(ring.preference_list(Token(quarter - 1), 1), vec![NodeId(1)]);
    // Partition 1 ends at 2·quarter - 1: next token is node 2's at 3·quarter.
    assert_eq!(ring.preference_list(Token(quarter), 1), vec![NodeId(2)]);
    // Partition 3 ends at the top of the ring and wraps to node 0.
    assert_eq!(ring.preference_list(Token(3 * quarter), 1), vec![NodeId(0)]);
}

#[test]
fn strategy_three_stripes_partitions_and_walks_partition_owners() {
    let ring = seeded_ring(&Strategy::EqualPartitions { partitions: 6 }, 3, 1, None);
    assert_eq!(ring.partition_owners(), &ids(3).repeat(2)[..]);
    let end0 = partition_end(0, 6);
    assert_eq!(ring.preference_list(Token(0), 3), vec![NodeId(0), NodeId(1), NodeId(2)]);
    assert_eq!(ring.preference_list(end0, 1), vec![NodeId(0)]);
    assert_eq!(ring.preference_list(Token(end0.0 + 1), 1), vec![NodeId(1)]);
    assert_eq!(ring.preference_list(Token(u128::MAX), 3), vec![NodeId(2), NodeId(0), NodeId(1)]);
}

#[test]
fn metadata_is_tokens_times_twenty_or_partitions_times_four() {
    let ring = seeded_ring(&Strategy::RandomTokens { tokens_per_node: 8 }, 30, 1, None);
    assert_eq!(ring.metadata_bytes(), 30 * 8 * 20);
    let ring = seeded_ring(&Strategy::EqualPartitions { partitions: 1024 }, 30, 1, None);
    assert_eq!(ring.metadata_bytes(), 4096);
}

#[test]
fn a_joiner_adds_its_own_tokens_and_others_keep_theirs() {
    let strategy = Strategy::RandomTokens { tokens_per_node: 4 };
    let ring = seeded_ring(&strategy, 5, 3, None);
    let joined = ring.with_node_added(NodeId(5), None, Streams::new(3).stream(Purpose::RingTokens, 5));
    assert_eq!(joined.tokens().len(), 24);
    assert!(ring.tokens().iter().all(|t| joined.tokens().contains(t)));
    assert_eq!(joined.with_node_removed(NodeId(5)).tokens(), ring.tokens());
    // Joining all six at once draws the same tokens.
    assert_eq!(seeded_ring(&strategy, 6, 3, None).tokens(), joined.tokens());
}

#[test]
fn adding_a_member_or_removing_a_stranger_changes_nothing() {
    let ring = seeded_ring(&ONE_TOKEN, 4, 1, None);
    assert_eq!(ring.with_node_added(NodeId(2), None, FixedTokens::new(&[])).tokens(), ring.tokens());
    assert_eq!(ring.with_node_removed(NodeId(9)).tokens(), ring.tokens());
}

#[test]
fn zone_aware_lists_take_one_node_per_zone_first() {
    // Ring order: n0 (zone 0), n1 (zone 0), n2 (zone 1), n3 (zone 1).
    let zones = [0, 0, 1, 1];
    let ring = Ring::build(&ONE_TOKEN, &ids(4), Some(&zones), |node| FixedTokens::new(&[u128::from(node.0 + 1) * 100]));
    assert_eq!(ring.preference_list(Token(0), 2), vec![NodeId(0), NodeId(2)]);
    assert_eq!(ring.preference_list(Token(0), 4), vec![NodeId(0), NodeId(2), NodeId(1), NodeId(3)]);
    let extended: Vec<NodeId> = ring.extended_preference_list(Token(150)).collect();
    assert_eq!(extended, vec![NodeId(1), NodeId(2), NodeId(3), NodeId(0)]);
}

#[test]
fn an_empty_ring_has_empty_preference_lists() {
    let ring = seeded_ring(&ONE_TOKEN, 0, 1, None);
    assert!(ring.preference_list(Token(5), 3).is_empty());
    assert_eq!(ring.extended_preference_list(Token(5)).count(), 0);
    assert!(ring.placement_ranges().is_empty());
}

#[test]
fn placement_ranges_tile_the_ring() {
    for strategy in [
        Strategy::RandomTokens { tokens_per_node: 3 },
        Strategy::RandomTokensEqualPartitions { tokens_per_node: 3, partitions: 16 },
        Strategy::EqualPartitions { partitions: 16 },
    ] {
        let ring = seeded_ring(&strategy, 5, 7, None);
        let ranges = ring.placement_ranges();
        let total: f64 = ranges.iter().map(PlacementRange::fraction).sum();
        assert!((total - 1.0).abs() < 1e-9, "{strategy:?}: {total}");
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].last.0.wrapping_add(1), pair[1].first.0);
        }
        let mut by_range = Vec::new();
        for range in ranges {
            ring.range_preference_list_into(range, 3, &mut by_range);
            assert_eq!(by_range, ring.preference_list(range.first, 3));
            assert_eq!(by_range, ring.preference_list(range.last, 3));
        }
    }
}

/// The ranges a node hosts are those whose walked list names it, whatever
/// the strategy, zones and replica count (the first count asked is kept;
/// any other is walked), and a copy of the ring answers the same.
#[test]
fn the_ranges_a_node_hosts_are_those_whose_walked_list_names_it() {
    for (strategy, zones, ring, first_n) in rings_and_first_counts() {
        let copy = ring.clone();
        let mut walked = Vec::new();
        for n in [first_n, 1, first_n, 4] {
            let mut hosted: BTreeMap<NodeId, Vec<usize>> =
                ring.nodes().iter().map(|&node| (node, Vec::new())).collect();
            for (index, range) in ring.placement_ranges().iter().enumerate() {
                ring.range_preference_list_into(range, n, &mut walked);
                walked.iter().for_each(|node| hosted.get_mut(node).expect("a member").push(index));
            }
            for (node, ranges) in hosted {
                assert_eq!(ring.ranges_hosted_by(node, n), ranges, "{strategy:?} zones {zones:?} n {n} {node}");
                assert_eq!(copy.ranges_hosted_by(node, n), ranges, "the copy, {node}");
            }
        }
    }
}

/// Seven-node rings of every strategy, each with the replica count first
/// asked of it (the one its lists are kept for): without zones (3, and 9,
/// more nodes than the ring holds) and with three zones (2).
fn rings_and_first_counts() -> Vec<(Strategy, Option<&'static [u32]>, Ring, usize)> {
    const ZONES: [u32; 7] = [0, 1, 2, 0, 1, 2, 0];
    let strategies = [
        Strategy::RandomTokens { tokens_per_node: 3 },
        Strategy::RandomTokensEqualPartitions { tokens_per_node: 3, partitions: 16 },
        Strategy::EqualPartitions { partitions: 16 },
    ];
    let zoned: [(Option<&'static [u32]>, usize); 3] = [(None, 3), (Some(&ZONES), 2), (None, 9)];
    strategies
        .iter()
        .flat_map(|strategy| {
            zoned.map(|(zones, first_n)| (strategy.clone(), zones, seeded_ring(strategy, 7, 11, zones), first_n))
        })
        .collect()
}

/// A key's list read from the kept lists is the one a walk from its
/// position finds — range edges, the wrap, zones, more nodes than the ring
/// holds — and the extended list starts with it; another replica count
/// than the one kept is walked.
#[test]
fn a_kept_preference_list_is_the_walked_one_for_every_position() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (strategy, zones, ring, kept_n) in rings_and_first_counts() {
        let edges = ring.placement_ranges().iter().flat_map(|range| [range.first.0, range.last.0]);
        let random: Vec<u128> = (0..200).map(|_| rng.gen()).collect();
        let positions: Vec<Token> = edges.chain(random).chain([0, u128::MAX]).map(Token).collect();
        assert!(ring.kept_preference_list(positions[0], kept_n).is_some(), "the first count asked is kept");
        let (mut walked, mut read) = (Vec::new(), Vec::new());
        for n in [kept_n, 1, 4] {
            for &position in &positions {
                walked.clear();
                ring.walk_into(ring.walk_start(position), n.min(7), &mut walked);
                ring.preference_list_into(position, n, &mut read);
                assert_eq!(read, walked, "{strategy:?} zones {zones:?} n {n} at {position:?}");
                let kept = ring.kept_preference_list(position, n);
                assert_eq!(kept, (n == kept_n).then_some(&walked[..]), "only the kept count is read");
                let extended: Vec<NodeId> = ring.extended_preference_list(position).take(n).collect();
                assert_eq!(extended, walked, "the extended list starts with the list");
            }
        }
    }
}

#[test]
fn a_walk_asked_for_more_nodes_than_the_ring_holds_takes_each_once_and_stops() {
    // Ring order: n0 (zone 0), n1 (zone 0), n2 (zone 1), n3 (zone 1).
    let zoned =
        Ring::build(&ONE_TOKEN, &ids(4), Some(&[0, 0, 1, 1]), |node| FixedTokens::new(&[u128::from(node.0 + 1) * 100]));
    let plain = fixed_ring(&ONE_TOKEN, &[&[100], &[200], &[300], &[400]]);
    let mut out = Vec::new();
    zoned.walk_into(1, 10, &mut out);
    assert_eq!(out, vec![NodeId(1), NodeId(2), NodeId(3), NodeId(0)]);
    out.clear();
    plain.walk_into(1, 10, &mut out);
    assert_eq!(out, vec![NodeId(1), NodeId(2), NodeId(3), NodeId(0)]);
}

/// The documented zone-aware walk, written plainly: in round `r`, walking
/// clockwise from token `start`, take each node not yet taken whose zone
/// has been taken fewer than `r` times; stop when every node is taken.
fn walk_in_rounds(ring: &Ring, start: usize, zones: &[u32]) -> Vec<NodeId> {
    let tokens = ring.tokens();
    let mut taken: Vec<NodeId> = Vec::new();
    let mut round = 1;
    while taken.len() < ring.nodes().len() {
        for step in 0..tokens.len() {
            let node = tokens[(start + step) % tokens.len()].1;
            let zone_taken = taken.iter().filter(|m| zones[m.0 as usize] == zones[node.0 as usize]).count();
            if !taken.contains(&node) && zone_taken < round {
                taken.push(node);
            }
        }
        round += 1;
    }
    taken
}

fn any_strategy(node_count: u32) -> impl Gen<Value = Strategy> {
    prop_oneof![
        (1u32..6).prop_map(|t| Strategy::RandomTokens { tokens_per_node: t }),
        (1u32..6, 1u32..40)
            .prop_map(|(t, q)| Strategy::RandomTokensEqualPartitions { tokens_per_node: t, partitions: q }),
        (0u32..40).prop_map(move |extra| Strategy::EqualPartitions { partitions: node_count.max(1) + extra }),
    ]
}

fn ring_case() -> impl Gen<Value = (Strategy, u32, u64)> {
    (1u32..16).prop_flat_map(|s| (any_strategy(s), Just(s), any::<u64>()))
}

proptest! {
    #[test]
    fn preference_lists_hold_min_n_s_distinct_nodes((strategy, s, seed) in ring_case(), position in any::<u128>(), n in 1usize..8) {
        let ring = seeded_ring(&strategy, s, seed, None);
        let list = ring.preference_list(Token(position), n);
        prop_assert_eq!(list.len(), n.min(s as usize));
        for (i, node) in list.iter().enumerate() {
            prop_assert!(!list[..i].contains(node));
        }
    }

    #[test]
    fn the_extended_list_starts_with_the_preference_list_and_names_every_node_once(
        (strategy, s, seed) in ring_case(), position in any::<u128>(), n in 1usize..8, zone_count in 0u32..4,
    ) {
        let zones: Vec<u32> = (0..s).map(|i| i % zone_count.max(1)).collect();
        let ring = seeded_ring(&strategy, s, seed, (zone_count > 0).then_some(&zones[..]));
        let extended: Vec<NodeId> = ring.extended_preference_list(Token(position)).collect();
        let mut sorted = extended.clone();
        sorted.sort_unstable();
        prop_assert_eq!(&sorted[..], ring.nodes());
        let list = ring.preference_list(Token(position), n);
        prop_assert_eq!(&extended[..list.len()], &list[..]);
    }

    #[test]
    fn zone_aware_lists_never_repeat_a_zone_when_zones_suffice(
        (strategy, s, seed) in ring_case(), position in any::<u128>(), n in 1usize..5, zone_seed in any::<u64>(),
    ) {
        let mut rng = Streams::new(zone_seed).stream(Purpose::Faults, 0);
        let zones: Vec<u32> = (0..s).map(|_| rng.next_u32() % 5).collect();
        let ring = seeded_ring(&strategy, s, seed, Some(&zones));
        let distinct = zones.iter().collect::<std::collections::BTreeSet<_>>().len();
        let list = ring.preference_list(Token(position), n);
        if distinct >= n {
            let mut seen: Vec<u32> = list.iter().map(|node| zones[node.0 as usize]).collect();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), list.len());
        }
    }

    #[test]
    fn zone_aware_lists_are_the_walk_in_rounds(
        (strategy, s, seed) in ring_case(), position in any::<u128>(), zone_seed in any::<u64>(), zone_count in 1u32..5,
    ) {
        let mut rng = Streams::new(zone_seed).stream(Purpose::Faults, 0);
        let zones: Vec<u32> = (0..s).map(|_| rng.next_u32() % zone_count).collect();
        let ring = seeded_ring(&strategy, s, seed, Some(&zones));
        let expected = walk_in_rounds(&ring, ring.walk_start(Token(position)), &zones);
        let extended: Vec<NodeId> = ring.extended_preference_list(Token(position)).collect();
        prop_assert_eq!(&extended, &expected);
        for n in 1..=expected.len() {
            prop_assert_eq!(&ring.preference_list(Token(position), n)[..], &expected[..n]);
        }
    }

    #[test]
    fn strategy_three_shares_stay_within_one_after_joins_and_leaves(
        start in 1u32..12, extra in 0u32..60, steps in proptest::collection::vec((any::<bool>(), any::<u32>()), 0..12),
    ) {
        let partitions = start + 12 + extra;
        let strategy = Strategy::EqualPartitions { partitions };
        let mut ring = seeded_ring(&strategy, start, 1, None);
        let mut next_id = start;
        for (join, pick) in steps {
            let members = ring.nodes().to_vec();
            let before = ring.partition_owners().to_vec();
            if join && members.len() < partitions as usize {
                ring = ring.with_node_added(NodeId(next_id), None, FixedTokens::new(&[]));
                next_id += 1;
                let moved = before.iter().zip(ring.partition_owners()).filter(|(a, b)| a != b).count();
                prop_assert_eq!(moved, partitions as usize / (members.len() + 1));
            } else if members.len() > 1 {
                let leaver = members[pick as usize % members.len()];
                ring = ring.with_node_removed(leaver);
                let moved = before.iter().zip(ring.partition_owners()).filter(|(a, b)| a != b).count();
                prop_assert_eq!(moved, before.iter().filter(|&&o| o == leaver).count());
            }
            let mut counts = std::collections::BTreeMap::new();
            for owner in ring.partition_owners() {
                *counts.entry(*owner).or_insert(0usize) += 1;
            }
            prop_assert_eq!(counts.len(), ring.nodes().len());
            let min = counts.values().min().copied().unwrap_or(0);
            let max = counts.values().max().copied().unwrap_or(0);
            prop_assert!(max - min <= 1, "counts {:?}", counts);
        }
    }
}

proptest! {
    /// Random tokens, whose ranges a key's share does not find exactly: a
    /// position's range searched from its share's start is the range
    /// holding it (found by looking at every one), at random positions and
    /// at each range's ends and just past them; every range before a
    /// share's start ends before the share.
    #[test]
    fn a_key_s_range_found_from_its_share_s_start_is_the_range_holding_it(
        nodes in 1u32..40,
        tokens in 1u32..12,
        seed in any::<u64>(),
        positions in proptest::collection::vec(any::<u128>(), 1..40),
    ) {
        let ring = seeded_ring(&Strategy::RandomTokens { tokens_per_node: tokens }, nodes, seed, None);
        let ranges = ring.placement_ranges();
        let lists = ring.kept_lists(3);
        prop_assert_eq!(lists.starts.len(), ranges.len());
        for (share, &start) in lists.starts.iter().enumerate() {
            let start = start as usize;
            prop_assert!(ranges[..start].iter().all(|r| share_of_ring(r.last.0, ranges.len()) < share));
            prop_assert!(start == ranges.len() || share_of_ring(ranges[start].last.0, ranges.len()) >= share);
        }
        let ends = ranges.iter().flat_map(|r| [r.first.0, r.last.0, r.last.0.wrapping_add(1)]);
        for position in positions.iter().copied().chain(ends).chain([0, u128::MAX]).map(Token) {
            let holding = ranges.iter().position(|r| crate::protocol::Span { first: r.first, last: r.last }.contains(position));
            prop_assert_eq!(Some(ring.kept_range_index(lists, position)), holding, "at {:?}", position);
            prop_assert_eq!(Ring::range_index(ranges, position), holding.unwrap());
        }
    }
}

#[test]
fn range_index_finds_the_range_whose_keys_share_the_preference_list() {
    for strategy in [
        Strategy::RandomTokens { tokens_per_node: 4 },
        Strategy::RandomTokensEqualPartitions { tokens_per_node: 4, partitions: 32 },
        Strategy::EqualPartitions { partitions: 32 },
    ] {
        let nodes: Vec<NodeId> = (0..6).map(NodeId).collect();
        let streams = crate::engine::rng::Streams::new(3);
        let ring = Ring::build(&strategy, &nodes, None, |n| {
            streams.stream(crate::engine::rng::Purpose::RingTokens, u64::from(n.0))
        });
        let ranges = ring.placement_ranges();
        let mut expected = Vec::new();
        for key in 0..500u64 {
            let position = key_position(format!("key-{key}").as_bytes());
            let range = &ranges[Ring::range_index(ranges, position)];
            ring.range_preference_list_into(range, 3, &mut expected);
            assert_eq!(ring.preference_list(position, 3), expected, "{strategy:?} key {key}");
        }
    }
}

#[test]
fn rebalancing_settles_conflicting_claims_into_equal_shares() {
    let nodes: Vec<NodeId> = (0..6).map(NodeId).collect();
    let streams = crate::engine::rng::Streams::new(3);
    let strategy = Strategy::EqualPartitions { partitions: 24 };
    let ring = Ring::build(&strategy, &nodes[..4], None, |n| {
        streams.stream(crate::engine::rng::Purpose::RingTokens, u64::from(n.0))
    });
    // Two joiners (4, 5) claimed the same partitions; 4 lost every conflict.
    let mut owners = ring.partition_owners().to_vec();
    for owner in owners.iter_mut().take(5) {
        *owner = NodeId(5);
    }
    // And a departed node (9) still owns one.
    owners[10] = NodeId(9);
    let rebuilt = Ring::from_assignment(&strategy, 3, nodes.clone(), Vec::new(), owners.clone()).expect("valid");
    for node in &nodes {
        let share = rebuilt.partition_owners().iter().filter(|&o| o == node).count();
        assert_eq!(share, 4, "{node:?} holds {share} of 24 partitions");
    }
    let again = Ring::from_assignment(&strategy, 3, nodes, Vec::new(), owners).expect("valid");
    assert_eq!(again.partition_owners(), rebuilt.partition_owners(), "deterministic");
}

#[test]
fn each_strategy_names_the_parameters_it_uses() {
    assert_eq!(ONE_TOKEN.tokens_per_node(), Some(1));
    assert_eq!(ONE_TOKEN.partitions(), None);
    let two = Strategy::RandomTokensEqualPartitions { tokens_per_node: 7, partitions: 40 };
    assert_eq!(two.tokens_per_node(), Some(7));
    assert_eq!(two.partitions(), Some(40));
    let three = Strategy::EqualPartitions { partitions: 12 };
    assert_eq!(three.tokens_per_node(), None);
    assert_eq!(three.partitions(), Some(12));
}

/// Why `strategy` cannot build a ring of `node_count` nodes, or None if it can.
fn rejection(strategy: &Strategy, node_count: usize) -> Option<String> {
    match strategy.validate(node_count) {
        Ok(()) => None,
        Err(RingError::InvalidStrategy { strategy: named, reason }) => {
            assert_eq!(&named, strategy, "the error names the strategy");
            Some(reason)
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[test]
fn a_strategy_needs_a_token_a_partition_and_for_strategy_three_a_partition_per_node() {
    for no_tokens in [
        Strategy::RandomTokens { tokens_per_node: 0 },
        Strategy::RandomTokensEqualPartitions { tokens_per_node: 0, partitions: 8 },
    ] {
        assert_eq!(rejection(&no_tokens, 4).as_deref(), Some("tokens_per_node must be at least 1"));
    }
    for no_partitions in [
        Strategy::RandomTokensEqualPartitions { tokens_per_node: 2, partitions: 0 },
        Strategy::EqualPartitions { partitions: 0 },
    ] {
        assert_eq!(rejection(&no_partitions, 0).as_deref(), Some("partitions must be at least 1"));
    }
    let eight = Strategy::EqualPartitions { partitions: 8 };
    assert_eq!(rejection(&eight, 8), None, "Q = S: one partition each");
    assert_eq!(rejection(&eight, 0), None, "an empty ring");
    let reason = rejection(&eight, 9).expect("Q < S is rejected");
    assert!(reason.contains("8 partitions for 9 nodes"), "{reason}");
    // Strategies 1 and 2 take any number of nodes.
    assert_eq!(rejection(&ONE_TOKEN, 100), None);
    assert_eq!(rejection(&Strategy::RandomTokensEqualPartitions { tokens_per_node: 1, partitions: 2 }, 100), None);
}

#[test]
fn a_range_of_one_position_is_one_part_in_two_to_the_128_of_the_ring() {
    let ring = fixed_ring(&ONE_TOKEN, &[&[100], &[101]]);
    let ranges = ring.placement_ranges();
    assert_eq!((ranges[1].first, ranges[1].last), (Token(101), Token(101)));
    assert_eq!(ranges[1].fraction(), 2f64.powi(-128));
    assert_eq!(ranges[0].fraction(), 1.0, "all but one position, to f64's precision");
    let quarters = seeded_ring(&Strategy::EqualPartitions { partitions: 4 }, 2, 1, None);
    assert!(quarters.placement_ranges().iter().all(|range| range.fraction() == 0.25));
}

#[test]
fn a_duplicate_token_owns_nothing_and_the_first_owner_at_a_position_wins() {
    let ring = fixed_ring(&ONE_TOKEN, &[&[100], &[100], &[200]]);
    let bounds: Vec<(Token, Token)> = ring.placement_ranges().iter().map(|r| (r.first, r.last)).collect();
    assert_eq!(bounds, vec![(Token(201), Token(100)), (Token(101), Token(200))]);
    let mut list = Vec::new();
    ring.range_preference_list_into(&ring.placement_ranges()[0], 3, &mut list);
    assert_eq!(list, vec![NodeId(0), NodeId(1), NodeId(2)]);
    // Every token at one position: the first owns the whole ring.
    let ring = fixed_ring(&ONE_TOKEN, &[&[7], &[7]]);
    let bounds: Vec<(Token, Token)> = ring.placement_ranges().iter().map(|r| (r.first, r.last)).collect();
    assert_eq!(bounds, vec![(Token(8), Token(7))]);
    assert_eq!(ring.placement_ranges()[0].fraction(), 1.0);
    assert_eq!(ring.preference_list(Token(3), 2), vec![NodeId(0), NodeId(1)]);
}

#[test]
fn range_index_puts_both_ends_of_every_range_in_that_range() {
    let ring = fixed_ring(&ONE_TOKEN, &[&[100], &[200], &[300]]);
    let ranges = ring.placement_ranges();
    let index_of = |position: u128| Ring::range_index(ranges, Token(position));
    let found: Vec<usize> = [0, 100, 101, 200, 201, 300, 301, u128::MAX].into_iter().map(index_of).collect();
    assert_eq!(found, vec![0, 0, 1, 1, 2, 2, 0, 0]);
    let ring = seeded_ring(&Strategy::EqualPartitions { partitions: 8 }, 3, 1, None);
    let ranges = ring.placement_ranges();
    for (index, range) in ranges.iter().enumerate() {
        assert_eq!(Ring::range_index(ranges, range.first), index);
        assert_eq!(Ring::range_index(ranges, range.last), index);
    }
}

#[test]
fn window_violations_count_same_owner_tokens_fewer_than_window_places_apart() {
    // Ring order: n0 n0 n1 n2 n2 n1.
    let two = Strategy::RandomTokens { tokens_per_node: 2 };
    let ring = fixed_ring(&two, &[&[100, 150], &[200, 400], &[300, 350]]);
    assert_eq!(ring.window_violations(1), 0);
    assert_eq!(ring.window_violations(2), 2, "n0 n0 and n2 n2");
    assert_eq!(ring.window_violations(4), 4, "and n1 three places from n1, both ways round");
}

#[test]
fn an_empty_strategy_three_ring_owns_nothing_until_a_node_joins() {
    let strategy = Strategy::EqualPartitions { partitions: 4 };
    let empty = seeded_ring(&strategy, 0, 1, None);
    assert!(empty.partition_owners().is_empty());
    assert!(empty.tokens().is_empty());
    assert!(empty.preference_list(Token(5), 3).is_empty());
    let one = empty.with_node_added(NodeId(3), None, FixedTokens::new(&[]));
    assert_eq!(one.partition_owners(), &[NodeId(3); 4]);
    assert_eq!(one.preference_list(Token(5), 3), vec![NodeId(3)]);
    let again = one.with_node_removed(NodeId(3));
    assert!(again.nodes().is_empty());
    assert!(again.partition_owners().is_empty());
}

#[test]
fn a_joiner_beyond_the_zone_table_is_placed_by_its_own_zone() {
    // n0 (zone 0) at 100, n1 (zone 1) at 200; n5 joins in zone 0 at 300.
    let ring =
        Ring::build(&ONE_TOKEN, &ids(2), Some(&[0, 1]), |node| FixedTokens::new(&[u128::from(node.0 + 1) * 100]));
    let joined = ring.with_node_added(NodeId(5), Some(0), FixedTokens::new(&[300]));
    assert_eq!(joined.preference_list(Token(250), 2), vec![NodeId(5), NodeId(1)], "n0 shares n5's zone");
    assert_eq!(joined.preference_list(Token(250), 3), vec![NodeId(5), NodeId(1), NodeId(0)]);
}

#[test]
fn a_token_assignment_fits_only_when_it_has_tokens_and_every_owner_is_a_member() {
    let tokens = vec![(Token(100), NodeId(0)), (Token(200), NodeId(1))];
    let ring =
        Ring::from_assignment(&ONE_TOKEN, 3, vec![NodeId(1), NodeId(0)], tokens.clone(), Vec::new()).expect("fits");
    assert_eq!(ring.nodes(), &ids(2)[..]);
    assert_eq!(ring.tokens(), &tokens[..]);
    assert_eq!(ring.preference_list(Token(150), 2), vec![NodeId(1), NodeId(0)]);
    assert!(Ring::from_assignment(&ONE_TOKEN, 3, ids(2), Vec::new(), Vec::new()).is_none(), "no tokens");
    let stranger = vec![(Token(100), NodeId(0)), (Token(200), NodeId(9))];
    assert!(Ring::from_assignment(&ONE_TOKEN, 3, ids(2), stranger, Vec::new()).is_none(), "a non-member's token");
    assert!(Ring::from_assignment(&ONE_TOKEN, 3, Vec::new(), tokens, Vec::new()).is_none(), "no members");
}
