//! The node driven by hand through its message and timer interface.

use super::*;
use crate::engine::rng::{Purpose, Streams};
use crate::protocol::{Coordination, Failure, ReadResult, Span, Value, Version, WriteId};
use crate::ring::Strategy;
use crate::types::{ClientId, Token};
use vclock::Causality;
use vclock::VectorClock;

const CLIENT: ClientId = ClientId(0);

pub(super) fn config() -> Arc<NodeConfig> {
    Arc::new(NodeConfig {
        n: 3,
        r: 2,
        w: 2,
        request_timeout_us: 1_000,
        clock_max_entries: 10,
        read_service: Dist::Constant(0.01),
        write_service: Dist::Constant(0.02),
        servers: 1,
        sloppy_quorum: true,
        replica_timeout_us: 200,
        probe_interval_us: 10_000,
        handoff_interval_us: 10_000,
        handoff_batch: 16,
        read_repair: true,
        buffered_writes: false,
        expected_keys: 0,
        flush_interval_us: 10_000,
        rules: store::StoreRules::VECTOR_CLOCKS,
        anti_entropy_depth: Some(4),
        tree_layout: merkle::Layout::Dense,
        anti_entropy_interval_us: 10_000,
        strategy: Strategy::EqualPartitions { partitions: 16 },
        seeds: vec![NodeId(0)],
        gossip_interval_us: 1_000_000,
        seed_gossip_every: 4,
        scan_key_us: 2,
        transfer_bytes_per_us: 50.0,
        shared_rings: Arc::default(),
    })
}

/// [`config`] under dotted version vectors.
fn dvv_config() -> NodeConfig {
    let dvv = versioning::Versioning::DottedVersionVectors;
    NodeConfig { rules: store::StoreRules { versioning: dvv, sibling_cap: 0 }, ..(*config()).clone() }
}

/// The version a coordinator wrote to its replicas, from what it sent.
fn version_sent(messages: Vec<(Endpoint, Message)>) -> Version {
    messages
        .into_iter()
        .find_map(|(_, m)| match m {
            Message::ReplicaWrite { version, .. } => Some(version),
            _ => None,
        })
        .expect("written to the replicas")
}

fn cluster(nodes: u32) -> Vec<Node> {
    cluster_with(nodes, config())
}

pub(super) fn cluster_with(nodes: u32, config: Arc<NodeConfig>) -> Vec<Node> {
    let ids: Vec<NodeId> = (0..nodes).map(NodeId).collect();
    let streams = Streams::new(1);
    let ring = Arc::new(Ring::build(&Strategy::EqualPartitions { partitions: 16 }, &ids, None, |n| {
        streams.stream(Purpose::RingTokens, u64::from(n.0))
    }));
    ids.iter()
        .map(|&id| {
            let rng = streams.stream(Purpose::Node, u64::from(id.0));
            let tokens = streams.stream(Purpose::RingTokens, u64::from(id.0));
            Node::new(id, Arc::clone(&config), Arc::clone(&ring), rng, tokens)
        })
        .collect()
}

/// A key whose preference list (N = 3) contains `inside` and not `outside`.
fn key_where(nodes: &[Node], inside: NodeId, outside: Option<NodeId>) -> (Key, Vec<NodeId>) {
    (0..)
        .map(Key::new)
        .map(|k| (k, nodes[0].ring.preference_list(k.position, 3)))
        .find(|(_, list)| list.contains(&inside) && outside.is_none_or(|o| !list.contains(&o)))
        .expect("some key qualifies")
}

fn put(sequence: u64, key: Key, context: VectorClock, write: u64) -> Message {
    let request = RequestId { client: CLIENT, sequence };
    let value = Value { write: WriteId(write), bytes: 8, items: None };
    Message::Put { request, key, context, value, forwarded: false }
}

/// Fires every pending storage timer of `node` in order, collecting what it sends.
fn finish_storage(node: &mut Node, out: &mut Outbox<NodeTimer>) -> Vec<(Endpoint, Message)> {
    let mut sent = Vec::new();
    while !out.timers.is_empty() {
        let timers = std::mem::take(&mut out.timers);
        for (at, timer) in timers {
            if matches!(timer, NodeTimer::StorageDone { .. }) {
                node.on_timer(at, timer, out);
            }
        }
        sent.append(&mut out.messages);
    }
    sent
}

#[test]
fn a_write_goes_to_the_other_replicas_and_is_acknowledged_after_w_acks() {
    let mut nodes = cluster(5);
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    let replicas: Vec<Endpoint> = out.messages.iter().map(|(to, _)| *to).collect();
    let expected: Vec<Endpoint> = list.iter().filter(|&&n| n != NodeId(0)).map(|&n| Endpoint::Node(n)).collect();
    assert_eq!(replicas, expected, "sent to the N-1 other replicas");
    assert!(matches!(out.messages[0].1, Message::ReplicaWrite { .. }));
    assert_eq!(nodes[0].store().get(key.id).len(), 1, "the coordinator writes locally");
    let coordination = match &out.messages[0].1 {
        Message::ReplicaWrite { coordination, .. } => *coordination,
        other => panic!("unexpected {other:?}"),
    };
    out.messages.clear();
    // Own durable write completes: 1 ack of W = 2, no reply yet.
    let sent = finish_storage(&mut nodes[0], &mut out);
    assert!(sent.is_empty());
    // A replica's ack makes W = 2.
    nodes[0].on_message(Time(50), expected[0], Message::ReplicaWriteAck { coordination }, &mut out);
    match &out.messages[..] {
        [(Endpoint::Client(CLIENT), Message::PutReply { outcome: Ok(ack), .. })] => {
            assert_eq!(ack.clock.counter(NodeId(0)), 1);
        }
        other => panic!("expected one PutReply, got {other:?}"),
    }
}

#[test]
fn a_node_outside_the_top_n_forwards_to_the_first_of_them() {
    let mut nodes = cluster(5);
    let (key, list) = key_where(&nodes, NodeId(0), Some(NodeId(4)));
    let mut out = Outbox::default();
    nodes[4].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    match &out.messages[..] {
        [(to, Message::Put { forwarded: true, .. })] => assert_eq!(*to, Endpoint::Node(list[0])),
        other => panic!("expected a forwarded put, got {other:?}"),
    }
    assert_eq!(nodes[4].stats().requests_forwarded, 1);
    assert_eq!(nodes[4].store().key_count(), 0);
}

#[test]
fn two_blind_writes_through_one_coordinator_get_ordered_clocks() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    nodes[0].on_message(Time(1), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
    let clocks: Vec<VectorClock> = out
        .messages
        .iter()
        .filter_map(|(_, m)| match m {
            Message::ReplicaWrite { version, .. } => Some(version.clock.clone()),
            _ => None,
        })
        .collect();
    let (first, second) = (&clocks[0], clocks.last().expect("two writes"));
    assert_ne!(first, second);
    assert_eq!(second.compare(first), Causality::After);
    let stored = nodes[0].store().get(key.id);
    assert_eq!(stored.len(), 1, "the second write superseded the first");
    assert_eq!(stored[0].write, WriteId(2));
}

#[test]
fn blind_writes_through_two_coordinators_become_siblings_and_a_read_returns_both() {
    let mut nodes = cluster(5);
    let (key, list) =
        (0..).map(Key::new).map(|k| (k, nodes[0].ring.preference_list(k.position, 3))).next().expect("a key");
    let (a, b, c) = (list[0], list[1], list[2]);
    let mut out = Outbox::default();
    nodes[a.0 as usize].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    nodes[b.0 as usize].on_message(Time(0), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
    // Deliver both coordinators' replica writes to the third replica.
    let writes: Vec<Message> =
        out.messages.drain(..).filter(|(to, _)| *to == Endpoint::Node(c)).map(|(_, m)| m).collect();
    assert_eq!(writes.len(), 2);
    let third = &mut nodes[c.0 as usize];
    let mut replica_out = Outbox::default();
    for message in writes {
        third.on_message(Time(10), Endpoint::Node(a), message, &mut replica_out);
    }
    finish_storage(third, &mut replica_out);
    assert_eq!(third.store().get(key.id).len(), 2, "concurrent blind writes are siblings");

    // A read coordinated by the third replica: its own read plus R-1 = 1 remote reply.
    let mut read_out = Outbox::default();
    let request = RequestId { client: CLIENT, sequence: 9 };
    third.on_message(
        Time(20),
        Endpoint::Client(CLIENT),
        Message::Get { request, key, forwarded: false },
        &mut read_out,
    );
    let asked: Vec<Endpoint> = read_out.messages.iter().map(|(to, _)| *to).collect();
    assert_eq!(asked, vec![Endpoint::Node(a), Endpoint::Node(b)]);
    let coordination = match &read_out.messages[0].1 {
        Message::ReplicaRead { coordination, .. } => *coordination,
        other => panic!("unexpected {other:?}"),
    };
    read_out.messages.clear();
    finish_storage(third, &mut read_out);
    third.on_message(
        Time(30),
        Endpoint::Node(a),
        Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![] },
        &mut read_out,
    );
    match &read_out.messages[..] {
        [(_, Message::GetReply { outcome: Ok(ReadResult { versions, context, .. }), .. })] => {
            assert_eq!(versions.len(), 2);
            assert_eq!(versions[0].clock.compare(&versions[1].clock), Causality::Concurrent);
            assert!(context.descends(&versions[0].clock) && context.descends(&versions[1].clock));
        }
        other => panic!("expected a GetReply, got {other:?}"),
    }
}

#[test]
fn a_write_whose_quorum_does_not_answer_fails_at_the_timeout() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    let deadline = out
        .timers
        .iter()
        .find_map(|(at, t)| matches!(t, NodeTimer::CoordinationTimeout { .. }).then_some((*at, *t)))
        .expect("a deadline is set");
    assert_eq!(deadline.0, Time(1_000));
    out.messages.clear();
    nodes[0].on_timer(deadline.0, deadline.1, &mut out);
    assert!(matches!(&out.messages[..], [(_, Message::PutReply { outcome: Err(Failure::Timeout), .. })]));
    assert_eq!(nodes[0].stats().coordinations_timed_out, 1);
}

/// A replica write with no hint, as a coordinator sends it.
fn replica_write(key: Key, write: u64, durable: bool) -> Message {
    let mut clock = VectorClock::new();
    clock.set(NodeId(9), write.max(1), Time(0));
    let value = Value { write: WriteId(write), bytes: 8, items: None };
    let dot = crate::node::vclock::Dot { actor: NodeId(9).into(), counter: write.max(1) };
    let version = Version::from(VersionData::new(clock, dot, crate::protocol::Stamp::default(), value));
    let coordination = Coordination { coordinator: Endpoint::Node(NodeId(9)), id: write };
    Message::ReplicaWrite { coordination, key, version, hint: None, durable }
}

/// True when `out` holds a storage timer.
fn storage_queued(out: &Outbox<NodeTimer>) -> bool {
    out.timers.iter().any(|(_, timer)| matches!(timer, NodeTimer::StorageDone { .. }))
}

/// A storage operation that takes no time on a free server completes in
/// the handler that queued it, with no timer of its own: the coordinator's
/// own durable write counts toward W at once (its coordination is recorded
/// first), a replica acknowledges a write and answers a read at once. On a
/// busy server the same read waits, as any other job.
#[test]
fn zero_time_storage_on_a_free_server_completes_at_once_without_a_timer() {
    let instant = |write_ms| {
        let config = NodeConfig {
            read_service: Dist::Constant(0.0),
            write_service: Dist::Constant(write_ms),
            ..(*config()).clone()
        };
        Arc::new(config)
    };
    let mut nodes = cluster_with(5, instant(0.0));
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    assert!(!storage_queued(&out), "the coordinator's own write took no time: {out:?}");
    let replica = list.iter().copied().find(|&n| n != NodeId(0)).expect("another replica");
    let write = out.messages.iter().find(|(to, _)| *to == Endpoint::Node(replica)).expect("a replica write").1.clone();
    let mut replica_out = Outbox::default();
    nodes[replica.0 as usize].on_message(Time(5), Endpoint::Node(NodeId(0)), write, &mut replica_out);
    assert!(!storage_queued(&replica_out));
    let [(to, ack @ Message::ReplicaWriteAck { .. })] = &replica_out.messages[..] else {
        panic!("expected the ack at once, got {replica_out:?}")
    };
    assert_eq!(*to, Endpoint::Node(NodeId(0)));
    out.messages.clear();
    nodes[0].on_message(Time(10), Endpoint::Node(replica), ack.clone(), &mut out);
    assert!(
        matches!(&out.messages[..], [(Endpoint::Client(CLIENT), Message::PutReply { outcome: Ok(_), .. })]),
        "W = 2 with the coordinator's own ack: {out:?}"
    );

    let mut nodes = cluster_with(1, instant(0.02));
    let coordination = Coordination { coordinator: Endpoint::Node(NodeId(4)), id: 7 };
    let read = Message::ReplicaRead { coordination, key };
    let mut busy = Outbox::default();
    nodes[0].on_message(Time(100), Endpoint::Node(NodeId(4)), replica_write(key, 1, true), &mut busy);
    nodes[0].on_message(Time(100), Endpoint::Node(NodeId(4)), read.clone(), &mut busy);
    let done: Vec<Time> =
        busy.timers.iter().filter(|(_, t)| matches!(t, NodeTimer::StorageDone { .. })).map(|(at, _)| *at).collect();
    assert_eq!(done, vec![Time(120), Time(120)], "the read waits for the write on the one server");
    assert!(busy.messages.is_empty());
    let mut free = Outbox::default();
    nodes[0].on_message(Time(200), Endpoint::Node(NodeId(4)), read, &mut free);
    assert!(!storage_queued(&free));
    assert!(matches!(&free.messages[..], [(_, Message::ReplicaReadReply { .. })]), "{free:?}");
}

#[test]
fn buffered_writes_are_acknowledged_at_once_and_lost_if_the_node_crashes_before_the_flush_completes() {
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let mut nodes = cluster_with(5, buffered);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let node = &mut nodes[0];
    let mut out = Outbox::default();
    node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(key, 1, false), &mut out);
    assert!(matches!(&out.messages[..], [(_, Message::ReplicaWriteAck { .. })]), "acked from memory");
    assert_eq!(node.main_versions(key.id).len(), 1);
    assert!(node.store().get(key.id).is_empty(), "not on disk yet");
    // The flush starts, but the node crashes before its disk write completes.
    node.flush(Time(10), &mut out);
    let lost = node.crash(Time(11), false);
    assert_eq!(lost.len(), 1, "the unflushed write is lost");
    assert!(node.main_versions(key.id).is_empty());

    // The same write, flushed to completion, survives a crash.
    let node = &mut nodes[1];
    let mut out = Outbox::default();
    node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(key, 2, false), &mut out);
    node.flush(Time(10), &mut out);
    finish_storage(node, &mut out);
    assert_eq!(node.store().get(key.id).len(), 1, "on disk once the flush completed");
    assert!(node.crash(Time(20), false).is_empty());
    assert_eq!(node.main_versions(key.id).len(), 1);
}

/// A coordinator's buffered copy of its version is lost in a crash while
/// a replica keeps it: the next version it makes for the key must draw a
/// new counter (the high-water mark is on disk) and, under dotted version
/// vectors, must not claim the lost one, which lives on elsewhere.
#[test]
fn after_a_crash_loses_its_buffer_a_coordinator_neither_reuses_nor_claims_the_lost_dot() {
    let dvv = versioning::Versioning::DottedVersionVectors;
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..dvv_config() });
    let mut nodes = cluster_with(5, buffered);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let coordinate = |node: &mut Node, sequence: u64| {
        let mut out = Outbox::default();
        node.on_message(
            Time(sequence),
            Endpoint::Client(CLIENT),
            put(sequence, key, VectorClock::new(), sequence),
            &mut out,
        );
        version_sent(out.messages)
    };
    let first = coordinate(&mut nodes[0], 1);
    let lost = nodes[0].crash(Time(2), false);
    assert!(lost.iter().any(|(_, v)| v.dot == first.dot), "its own copy was only buffered: {lost:?}");
    nodes[0].start(Time(3), &mut Outbox::default());
    let second = coordinate(&mut nodes[0], 4);
    assert!(second.dot.counter > first.dot.counter, "{} after {}", second.dot, first.dot);
    assert!(!dvv.history(&second).contains(first.dot), "a reader of the second never saw the first");
}

#[test]
fn a_durable_replica_write_waits_for_the_disk_even_with_buffering() {
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let mut nodes = cluster_with(5, buffered);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(key, 1, true), &mut out);
    assert!(out.messages.is_empty(), "no ack before the disk write");
    let sent = finish_storage(&mut nodes[0], &mut out);
    assert!(matches!(&sent[..], [(_, Message::ReplicaWriteAck { .. })]));
    assert_eq!(nodes[0].store().get(key.id).len(), 1);
}

