//! Taking one node out of a candidate's cluster while its faults keep
//! naming the nodes they meant.
//!
//! Faults name nodes by id (`nodes = [6]`, `via = 2`, `"n6"` in `groups`,
//! `from` and `to`), and ids are dense (`0..cluster.nodes`, joins take the
//! next ones). Cutting `cluster.nodes` by one therefore only works when
//! the highest node is unnamed; to shrink a cluster whose faults name its
//! high nodes, the shrinker drops an unnamed node and moves every id above
//! it down by one, in the faults and in `cluster.seeds` alike.

use crate::fault::FaultSpec;
use std::collections::BTreeSet;

/// Every node id a fault names (joined ones included).
pub fn named_nodes(faults: &[FaultSpec]) -> BTreeSet<u32> {
    let mut named = BTreeSet::new();
    for fault in faults {
        named.extend(fault.nodes.iter().copied());
        named.extend(fault.via);
        let endpoints = fault.groups.iter().flatten().chain(&fault.from).chain(&fault.to);
        named.extend(endpoints.filter_map(|endpoint| node_id(endpoint.as_str())));
    }
    named
}

/// `faults` with every node id above `dropped` one less; `None` when a
/// fault names `dropped` itself (it cannot go).
pub fn without_node(faults: &[FaultSpec], dropped: u32) -> Option<Vec<FaultSpec>> {
    if named_nodes(faults).contains(&dropped) {
        return None;
    }
    let id = |id: u32| if id > dropped { id - 1 } else { id };
    let endpoint = |name: &String| node_id(name).map_or_else(|| name.clone(), |node| format!("n{}", id(node)));
    let renumbered = faults
        .iter()
        .map(|fault| FaultSpec {
            nodes: fault.nodes.iter().map(|&node| id(node)).collect(),
            via: fault.via.map(id),
            groups: fault.groups.iter().map(|group| group.iter().map(endpoint).collect()).collect(),
            from: fault.from.iter().map(endpoint).collect(),
            to: fault.to.iter().map(endpoint).collect(),
            ..fault.clone()
        })
        .collect();
    Some(renumbered)
}

/// The node an endpoint name (`"n6"`) stands for; `None` for clients and
/// the group words (`"others"`, `"nodes"`, `"clients"`).
fn node_id(endpoint: &str) -> Option<u32> {
    endpoint.strip_prefix('n').and_then(|id| id.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultAction;

    fn fault(action: FaultAction) -> FaultSpec {
        FaultSpec {
            at_ms: 10.0,
            action,
            nodes: Vec::new(),
            groups: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
            duration_ms: None,
            rate: None,
            multiplier: None,
            added_ms: None,
            skew_ms: None,
            via: None,
        }
    }

    fn schedule() -> Vec<FaultSpec> {
        let crash = FaultSpec { nodes: vec![6], ..fault(FaultAction::Crash) };
        let partition = FaultSpec {
            groups: vec![vec!["n7".into(), "c1".into()], vec!["others".into()]],
            ..fault(FaultAction::Partition)
        };
        let one_way = FaultSpec { from: vec!["n1".into()], to: vec!["n4".into()], ..fault(FaultAction::Partition) };
        let join = FaultSpec { nodes: vec![8], via: Some(4), ..fault(FaultAction::Join) };
        vec![crash, partition, one_way, join]
    }

    #[test]
    fn every_way_a_fault_names_a_node_counts() {
        assert_eq!(named_nodes(&schedule()).into_iter().collect::<Vec<_>>(), [1, 4, 6, 7, 8]);
        assert!(named_nodes(&[fault(FaultAction::Loss)]).is_empty());
    }

    #[test]
    fn dropping_an_unnamed_node_moves_every_higher_id_down_by_one() {
        let shrunk = without_node(&schedule(), 2).expect("n2 is unnamed");
        assert_eq!(shrunk[0].nodes, [5]);
        assert_eq!(shrunk[1].groups, [vec!["n6".to_string(), "c1".into()], vec!["others".into()]]);
        assert_eq!((shrunk[2].from.clone(), shrunk[2].to.clone()), (vec!["n1".to_string()], vec!["n3".to_string()]));
        assert_eq!((shrunk[3].nodes.clone(), shrunk[3].via), (vec![7], Some(3)), "the join stays the next id");
        assert_eq!(named_nodes(&shrunk).len(), named_nodes(&schedule()).len(), "no two names merge");
    }

    #[test]
    fn a_named_node_is_never_dropped() {
        for named in [1, 4, 6, 7, 8] {
            assert!(without_node(&schedule(), named).is_none(), "n{named}");
        }
        let unchanged = without_node(&schedule(), 9).expect("above every name");
        assert_eq!(named_nodes(&unchanged), named_nodes(&schedule()));
    }
}
