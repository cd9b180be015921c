//! Strategy 3's partition → node assignment (Dynamo §6.2), in the spirit of
//! Riak's claim algorithm.
//!
//! Goals, in order: every node holds `floor(Q/S)` or `ceil(Q/S)` partitions
//! (so primary load is as equal as it can be); no node appears twice among any
//! `window` consecutive partitions (so the preference list of every partition
//! is its owner and the owners of the next `window − 1` partitions, and
//! replicated load is as equal as primary load); a join or a leave moves as
//! few partitions as possible.
//!
//! A *violation* is a pair of partitions `(p, p + d mod Q)`, `1 <= d < window`,
//! with the same owner. The initial assignment stripes nodes round-robin and
//! then repairs violations by swapping owners (which keeps every node's
//! count); joins and leaves pick, among the partitions they may move, ones
//! that create no violation whenever one exists.

use crate::types::NodeId;
use std::collections::BTreeMap;

/// Number of violating pairs: partitions `window − 1` or fewer steps apart
/// with the same owner (cyclic).
///
/// Why: the issue-6 report and tests count them; zero means every window of
/// `window` consecutive partitions holds distinct nodes.
pub fn violations(owners: &[NodeId], window: usize) -> usize {
    let count = owners.len();
    if count == 0 {
        return 0;
    }
    let reach = window.saturating_sub(1).min(count - 1);
    let mut total = 0;
    for p in 0..count {
        for d in 1..=reach {
            if owners[p] == owners[(p + d) % count] {
                total += 1;
            }
        }
    }
    total
}

/// True when `node` already owns a partition fewer than `window` steps from
/// `position` in either direction (the partition at `position` itself is not
/// looked at).
fn conflicts(owners: &[NodeId], position: usize, node: NodeId, window: usize) -> bool {
    let count = owners.len();
    let reach = window.saturating_sub(1).min(count.saturating_sub(1));
    (1..=reach).any(|d| owners[(position + d) % count] == node || owners[(position + count - d) % count] == node)
}

/// The initial assignment of `partitions` partitions to `nodes` (already in
/// striping order): round-robin, then violations repaired by owner swaps.
pub fn initial(nodes: &[NodeId], partitions: u32, window: usize) -> Vec<NodeId> {
    assert!(!nodes.is_empty(), "strategy 3 needs at least one node to own partitions");
    assert!(
        partitions as usize >= nodes.len(),
        "strategy 3 needs partitions ({partitions}) >= nodes ({})",
        nodes.len()
    );
    let mut owners: Vec<NodeId> = (0..partitions as usize).map(|p| nodes[p % nodes.len()]).collect();
    if nodes.len() >= window {
        // With fewer nodes than the window a repeat is unavoidable; do not search.
        repair(&mut owners, window);
    }
    owners
}

/// Removes violations by swapping the owners of two partitions, keeping
/// every node's partition count. Bounded: each accepted swap strictly lowers
/// the number of violating pairs, and the search gives up when no swap helps.
fn repair(owners: &mut [NodeId], window: usize) {
    let all: Vec<usize> = (0..owners.len()).collect();
    repair_among(owners, window, &all);
}

/// Makes a partition table valid and balanced for `members` (sorted), as
/// a pure function of its input: partitions owned by a non-member go to
/// the least-loaded members, then partitions move from the most-loaded to
/// the least-loaded member until shares are within one of equal. Why:
/// concurrent joins or leaves decided on different views can claim the same
/// partitions; every node that holds the same merged table derives the same
/// ring from it.
pub fn rebalance(owners: &[NodeId], members: &[NodeId], window: usize) -> Vec<NodeId> {
    let mut owners = owners.to_vec();
    if members.is_empty() {
        return owners;
    }
    let mut counts = counts(&owners, members);
    counts.retain(|n, _| members.binary_search(n).is_ok());
    let least = |counts: &BTreeMap<NodeId, usize>| counts.iter().min_by_key(|(&n, &c)| (c, n)).map(|(&n, _)| n);
    for owner in owners.iter_mut() {
        if members.binary_search(owner).is_err() {
            let Some(to) = least(&counts) else { break };
            *owner = to;
            *counts.entry(to).or_insert(0) += 1;
        }
    }
    let most = |counts: &BTreeMap<NodeId, usize>| {
        counts.iter().max_by_key(|(&n, &c)| (c, std::cmp::Reverse(n))).map(|(&n, &c)| (n, c))
    };
    while let (Some(to), Some((from, most))) = (least(&counts), most(&counts)) {
        if most <= counts[&to] + 1 {
            break;
        }
        let mut candidates = (0..owners.len()).filter(|&p| owners[p] == from);
        let first = candidates.clone().next();
        let Some(p) = candidates.find(|&p| !conflicts(&owners, p, to, window)).or(first) else { break };
        owners[p] = to;
        *counts.entry(from).or_insert(1) -= 1;
        *counts.entry(to).or_insert(0) += 1;
    }
    owners
}