/// Delivers every message between nodes (and fires storage timers) until
/// nothing is left to do. Returns every message sent on the way, by sender.
fn settle(nodes: &mut [Node], mut pending: Vec<(NodeId, Endpoint, Message)>) -> Vec<(NodeId, Message)> {
    let mut out = Outbox::default();
    let mut log = Vec::new();
    for _ in 0..1_000 {
        if pending.is_empty() {
            return log;
        }
        for (from, to, message) in std::mem::take(&mut pending) {
            let Endpoint::Node(to) = to else { continue };
            let node = &mut nodes[to.0 as usize];
            node.on_message(Time(1), Endpoint::Node(from), message, &mut out);
            let mut sent = std::mem::take(&mut out.messages);
            sent.extend(finish_storage(node, &mut out));
            log.extend(sent.iter().map(|(_, m)| (to, m.clone())));
            pending.extend(sent.into_iter().map(|(dest, m)| (to, dest, m)));
        }
    }
    panic!("the exchange did not settle");
}

/// Two nodes that each hold a replica of everything (N = 2), started, and
/// the outbox they started with.
fn two_started_replicas() -> (Vec<Node>, Outbox<NodeTimer>) {
    let two_replicas = Arc::new(NodeConfig { n: 2, r: 1, w: 1, ..(*config()).clone() });
    let mut nodes = cluster_with(2, two_replicas);
    let mut out = Outbox::default();
    for node in nodes.iter_mut() {
        node.start(Time(0), &mut out);
    }
    (nodes, out)
}

#[test]
fn anti_entropy_between_two_nodes_exchanges_only_the_differing_keys() {
    let (mut nodes, mut out) = two_started_replicas();
    // 300 keys on both, 3 more on node 0 only, 2 more on node 1 only.
    for id in 0..300u64 {
        for node in nodes.iter_mut() {
            node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(Key::new(id), id + 1, true), &mut out);
            finish_storage(node, &mut out);
        }
    }
    for (node, id) in [(0usize, 1000u64), (0, 1001), (0, 1002), (1, 2000), (1, 2001)] {
        let key = Key::new(id);
        nodes[node].on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(key, id, true), &mut out);
        finish_storage(&mut nodes[node], &mut out);
    }
    out.messages.clear();
    nodes[0].anti_entropy_round(Time(1), &mut out);
    let opening: Vec<_> = out.messages.drain(..).map(|(to, m)| (NodeId(0), to, m)).collect();
    settle(&mut nodes, opening);
    for id in [1000u64, 1001, 1002, 2000, 2001] {
        assert_eq!(nodes[0].main_versions(id).len(), 1, "node 0 holds key {id}");
        assert_eq!(nodes[1].main_versions(id).len(), 1, "node 1 holds key {id}");
    }
    assert_eq!(nodes[0].store().key_count(), nodes[1].store().key_count());
    let repaired = nodes[0].stats().anti_entropy_keys_repaired + nodes[1].stats().anti_entropy_keys_repaired;
    assert_eq!(repaired, 5, "exactly the differing keys moved");
    // 16 ranges of depth-4 trees: the exchange walks only the differing paths.
    let exchanged = nodes[0].stats().anti_entropy_tree_nodes + nodes[1].stats().anti_entropy_tree_nodes;
    assert!(exchanged < 16 + 5 * 2 * 5, "{exchanged} tree nodes for 5 differences");
}

/// A node's Merkle trees take its data's changes in batches, when read
/// (a round, a peer's hashes) or once enough wait: trees kept that way
/// must equal trees rebuilt from the same data, whatever is pending when
/// a round starts. Two replicas of everything (N = 2 of 2) get the same
/// 700 writes over 470 keys — a third of the writes supersede an earlier
/// one — so changes wait in both when node 0 opens a round; node 1 rebuilds
/// its trees from its data (pending again until read). Equal trees cost
/// one root a range and repair nothing; the full-copy baseline of a round
/// (the hosted bytes, summed from the changes) is the same on both.
#[test]
fn trees_kept_from_batched_changes_equal_trees_rebuilt_from_the_data() {
    let (mut nodes, mut out) = two_started_replicas();
    for write in 1..=700u64 {
        let key = Key::new(write % 470); // 230 keys written twice: the second write supersedes the first
        for node in nodes.iter_mut() {
            node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(key, write, true), &mut out);
            finish_storage(node, &mut out);
        }
    }
    nodes[1].rebuild_trees();
    out.messages.clear();
    nodes[0].anti_entropy_round(Time(1), &mut out);
    let ranges = out.messages.len() as u64;
    assert!(ranges > 0, "node 0 compares its ranges");
    let opening: Vec<_> = out.messages.drain(..).map(|(to, m)| (NodeId(0), to, m)).collect();
    settle(&mut nodes, opening);
    let exchanged = nodes[0].stats().anti_entropy_tree_nodes + nodes[1].stats().anti_entropy_tree_nodes;
    assert_eq!(exchanged, ranges, "equal trees: one root a range, no walk down");
    let repaired = nodes[0].stats().anti_entropy_keys_repaired + nodes[1].stats().anti_entropy_keys_repaired;
    assert_eq!(repaired, 0);
    nodes[1].anti_entropy_round(Time(2), &mut out);
    let baseline = |node: &Node| node.stats().anti_entropy_full_copy_bytes;
    assert!(baseline(&nodes[0]) > 0);
    assert_eq!(baseline(&nodes[0]), baseline(&nodes[1]), "the hosted bytes, kept or rebuilt");
}

/// The replica writes a coordinator sent for `key`, in order.
fn replica_writes_to(out: &mut Outbox<NodeTimer>, to: NodeId) -> Vec<Message> {
    out.messages.drain(..).filter(|(dest, _)| *dest == Endpoint::Node(to)).map(|(_, m)| m).collect()
}

/// Stores `writes` at `replica` and returns what it holds for `key`.
fn store_at(replica: &mut Node, from: NodeId, writes: Vec<Message>, key: Key) -> Vec<Version> {
    let mut out = Outbox::default();
    for message in writes {
        replica.on_message(Time(10), Endpoint::Node(from), message, &mut out);
    }
    finish_storage(replica, &mut out);
    replica.store().get(key.id).to_vec()
}

#[test]
fn after_a_disk_loss_a_node_writes_as_a_new_actor_so_its_new_versions_never_look_old() {
    let mut nodes = cluster(5);
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let other = list.iter().copied().find(|&n| n != NodeId(0)).expect("another replica");
    let mut out = Outbox::default();
    for sequence in 1..=5 {
        nodes[0].on_message(
            Time(0),
            Endpoint::Client(CLIENT),
            put(sequence, key, VectorClock::new(), sequence),
            &mut out,
        );
    }
    let old = store_at(&mut nodes[other.0 as usize], NodeId(0), replica_writes_to(&mut out, other), key);
    assert_eq!(old.len(), 1, "five blind writes through one node: each overwrote the last");
    out.messages.clear();
    nodes[0].crash(Time(100), true);
    nodes[0].start(Time(200), &mut out);
    out.messages.clear();
    out.timers.clear();
    nodes[0].on_message(Time(300), Endpoint::Client(CLIENT), put(6, key, VectorClock::new(), 6), &mut out);
    let held = store_at(&mut nodes[other.0 as usize], NodeId(0), replica_writes_to(&mut out, other), key);
    let writes: Vec<u64> = held.iter().map(|v| v.write.0).collect();
    assert_eq!(writes, vec![5, 6], "the new write is a sibling of the old one, not an obsolete ancestor");
    assert_eq!(held[1].dot.actor, vclock::Actor { node: NodeId(0), epoch: 1 });
    assert_eq!(held[1].dot.counter, 1, "the counters restarted with the disk");
}

#[test]
fn dotted_version_vectors_keep_concurrent_writes_through_one_coordinator_as_siblings() {
    for (config, expected) in [(config(), 1), (Arc::new(dvv_config()), 2)] {
        let mut nodes = cluster_with(5, config);
        let (key, _) = key_where(&nodes, NodeId(0), None);
        let mut out = Outbox::default();
        nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
        nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
        assert_eq!(nodes[0].store().get(key.id).len(), expected, "vector clocks: 1 (a lost update); dvv: 2");
    }
}

/// A coordinator outside a key's replicas (a request forwarded to it while
/// views disagree) keeps none of the versions it makes. Under dotted
/// version vectors its next version of the key must still not claim the
/// first: a client that read only the second would supersede the first
/// unseen (the explored schedules of `tests/fixtures/explore-dvv-n1/`).
#[test]
fn a_dvv_coordinator_that_keeps_none_of_its_versions_claims_only_what_its_writers_saw() {
    let dvv = versioning::Versioning::DottedVersionVectors;
    let mut nodes = cluster_with(5, Arc::new(dvv_config()));
    let (key, _) = key_where(&nodes, NodeId(1), Some(NodeId(0)));
    let mut coordinate = |sequence: u64, context: VectorClock| {
        let Message::Put { request, key, context, value, .. } = put(sequence, key, context, sequence) else {
            unreachable!("put builds a Put")
        };
        let forwarded = Message::Put { request, key, context, value, forwarded: true };
        let mut out = Outbox::default();
        nodes[0].on_message(Time(sequence), Endpoint::Node(NodeId(3)), forwarded, &mut out);
        assert!(nodes[0].store().get(key.id).is_empty(), "not a replica: it keeps nothing");
        version_sent(out.messages)
    };
    let first = coordinate(1, VectorClock::new());
    let second = coordinate(2, VectorClock::new());
    assert!(dvv.concurrent(&first, &second), "two blind writes: siblings");
    let context = dvv.history(&second);
    assert!(!context.contains(first.dot), "a reader of the second never saw the first: {context:?}");
    let third = coordinate(3, context);
    assert!(dvv.supersedes(&third, &second));
    assert!(dvv.concurrent(&third, &first), "the first stays a sibling of what its writer never saw");
    // A reader of both supersedes both, and the chain keeps one entry for n0.
    let fourth = coordinate(4, dvv.history(&first).merge(&dvv.history(&third)));
    assert!(dvv.supersedes(&fourth, &first) && dvv.supersedes(&fourth, &third));
    assert_eq!(fourth.clock.entries().len(), 1, "{:?}", fourth.clock);
}

/// Node `index` handles `message` from `from`; then its storage and
/// transfer timers fire in order. Returns everything it sent.
fn deliver(node: &mut Node, from: NodeId, message: Message) -> Vec<(Endpoint, Message)> {
    let mut out = Outbox::default();
    node.on_message(Time(1), Endpoint::Node(from), message, &mut out);
    let mut sent = std::mem::take(&mut out.messages);
    sent.extend(run_work(node, &mut out));
    sent
}

/// Fires pending storage and transfer timers of `node` until none is left.
fn run_work(node: &mut Node, out: &mut Outbox<NodeTimer>) -> Vec<(Endpoint, Message)> {
    let mut sent = Vec::new();
    while !out.timers.is_empty() {
        for (at, timer) in std::mem::take(&mut out.timers) {
            if matches!(timer, NodeTimer::StorageDone { .. } | NodeTimer::TransferSent { .. }) {
                node.on_timer(at, timer, out);
            }
        }
        sent.append(&mut out.messages);
    }
    sent
}

/// N = 1: nodes 0 and 1 hold `keys` written keys each where the ring places
/// them; node 2 joins through node 0 and asks for its ranges. Returns the
/// three nodes and the fetches the joiner sent.
fn join_with_data(keys: u64) -> (Vec<Node>, Vec<(Endpoint, Message)>) {
    let (nodes, fetches, _) = join_of(2, 1, keys);
    (nodes, fetches)
}

/// Timers a node set, with their times.
type Timers = Vec<(Time, NodeTimer)>;

/// `members` nodes replicating each key `n` times hold `keys` written keys
/// where the ring places them; node `members` joins through node 0 and
/// asks for its ranges (at time 1). Returns the nodes, the joiner last,
/// the fetches it sent and the fetch timeouts it set.
fn join_of(members: u32, n: usize, keys: u64) -> (Vec<Node>, Vec<(Endpoint, Message)>, Timers) {
    let config = Arc::new(NodeConfig { n, r: 1, w: 1, anti_entropy_depth: None, ..(*config()).clone() });
    let mut nodes = cluster_with(members, Arc::clone(&config));
    for id in 0..keys {
        let key = Key::new(id);
        for owner in nodes[0].ring.preference_list(key.position, n) {
            deliver(&mut nodes[owner.0 as usize], NodeId(9), replica_write(key, id + 1, true));
        }
    }
    let streams = Streams::new(1);
    let id = NodeId(members);
    let (rng, tokens) =
        (streams.stream(Purpose::Node, members.into()), streams.stream(Purpose::RingTokens, members.into()));
    let mut joiner = Node::new_joiner(id, config, rng, tokens);
    joiner.join(Time(0), NodeId(0), &mut Outbox::default());
    let mut out = Outbox::default();
    for (_, reply) in deliver(&mut nodes[0], id, Message::JoinRequest) {
        joiner.on_message(Time(1), Endpoint::Node(NodeId(0)), reply, &mut out);
    }
    let timeouts = out.timers.iter().filter(|(_, t)| matches!(t, NodeTimer::FetchTimeout { .. })).cloned().collect();
    let mut sent = std::mem::take(&mut out.messages);
    sent.extend(run_work(&mut joiner, &mut out));
    let fetches = sent.into_iter().filter(|(_, m)| matches!(m, Message::FetchRange { .. })).collect();
    nodes.push(joiner);
    (nodes, fetches, timeouts)
}

/// Delivers the fetches to their sources; returns (source, range data).
fn serve(nodes: &mut [Node], fetches: Vec<(Endpoint, Message)>) -> Vec<(NodeId, Message)> {
    fetches
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::FetchRange { .. }))
        .flat_map(|(to, m)| {
            let Endpoint::Node(source) = to else { panic!("fetches go to nodes") };
            deliver(&mut nodes[source.0 as usize], NodeId(2), m).into_iter().map(move |(_, data)| (source, data))
        })
        .collect()
}

/// Tells `node` the joiner's view (gossip).
fn learn_join(nodes: &mut [Node], node: usize) {
    let view = Arc::new(nodes[2].view().clone());
    deliver(&mut nodes[node], NodeId(2), Message::Gossip { view });
}

#[test]
fn a_joiner_acknowledges_a_range_only_when_it_is_durable_and_fetches_again_after_a_crash() {
    let (mut nodes, fetches) = join_with_data(200);
    assert!(!fetches.is_empty(), "the joiner asks for its ranges");
    let data = serve(&mut nodes, fetches);
    for node in 0..2 {
        learn_join(&mut nodes, node);
    }
    // The ranges arrive; their stores are queued, not done: no acknowledgement yet.
    let mut out = Outbox::default();
    for (source, message) in data {
        nodes[2].on_message(Time(2), Endpoint::Node(source), message, &mut out);
    }
    assert!(out.messages.iter().all(|(_, m)| !matches!(m, Message::TransferAck { .. })), "acknowledged early");
    // The joiner crashes in that window: the sources still hold everything.
    nodes[2].crash(Time(3), false);
    assert_eq!(nodes[2].store().key_count(), 0);
    assert_eq!(nodes[0].store().key_count() + nodes[1].store().key_count(), 200, "no source dropped a key");
    // At the restart it asks again, and this time stores and acknowledges.
    let mut restart = Outbox::default();
    nodes[2].start(Time(4), &mut restart);
    let again: Vec<_> = restart.messages.into_iter().filter(|(_, m)| matches!(m, Message::FetchRange { .. })).collect();
    assert!(!again.is_empty(), "the restarted joiner fetches its ranges again");
    for (source, message) in serve(&mut nodes, again) {
        for (to, ack) in deliver(&mut nodes[2], source, message) {
            assert_eq!(to, Endpoint::Node(source));
            assert!(matches!(ack, Message::TransferAck { .. }));
            deliver(&mut nodes[source.0 as usize], NodeId(2), ack);
        }
    }
    assert!(nodes[2].bootstrap().1.is_some(), "bootstrapped once every range was durable");
    // Every key is on its owner under the new ring, and only there.
    for id in 0..200u64 {
        let key = Key::new(id);
        let owner = nodes[2].ring.preference_list(key.position, 1)[0];
        for node in &nodes {
            assert_eq!(node.main_versions(id).len(), usize::from(node.id == owner), "key {id} on {:?}", node.id);
        }
    }
    let moved = (0..200u64).filter(|&id| !nodes[2].main_versions(id).is_empty()).count() as u64;
    let dropped: u64 = nodes[..2].iter().map(|n| n.stats().transfer_keys_dropped).sum();
    assert_eq!(dropped, moved, "each source counts the keys it dropped once the joiner confirmed them");
}

#[test]
fn a_write_after_the_snapshot_is_pushed_to_the_new_owner_not_dropped() {
    let (mut nodes, fetches) = join_with_data(200);
    // A key that moves from node 0 to the joiner.
    let owner = |node: &Node, key: Key| node.ring.preference_list(key.position, 1)[0];
    let late = (200..)
        .map(Key::new)
        .find(|&k| owner(&nodes[0], k) == NodeId(0) && owner(&nodes[2], k) == NodeId(2))
        .expect("a key moving from node 0 to the joiner");
    let source = NodeId(0);
    for node in 0..2 {
        learn_join(&mut nodes, node);
    }
    let data = serve(&mut nodes, fetches);
    // A coordinator whose view is still old writes it to its old owner,
    // after the snapshot was taken.
    deliver(&mut nodes[source.0 as usize], NodeId(9), replica_write(late, 9_999, true));
    for (from, message) in data {
        for (to, ack) in deliver(&mut nodes[2], from, message) {
            let Endpoint::Node(to) = to else { continue };
            deliver(&mut nodes[to.0 as usize], NodeId(2), ack);
        }
    }
    // The source dropped what it sent, kept the late write, and pushes it.
    assert_eq!(nodes[0].main_versions(late.id).len(), 1, "the late write was not dropped");
    assert_eq!(nodes[2].main_versions(late.id).iter().filter(|v| v.write == WriteId(9_999)).count(), 0);
    let mut out = Outbox::default();
    nodes[source.0 as usize].hand_off(Time(5), &mut out);
    let pushes: Vec<_> = out.messages.into_iter().filter(|(_, m)| matches!(m, Message::Handoff { .. })).collect();
    assert_eq!(pushes.len(), 1, "one stray key, one owner");
    for (_, push) in pushes {
        for (_, ack) in deliver(&mut nodes[2], source, push) {
            deliver(&mut nodes[source.0 as usize], NodeId(2), ack);
        }
    }
    assert!(nodes[2].main_versions(late.id).iter().any(|v| v.write == WriteId(9_999)), "the owner has it");
    let old = &nodes[0];
    let owned = (0..200).filter(|&id| owner(old, Key::new(id)) == old.id).count();
    assert_eq!(old.store().key_count(), owned, "the old owner keeps only its own keys");
    let stats = old.stats();
    assert_eq!((stats.stray_keys_found, stats.stray_keys_handed_over, old.strays_pending()), (1, 1, 0));
}

/// Node 2 of a three-node cluster (replication `n`, `handoff_batch` keys a
/// round) leaves, then a coordinator with an old view writes `keys` to it
/// (ids from 1000): they are strays of the remaining nodes, which have
/// learned of the leave (so each owns what the leaver's view gives it).
fn leaver_with_strays(n: usize, handoff_batch: usize, keys: u64) -> Vec<Node> {
    let mut nodes = leaver_with_strays_unknown(n, handoff_batch, keys);
    let view = Arc::new(nodes[2].view().clone());
    for node in nodes.iter_mut().take(2) {
        deliver(node, NodeId(2), Message::Gossip { view: Arc::clone(&view) });
    }
    nodes
}

/// [`leaver_with_strays`] before the other nodes learn of the leave.
fn leaver_with_strays_unknown(n: usize, handoff_batch: usize, keys: u64) -> Vec<Node> {
    let config = Arc::new(NodeConfig { n, r: 1, w: 1, handoff_batch, anti_entropy_depth: None, ..(*config()).clone() });
    let mut nodes = cluster_with(3, config);
    nodes[2].leave(Time(0), &mut Outbox::default());
    for id in 1000..1000 + keys {
        deliver(&mut nodes[2], NodeId(9), replica_write(Key::new(id), id, true));
    }
    assert_eq!(nodes[2].strays_pending(), keys);
    nodes
}

/// One handoff round of `node` at `now`: the strays it pushes, by owner.
fn push_round(node: &mut Node, now: Time) -> BTreeMap<NodeId, Vec<Message>> {
    let mut out = Outbox::default();
    node.hand_off(now, &mut out);
    let mut pushes: BTreeMap<NodeId, Vec<Message>> = BTreeMap::new();
    for (to, message) in out.messages {
        if let (Endpoint::Node(owner), Message::Handoff { .. }) = (to, &message) {
            pushes.entry(owner).or_default().push(message);
        }
    }
    pushes
}

#[test]
fn a_push_round_hands_each_owner_a_batch_of_strays_not_one_batch_for_all() {
    // Ten strays split between two owners, two keys a round: one batch
    // shared by all took five rounds before a stray came round again.
    let mut nodes = leaver_with_strays(1, 2, 10);
    let mut per_owner: BTreeMap<NodeId, u64> = BTreeMap::new();
    for id in 1000..1010 {
        *per_owner.entry(nodes[2].ring.preference_list(Key::new(id).position, 1)[0]).or_default() += 1;
    }
    let most = per_owner.values().copied().max().unwrap_or(0);
    assert!(per_owner.len() == 2 && most < 9, "the keys are split between the owners: {per_owner:?}");
    let mut rounds = 0;
    while nodes[2].strays_pending() > 0 {
        rounds += 1;
        let pushes = push_round(&mut nodes[2], Time(rounds * 10_000));
        if rounds == 1 {
            assert_eq!(pushes.keys().copied().collect::<Vec<_>>(), [NodeId(0), NodeId(1)], "both owners at once");
        }
        assert!(pushes.values().all(|batch| batch.len() <= 2), "round {rounds}: {pushes:?}");
        for (owner, batch) in pushes {
            for push in batch {
                for (_, ack) in deliver(&mut nodes[owner.0 as usize], NodeId(2), push) {
                    deliver(&mut nodes[2], owner, ack);
                }
            }
        }
    }
    let owned = |node: &Node| (1000..1010).filter(|&id| !node.main_versions(id).is_empty()).count();
    assert_eq!(rounds, most.div_ceil(2), "two keys a round to each owner ({per_owner:?})");
    assert_eq!((owned(&nodes[0]) + owned(&nodes[1]), owned(&nodes[2])), (10, 0), "every key reached its owner");
    let s = nodes[2].stats();
    assert_eq!((s.stray_keys_found, s.stray_keys_handed_over, s.stray_keys_reclaimed), (10, 10, 0));
}

/// Catches "a stray confirmed by a node that does not own it": with N = 1,
/// a leaver pushed a key to the node its view named, whose own (older)
/// view still named the leaver, and each confirmed the other's push of the
/// same versions, so both dropped them (explore, seed 9014591). Only an
/// acknowledgement from a node whose view places the key on it confirms.
#[test]
fn a_stray_is_dropped_only_once_a_node_that_owns_it_in_its_own_view_confirms() {
    let mut nodes = leaver_with_strays_unknown(1, 16, 40);
    // A stray whose owner in the leaver's view is node 0 and in node 0's
    // (old) view is the leaver itself.
    let owner_in = |node: &Node, id: u64| node.ring.preference_list(Key::new(id).position, 1)[0];
    let id = (1000..1040)
        .find(|&id| owner_in(&nodes[2], id) == NodeId(0) && owner_in(&nodes[0], id) == NodeId(2))
        .expect("a key the leaver owned");
    let push_to_node_0 = |nodes: &mut Vec<Node>, now: Time| {
        let mut acks = Vec::new();
        for push in push_round(&mut nodes[2], now).remove(&NodeId(0)).unwrap_or_default() {
            let Message::Handoff { key, .. } = &push else { continue };
            if key.id != id {
                continue;
            }
            for (_, ack) in deliver(&mut nodes[0], NodeId(2), push) {
                acks.push(ack.clone());
                deliver(&mut nodes[2], NodeId(0), ack);
            }
        }
        acks
    };
    let acks = push_to_node_0(&mut nodes, Time(5_000_000));
    assert!(matches!(acks[..], [Message::HandoffAck { owner: false, .. }]), "{acks:?}");
    assert!(!nodes[0].main_versions(id).is_empty(), "node 0 stored it all the same");
    assert!(!nodes[2].main_versions(id).is_empty(), "not confirmed by a node that does not own it: kept");
    // Node 0 learns of the leave: now it owns the key, and its confirmation counts.
    let view = Arc::new(nodes[2].view().clone());
    deliver(&mut nodes[0], NodeId(2), Message::Gossip { view });
    let acks = push_to_node_0(&mut nodes, Time(10_000_000));
    assert!(matches!(acks[..], [Message::HandoffAck { owner: true, .. }]), "{acks:?}");
    assert!(nodes[2].main_versions(id).is_empty(), "confirmed by its owner: dropped");
    assert!(!nodes[0].main_versions(id).is_empty());
}

/// [`leaver_with_strays`] with N = 2 and one stray, whose owners are
/// nodes 0 and 1: the leaver pushed it to both, and only node 0's push
/// arrived and was confirmed.
fn leaver_with_stray_confirmed_by_node_0() -> Vec<Node> {
    let mut nodes = leaver_with_strays(2, 16, 1);
    let mut pushes = push_round(&mut nodes[2], Time(5_000_000));
    assert_eq!(pushes.keys().copied().collect::<Vec<_>>(), [NodeId(0), NodeId(1)]);
    for push in pushes.remove(&NodeId(0)).unwrap_or_default() {
        for (_, ack) in deliver(&mut nodes[0], NodeId(2), push) {
            deliver(&mut nodes[2], NodeId(0), ack);
        }
    }
    nodes
}

/// Catches "a stray kept forever once its owners shrank to those that
/// confirmed" (explore, seed 10000474): with N = 2 node 0 confirms the
/// leaver's stray, node 1 never does and then leaves too. Node 0 is now its
/// only owner and has it, so the next round hands it over without a push.
#[test]
fn a_stray_all_of_whose_remaining_owners_confirmed_is_handed_over() {
    let mut nodes = leaver_with_stray_confirmed_by_node_0();
    assert_eq!(nodes[2].strays_pending(), 1, "node 1 has not confirmed");
    nodes[1].leave(Time(6_000_000), &mut Outbox::default());
    let view = Arc::new(nodes[1].view().clone());
    deliver(&mut nodes[2], NodeId(1), Message::Gossip { view });
    let again = push_round(&mut nodes[2], Time(10_000_000));
    assert!(again.is_empty(), "node 0, the one owner left, already has it: {again:?}");
    let s = nodes[2].stats();
    assert_eq!((s.stray_keys_found, s.stray_keys_handed_over, nodes[2].strays_pending()), (1, 1, 0));
    assert!(nodes[2].main_versions(1000).is_empty(), "handed over, then dropped");
}

#[test]
fn a_sweep_keeps_the_confirmations_of_a_stray_whose_versions_did_not_change() {
    // N = 2: the stray's owners are nodes 0 and 1. Node 0 confirms, the push
    // to node 1 is lost; a later sweep must not make node 0 confirm again.
    let mut nodes = leaver_with_stray_confirmed_by_node_0();
    nodes[2].settle_handed_over(Time(6_000_000));
    let again = push_round(&mut nodes[2], Time(10_000_000));
    assert_eq!(again.keys().copied().collect::<Vec<_>>(), [NodeId(1)], "node 0 already confirmed");
    for push in again.into_values().flatten() {
        for (_, ack) in deliver(&mut nodes[1], NodeId(2), push) {
            deliver(&mut nodes[2], NodeId(1), ack);
        }
    }
    let s = nodes[2].stats();
    assert_eq!((s.stray_keys_found, s.stray_keys_handed_over, nodes[2].strays_pending()), (1, 1, 0));
    assert!(nodes[2].main_versions(1000).is_empty(), "handed over, then dropped");
}

/// Catches "a fallback picked inside the top N and counted twice toward
/// W": under W = N a write must reach N distinct nodes, so the node
/// standing in for an unreachable replica comes from beyond the top N, and
/// one node's acknowledgements count once however often they arrive.
#[test]
fn under_w_equals_n_fallbacks_come_from_beyond_the_top_n_and_each_node_counts_once() {
    let config = Arc::new(NodeConfig { w: 3, ..(*config()).clone() });
    let mut nodes = cluster_with(6, config);
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let others: Vec<NodeId> = list.iter().copied().filter(|&n| n != NodeId(0)).collect();
    let (answering, silent) = (others[0], others[1]);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    let coordination = match &out.messages[0].1 {
        Message::ReplicaWrite { coordination, .. } => *coordination,
        other => panic!("unexpected {other:?}"),
    };
    out.messages.clear();
    assert!(finish_storage(&mut nodes[0], &mut out).is_empty(), "1 ack of W = 3");
    let ack = Message::ReplicaWriteAck { coordination };
    nodes[0].on_message(Time(50), Endpoint::Node(answering), ack.clone(), &mut out);
    nodes[0].on_message(Time(60), Endpoint::Node(answering), ack.clone(), &mut out);
    assert!(out.messages.is_empty(), "a repeated ack is not a third node: {:?}", out.messages);
    // The silent replica times out: a fallback beyond the top N stands in.
    nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id: coordination.id }, &mut out);
    let fallbacks = replica_writes(&out);
    assert_eq!(fallbacks.len(), 1, "{:?}", out.messages);
    let (fallback, hint) = fallbacks[0];
    assert!(!list.contains(&fallback), "fallback {fallback:?} is inside the top N {list:?}");
    assert_eq!(hint, Some(silent));
    out.messages.clear();
    nodes[0].on_message(Time(300), Endpoint::Node(answering), ack.clone(), &mut out);
    assert!(out.messages.is_empty(), "still two distinct nodes: {:?}", out.messages);
    nodes[0].on_message(Time(310), Endpoint::Node(fallback), ack, &mut out);
    assert!(
        matches!(&out.messages[..], [(Endpoint::Client(CLIENT), Message::PutReply { outcome: Ok(_), .. })]),
        "the third distinct node makes W: {:?}",
        out.messages
    );
    // A write coordinated while a replica is already suspected goes to a
    // fallback beyond the top N from the start, with a hint.
    let mut out = Outbox::default();
    nodes[0].on_message(Time(400), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
    let targets = replica_writes(&out);
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert!(targets.contains(&(answering, None)), "{targets:?}");
    assert!(targets.iter().any(|&(n, hint)| !list.contains(&n) && hint == Some(silent)), "{targets:?}");
    assert_eq!(nodes[0].stats().fallbacks_used, 2, "one at the replica check, one when coordinating");
}

/// The replica writes in `out`: (target node, the node it stands in for).
fn replica_writes(out: &Outbox<NodeTimer>) -> Vec<(NodeId, Option<NodeId>)> {
    out.messages
        .iter()
        .filter_map(|(to, m)| match (to, m) {
            (Endpoint::Node(n), Message::ReplicaWrite { hint, .. }) => Some((*n, *hint)),
            _ => None,
        })
        .collect()
}

// Laws of the store, the read quorum and versioning that the mutation run
// (issue 15, TESTING.md) found untested.

const VC_RULES: StoreRules = StoreRules::VECTOR_CLOCKS;

#[test]
fn a_store_counts_keys_and_versions_and_removes_exactly_what_it_is_told() {
    let version = store::tests::version;
    let mut s = Store::new();
    assert!(s.is_empty());
    s.put(Key::new(1), version(1, &[(0, 1)]), VC_RULES);
    s.put(Key::new(1), version(2, &[(1, 1)]), VC_RULES);
    s.put(Key::new(2), version(3, &[(0, 1)]), VC_RULES);
    assert!(!s.is_empty());
    assert_eq!((s.key_count(), s.version_count()), (2, 3));
    let listed: Vec<(u64, usize)> = s.iter().map(|(k, vs)| (k.id, vs.len())).collect();
    assert_eq!(listed, vec![(1, 2), (2, 1)]);
    s.remove_version(1, &version(1, &[(0, 1)]));
    assert_eq!(s.get(1), &[version(2, &[(1, 1)])][..], "only the named version went");
    s.remove_version(1, &version(2, &[(1, 1)]));
    assert_eq!(s.key_count(), 1, "a key with no versions left is gone");
    let mut taken = s.take();
    assert!(s.is_empty(), "take leaves the store empty");
    assert_eq!(taken.version_count(), 1);
    taken.remove_key(2);
    assert!(taken.is_empty());
}

#[test]
fn holding_a_version_means_holding_it_or_a_descendant() {
    let (old, new) = (store::tests::version(1, &[(0, 1)]), store::tests::version(2, &[(0, 2)]));
    let vc = versioning::Versioning::VectorClocks;
    assert!(store::holds(std::slice::from_ref(&new), &old, vc));
    assert!(!store::holds(std::slice::from_ref(&old), &new, vc));
    assert!(!store::holds(&[], &old, vc));
}

#[test]
fn the_sibling_cap_drops_nothing_until_it_is_exceeded_and_a_repeated_version_is_obsolete() {
    let version = store::tests::version;
    for versioning in [versioning::Versioning::VectorClocks, versioning::Versioning::LastWriteWins] {
        let rules = StoreRules { versioning, sibling_cap: 2 };
        let mut s = Store::new();
        assert_eq!(s.put(Key::new(1), version(1, &[(0, 1)]), rules), PutEffect::Stored);
        assert_eq!(s.put(Key::new(1), version(1, &[(0, 1)]), rules), PutEffect::Obsolete, "{versioning:?}");
    }
    let capped = StoreRules { versioning: versioning::Versioning::VectorClocks, sibling_cap: 2 };
    let mut s = Store::new();
    s.put(Key::new(1), version(1, &[(0, 1)]), capped);
    assert_eq!(s.put(Key::new(1), version(2, &[(1, 1)]), capped), PutEffect::Stored, "two siblings fit a cap of 2");
}

#[test]
fn a_read_quorum_reports_who_was_asked_who_replied_and_when_it_answered() {
    let v = store::tests::version(1, &[(0, 1)]);
    let mut q = ReadQuorum::new(1, vec![NodeId(1), NodeId(2)], versioning::Versioning::VectorClocks);
    assert!(!q.answered());
    q.ask(NodeId(3));
    q.ask(NodeId(3));
    assert_eq!(q.asked(), &[NodeId(1), NodeId(2), NodeId(3)][..]);
    assert!(!q.has_replied(NodeId(2)));
    let result = q.record(NodeId(2), smallvec::smallvec![v.clone()]).expect("R = 1");
    assert!(q.answered());
    assert!(q.has_replied(NodeId(2)) && !q.has_replied(NodeId(1)));
    assert_eq!((result.versions, result.fastest), (vec![v.clone()], Some(NodeId(2))));
    assert_eq!(q.replies(), &[(NodeId(2), smallvec::smallvec![v])][..]);
    assert!(!q.all_replied());
}