/// Partition counts per node, for every node in `nodes` (zero included).
fn counts(owners: &[NodeId], nodes: &[NodeId]) -> BTreeMap<NodeId, usize> {
    let mut counts: BTreeMap<NodeId, usize> = nodes.iter().map(|&n| (n, 0)).collect();
    for owner in owners {
        *counts.entry(*owner).or_insert(0) += 1;
    }
    counts
}

/// The assignment after `joiner` joins: it steals partitions one at a time
/// from the most loaded node until it holds `floor(Q/S')`, preferring
/// partitions where it creates no violation. Moves exactly `floor(Q/S')`
/// partitions, the fewest that keep shares within one of equal.
pub fn join(owners: &[NodeId], members: &[NodeId], joiner: NodeId, window: usize) -> Vec<NodeId> {
    let mut owners = owners.to_vec();
    let target = owners.len() / (members.len() + 1);
    let mut counts = counts(&owners, members);
    for _ in 0..target {
        let max = counts.values().copied().max().unwrap_or(0);
        let donors: Vec<NodeId> = counts.iter().filter(|(_, &c)| c == max).map(|(&n, _)| n).collect();
        let mut candidates = (0..owners.len()).filter(|&p| donors.contains(&owners[p]));
        let first = candidates.clone().next();
        let chosen = candidates.find(|&p| !conflicts(&owners, p, joiner, window)).or(first);
        let Some(p) = chosen else { break };
        *counts.entry(owners[p]).or_insert(1) -= 1;
        owners[p] = joiner;
    }
    owners
}

/// The assignment after `leaver` leaves: each of its partitions goes to a
/// remaining node below the new ceiling share, least loaded first, preferring
/// one that creates no violation while still leaving enough partitions to
/// bring every node up to the new floor share; then swaps among the moved
/// partitions repair what the greedy pass could not. Moves exactly the
/// leaver's partitions.
pub fn leave(owners: &[NodeId], members: &[NodeId], leaver: NodeId, window: usize) -> Vec<NodeId> {
    let remaining: Vec<NodeId> = members.iter().copied().filter(|&n| n != leaver).collect();
    assert!(!remaining.is_empty(), "the last node cannot leave a strategy-3 ring that keeps partitions");
    let mut owners = owners.to_vec();
    let floor = owners.len() / remaining.len();
    let ceiling = floor + usize::from(owners.len() % remaining.len() != 0);
    let mut counts = counts(&owners, &remaining);
    counts.remove(&leaver);
    let orphans: Vec<usize> = (0..owners.len()).filter(|&p| owners[p] == leaver).collect();
    for (done, &p) in orphans.iter().enumerate() {
        let deficit: usize = counts.values().map(|&c| floor.saturating_sub(c)).sum();
        let slack = orphans.len() - done > deficit;
        let min = counts.values().copied().min().unwrap_or(0);
        let allowed = |c: usize| c < floor || (slack && c < ceiling);
        let mut candidates: Vec<(usize, NodeId)> =
            counts.iter().filter(|(_, &c)| allowed(c)).map(|(&n, &c)| (c, n)).collect();
        candidates.sort_unstable();
        let chosen = candidates
            .iter()
            .map(|&(_, n)| n)
            .find(|&n| !conflicts(&owners, p, n, window))
            .or_else(|| counts.iter().find(|(_, &c)| c == min).map(|(&n, _)| n));
        let Some(chosen) = chosen else { break };
        owners[p] = chosen;
        *counts.entry(chosen).or_insert(0) += 1;
    }
    repair_among(&mut owners, window, &orphans);
    owners
}