#[test]
fn a_version_never_supersedes_itself_and_last_write_wins_ties_cover_both_ways() {
    let version = store::tests::version;
    let (a, b) = (version(1, &[(0, 1)]), version(2, &[(0, 2)]));
    for versioning in [
        versioning::Versioning::VectorClocks,
        versioning::Versioning::DottedVersionVectors,
        versioning::Versioning::LastWriteWins,
    ] {
        assert!(versioning.covers(&a, &a), "{versioning:?}");
        assert!(!versioning.supersedes(&a, &a), "{versioning:?}");
        assert!(!versioning.concurrent(&a, &a), "{versioning:?}");
    }
    let lww = versioning::Versioning::LastWriteWins;
    assert!(lww.supersedes(&b, &a) && !lww.supersedes(&a, &b));
    let tie = a.changed(|v| v.dot = b.dot);
    assert!(lww.covers(&tie, &a) && lww.covers(&a, &tie), "equal stamps cover each other");
    assert!(!lww.supersedes(&tie, &a), "a tie supersedes neither way");
}

#[test]
fn the_keys_a_node_holds_are_those_of_its_store_its_buffer_and_its_hints() {
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let mut nodes = cluster_with(5, buffered);
    let node = &mut nodes[0];
    let mut out = Outbox::default();
    // Key 1 buffered (unflushed), key 2 flushed to disk, key 3 a hint for node 4.
    node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(Key::new(1), 1, false), &mut out);
    node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(Key::new(2), 2, true), &mut out);
    finish_storage(node, &mut out);
    let Message::ReplicaWrite { coordination, key, version, durable, .. } = replica_write(Key::new(3), 3, true) else {
        unreachable!()
    };
    let hinted = Message::ReplicaWrite { coordination, key, version, hint: Some(NodeId(4)), durable };
    node.on_message(Time(0), Endpoint::Node(NodeId(9)), hinted, &mut out);
    finish_storage(node, &mut out);
    assert_eq!(node.hints_pending(), 1);
    let held: std::collections::BTreeSet<u64> = node.main_keys().map(|key| key.id).chain(node.hinted_keys()).collect();
    assert_eq!(held, std::collections::BTreeSet::from([1, 2, 3]));
    for key in 1..=3 {
        assert_eq!(node.local_versions(key).len(), 1, "key {key}");
    }
    assert!(node.local_versions(4).is_empty());
}

/// Catches "a hint deleted when sent, before its ack": a fallback keeps a
/// hint until the intended node acknowledges storing it, so a handoff whose
/// acknowledgement is lost is sent again at the next round.
#[test]
fn a_hint_whose_handoff_ack_is_lost_is_kept_and_sent_again_until_acknowledged() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(1), None);
    let Message::ReplicaWrite { coordination, version, durable, .. } = replica_write(key, 7, true) else {
        unreachable!("a replica write")
    };
    let hinted = Message::ReplicaWrite { coordination, key, version, hint: Some(NodeId(1)), durable };
    deliver(&mut nodes[4], NodeId(9), hinted);
    assert_eq!(nodes[4].hints_pending(), 1, "the fallback holds the write as a hint for node 1");
    assert!(nodes[4].main_versions(key.id).is_empty(), "hints are kept apart from the main data");
    let handoffs = |node: &mut Node, now: Time| -> Vec<(Endpoint, Message)> {
        let mut out = Outbox::default();
        node.hand_off(now, &mut out);
        out.messages.into_iter().filter(|(_, m)| matches!(m, Message::Handoff { .. })).collect()
    };
    // Round 1: handed back, stored by node 1; its acknowledgement is lost.
    let first = handoffs(&mut nodes[4], Time(10_000));
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, Endpoint::Node(NodeId(1)));
    let acks = deliver(&mut nodes[1], NodeId(4), first[0].1.clone());
    assert!(matches!(&acks[..], [(Endpoint::Node(NodeId(4)), Message::HandoffAck { .. })]), "{acks:?}");
    assert_eq!(nodes[1].main_versions(key.id).len(), 1, "the intended node stored it");
    assert_eq!(nodes[4].hints_pending(), 1, "no ack arrived: the hint is kept");
    assert_eq!(nodes[4].stats().hints_delivered, 0);
    // Round 2: sent again; this time the acknowledgement arrives.
    let second = handoffs(&mut nodes[4], Time(20_000));
    assert_eq!(format!("{second:?}"), format!("{first:?}"), "the same hint is handed off again");
    for (_, ack) in deliver(&mut nodes[1], NodeId(4), second[0].1.clone()) {
        deliver(&mut nodes[4], NodeId(1), ack);
    }
    assert_eq!(nodes[4].hints_pending(), 0, "acknowledged: the hint is dropped");
    let books = nodes[4].hint_books();
    assert_eq!((books.stored, books.delivered, books.pending), (1, 1, 0));
    assert!(handoffs(&mut nodes[4], Time(30_000)).is_empty(), "nothing left to hand off");
}

/// The replica writes in `out` with their durable flag and coordination.
fn replica_writes_durable(out: &Outbox<NodeTimer>) -> Vec<(NodeId, bool, Coordination)> {
    out.messages
        .iter()
        .filter_map(|(to, m)| match (to, m) {
            (Endpoint::Node(n), Message::ReplicaWrite { durable, coordination, .. }) => {
                Some((*n, *durable, *coordination))
            }
            _ => None,
        })
        .collect()
}

/// A client's put of `key` (its first write) reaches `coordinator` at time
/// 0: the replica writes it sent, as [`replica_writes_durable`] reads them,
/// and its outbox.
fn start_write(coordinator: &mut Node, key: Key) -> (Vec<(NodeId, bool, Coordination)>, Outbox<NodeTimer>) {
    let mut out = Outbox::default();
    coordinator.on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    (replica_writes_durable(&out), out)
}

fn put_replied(out: &Outbox<NodeTimer>) -> bool {
    out.messages.iter().any(|(to, m)| *to == Endpoint::Client(CLIENT) && matches!(m, Message::PutReply { .. }))
}

#[test]
fn the_coordinators_own_copy_counts_toward_w_only_once_it_is_on_disk() {
    let mut nodes = cluster(5);
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let (writes, mut out) = start_write(&mut nodes[0], key);
    assert!(writes.iter().all(|&(_, durable, _)| durable), "without buffering every replica writes durably");
    let (remote, _, coordination) = writes[0];
    assert!(list.contains(&remote));
    out.messages.clear();
    // A remote ack before the coordinator's own disk write: 1 of W = 2.
    nodes[0].on_message(Time(1), Endpoint::Node(remote), Message::ReplicaWriteAck { coordination }, &mut out);
    assert!(!put_replied(&out), "answered before the coordinator's copy was durable: {:?}", out.messages);
    let sent = finish_storage(&mut nodes[0], &mut out);
    assert!(
        matches!(&sent[..], [(Endpoint::Client(CLIENT), Message::PutReply { outcome: Ok(_), .. })]),
        "its disk write completes W: {sent:?}"
    );
}

#[test]
fn with_buffered_writes_one_remote_replica_writes_durably_and_its_ack_counts_only_when_needed_for_w() {
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let mut nodes = cluster_with(5, Arc::clone(&buffered));
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let remote: Vec<NodeId> = list.iter().copied().filter(|&n| n != NodeId(0)).collect();
    let durable = *remote.last().expect("two remote replicas");
    let (writes, mut out) = start_write(&mut nodes[0], key);
    let flags: Vec<(NodeId, bool)> = writes.iter().map(|&(n, d, _)| (n, d)).collect();
    let expected: Vec<(NodeId, bool)> = remote.iter().map(|&n| (n, n == durable)).collect();
    assert_eq!(flags, expected, "only the last remote top-N replica writes durably");
    assert!(nodes[0].store().get(key.id).is_empty(), "the coordinator's own copy is buffered, not on disk");
    assert_eq!(nodes[0].main_versions(key.id).len(), 1);
    assert!(!put_replied(&out), "the coordinator's buffered copy is 1 of W = 2");
    let coordination = writes[0].2;
    out.messages.clear();
    nodes[0].on_message(Time(1), Endpoint::Node(durable), Message::ReplicaWriteAck { coordination }, &mut out);
    assert!(!put_replied(&out), "the durable replica's ack does not count toward W: {:?}", out.messages);
    nodes[0].on_message(Time(2), Endpoint::Node(remote[0]), Message::ReplicaWriteAck { coordination }, &mut out);
    assert!(put_replied(&out), "a buffered replica's ack makes W");

    // With only W replicas reachable (strict quorum, one suspected), the
    // durable replica's ack is needed and counts.
    let strict = Arc::new(NodeConfig { sloppy_quorum: false, ..(*buffered).clone() });
    let mut nodes = cluster_with(5, strict);
    nodes[0].suspect(Time(0), remote[0]);
    let (writes, mut out) = start_write(&mut nodes[0], key);
    assert_eq!(writes.iter().map(|&(n, d, _)| (n, d)).collect::<Vec<_>>(), vec![(durable, true)]);
    out.messages.clear();
    let coordination = writes[0].2;
    nodes[0].on_message(Time(1), Endpoint::Node(durable), Message::ReplicaWriteAck { coordination }, &mut out);
    assert!(put_replied(&out), "two of two replicas acknowledged: {:?}", out.messages);
}

#[test]
fn without_sloppy_quorum_a_request_needs_r_or_w_reachable_replicas_of_the_top_n_and_fails_at_once_without() {
    let strict = Arc::new(NodeConfig { sloppy_quorum: false, ..(*config()).clone() });
    let mut nodes = cluster_with(5, strict);
    let (key, list) = key_where(&nodes, NodeId(0), None);
    let remote: Vec<NodeId> = list.iter().copied().filter(|&n| n != NodeId(0)).collect();
    let get = |sequence| Message::Get { request: RequestId { client: CLIENT, sequence }, key, forwarded: false };
    // One replica suspected: two of three reachable make R = 2 and W = 2.
    nodes[0].suspect(Time(0), remote[0]);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(1), Endpoint::Client(CLIENT), get(1), &mut out);
    nodes[0].on_message(Time(1), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
    let sent: Vec<(Endpoint, &str)> = out
        .messages
        .iter()
        .map(|(to, m)| {
            let kind = match m {
                Message::ReplicaRead { .. } => "read",
                Message::ReplicaWrite { .. } => "write",
                _ => "other",
            };
            (*to, kind)
        })
        .collect();
    let other = Endpoint::Node(remote[1]);
    assert_eq!(sent, vec![(other, "read"), (other, "write")], "no fallback without sloppy quorum");
    // Both others suspected: one replica is not enough; both fail at once.
    nodes[0].suspect(Time(2), remote[1]);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(3), Endpoint::Client(CLIENT), get(3), &mut out);
    nodes[0].on_message(Time(3), Endpoint::Client(CLIENT), put(4, key, VectorClock::new(), 4), &mut out);
    assert!(
        matches!(
            &out.messages[..],
            [
                (Endpoint::Client(CLIENT), Message::GetReply { outcome: Err(Failure::NotEnoughReplicas), .. }),
                (Endpoint::Client(CLIENT), Message::PutReply { outcome: Err(Failure::NotEnoughReplicas), .. }),
            ]
        ),
        "{:?}",
        out.messages
    );
    let s = nodes[0].stats();
    assert_eq!((s.reads_coordinated, s.writes_coordinated, s.coordinations_without_replicas), (2, 2, 2));
    assert_eq!(s.fallbacks_used, 0);
}

#[test]
fn two_silent_replicas_are_replaced_by_two_distinct_healthy_fallbacks_beyond_the_top_n() {
    let all = Arc::new(NodeConfig { w: 3, r: 3, ..(*config()).clone() });
    let mut nodes = cluster_with(7, Arc::clone(&all));
    // A key whose preference list starts with the coordinator.
    let (key, list) = (0..)
        .map(Key::new)
        .map(|k| (k, nodes[0].ring.preference_list(k.position, 3)))
        .find(|(_, list)| list[0] == NodeId(0))
        .expect("some key qualifies");
    let beyond: Vec<NodeId> = nodes[0].ring.extended_preference_list(key.position).skip(3).collect();
    // The first node beyond the top N is suspected: it is skipped.
    nodes[0].suspect(Time(0), beyond[0]);
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    let id = replica_writes_durable(&out)[0].2.id;
    out.messages.clear();
    nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id }, &mut out);
    let fallbacks: Vec<NodeId> = replica_writes(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(fallbacks, beyond[1..3].to_vec(), "top N {list:?}, beyond it {beyond:?}");
    assert_eq!(nodes[0].stats().fallbacks_used, 2);
    // The coordinator and both fallbacks acknowledge: W = 3 is made, and
    // the replicas they stood in for are given up, not replaced again.
    out.messages.clear();
    finish_storage(&mut nodes[0], &mut out);
    let coordination = Coordination { coordinator: Endpoint::Node(NodeId(0)), id };
    for &fallback in &fallbacks {
        nodes[0].on_message(Time(300), Endpoint::Node(fallback), Message::ReplicaWriteAck { coordination }, &mut out);
    }
    assert!(put_replied(&out), "{:?}", out.messages);
    let mut out = Outbox::default();
    nodes[0].on_timer(Time(400), NodeTimer::ReplicaTimeout { id }, &mut out);
    assert!(out.messages.is_empty() && out.timers.is_empty(), "{:?} {:?}", out.messages, out.timers);
    // A read whose two remote replicas are silent does the same.
    let mut nodes = cluster_with(7, all);
    nodes[0].suspect(Time(0), beyond[0]);
    let get = Message::Get { request: RequestId { client: CLIENT, sequence: 2 }, key, forwarded: false };
    let mut out = Outbox::default();
    nodes[0].on_message(Time(300), Endpoint::Client(CLIENT), get, &mut out);
    let id = match &out.messages[0].1 {
        Message::ReplicaRead { coordination, .. } => coordination.id,
        other => panic!("unexpected {other:?}"),
    };
    out.messages.clear();
    nodes[0].on_timer(Time(500), NodeTimer::ReplicaTimeout { id }, &mut out);
    let asked: Vec<Endpoint> =
        out.messages.iter().filter(|(_, m)| matches!(m, Message::ReplicaRead { .. })).map(|(to, _)| *to).collect();
    assert_eq!(asked, beyond[1..3].iter().map(|&n| Endpoint::Node(n)).collect::<Vec<_>>());
}

#[test]
fn a_request_arms_a_replica_check_before_its_deadline_and_none_that_would_come_at_it() {
    for (replica_timeout_us, checks) in [(200, vec![Time(200)]), (1_000, vec![])] {
        let config = Arc::new(NodeConfig { replica_timeout_us, ..(*config()).clone() });
        let mut nodes = cluster_with(5, config);
        let (key, _) = key_where(&nodes, NodeId(0), None);
        let mut out = Outbox::default();
        nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
        let armed = |wanted: fn(&NodeTimer) -> bool| -> Vec<Time> {
            out.timers.iter().filter(|(_, t)| wanted(t)).map(|(at, _)| *at).collect()
        };
        assert_eq!(armed(|t| matches!(t, NodeTimer::CoordinationTimeout { .. })), vec![Time(1_000)]);
        assert_eq!(armed(|t| matches!(t, NodeTimer::ReplicaTimeout { .. })), checks, "{replica_timeout_us} µs");
    }
}

#[test]
fn a_write_every_replica_acknowledged_is_done_and_its_replica_check_does_nothing() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let (writes, mut out) = start_write(&mut nodes[0], key);
    out.messages.clear();
    finish_storage(&mut nodes[0], &mut out);
    for &(replica, _, coordination) in &writes {
        nodes[0].on_message(Time(50), Endpoint::Node(replica), Message::ReplicaWriteAck { coordination }, &mut out);
    }
    assert!(put_replied(&out));
    let mut out = Outbox::default();
    nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id: writes[0].2.id }, &mut out);
    assert!(out.messages.is_empty() && out.timers.is_empty(), "{:?} {:?}", out.messages, out.timers);
}

/// A write every replica acknowledged cancels its coordination's
/// timeouts, which would fire for nothing; one still waiting does not.
#[test]
fn a_write_every_replica_acknowledged_cancels_its_timeouts() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let (writes, mut out) = start_write(&mut nodes[0], key);
    let id = writes[0].2.id;
    finish_storage(&mut nodes[0], &mut out);
    let ((last, _, coordination), others) = writes.split_last().expect("remote replicas");
    for &(replica, _, coordination) in others {
        nodes[0].on_message(Time(50), Endpoint::Node(replica), Message::ReplicaWriteAck { coordination }, &mut out);
    }
    assert!(put_replied(&out) && out.cancelled.is_empty(), "answered, but a replica has yet to acknowledge");
    let ack = Message::ReplicaWriteAck { coordination: *coordination };
    nodes[0].on_message(Time(60), Endpoint::Node(*last), ack, &mut out);
    let timeouts =
        vec![(Time(1_000), NodeTimer::CoordinationTimeout { id }), (Time(200), NodeTimer::ReplicaTimeout { id })];
    assert_eq!(out.cancelled, timeouts);
}

/// A read every replica answered cancels its timeouts: its deadline and
/// the replica check armed last (here re-armed after a replica was late).
#[test]
fn a_read_every_replica_answered_cancels_its_deadline_and_its_latest_replica_check() {
    let strict = Arc::new(NodeConfig { sloppy_quorum: false, ..(*config()).clone() });
    let mut nodes = cluster_with(5, strict);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let (asked, mut out) = start_read(&mut nodes[0], key);
    let id = asked[0].1.id;
    finish_storage(&mut nodes[0], &mut out);
    let reply = |coordination| Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![] };
    nodes[0].on_message(Time(50), Endpoint::Node(asked[0].0), reply(asked[0].1), &mut out);
    nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id }, &mut out);
    assert!(out.timers.contains(&(Time(400), NodeTimer::ReplicaTimeout { id })), "{:?}", out.timers);
    assert!(out.cancelled.is_empty(), "a replica has yet to answer");
    nodes[0].on_message(Time(250), Endpoint::Node(asked[1].0), reply(asked[1].1), &mut out);
    let timeouts =
        vec![(Time(1_000), NodeTimer::CoordinationTimeout { id }), (Time(400), NodeTimer::ReplicaTimeout { id })];
    assert_eq!(out.cancelled, timeouts);
}

/// A client's read of `key` arrives at `coordinator` at time 0: the remote
/// replicas it asked, with the coordination of each, and its outbox (the
/// replica reads drained from it, its own storage read still pending).
fn start_read(coordinator: &mut Node, key: Key) -> (Vec<(NodeId, Coordination)>, Outbox<NodeTimer>) {
    let get = Message::Get { request: RequestId { client: CLIENT, sequence: 1 }, key, forwarded: false };
    let mut out = Outbox::default();
    coordinator.on_message(Time(0), Endpoint::Client(CLIENT), get, &mut out);
    let asked = out
        .messages
        .drain(..)
        .filter_map(|(to, m)| match (to, m) {
            (Endpoint::Node(n), Message::ReplicaRead { coordination, .. }) => Some((n, coordination)),
            _ => None,
        })
        .collect();
    (asked, out)
}

/// Node 0 coordinates a read of a key it replicates (N = 3, R = 2) in a
/// cluster of 6; the first remote replica replies (with nothing), the
/// second stays silent. With `own_read_done` the coordinator's own read
/// completes too, so the read is answered. Returns the nodes, the read's
/// coordination id, the silent replica and what node 0 sent so far.
fn read_with_a_silent_replica(sloppy_quorum: bool, own_read_done: bool) -> (Vec<Node>, u64, NodeId, Outbox<NodeTimer>) {
    let config = Arc::new(NodeConfig { sloppy_quorum, ..(*config()).clone() });
    let mut nodes = cluster_with(6, config);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let (asked, mut out) = start_read(&mut nodes[0], key);
    let [(answering, coordination), (silent, _)] = asked[..] else { panic!("two remote replicas: {asked:?}") };
    if own_read_done {
        finish_storage(&mut nodes[0], &mut out);
    }
    let reply = Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![] };
    nodes[0].on_message(Time(50), Endpoint::Node(answering), reply, &mut out);
    (nodes, coordination.id, silent, out)
}

fn replica_reads(out: &Outbox<NodeTimer>) -> Vec<NodeId> {
    out.messages
        .iter()
        .filter_map(|(to, m)| match (to, m) {
            (Endpoint::Node(n), Message::ReplicaRead { .. }) => Some(*n),
            _ => None,
        })
        .collect()
}

#[test]
fn at_the_replica_check_only_the_silent_remote_replica_is_suspected_and_replaced_once() {
    let (mut nodes, id, silent, mut out) = read_with_a_silent_replica(true, false);
    assert!(out.messages.is_empty(), "1 of R = 2: {:?}", out.messages);
    nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id }, &mut out);
    let suspected: Vec<NodeId> = nodes[0].suspected_peers().map(|(n, _)| n).collect();
    assert_eq!(suspected, vec![silent], "neither the coordinator (its disk is slow) nor the replica that replied");
    let first = replica_reads(&out);
    assert_eq!(first.len(), 1, "one fallback for one silent replica: {:?}", out.messages);
    out.messages.clear();
    // At the next check the fallback is silent too: it is replaced, the
    // replica it stood in for is not replaced again.
    nodes[0].on_timer(Time(400), NodeTimer::ReplicaTimeout { id }, &mut out);
    let second = replica_reads(&out);
    assert_eq!(second.len(), 1, "{:?}", out.messages);
    assert_ne!(second, first);
    assert_eq!(nodes[0].stats().fallbacks_used, 2);
}

#[test]
fn an_answered_read_or_a_strict_quorum_asks_no_fallback_for_a_silent_replica() {
    for (sloppy, own_read_done) in [(true, true), (false, false)] {
        let (mut nodes, id, silent, mut out) = read_with_a_silent_replica(sloppy, own_read_done);
        let answered = out.messages.iter().any(|(_, m)| matches!(m, Message::GetReply { outcome: Ok(_), .. }));
        assert_eq!(answered, own_read_done);
        out.messages.clear();
        nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id }, &mut out);
        assert!(replica_reads(&out).is_empty(), "sloppy {sloppy}, answered {own_read_done}: {:?}", out.messages);
        let suspected: Vec<NodeId> = nodes[0].suspected_peers().map(|(n, _)| n).collect();
        assert_eq!(suspected, vec![silent]);
        assert_eq!(nodes[0].stats().fallbacks_used, 0);
    }
}

#[test]
fn a_read_times_out_at_its_deadline_only_if_it_was_not_answered() {
    for own_read_done in [false, true] {
        let (mut nodes, id, _, mut out) = read_with_a_silent_replica(false, own_read_done);
        out.messages.clear();
        nodes[0].on_timer(Time(1_000), NodeTimer::CoordinationTimeout { id }, &mut out);
        let timed_out: Vec<&Message> =
            out.messages.iter().filter(|(to, _)| *to == Endpoint::Client(CLIENT)).map(|(_, m)| m).collect();
        if own_read_done {
            assert!(timed_out.is_empty(), "answered before the deadline: {timed_out:?}");
        } else {
            assert!(
                matches!(timed_out[..], [Message::GetReply { outcome: Err(Failure::Timeout), .. }]),
                "{timed_out:?}"
            );
        }
        assert_eq!(nodes[0].stats().coordinations_timed_out, u64::from(!own_read_done));
    }
}

/// Node 0 coordinates a read (N = 3, R = 2) of a key whose first remote
/// replica holds one version that node 0 and the second remote replica
/// lack; the first remote replica and node 0 reply, and with
/// `all_reply` the second remote replica too (with nothing). Returns the
/// nodes, the version, the second remote replica, the read's coordination
/// id and what node 0 sent after the first two replies.
fn read_of_a_version_one_replica_lacks(
    read_repair: bool,
    all_reply: bool,
) -> (Vec<Node>, Version, NodeId, u64, Vec<(Endpoint, Message)>) {
    let config = Arc::new(NodeConfig { read_repair, ..(*config()).clone() });
    let mut nodes = cluster_with(5, config);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let Message::ReplicaWrite { version, .. } = replica_write(key, 1, true) else { unreachable!("a replica write") };
    let (asked, mut out) = start_read(&mut nodes[0], key);
    let [(holder, coordination), (lacking, _)] = asked[..] else { panic!("two remote replicas: {asked:?}") };
    finish_storage(&mut nodes[0], &mut out);
    let reply = Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![version.clone()] };
    nodes[0].on_message(Time(50), Endpoint::Node(holder), reply, &mut out);
    assert!(
        matches!(&out.messages[..], [(_, Message::GetReply { outcome: Ok(ReadResult { versions, .. }), .. })] if versions.len() == 1),
        "answered with the version: {:?}",
        out.messages
    );
    out.messages.clear();
    if all_reply {
        let empty = Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![] };
        nodes[0].on_message(Time(60), Endpoint::Node(lacking), empty, &mut out);
    }
    let mut sent = std::mem::take(&mut out.messages);
    sent.extend(finish_storage(&mut nodes[0], &mut out));
    (nodes, version, lacking, coordination.id, sent)
}