/// [`repair`] restricted to swaps between the given positions, so a leave
/// still moves only the leaver's partitions.
fn repair_among(owners: &mut [NodeId], window: usize, positions: &[usize]) {
    for _ in 0..positions.len() {
        let mut improved = false;
        for &p in positions {
            if !conflicts(owners, p, owners[p], window) {
                continue;
            }
            for &q in positions {
                if owners[q] == owners[p] {
                    continue;
                }
                owners.swap(p, q);
                if !conflicts(owners, p, owners[p], window) && !conflicts(owners, q, owners[q], window) {
                    improved = true;
                    break;
                }
                owners.swap(p, q);
            }
        }
        if !improved {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

    /// Steps from `from` forward to `to` on a ring of `count` partitions.
    fn forward(from: usize, to: usize, count: usize) -> usize {
        (to + count - from) % count
    }

    fn table(raw: &[u32]) -> Vec<NodeId> {
        raw.iter().map(|&n| NodeId(n)).collect()
    }

    proptest! {
        /// A violation is an ordered pair of distinct partitions with the
        /// same owner, the second fewer than `window` steps after the first.
        #[test]
        fn violations_are_same_owner_pairs_fewer_than_window_steps_apart(raw in vec(0u32..4, 0..20), window in 0usize..25) {
            let owners = table(&raw);
            let count = owners.len();
            let pairs = (0..count)
                .flat_map(|p| (0..count).map(move |q| (p, q)))
                .filter(|&(p, q)| p != q && owners[p] == owners[q] && forward(p, q, count) < window)
                .count();
            prop_assert_eq!(violations(&owners, window), pairs);
        }

        /// `node` conflicts at `position` when it owns another partition
        /// fewer than `window` steps away in either direction.
        #[test]
        fn a_conflict_is_the_same_node_fewer_than_window_steps_either_way(
            raw in vec(0u32..4, 1..20), pick in 0usize..20, node in 0u32..4, window in 0usize..25,
        ) {
            let owners = table(&raw);
            let count = owners.len();
            let position = pick % count;
            let near = (0..count).any(|q| {
                q != position
                    && owners[q] == NodeId(node)
                    && forward(position, q, count).min(forward(q, position, count)) < window
            });
            prop_assert_eq!(conflicts(&owners, position, NodeId(node), window), near);
        }

        /// The initial table gives every node `floor(Q/S)` or `ceil(Q/S)`
        /// partitions, stripes them when the window cannot be kept, and
        /// otherwise repairs to no more violations than the stripes had.
        #[test]
        fn the_initial_table_is_balanced_and_no_worse_than_the_stripes(
            node_count in 1u32..12, extra in 0u32..60, window in 1usize..6,
        ) {
            let nodes: Vec<NodeId> = (0..node_count).map(NodeId).collect();
            let partitions = node_count + extra;
            let owners = initial(&nodes, partitions, window);
            let stripes: Vec<NodeId> = (0..partitions as usize).map(|p| nodes[p % nodes.len()]).collect();
            let floor = partitions as usize / nodes.len();
            let (min, max) = spread(&owners, &nodes);
            prop_assert!(min == floor && max <= floor + 1, "shares {}..{} for Q = {}", min, max, partitions);
            prop_assert_eq!(counts(&owners, &nodes), counts(&stripes, &nodes));
            if nodes.len() < window {
                prop_assert_eq!(&owners, &stripes);
            }
            prop_assert!(violations(&owners, window) <= violations(&stripes, window));
        }

        /// A join moves exactly `floor(Q/S')` partitions, all to the joiner,
        /// and leaves every share within one of equal.
        #[test]
        fn a_join_moves_its_share_to_the_joiner_only(node_count in 1u32..12, extra in 1u32..60, window in 1usize..5) {
            let members: Vec<NodeId> = (0..node_count).map(NodeId).collect();
            let partitions = node_count + extra;
            let owners = initial(&members, partitions, window);
            let joiner = NodeId(node_count);
            let after = join(&owners, &members, joiner, window);
            let moved: Vec<usize> = (0..owners.len()).filter(|&p| owners[p] != after[p]).collect();
            prop_assert_eq!(moved.len(), partitions as usize / (members.len() + 1));
            prop_assert!(moved.iter().all(|&p| after[p] == joiner));
            let everyone: Vec<NodeId> = (0..=node_count).map(NodeId).collect();
            let (min, max) = spread(&after, &everyone);
            prop_assert!(max - min <= 1, "shares {}..{}", min, max);
        }

        /// A leave moves exactly the leaver's partitions, to the others, and
        /// leaves every share within one of equal.
        #[test]
        fn a_leave_moves_only_the_leavers_partitions(node_count in 2u32..12, extra in 0u32..60, window in 1usize..5, pick in 0u32..12) {
            let members: Vec<NodeId> = (0..node_count).map(NodeId).collect();
            let owners = initial(&members, node_count + extra, window);
            let leaver = NodeId(pick % node_count);
            let after = leave(&owners, &members, leaver, window);
            for (before, now) in owners.iter().zip(&after) {
                prop_assert_eq!(*before == leaver, before != now);
                prop_assert!(*now != leaver);
            }
            let remaining: Vec<NodeId> = members.iter().copied().filter(|&n| n != leaver).collect();
            let (min, max) = spread(&after, &remaining);
            prop_assert!(max - min <= 1, "shares {}..{}", min, max);
        }

        /// Rebalancing gives every partition a member, every member a share
        /// within one of equal, moves nothing from a balanced table of
        /// members, and is a fixed point.
        #[test]
        fn rebalancing_gives_members_equal_shares_and_is_a_fixed_point(
            raw in vec(0u32..8, 1..40), member_mask in 1u32..256, window in 1usize..4,
        ) {
            let members: Vec<NodeId> = (0..8).filter(|n| member_mask & (1 << n) != 0).map(NodeId).collect();
            let owners = table(&raw);
            let settled = rebalance(&owners, &members, window);
            prop_assert_eq!(settled.len(), owners.len());
            prop_assert!(settled.iter().all(|n| members.binary_search(n).is_ok()));
            let (min, max) = spread(&settled, &members);
            prop_assert!(max - min <= 1, "shares {}..{}", min, max);
            prop_assert_eq!(rebalance(&settled, &members, window), settled.clone());
            // At least every partition of a non-member and every one above
            // a member's new ceiling moves.
            let ceiling = owners.len().div_ceil(members.len());
            let before = counts(&owners, &members);
            let excess: usize = before
                .iter()
                .map(|(n, &c)| if members.binary_search(n).is_ok() { c.saturating_sub(ceiling) } else { c })
                .sum();
            let moved = owners.iter().zip(&settled).filter(|(a, b)| a != b).count();
            prop_assert!(moved >= excess, "moved {} of an excess of {}", moved, excess);
        }
    }

    #[test]
    fn a_window_wider_than_the_ring_counts_each_pair_once_per_direction() {
        let owners = table(&[0, 1, 0]);
        assert_eq!(violations(&owners, 10), 2);
        assert_eq!(violations(&table(&[0, 1]), 10), 0);
        assert_eq!(violations(&table(&[4]), 10), 0);
        assert_eq!(violations(&[], 3), 0);
        assert!(!conflicts(&table(&[4]), 0, NodeId(4), 10));
        // Window 3 from position 0 of 7: positions 1, 2 ahead and 6, 5 behind.
        let owners = table(&[4, 5, 6, 7, 8, 9, 10]);
        let near: Vec<u32> = (4..=10).filter(|&n| conflicts(&owners, 0, NodeId(n), 3)).collect();
        assert_eq!(near, vec![5, 6, 9, 10]);
    }

    #[test]
    fn rebalancing_moves_a_partition_where_the_receiver_has_no_neighbour() {
        // Shares 4, 1, 1 of 6: n0 gives one partition to n1, then one to n2.
        // n1 owns partition 4, so partition 3 would put it twice in a row;
        // n2 owns partition 5, so partition 0 would too. Each takes the
        // first of n0's partitions that sits beside none of its own.
        let settled = rebalance(&table(&[0, 0, 0, 0, 1, 2]), &ids(3), 2);
        assert_eq!(settled, table(&[1, 2, 0, 0, 1, 2]));
        // Taking partitions 3 and 0 instead would leave three pairs.
        assert_eq!(violations(&settled, 2), 1);
    }

    #[test]
    fn rebalancing_an_empty_membership_changes_nothing() {
        assert_eq!(rebalance(&table(&[3, 4, 3]), &[], 3), table(&[3, 4, 3]));
    }

    fn ids(count: u32) -> Vec<NodeId> {
        (0..count).map(NodeId).collect()
    }

    fn spread(owners: &[NodeId], nodes: &[NodeId]) -> (usize, usize) {
        let counts = counts(owners, nodes);
        let min = counts.values().copied().min().unwrap_or(0);
        let max = counts.values().copied().max().unwrap_or(0);
        (min, max)
    }

    #[test]
    fn riak_sized_ring_has_no_violations_for_three_replicas() {
        let owners = initial(&ids(30), 1024, 3);
        assert_eq!(violations(&owners, 3), 0);
        assert_eq!(spread(&owners, &ids(30)), (34, 35));
    }

    #[test]
    fn a_short_tail_is_repaired_by_swaps() {
        // 100 = 3·30 + 10 is fine; 91 = 3·30 + 1 leaves a tail of one that
        // would sit next to partition 0's owner without the repair.
        for partitions in [91u32, 92, 61, 62, 64] {
            let owners = initial(&ids(30), partitions, 3);
            assert_eq!(violations(&owners, 3), 0, "Q = {partitions}");
        }
    }

    #[test]
    fn impossible_windows_keep_counts_balanced() {
        // Three nodes on ten partitions cannot avoid a repeat in some window of three.
        let owners = initial(&ids(3), 10, 3);
        assert_eq!(spread(&owners, &ids(3)), (3, 4));
        assert!(violations(&owners, 3) > 0);
    }

    #[test]
    fn a_joiner_takes_floor_of_its_share_without_violations() {
        let owners = initial(&ids(30), 1024, 3);
        let after = join(&owners, &ids(30), NodeId(30), 3);
        let moved = owners.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(moved, 1024 / 31);
        assert_eq!(spread(&after, &ids(31)), (33, 34));
        assert_eq!(violations(&after, 3), 0);
    }

    #[test]
    fn a_leave_repairs_again_after_a_pass_that_helped() {
        // Six nodes on 15 partitions, window 3: n1's partitions go to the
        // least loaded, and the swaps among them need a second pass, after
        // the first one's swaps, to leave no violation.
        let owners = initial(&ids(6), 15, 3);
        let after = leave(&owners, &ids(6), NodeId(1), 3);
        assert_eq!(violations(&after, 3), 0);
    }

    #[test]
    fn a_leaver_hands_its_partitions_to_the_least_loaded() {
        let owners = initial(&ids(30), 1024, 3);
        let after = leave(&owners, &ids(30), NodeId(7), 3);
        let moved = owners.iter().zip(&after).filter(|(a, b)| a != b).count();
        assert_eq!(moved, owners.iter().filter(|&&n| n == NodeId(7)).count());
        let remaining: Vec<NodeId> = ids(30).into_iter().filter(|&n| n != NodeId(7)).collect();
        assert_eq!(spread(&after, &remaining), (35, 36));
        // Striping put n5, n6, n8, n9 beside every partition of n7, and each of
        // them must gain one to reach the floor share of 35: with only n7's
        // partitions moving, those four violations are unavoidable.
        assert_eq!(violations(&after, 3), 4);
    }
}