fn read_repairs(sent: &[(Endpoint, Message)]) -> Vec<(Endpoint, Vec<Version>)> {
    sent.iter()
        .filter_map(|(to, m)| match m {
            Message::ReadRepair { versions, .. } => Some((*to, versions.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn once_every_replica_replied_read_repair_gives_each_replica_that_lacks_it_the_latest_version() {
    let (nodes, version, lacking, _, sent) = read_of_a_version_one_replica_lacks(true, true);
    assert_eq!(read_repairs(&sent), vec![(Endpoint::Node(lacking), vec![version.clone()])], "{sent:?}");
    assert_eq!(
        nodes[0].main_versions(key_where(&nodes, NodeId(0), None).0.id),
        vec![version.clone()],
        "the coordinator too"
    );
    assert_eq!(nodes[0].stats().read_repairs, 2);
    // Read repair off: nothing is repaired.
    let (nodes, _, _, _, sent) = read_of_a_version_one_replica_lacks(false, true);
    assert!(read_repairs(&sent).is_empty(), "{sent:?}");
    assert!(nodes[0].main_versions(key_where(&nodes, NodeId(0), None).0.id).is_empty());
    assert_eq!(nodes[0].stats().read_repairs, 0);
}

/// Replies that agree with each other do not hide one that differs: the
/// coordinator and the lacking replica reply nothing, then the holder its
/// version, and both that lack it are repaired.
#[test]
fn read_repair_looks_past_replies_that_agree_with_each_other() {
    let mut nodes = cluster_with(5, config());
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let Message::ReplicaWrite { version, .. } = replica_write(key, 1, true) else { unreachable!("a replica write") };
    let (asked, mut out) = start_read(&mut nodes[0], key);
    let [(holder, coordination), (lacking, _)] = asked[..] else { panic!("two remote replicas: {asked:?}") };
    finish_storage(&mut nodes[0], &mut out);
    let empty = Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![] };
    nodes[0].on_message(Time(50), Endpoint::Node(lacking), empty, &mut out);
    let reply = Message::ReplicaReadReply { coordination, versions: smallvec::smallvec![version.clone()] };
    nodes[0].on_message(Time(60), Endpoint::Node(holder), reply, &mut out);
    let mut sent = std::mem::take(&mut out.messages);
    sent.extend(finish_storage(&mut nodes[0], &mut out));
    assert_eq!(read_repairs(&sent), vec![(Endpoint::Node(lacking), vec![version.clone()])], "{sent:?}");
    assert_eq!(nodes[0].main_versions(key.id), vec![version], "the coordinator too");
    assert_eq!(nodes[0].stats().read_repairs, 2);
}

#[test]
fn a_read_with_a_silent_replica_repairs_the_two_that_replied_at_its_deadline() {
    let (mut nodes, version, _, id, sent) = read_of_a_version_one_replica_lacks(true, false);
    assert!(read_repairs(&sent).is_empty(), "not before every replica replied or the deadline: {sent:?}");
    let key = key_where(&nodes, NodeId(0), None).0.id;
    assert!(nodes[0].main_versions(key).is_empty());
    let mut out = Outbox::default();
    nodes[0].on_timer(Time(1_000), NodeTimer::CoordinationTimeout { id }, &mut out);
    let mut sent = std::mem::take(&mut out.messages);
    sent.extend(finish_storage(&mut nodes[0], &mut out));
    assert!(read_repairs(&sent).is_empty(), "the replica that replied holds it: {sent:?}");
    assert_eq!(nodes[0].main_versions(key), vec![version], "the coordinator absorbed it");
    assert_eq!(nodes[0].stats().read_repairs, 1);
}

#[test]
fn the_replica_check_is_armed_again_only_while_it_comes_before_the_deadline() {
    for (replica_timeout_us, again) in [(300, vec![Time(600)]), (500, vec![])] {
        let config = Arc::new(NodeConfig { replica_timeout_us, ..(*config()).clone() });
        let mut nodes = cluster_with(5, config);
        let (key, _) = key_where(&nodes, NodeId(0), None);
        let mut out = Outbox::default();
        nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
        let id = replica_writes_durable(&out)[0].2.id;
        let mut out = Outbox::default();
        nodes[0].on_timer(Time(replica_timeout_us), NodeTimer::ReplicaTimeout { id }, &mut out);
        let checks: Vec<Time> = out
            .timers
            .iter()
            .filter(|(_, t)| matches!(t, NodeTimer::ReplicaTimeout { .. }))
            .map(|(at, _)| *at)
            .collect();
        assert_eq!(checks, again, "replica timeout {replica_timeout_us} µs, deadline 1000 µs");
    }
}

/// The forwarded requests in `out`: (target, request sequence).
fn forwarded_puts(out: &Outbox<NodeTimer>) -> Vec<(Endpoint, u64)> {
    out.messages
        .iter()
        .filter_map(|(to, m)| match m {
            Message::Put { request, forwarded: true, .. } => Some((*to, request.sequence)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_forwarder_tries_each_of_the_top_n_in_turn_until_one_acknowledges_then_coordinates_itself() {
    let mut nodes = cluster(5);
    let (key, list) = key_where(&nodes, NodeId(0), Some(NodeId(4)));
    let forwarder = &mut nodes[4];
    let timer = |out: &Outbox<NodeTimer>| -> (Time, NodeTimer) {
        let timers: Vec<(Time, NodeTimer)> =
            out.timers.iter().copied().filter(|(_, t)| matches!(t, NodeTimer::ForwardTimeout { .. })).collect();
        assert_eq!(timers.len(), 1, "{timers:?}");
        timers[0]
    };
    // Acknowledged: the forward timeout does nothing.
    let mut out = Outbox::default();
    forwarder.on_message(Time(0), Endpoint::Client(CLIENT), put(1, key, VectorClock::new(), 1), &mut out);
    assert_eq!(forwarded_puts(&out), vec![(Endpoint::Node(list[0]), 1)]);
    let (at, acked) = timer(&out);
    assert_eq!(at, Time(200));
    let request = RequestId { client: CLIENT, sequence: 1 };
    forwarder.on_message(Time(50), Endpoint::Node(list[0]), Message::ForwardAck { request }, &mut out);
    assert_eq!(out.cancelled, vec![(at, acked)], "the acknowledgement cancels the timeout");
    // Should the timeout fire all the same, it does nothing.
    let mut out = Outbox::default();
    forwarder.on_timer(at, acked, &mut out);
    assert!(out.messages.is_empty() && out.timers.is_empty(), "{:?}", out.messages);
    assert_eq!(forwarder.suspected_peers().count(), 0);
    // Never acknowledged: each top-N node in turn, suspected as it times out.
    let mut out = Outbox::default();
    forwarder.on_message(Time(300), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
    for (attempt, &target) in list[..2].iter().enumerate() {
        assert_eq!(forwarded_puts(&out), vec![(Endpoint::Node(target), 2)], "attempt {attempt}");
        let (at, expired) = timer(&out);
        assert!(matches!(expired, NodeTimer::ForwardTimeout { attempt: a, .. } if a as usize == attempt));
        out = Outbox::default();
        forwarder.on_timer(at, expired, &mut out);
        // A timer of an earlier attempt that fires late changes nothing.
        let mut late = Outbox::default();
        forwarder.on_timer(at, expired, &mut late);
        assert!(late.messages.is_empty() && late.timers.is_empty(), "{:?}", late.messages);
    }
    assert_eq!(forwarded_puts(&out), vec![(Endpoint::Node(list[2]), 2)]);
    let suspected: Vec<NodeId> = forwarder.suspected_peers().map(|(n, _)| n).collect();
    let mut expected = list[..2].to_vec();
    expected.sort();
    assert_eq!(suspected, expected);
    // The first node answers something else meanwhile, so it is believed
    // reachable again; still, N attempts were made: coordinate here.
    let (at, expired) = timer(&out);
    forwarder.on_message(at, Endpoint::Node(list[0]), Message::Pong, &mut Outbox::default());
    let mut out = Outbox::default();
    forwarder.on_timer(at, expired, &mut out);
    assert!(forwarded_puts(&out).is_empty(), "after N attempts it coordinates itself: {:?}", out.messages);
    assert!(out.messages.iter().any(|(_, m)| matches!(m, Message::ReplicaWrite { .. })));
    assert_eq!((forwarder.stats().requests_forwarded, forwarder.stats().writes_coordinated), (4, 1));
}

#[test]
fn a_forwarded_request_is_acknowledged_to_its_forwarder_and_coordinated_where_it_lands() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(0), Some(NodeId(4)));
    let Message::Put { request, key, context, value, .. } = put(1, key, VectorClock::new(), 1) else { unreachable!() };
    let forwarded = Message::Put { request, key, context, value, forwarded: true };
    // On a node outside the top N too: it is not forwarded again.
    let mut out = Outbox::default();
    nodes[4].on_message(Time(0), Endpoint::Node(NodeId(3)), forwarded, &mut out);
    assert!(matches!(&out.messages[0], (Endpoint::Node(NodeId(3)), Message::ForwardAck { .. })), "{:?}", out.messages);
    assert!(forwarded_puts(&out).is_empty());
    assert_eq!(nodes[4].stats().writes_coordinated, 1);
    // A client's own request is not acknowledged as a forward.
    let mut out = Outbox::default();
    nodes[0].on_message(Time(0), Endpoint::Client(CLIENT), put(2, key, VectorClock::new(), 2), &mut out);
    assert!(out.messages.iter().all(|(_, m)| !matches!(m, Message::ForwardAck { .. })), "{:?}", out.messages);
}

#[test]
fn a_versions_history_adds_its_own_dot_only_under_dotted_version_vectors() {
    let v = store::tests::version(7, &[(0, 3)]); // dot n99:7, a clock {n0: 3} without it
    for versioning in [versioning::Versioning::VectorClocks, versioning::Versioning::LastWriteWins] {
        assert_eq!(versioning.history(&v), v.clock, "{versioning:?}: the clock is the history");
    }
    let history = versioning::Versioning::DottedVersionVectors.history(&v);
    assert_eq!((history.counter(NodeId(99)), history.counter(NodeId(0))), (7, 3), "dvv: the clock and the dot");
}

/// A hinted replica write of `write` to `key` on behalf of `intended`.
fn hinted_write(key: Key, write: u64, intended: NodeId) -> Message {
    let Message::ReplicaWrite { coordination, version, durable, .. } = replica_write(key, write, true) else {
        unreachable!("a replica write")
    };
    Message::ReplicaWrite { coordination, key, version, hint: Some(intended), durable }
}

#[test]
fn hints_for_a_node_that_left_join_the_holders_main_data_at_the_next_handoff_round() {
    let mut nodes = cluster(5);
    let (key, other) = (Key::new(1), Key::new(2));
    deliver(&mut nodes[4], NodeId(9), hinted_write(key, 7, NodeId(1)));
    deliver(&mut nodes[4], NodeId(9), hinted_write(Key::new(3), 8, NodeId(1)));
    deliver(&mut nodes[4], NodeId(9), hinted_write(other, 9, NodeId(2)));
    assert_eq!(nodes[4].hints_pending(), 3);
    // Node 1 leaves; node 4 learns it by gossip.
    nodes[1].leave(Time(0), &mut Outbox::default());
    let view = Arc::new(nodes[1].view().clone());
    deliver(&mut nodes[4], NodeId(1), Message::Gossip { view });
    let mut out = Outbox::default();
    nodes[4].hand_off(Time(10_000), &mut out);
    assert_eq!(nodes[4].hints_pending(), 1, "only the hint for node 2 is still a hint");
    assert_eq!(nodes[4].stats().hints_retargeted, 2);
    assert_eq!(nodes[4].main_versions(key.id).len(), 1, "node 1's hint is main data now");
    assert!(nodes[4].main_versions(other.id).is_empty(), "node 2's hint is not");
    let books = nodes[4].hint_books();
    assert_eq!((books.stored, books.retargeted, books.pending), (3, 2, 1));
    assert!(books.balanced(), "{books:?}");
    let handoffs: Vec<NodeId> = out
        .messages
        .iter()
        .filter_map(|(to, m)| match (to, m) {
            (Endpoint::Node(n), Message::Handoff { .. }) => Some(*n),
            _ => None,
        })
        .collect();
    assert!(!handoffs.contains(&NodeId(1)), "nothing is handed back to a node that left: {handoffs:?}");
}

#[test]
fn a_ring_change_plans_a_sweep_three_gossip_intervals_later_that_makes_unfetched_keys_strays() {
    let (mut nodes, _unserved) = join_with_data(200);
    assert!(!nodes[0].handover_pending());
    learn_join(&mut nodes, 0); // at Time(1); the gossip interval is 1 s
    assert!(nodes[0].handover_pending(), "a sweep is planned");
    let moved = (0..200u64)
        .filter(|&id| {
            let key = Key::new(id);
            nodes[0].ring.preference_list(key.position, 1)[0] == NodeId(2) && !nodes[0].main_versions(id).is_empty()
        })
        .count() as u64;
    assert!(moved > 16, "node 0 holds more keys the joiner now owns than a batch, and no fetch took them");
    push_round(&mut nodes[0], Time(3_000_000));
    assert_eq!(nodes[0].strays_pending(), 0, "no sweep before three gossip intervals");
    let pushes = push_round(&mut nodes[0], Time(3_000_001));
    assert_eq!(nodes[0].strays_pending(), moved, "the sweep makes every unfetched key a stray");
    assert_eq!(pushes.keys().copied().collect::<Vec<_>>(), [NodeId(2)]);
    assert_eq!(pushes[&NodeId(2)].len(), 16, "one batch");
    assert_eq!(nodes[0].stats().stray_versions_pushed, 16, "one version a key");
    // Unconfirmed, the next round goes on from where this one stopped.
    let pushed_keys = |pushes: &BTreeMap<NodeId, Vec<Message>>| -> Vec<Key> {
        pushes[&NodeId(2)]
            .iter()
            .map(|m| match m {
                Message::Handoff { key, .. } => *key,
                _ => unreachable!("pushes are handoffs"),
            })
            .collect()
    };
    let first = pushed_keys(&pushes);
    let second = pushed_keys(&push_round(&mut nodes[0], Time(3_000_002)));
    assert!(!first.contains(&second[0]), "{first:?} then {second:?}");
}

#[test]
fn a_stored_key_becomes_a_stray_only_after_a_ring_change_that_placed_it_elsewhere() {
    let (mut nodes, _unserved) = join_with_data(50);
    let owner = |node: &Node, id: u64| node.ring.preference_list(Key::new(id).position, 1)[0];
    // Node 1 has not heard of the join: its ring never changed, so a write
    // for a key its view places on node 0 is not checked (not a stray).
    let elsewhere = (100..).find(|&id| owner(&nodes[1], id) == NodeId(0)).unwrap();
    deliver(&mut nodes[1], NodeId(9), replica_write(Key::new(elsewhere), 1, true));
    assert_eq!(nodes[1].strays_pending(), 0);
    // Node 0 learns the join: a write for a key it still owns stays; one
    // for a key the joiner now owns is a stray.
    learn_join(&mut nodes, 0);
    let kept = (100..).find(|&id| owner(&nodes[0], id) == NodeId(0)).unwrap();
    let moved = (100..).find(|&id| owner(&nodes[0], id) == NodeId(2)).unwrap();
    deliver(&mut nodes[0], NodeId(9), replica_write(Key::new(kept), 2, true));
    assert_eq!(nodes[0].strays_pending(), 0, "a key placed here is not a stray");
    deliver(&mut nodes[0], NodeId(9), replica_write(Key::new(moved), 3, true));
    assert_eq!(nodes[0].strays_pending(), 1, "a key placed elsewhere is");
}

// Session 7 (issue 15): background work (probes, handoff rounds, flushes,
// absorbed versions), the store and the hand-over, for the mutants the
// mutation run of store, background, service and handover left alive.

/// The handoffs one round of `node` at `now` sends, by destination, and the timers it sets.
fn handoff_round(node: &mut Node, now: Time) -> (Vec<Endpoint>, Vec<(Time, NodeTimer)>) {
    let mut out = Outbox::default();
    node.hand_off(now, &mut out);
    let to = out.messages.iter().filter(|(_, m)| matches!(m, Message::Handoff { .. })).map(|(to, _)| *to).collect();
    (to, out.timers)
}

/// One slow acknowledgement is not enough to suspect an intended node: a
/// fallback suspects it only after three handoff rounds in a row went
/// unacknowledged, then hands it nothing, probes it, and resumes once it
/// answers.
#[test]
fn an_intended_node_silent_for_three_handoff_rounds_is_suspected_probed_and_resumed_when_it_answers() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(1), None);
    deliver(&mut nodes[4], NodeId(9), hinted_write(key, 7, NodeId(1)));
    let fallback = &mut nodes[4];
    let intended = Endpoint::Node(NodeId(1));
    for round in 1..=3u64 {
        let now = Time(round * 10_000);
        let (to, timers) = handoff_round(fallback, now);
        assert_eq!(to, [intended], "round {round}: handed back");
        assert_eq!(fallback.suspected_peers().count(), 0, "round {round}: not suspected yet");
        assert!(timers.contains(&(Time(now.0 + 10_000), NodeTimer::Handoff { incarnation: 0 })), "{timers:?}");
    }
    let (to, _) = handoff_round(fallback, Time(40_000));
    assert!(to.is_empty(), "three rounds unacknowledged: suspected, not handed the hint");
    assert_eq!(fallback.suspected_peers().collect::<Vec<_>>(), [(NodeId(1), Time(40_000))]);
    assert_eq!(fallback.stats().peers_suspected, 1);
    assert!(handoff_round(fallback, Time(50_000)).0.is_empty(), "a suspected node is handed nothing");
    // The probe pings every suspected peer and is armed again.
    let mut out = Outbox::default();
    fallback.probe(Time(55_000), &mut out);
    assert!(matches!(&out.messages[..], [(to, Message::Ping)] if *to == intended), "{:?}", out.messages);
    assert_eq!(out.timers, [(Time(65_000), NodeTimer::Probe { incarnation: 0 })]);
    // The node answers: it is reachable again and handed the hint afresh,
    // with three more rounds before it would be suspected again.
    fallback.on_message(Time(56_000), intended, Message::Pong, &mut Outbox::default());
    for round in 6..=8u64 {
        assert_eq!(handoff_round(fallback, Time(round * 10_000)).0, [intended], "round {round}");
    }
    assert_eq!(fallback.stats().peers_suspected, 1);
    assert_eq!(fallback.hints_pending(), 1, "never acknowledged: still held");
}

/// A flush writes everything buffered in one disk write; none starts while
/// one is still being written or when nothing is buffered, and what arrives
/// during a flush waits for the next.
#[test]
fn a_flush_writes_the_buffer_once_and_none_starts_while_one_is_in_progress_or_nothing_is_buffered() {
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let mut nodes = cluster_with(5, buffered);
    let node = &mut nodes[0];
    let storage_ops =
        |out: &Outbox<NodeTimer>| out.timers.iter().filter(|(_, t)| matches!(t, NodeTimer::StorageDone { .. })).count();
    let mut out = Outbox::default();
    node.flush(Time(0), &mut out);
    assert_eq!(node.stats().flushes, 0, "nothing buffered: no flush");
    assert_eq!(out.timers, [(Time(10_000), NodeTimer::Flush { incarnation: 0 })], "only the next flush is armed");
    out.timers.clear();
    for id in 1..=2 {
        node.on_message(Time(0), Endpoint::Node(NodeId(9)), replica_write(Key::new(id), id, false), &mut out);
    }
    out.messages.clear();
    node.flush(Time(10_000), &mut out);
    assert_eq!((node.stats().flushes, storage_ops(&out)), (1, 1), "one disk write for the whole buffer");
    // A write arrives and the next flush comes before that disk write completes.
    let mut during = Outbox::default();
    node.on_message(Time(10_001), Endpoint::Node(NodeId(9)), replica_write(Key::new(3), 3, false), &mut during);
    during.messages.clear();
    node.flush(Time(10_002), &mut during);
    assert_eq!((node.stats().flushes, storage_ops(&during)), (1, 0), "no second flush while one is in progress");
    finish_storage(node, &mut out);
    for id in 1..=2 {
        assert_eq!(node.store().get(id).len(), 1, "key {id} on disk");
    }
    assert!(node.store().get(3).is_empty(), "key 3 came after the flush started");
    assert_eq!(node.main_versions(3).len(), 1, "still buffered");
    let mut next = Outbox::default();
    node.flush(Time(20_000), &mut next);
    assert_eq!((node.stats().flushes, storage_ops(&next)), (2, 1), "the flush finished: the next one starts");
    finish_storage(node, &mut next);
    assert_eq!((node.store().get(3).len(), node.store().version_count()), (1, 3));
}

/// A read repair stores every version sent (the coordinator sends only what
/// the replica lacked) and counts them.
#[test]
fn a_read_repair_stores_and_counts_the_versions_the_replica_lacked() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(0), None);
    let version = |write: u64, actor: u32| {
        let Message::ReplicaWrite { version, .. } = replica_write(key, write, true) else { unreachable!() };
        version.changed(|v| {
            v.clock = VectorClock::new();
            v.clock.set(NodeId(actor), 1, Time(0));
            v.dot = crate::node::vclock::Dot { actor: NodeId(actor).into(), counter: 1 };
        })
    };
    let sent =
        deliver(&mut nodes[0], NodeId(3), Message::ReadRepair { key, versions: vec![version(1, 7), version(2, 8)] });
    assert!(sent.is_empty(), "a read repair is not acknowledged");
    assert_eq!(nodes[0].main_versions(key.id).len(), 2, "two siblings stored");
    assert_eq!(nodes[0].stats().versions_repaired, 2);
    deliver(&mut nodes[0], NodeId(3), Message::ReadRepair { key, versions: vec![version(3, 9)] });
    assert_eq!((nodes[0].main_versions(key.id).len(), nodes[0].stats().versions_repaired), (3, 3));
}

/// A stray with nothing left of it (here: the disk that held it was lost)
/// is reclaimed at the next push round, not pushed empty to its owners;
/// the books still balance.
#[test]
fn strays_with_nothing_left_after_a_disk_loss_are_reclaimed_not_pushed() {
    let mut nodes = leaver_with_strays(1, 16, 3);
    nodes[2].crash(Time(1), true);
    assert!((1000..1003).all(|id| nodes[2].main_versions(id).is_empty()));
    assert_eq!(nodes[2].strays_pending(), 3, "the strays are known until the next round");
    // Past the sweep planned at the leave, so nothing is left pending.
    let pushes = push_round(&mut nodes[2], Time(5_000_000));
    assert!(pushes.is_empty(), "nothing to push: {pushes:?}");
    let s = nodes[2].stats();
    assert_eq!((s.stray_keys_found, s.stray_keys_handed_over, s.stray_keys_reclaimed), (3, 0, 3));
    assert_eq!(nodes[2].strays_pending(), 0);
    assert!(!nodes[2].handover_pending());
}

/// Periodic timers carry the incarnation that set them: after a crash and
/// restart, each one set before the crash does nothing (no message, no new
/// timer), and each one set since runs and arms its next round.
#[test]
fn periodic_timers_set_before_a_crash_do_nothing_and_those_set_since_run() {
    let buffered = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let mut nodes = cluster_with(5, Arc::clone(&buffered));
    let streams = Streams::new(1);
    let mut joiner =
        Node::new_joiner(NodeId(5), buffered, streams.stream(Purpose::Node, 5), streams.stream(Purpose::RingTokens, 5));
    joiner.join(Time(0), NodeId(0), &mut Outbox::default());
    for node in [&mut nodes[0], &mut joiner] {
        let mut before = Outbox::default();
        node.start(Time(0), &mut before);
        node.crash(Time(1), false);
        let mut since = Outbox::default();
        node.start(Time(2), &mut since);
        let kinds = |timers: &[(Time, NodeTimer)]| timers.iter().map(|(_, t)| t.code()).collect::<Vec<_>>();
        assert_eq!(kinds(&before.timers), kinds(&since.timers), "the restart arms the same timers");
        assert!(before.timers.len() >= 4, "{:?}", before.timers);
        for (at, timer) in before.timers {
            let mut out = Outbox::default();
            node.on_timer(at, timer, &mut out);
            assert!(out.messages.is_empty() && out.timers.is_empty(), "{timer:?} of the old incarnation: {out:?}");
        }
        for (at, timer) in since.timers {
            let mut out = Outbox::default();
            node.on_timer(at, timer, &mut out);
            assert!(out.timers.iter().any(|(_, next)| next.code() == timer.code()), "{timer:?} armed again: {out:?}");
        }
    }
}

/// Cluster-wide totals: adding a node's counters adds each of them (every
/// counter distinct, none 2, so a counter multiplied or subtracted shows).
#[test]
fn adding_node_stats_adds_every_counter() {
    let one = NodeStats {
        reads_coordinated: 3,
        writes_coordinated: 4,
        requests_forwarded: 5,
        replica_reads: 6,
        replica_writes: 7,
        obsolete_writes: 8,
        clock_truncations: 9,
        sibling_cap_hits: 10,
        sibling_cap_drops: 11,
        coordinations_timed_out: 12,
        coordinations_without_replicas: 13,
        peers_suspected: 14,
        fallbacks_used: 15,
        hints_stored: 16,
        hints_delivered: 17,
        hints_superseded: 18,
        hints_dropped_by_cap: 19,
        hints_lost: 20,
        read_repairs: 21,
        versions_repaired: 22,
        flushes: 23,
        gossip_rounds: 24,
        gossip_messages: 25,
        gossip_bytes: 26,
        ring_changes: 27,
        writes_outside_own_ranges: 28,
        transfers_requested: 29,
        transfer_keys_sent: 30,
        transfer_bytes_sent: 31,
        transfer_keys_received: 32,
        transfer_keys_dropped: 33,
        stray_keys_found: 34,
        stray_keys_handed_over: 35,
        stray_keys_reclaimed: 36,
        stray_versions_pushed: 37,
        hints_retargeted: 38,
        anti_entropy_rounds: 39,
        anti_entropy_tree_nodes: 40,
        anti_entropy_keys_repaired: 41,
        anti_entropy_bytes: 42,
        anti_entropy_full_copy_bytes: 43,
    };
    let mut total = NodeStats::default();
    total.add(&one);
    total.add(&one);
    let (one, total) = (serde_json::to_value(&one).expect("counters"), serde_json::to_value(&total).expect("counters"));
    let counters = one.as_object().expect("a struct");
    assert_eq!(counters.len(), 41);
    for (name, value) in counters {
        assert_eq!(total[name].as_u64(), value.as_u64().map(|v| 2 * v), "{name}");
    }
}

// Session 8 (issue 15): anti-entropy and range transfer, for the mutants the
// mutation run of merkle, anti_entropy and transfer left alive.

/// Two started nodes replicating every range (N = 2), with `buffered_writes`.
fn two_replicas(buffered_writes: bool) -> Vec<Node> {
    let config = Arc::new(NodeConfig { n: 2, r: 1, w: 1, buffered_writes, ..(*config()).clone() });
    let mut nodes = cluster_with(2, config);
    for node in nodes.iter_mut() {
        node.start(Time(0), &mut Outbox::default());
    }
    nodes
}

/// Bytes of a full copy of what `node` stores: each stored key and its
/// reconciled versions (durable and buffered).
fn full_copy_bytes(node: &Node) -> u64 {
    let mut keys: Vec<Key> = node.main_keys().collect(); // no hints in these tests
    keys.sort_by_key(|key| key.id);
    keys.dedup();
    keys.iter().map(|k| k.wire_bytes() + node.main_versions(k.id).iter().map(Version::wire_bytes).sum::<u64>()).sum()
}

/// Each round arms the next, counts itself and the bytes a full copy of
/// the hosted data would take; each node counts the tree nodes and bytes
/// of every anti-entropy message it sends, no more, no less.
#[test]
fn anti_entropy_counts_its_rounds_the_full_copy_it_replaces_and_every_tree_node_and_byte_it_sends() {
    let mut nodes = two_replicas(true);
    for id in 0..40u64 {
        deliver(&mut nodes[0], NodeId(9), replica_write(Key::new(id), id + 1, true));
    }
    // A newer version of key 3 and a new key 41, both still buffered, and a
    // key only node 1 holds.
    deliver(&mut nodes[0], NodeId(9), replica_write(Key::new(3), 100, false));
    deliver(&mut nodes[0], NodeId(9), replica_write(Key::new(41), 101, false));
    assert!(nodes[0].store().get(41).is_empty(), "key 41 is only in the buffer");
    deliver(&mut nodes[1], NodeId(9), replica_write(Key::new(500), 500, true));
    let mut out = Outbox::default();
    nodes[0].anti_entropy_round(Time(5), &mut out);
    assert!(out.timers.contains(&(Time(10_005), NodeTimer::AntiEntropy { incarnation: 0 })), "{:?}", out.timers);
    let stats = nodes[0].stats();
    let first_copy = full_copy_bytes(&nodes[0]);
    assert_eq!(stats.anti_entropy_rounds, 1);
    assert_eq!(stats.anti_entropy_full_copy_bytes, first_copy);
    assert_eq!(out.messages.len(), 16, "one root for each of the 16 ranges hosted");
    assert_eq!(stats.anti_entropy_tree_nodes, 16);
    let opening_bytes: u64 = out.messages.iter().map(|(_, m)| m.wire_bytes()).sum();
    assert_eq!(stats.anti_entropy_bytes, opening_bytes);
    let opening: Vec<_> = out.messages.drain(..).map(|(to, m)| (NodeId(0), to, m)).collect();
    let log = settle(&mut nodes, opening);
    for (node, opened) in [(0, opening_bytes), (1, 0)] {
        let sent: Vec<&Message> = log.iter().filter(|(from, _)| *from == NodeId(node)).map(|(_, m)| m).collect();
        assert!(sent.iter().all(|m| matches!(
            m,
            Message::TreeCompare { .. } | Message::LeafDigests { .. } | Message::KeyVersions { .. }
        )));
        let bytes: u64 = sent.iter().map(|m| m.wire_bytes()).sum();
        let tree_nodes: usize = sent
            .iter()
            .map(|m| match m {
                Message::TreeCompare { nodes, .. } => nodes.len(),
                _ => 0,
            })
            .sum();
        let stats = nodes[node as usize].stats();
        assert_eq!(stats.anti_entropy_bytes, opened + bytes, "node {node}");
        assert_eq!(stats.anti_entropy_tree_nodes, u64::from(node == 0) * 16 + tree_nodes as u64, "node {node}");
    }
    assert_eq!(nodes[1].stats().anti_entropy_rounds, 0);
    nodes[0].anti_entropy_round(Time(10_005), &mut Outbox::default());
    assert_eq!(nodes[0].stats().anti_entropy_rounds, 2);
    assert_eq!(nodes[0].stats().anti_entropy_full_copy_bytes, first_copy + full_copy_bytes(&nodes[0]), "key 500 added");
}

/// A write still in the buffer is part of the node's main data: its digest
/// and its Merkle tree cover it, so anti-entropy hands it to a replica that
/// lacks it before it is ever flushed.
#[test]
fn a_buffered_write_is_in_the_merkle_tree_and_reaches_another_replica_by_anti_entropy() {
    let mut nodes = two_replicas(true);
    let key = Key::new(7);
    deliver(&mut nodes[0], NodeId(9), replica_write(key, 1, false));
    assert!(nodes[0].store().get(key.id).is_empty(), "buffered, not on disk");
    let digest = merkle::key_digest(key.id, &nodes[0].main_versions(key.id));
    assert_eq!(nodes[0].main_digest(key.id), digest);
    assert!(digest > 1);
    assert_eq!(nodes[1].main_digest(key.id), 0, "no versions: the empty digest");
    let mut out = Outbox::default();
    nodes[0].anti_entropy_round(Time(5), &mut out);
    let opening: Vec<_> = out.messages.drain(..).map(|(to, m)| (NodeId(0), to, m)).collect();
    settle(&mut nodes, opening);
    assert_eq!(nodes[1].main_versions(key.id), nodes[0].main_versions(key.id));
    assert_eq!(nodes[1].main_digest(key.id), digest);
    assert_eq!(nodes[1].stats().anti_entropy_keys_repaired, 1);
}

/// A round compares each hosted range with a replica this node believes
/// reachable, never with itself; with none reachable, it sends nothing.
#[test]
fn an_anti_entropy_round_compares_only_with_replicas_believed_reachable() {
    let mut nodes = cluster(3);
    nodes[0].start(Time(0), &mut Outbox::default());
    nodes[0].suspect(Time(0), NodeId(1));
    let mut out = Outbox::default();
    nodes[0].anti_entropy_round(Time(5), &mut out);
    let to: Vec<Endpoint> = out.messages.iter().map(|(to, _)| *to).collect();
    assert_eq!(to, vec![Endpoint::Node(NodeId(2)); 16], "N = 3 of 3: every range, with the one healthy peer");
    nodes[0].suspect(Time(6), NodeId(2));
    let mut out = Outbox::default();
    nodes[0].anti_entropy_round(Time(10_005), &mut out);
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    assert_eq!(nodes[0].stats().anti_entropy_rounds, 2);
}

/// A round compares every hosted range once, in ring order, each with
/// another of that range's replicas.
#[test]
fn a_round_compares_each_hosted_range_with_another_of_its_replicas() {
    let mut nodes = cluster(5);
    let node = &mut nodes[0];
    node.start(Time(0), &mut Outbox::default());
    let (id, ring) = (node.id, Arc::clone(&node.ring));
    let mut out = Outbox::default();
    node.anti_entropy_round(Time(1), &mut out);
    let hosted: Vec<Span> = ring
        .placement_ranges()
        .iter()
        .filter(|range| ring.preference_list(range.last, 3).contains(&id))
        .map(|range| Span { first: range.first, last: range.last })
        .collect();
    let mut compared = Vec::new();
    for (to, message) in &out.messages {
        let Message::TreeCompare { range, .. } = message else { continue };
        let replicas = ring.preference_list(range.last, 3);
        assert!(
            matches!(to, Endpoint::Node(peer) if *peer != id && replicas.contains(peer)),
            "{range:?} compared with {to:?}, replicas {replicas:?}"
        );
        compared.push(*range);
    }
    assert!(hosted.len() > 1);
    assert_eq!(compared, hosted);
}

/// A replica answers a tree comparison only for a range it hosts with the
/// very same bounds; then only the tree nodes whose hashes differ from its
/// own: an inner node with its two children, a leaf with the digests of
/// its keys; an equal node or an index outside the tree gets nothing.
#[test]
fn a_tree_comparison_is_answered_only_for_a_hosted_range_and_only_where_the_hashes_differ() {
    let mut nodes = cluster(5);
    let node = &mut nodes[0];
    node.start(Time(0), &mut Outbox::default());
    for id in 0..600u64 {
        deliver(node, NodeId(9), replica_write(Key::new(id), id + 1, true));
    }
    let (id, ring) = (node.id, Arc::clone(&node.ring));
    let ranges = ring.placement_ranges();
    let span = |index: usize| Span { first: ranges[index].first, last: ranges[index].last };
    let hosts = |index: usize| ring.preference_list(ranges[index].last, 3).contains(&id);
    let hosted = (0..ranges.len()).find(|&i| hosts(i)).expect("a hosted range");
    let elsewhere = (0..ranges.len()).find(|&i| !hosts(i)).expect("a range hosted elsewhere");
    let compare = |range: Span, nodes: Vec<(u32, u64)>| Message::TreeCompare { range, nodes };
    // The root hash of the hosted range, as the node opens a comparison with it.
    let mut out = Outbox::default();
    node.anti_entropy_round(Time(1), &mut out);
    let root = out
        .messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::TreeCompare { range, nodes } if *range == span(hosted) => Some(nodes[0].1),
            _ => None,
        })
        .expect("the hosted range compared");
    assert!(deliver(node, NodeId(1), compare(span(hosted), vec![(1, root)])).is_empty(), "equal roots");
    assert!(deliver(node, NodeId(1), compare(span(elsewhere), vec![(1, 0)])).is_empty(), "a range not hosted");
    let shifted = Span { first: Token(span(hosted).first.0.wrapping_add(1)), ..span(hosted) };
    assert!(deliver(node, NodeId(1), compare(shifted, vec![(1, 0)])).is_empty(), "other bounds: another view");
    assert!(deliver(node, NodeId(1), compare(span(hosted), vec![(32, 5)])).is_empty(), "outside a depth-4 tree");
    // An inner node that differs: its two children.
    match &deliver(node, NodeId(1), compare(span(hosted), vec![(3, 0)]))[..] {
        [(to, Message::TreeCompare { range, nodes })] => {
            assert_eq!((*to, *range), (Endpoint::Node(NodeId(1)), span(hosted)));
            assert_eq!(nodes.iter().map(|(index, _)| *index).collect::<Vec<_>>(), [6, 7]);
        }
        other => panic!("expected the children of node 3, got {other:?}"),
    }
    // A leaf that differs: the digests of its keys (those whose positions
    // end in the same four bits).
    let sample = (0..600).map(Key::new).find(|k| span(hosted).contains(k.position)).expect("a key in the range");
    let low_bits = sample.position.0 & 15;
    let leaf = 16 + low_bits as u32;
    let expected: Vec<(Key, u64)> = (0..600)
        .map(Key::new)
        .filter(|k| span(hosted).contains(k.position) && k.position.0 & 15 == low_bits)
        .map(|k| (k, merkle::key_digest(k.id, &node.main_versions(k.id))))
        .collect();
    match &deliver(node, NodeId(1), compare(span(hosted), vec![(leaf, 0)]))[..] {
        [(_, Message::LeafDigests { range, leaves, keys })] => {
            assert_eq!((*range, &leaves[..]), (span(hosted), &[leaf][..]));
            assert_eq!(keys, &expected);
        }
        other => panic!("expected the digests of leaf {leaf}, got {other:?}"),
    }
}

/// The span a fetch asks for, and the node asked.
fn fetch_of((to, message): &(Endpoint, Message)) -> (Span, NodeId) {
    match (to, message) {
        (Endpoint::Node(source), Message::FetchRange { first, last }) => (Span { first: *first, last: *last }, *source),
        other => panic!("expected a fetch, got {other:?}"),
    }
}

/// A fetch not answered within five gossip intervals suspects its source
/// and asks the next previous replica, the one giving the range up first;
/// each is asked twice, then the fetch is given up (anti-entropy repairs
/// the rest). A timeout of an earlier try does nothing.
#[test]
fn an_unanswered_fetch_asks_each_previous_replica_in_turn_twice_then_gives_up() {
    let (mut nodes, fetches, timeouts) = join_of(3, 3, 0);
    let joiner = &mut nodes[3];
    assert_eq!(joiner.stats().transfers_requested, fetches.len() as u64);
    let (span, first) = fetch_of(&fetches[0]);
    let named = joiner.fetch_span(span); // what its timers carry
    assert!(timeouts.contains(&(Time(5_000_001), NodeTimer::FetchTimeout { span: named, attempt: 0 })), "{timeouts:?}");
    assert!(!joiner.ring.preference_list(span.last, 3).contains(&first), "the replica giving the range up first");
    let mut asked = vec![first];
    for attempt in 0..6u32 {
        let now = Time(u64::from(attempt + 2) * 5_000_000);
        let mut out = Outbox::default();
        joiner.on_timer(now, NodeTimer::FetchTimeout { span: named, attempt }, &mut out);
        assert!(joiner.suspected_peers().any(|(peer, _)| peer == asked[attempt as usize]), "try {attempt}");
        if attempt == 5 {
            assert!(out.messages.is_empty() && out.timers.is_empty(), "given up: {out:?}");
            break;
        }
        let (again, source) = fetch_of(&out.messages[0]);
        assert_eq!((again, out.messages.len()), (span, 1));
        assert_eq!(out.timers, [(now.plus(5_000_000), NodeTimer::FetchTimeout { span: named, attempt: attempt + 1 })]);
        asked.push(source);
        let mut stale = Outbox::default();
        joiner.on_timer(now, NodeTimer::FetchTimeout { span: named, attempt }, &mut stale);
        assert!(stale.messages.is_empty() && stale.timers.is_empty(), "a timeout of an earlier try");
    }
    let mut previous = asked[..3].to_vec();
    previous.sort();
    assert_eq!(previous, [NodeId(0), NodeId(1), NodeId(2)]);
    assert_eq!(asked[..3], asked[3..], "in turn, each twice");
    let mut out = Outbox::default();
    joiner.on_timer(Time(50_000_000), NodeTimer::FetchTimeout { span: named, attempt: 6 }, &mut out);
    assert!(out.messages.is_empty(), "no longer pending");
}

/// A fetch asks the previous replicas believed reachable before a
/// suspected one, even the one giving the range up.
#[test]
fn a_fetch_asks_previous_replicas_believed_reachable_before_a_suspected_one() {
    let (mut nodes, fetches, _) = join_of(3, 3, 0);
    let previous = Arc::clone(&nodes[1].ring);
    let joiner = &mut nodes[3];
    let (span, leaving) = fetch_of(&fetches[0]);
    joiner.suspect(Time(2), leaving);
    let mut out = Outbox::default();
    joiner.fetch_new_ranges(Time(2), &previous, &mut out);
    let (_, asked) = out.messages.iter().map(fetch_of).find(|(s, _)| *s == span).expect("the span fetched again");
    assert_ne!(asked, leaving, "a suspected replica is asked last");
}

/// A restart asks again for every pending range, as a new try: the
/// timeout set before the crash is then stale and does nothing.
#[test]
fn after_a_restart_a_fetch_timeout_set_before_the_crash_does_nothing() {
    let (mut nodes, fetches, _) = join_of(2, 1, 0);
    let joiner = &mut nodes[2];
    joiner.crash(Time(2), false);
    let mut out = Outbox::default();
    joiner.start(Time(3), &mut out);
    let again: Vec<_> = out.messages.iter().filter(|(_, m)| matches!(m, Message::FetchRange { .. })).collect();
    assert_eq!(again.len(), fetches.len());
    let (span, _) = fetch_of(&fetches[0]);
    let named = joiner.fetch_span(span);
    assert!(
        out.timers.contains(&(Time(5_000_003), NodeTimer::FetchTimeout { span: named, attempt: 1 })),
        "{:?}",
        out.timers
    );
    let mut stale = Outbox::default();
    joiner.on_timer(Time(5_000_001), NodeTimer::FetchTimeout { span: named, attempt: 0 }, &mut stale);
    assert!(stale.messages.is_empty() && stale.timers.is_empty(), "{stale:?}");
    assert_eq!(joiner.suspected_peers().count(), 0);
}

/// Serving a range costs one read of its partition's file (strategy 3) or
/// a scan of every stored key and a read per key of the range (strategies
/// 1 and 2), in the service queue.
#[test]
fn serving_a_range_costs_one_read_of_its_file_or_a_scan_of_the_store_and_a_read_per_key() {
    let random =
        Arc::new(NodeConfig { strategy: Strategy::RandomTokens { tokens_per_node: 4 }, ..(*config()).clone() });
    let lower_half = Span { first: Token(0), last: Token(u128::MAX / 2) };
    let in_half = (0..30).filter(|&id| lower_half.contains(Key::new(id).position)).count() as u64;
    assert!(in_half > 0 && in_half < 30);
    for (config, cost_us) in [(config(), 10), (random, 30 * 2 + in_half * 10)] {
        let mut nodes = cluster_with(2, config);
        for id in 0..30 {
            deliver(&mut nodes[0], NodeId(9), replica_write(Key::new(id), id + 1, true));
        }
        let mut out = Outbox::default();
        let fetch = Message::FetchRange { first: lower_half.first, last: lower_half.last };
        nodes[0].on_message(Time(1_000_000), Endpoint::Node(NodeId(1)), fetch, &mut out);
        match &out.timers[..] {
            [(at, NodeTimer::StorageDone { .. })] => assert_eq!(*at, Time(1_000_000 + cost_us)),
            other => panic!("expected the read queued, got {other:?}"),
        }
    }
}

/// A range goes out at the transfer bandwidth and is counted; a source
/// that hears no confirmation within a gossip interval of sending it
/// takes it as lost: the keys it no longer places here become strays to
/// push, and a confirmation that comes later drops nothing. The joiner
/// counts the keys it received and is bootstrapped only once every range
/// it fetched is stored.
#[test]
fn a_range_is_sent_at_the_transfer_bandwidth_and_an_unconfirmed_one_is_pushed_after_a_gossip_interval() {
    let (mut nodes, fetches, _) = join_of(2, 1, 200);
    for node in 0..2 {
        learn_join(&mut nodes, node);
    }
    assert!(fetches.len() > 1);
    let (_, source) = fetch_of(&fetches[0]);
    let node = &mut nodes[source.0 as usize];
    let mut out = Outbox::default();
    node.on_message(Time(1_000_000), Endpoint::Node(NodeId(2)), fetches[0].1.clone(), &mut out);
    let [(read_done, read)] = std::mem::take(&mut out.timers)[..] else { panic!("one read queued") };
    assert_eq!(read_done, Time(1_000_010));
    node.on_timer(read_done, read, &mut out);
    let [(sent_at, sent)] = std::mem::take(&mut out.timers)[..] else { panic!("one transfer going out") };
    assert!(out.messages.is_empty(), "not before it went out");
    node.on_timer(sent_at, sent, &mut out);
    let sent = std::mem::take(&mut out.messages);
    let [(to, data)] = &sent[..] else { panic!("the range sent, got {sent:?}") };
    assert_eq!(*to, Endpoint::Node(NodeId(2)));
    let Message::RangeData { entries, .. } = data else { panic!("expected range data, got {data:?}") };
    let keys = entries.len() as u64;
    assert!(keys > 0);
    let bytes = data.wire_bytes();
    assert_eq!(sent_at, read_done.plus(bytes.div_ceil(50)), "{bytes} bytes at 50 bytes/us");
    assert_eq!((node.stats().transfer_keys_sent, node.stats().transfer_bytes_sent), (keys, bytes));
    // No confirmation: kept until a gossip interval after it went out.
    let deadline = sent_at.plus(1_000_000);
    node.hand_off(Time(deadline.0 - 1), &mut Outbox::default());
    assert_eq!(node.strays_pending(), 0, "not yet taken as lost");
    node.hand_off(deadline, &mut Outbox::default());
    assert_eq!(node.strays_pending(), keys, "taken as lost: every key of it is a stray to push");
    // The range arrives after all, and is acknowledged once its last key
    // is stored; the source drops nothing for it.
    let joiner = &mut nodes[2];
    let mut out = Outbox::default();
    joiner.on_message(Time(3_000_000), Endpoint::Node(source), data.clone(), &mut out);
    assert_eq!(joiner.stats().transfer_keys_received, keys);
    let stores = std::mem::take(&mut out.timers);
    assert_eq!(stores.len() as u64, keys, "one store per key");
    let mut acks = Vec::new();
    for (stored, (at, timer)) in (1..).zip(stores) {
        joiner.on_timer(at, timer, &mut out);
        acks.append(&mut out.messages);
        assert_eq!(acks.len(), usize::from(stored == keys), "{stored} of {keys} keys stored");
    }
    assert!(joiner.bootstrap().1.is_none(), "other ranges still pending");
    let [(_, ack)] = &acks[..] else { unreachable!() };
    deliver(&mut nodes[source.0 as usize], NodeId(2), ack.clone());
    assert_eq!(nodes[source.0 as usize].stats().transfer_keys_dropped, 0);
    assert_eq!(nodes[source.0 as usize].strays_pending(), keys);
}

/// The run digest tells a node's timer kinds apart by [`NodeTimer::code`]:
/// each kind has its own code, and the codes are the ones the locked suite
/// digests were made with (a renumbering would change every digest).
#[test]
fn every_node_timer_kind_enters_the_digest_with_its_own_stable_code() {
    let request = RequestId { client: CLIENT, sequence: 1 };
    let timers = [
        NodeTimer::StorageDone { op: 0 },
        NodeTimer::CoordinationTimeout { id: 0 },
        NodeTimer::ReplicaTimeout { id: 0 },
        NodeTimer::Probe { incarnation: 0 },
        NodeTimer::Handoff { incarnation: 0 },
        NodeTimer::Flush { incarnation: 0 },
        NodeTimer::ForwardTimeout { request, attempt: 0 },
        NodeTimer::AntiEntropy { incarnation: 0 },
        NodeTimer::Gossip { incarnation: 0 },
        NodeTimer::TransferSent { id: 0 },
        NodeTimer::JoinRetry { incarnation: 0 },
        NodeTimer::FetchTimeout { span: 0, attempt: 0 },
    ];
    let codes: Vec<u8> = timers.iter().map(NodeTimer::code).collect();
    assert_eq!(codes, (1..=12).collect::<Vec<u8>>());
}

/// A node answers to the id it was built with: the simulator routes its
/// messages and timers by it.
#[test]
fn a_node_knows_its_own_id() {
    let ids: Vec<NodeId> = cluster(4).iter().map(Node::id).collect();
    assert_eq!(ids, (0..4).map(NodeId).collect::<Vec<_>>());
}

// Session 10 (issue 15): the second half of node/mod.rs, for the mutants
// the mutation run from `Node::start` on left alive.

/// The interval over which `start` spreads the first round of a periodic timer.
fn periodic_interval(config: &NodeConfig, timer: &NodeTimer) -> u64 {
    match timer {
        NodeTimer::Probe { .. } => config.probe_interval_us,
        NodeTimer::Handoff { .. } => config.handoff_interval_us,
        NodeTimer::Flush { .. } => config.flush_interval_us,
        NodeTimer::Gossip { .. } => config.gossip_interval_us,
        NodeTimer::AntiEntropy { .. } => config.anti_entropy_interval_us,
        other => panic!("not a periodic timer: {other:?}"),
    }
}

/// The timers each node of a five-node cluster arms when it starts at `start`.
fn start_timers(config: &Arc<NodeConfig>, start: Time) -> Vec<Vec<(Time, NodeTimer)>> {
    let mut nodes = cluster_with(5, Arc::clone(config));
    nodes
        .iter_mut()
        .map(|node| {
            let mut out = Outbox::default();
            node.start(start, &mut out);
            out.timers
        })
        .collect()
}

/// A start arms the first round of each periodic timer at a random instant
/// of its interval: never at the start itself, never more than one interval
/// after it, and not at the same instant on every node (so the cluster's
/// rounds do not all fall together).
#[test]
fn a_start_arms_each_periodic_timer_within_one_interval_after_it_at_staggered_instants() {
    let config = Arc::new(NodeConfig { buffered_writes: true, ..(*config()).clone() });
    let start = Time(1_000);
    let mut probes = std::collections::BTreeSet::new();
    for timers in start_timers(&config, start) {
        assert_eq!(timers.len(), 5, "probe, handoff, flush, gossip, anti-entropy: {timers:?}");
        for (at, timer) in timers {
            let interval = periodic_interval(&config, &timer);
            assert!(at > start && at <= start.plus(interval), "{timer:?} at {at:?}, interval {interval} us");
            if let NodeTimer::Probe { .. } = timer {
                probes.insert(at);
            }
        }
    }
    assert!(probes.len() > 1, "five nodes probe first at {probes:?}");

    // An interval of 1 us leaves one instant: 1 us after the start.
    let tight = Arc::new(NodeConfig {
        probe_interval_us: 1,
        handoff_interval_us: 1,
        flush_interval_us: 1,
        gossip_interval_us: 1,
        anti_entropy_interval_us: 1,
        ..(*config).clone()
    });
    for timers in start_timers(&tight, start) {
        assert_eq!(timers.len(), 5, "{timers:?}");
        for (at, timer) in timers {
            assert_eq!(at, start.plus(1), "{timer:?}");
        }
    }
}

/// The version carried by the first replica write in `out`.
fn first_replica_version(out: &Outbox<NodeTimer>) -> &Version {
    out.messages
        .iter()
        .find_map(|(_, m)| match m {
            Message::ReplicaWrite { version, .. } => Some(version),
            _ => None,
        })
        .expect("the coordinator sends replica writes")
}

/// The stamp of the version `node` creates for a blind put of `key` at `now`.
fn stamp_of_put(node: &mut Node, now: Time, key: Key, sequence: u64) -> crate::protocol::Stamp {
    let mut out = Outbox::default();
    node.on_message(now, Endpoint::Client(CLIENT), put(sequence, key, VectorClock::new(), sequence), &mut out);
    first_replica_version(&out).stamp()
}

/// A coordinator stamps a write with its own physical clock, skew
/// included; a clock set back never makes a stamp repeat or go back.
#[test]
fn a_coordinator_stamps_writes_with_its_skewed_clock_and_never_repeats_a_stamp() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(1), None);
    let node = &mut nodes[1];
    node.set_clock_skew(500);
    let ahead = stamp_of_put(node, Time(1_000), key, 1);
    assert_eq!((ahead.time_us, ahead.writer), (1_500, 1), "500 us ahead");
    node.set_clock_skew(-2_000);
    assert_eq!(stamp_of_put(node, Time(1_100), key, 2).time_us, 1_501, "set back: one past the last stamp");
    node.set_clock_skew(0);
    assert_eq!(stamp_of_put(node, Time(3_000), key, 3).time_us, 3_000, "the true time once it is later");
}

/// A disk loss loses the node's hints with its store, and counts them as
/// lost hints; a crash that keeps the disk keeps them.
#[test]
fn a_disk_loss_loses_and_counts_the_hints_a_crash_keeps() {
    let mut nodes = cluster(5);
    let node = &mut nodes[4];
    for (key, write) in [(1, 7), (2, 8)] {
        deliver(node, NodeId(9), hinted_write(Key::new(key), write, NodeId(1)));
    }
    assert!(node.crash(Time(10), false).is_empty(), "hints are on disk");
    assert_eq!(node.hints_pending(), 2);
    let lost = node.crash(Time(20), true);
    let writes: Vec<(u64, u64)> = lost.iter().map(|(key, v)| (*key, v.write.0)).collect();
    assert_eq!(writes, vec![(1, 7), (2, 8)]);
    let books = node.hint_books();
    assert_eq!((books.stored, books.lost, books.pending), (2, 2, 0));
    assert!(books.balanced(), "{books:?}");
}

/// A durable replica write of `version` to `key` from coordinator n9,
/// standing in for `hint` if any.
fn replica_write_of(key: Key, version: Version, hint: Option<NodeId>) -> Message {
    let coordination = Coordination { coordinator: Endpoint::Node(NodeId(9)), id: version.write.0 };
    Message::ReplicaWrite { coordination, key, version, hint, durable: true }
}

/// A replica counts each write it applies to its main data (stored or
/// already held), each read it serves, and each unhinted write for a key its
/// own view places elsewhere (a hint is meant to be elsewhere).
#[test]
fn a_replica_counts_its_writes_the_ones_it_already_held_its_reads_and_writes_outside_its_ranges() {
    let version = store::tests::version;
    let mut nodes = cluster(5);
    let (inside, _) = key_where(&nodes, NodeId(1), None);
    let outside = (0..)
        .map(Key::new)
        .find(|k| !nodes[1].ring.preference_list(k.position, 3).contains(&NodeId(1)))
        .expect("a key node 1 does not replicate");
    let node = &mut nodes[1];
    for message in [
        replica_write_of(inside, version(1, &[(0, 1)]), None),
        replica_write_of(inside, version(2, &[(0, 2)]), None),
        replica_write_of(inside, version(1, &[(0, 1)]), None), // its descendant is there
        replica_write_of(outside, version(3, &[(0, 1)]), None),
        replica_write_of(outside, version(4, &[(0, 1)]), Some(NodeId(2))),
    ] {
        deliver(node, NodeId(9), message);
    }
    let coordination = Coordination { coordinator: Endpoint::Node(NodeId(9)), id: 5 };
    let replies = deliver(node, NodeId(9), Message::ReplicaRead { coordination, key: inside });
    let returned: Vec<Vec<u64>> = replies
        .iter()
        .filter_map(|(_, m)| match m {
            Message::ReplicaReadReply { versions, .. } => Some(versions.iter().map(|v| v.write.0).collect()),
            _ => None,
        })
        .collect();
    assert_eq!(returned, vec![vec![2]]);
    let s = node.stats();
    assert_eq!(s.replica_writes, 4, "three to the key it replicates, one outside; the hint is not main data");
    assert_eq!(s.obsolete_writes, 1);
    assert_eq!(s.replica_reads, 1);
    assert_eq!(s.writes_outside_own_ranges, 1, "the unhinted write outside its ranges");
}

/// Over the sibling cap, a replica drops the oldest siblings, from its main
/// data or from its hints, counts them and keeps each for the checker; a
/// hint that covers older hints of its key counts them as superseded.
#[test]
fn sibling_cap_drops_from_the_main_data_and_the_hints_are_counted_and_kept_for_the_checker() {
    let version = store::tests::version;
    let capped = Arc::new(NodeConfig {
        rules: StoreRules { versioning: versioning::Versioning::VectorClocks, sibling_cap: 2 },
        ..(*config()).clone()
    });
    let mut nodes = cluster_with(5, capped);
    let (key, _) = key_where(&nodes, NodeId(1), None);
    let node = &mut nodes[1];
    // Three concurrent writes to the main data: the oldest goes.
    for v in [version(1, &[(0, 1)]), version(2, &[(2, 1)]), version(3, &[(3, 1)])] {
        deliver(node, NodeId(9), replica_write_of(key, v, None));
    }
    // Hints for node 0: two concurrent, one covering both, then two more
    // concurrent with it, so the oldest of the three goes.
    for v in [
        version(4, &[(5, 1)]),
        version(5, &[(6, 1)]),
        version(6, &[(5, 1), (6, 1)]),
        version(7, &[(7, 1)]),
        version(8, &[(8, 1)]),
    ] {
        deliver(node, NodeId(9), replica_write_of(key, v, Some(NodeId(0))));
    }
    let dropped: Vec<(u64, u64)> = node.cap_dropped().iter().map(|(k, v)| (*k, v.write.0)).collect();
    assert_eq!(dropped, vec![(key.id, 1), (key.id, 6)]);
    let writes = |versions: &[Version]| versions.iter().map(|v| v.write.0).collect::<Vec<_>>();
    assert_eq!(writes(node.store().get(key.id)), vec![3, 2]);
    let s = node.stats();
    assert_eq!((s.sibling_cap_hits, s.sibling_cap_drops), (1, 1), "the main data's cap");
    let books = node.hint_books();
    assert_eq!((books.stored, books.superseded, books.capped, books.pending), (5, 2, 1, 2));
    assert!(books.balanced(), "{books:?}");
}

/// A hinted write that names the node receiving it as the intended one is
/// that node's own data: it joins the main data, not the hints.
#[test]
fn a_hinted_write_meant_for_its_receiver_joins_the_main_data() {
    let mut nodes = cluster(5);
    let (key, _) = key_where(&nodes, NodeId(1), None);
    deliver(&mut nodes[1], NodeId(9), hinted_write(key, 7, NodeId(1)));
    assert_eq!(nodes[1].hints_pending(), 0);
    assert_eq!(nodes[1].main_versions(key.id).len(), 1);
    assert_eq!(nodes[1].stats().replica_writes, 1);
}

/// A coordinator truncates a new version's clock to the configured number
/// of entries (keeping its own) and counts every entry it dropped.
#[test]
fn a_coordinator_counts_every_clock_entry_it_truncates() {
    let small = Arc::new(NodeConfig { clock_max_entries: 2, ..(*config()).clone() });
    let mut nodes = cluster_with(5, small);
    let (key, _) = key_where(&nodes, NodeId(1), None);
    let mut context = VectorClock::new();
    for node in 5..8 {
        context.set(NodeId(node), 1, Time(0));
    }
    let mut out = Outbox::default();
    nodes[1].on_message(Time(10), Endpoint::Client(CLIENT), put(1, key, context, 1), &mut out);
    let clock = &first_replica_version(&out).clock;
    assert_eq!(clock.len(), 2);
    assert_eq!(clock.counter(NodeId(1)), 1, "the coordinator's own entry stays");
    assert_eq!(nodes[1].stats().clock_truncations, 2, "four entries, two dropped");
}

/// A replica still silent at a later replica check is already suspected:
/// its suspicion keeps the time it began and counts once.
#[test]
fn a_replica_silent_at_two_replica_checks_is_suspected_once_from_the_first() {
    let (mut nodes, id, silent, mut out) = read_with_a_silent_replica(false, false);
    nodes[0].on_timer(Time(200), NodeTimer::ReplicaTimeout { id }, &mut out);
    nodes[0].on_timer(Time(400), NodeTimer::ReplicaTimeout { id }, &mut out);
    let suspected: Vec<(NodeId, Time)> = nodes[0].suspected_peers().collect();
    assert_eq!(suspected, vec![(silent, Time(200))]);
    assert_eq!(nodes[0].stats().peers_suspected, 1);
}
