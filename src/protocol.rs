//! The messages nodes and clients exchange, and what they carry.
//!
//! Messages are a closed enum so adding one makes the compiler list every
//! place that must handle it. Every message knows its wire size, from which
//! all "bytes" figures are computed.

use crate::node::vclock::{Dot, VectorClock};
use crate::node::versioning::Versioning;
use crate::ring::{key_position, Ring};
use crate::types::{ClientId, Endpoint, NodeId, Token};
use std::sync::Arc;

/// Identifies one write's value across the whole run (client id in the top 24
/// bits, the client's own counter below), so the checker can follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct WriteId(pub u64);

impl WriteId {
    /// The `sequence`-th write of `client`.
    pub fn new(client: ClientId, sequence: u64) -> WriteId {
        WriteId((u64::from(client.0) << 40) | (sequence & ((1 << 40) - 1)))
    }
}

/// A key: its number in the workload's key space and its ring position,
/// the MD5 of its name `key-<id>` (computed once, as a client library would).
/// Ordered by id (the position is a function of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// Index in the key space.
    pub id: u64,
    /// MD5 of the key's name on the 128-bit ring.
    pub position: Token,
}

impl Key {
    /// The key with index `id`.
    pub fn new(id: u64) -> Key {
        // `key-<id>` written on the stack: every request names a key, and a
        // heap string per request showed up in profiles.
        let mut name = [0u8; 24];
        name[..4].copy_from_slice(b"key-");
        let digits = id.max(1).ilog10() as usize + 1;
        let mut rest = id;
        for slot in name[4..4 + digits].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        Key { id, position: key_position(&name[..4 + digits]) }
    }

    /// The key's bytes as stored: `key-<id>`.
    pub fn name(id: u64) -> String {
        format!("key-{id}")
    }

    /// Bytes of the key on the wire.
    pub fn wire_bytes(&self) -> u64 {
        4 + (self.id.max(1).ilog10() as u64 + 1)
    }
}

/// A cache of keys' ring positions: every request names a key, and its
/// MD5 (~640 instructions) was 2 % of the quickstart's. A pure function's
/// cache, shared by the clients (as one client library's would be): a
/// position is what [`Key::new`] computes, whoever asks first.
///
/// Direct-mapped by key id, at most [`KeyPositions::MAX_SLOTS`] slots, so
/// its memory is bounded whatever the key space (a table of every key
/// would cost 16 bytes a key: 160 MB for ten million keys). A workload of
/// up to that many keys hits every time after a key's first request;
/// beyond, a request hits as often as its key is popular.
#[derive(Debug, Default)]
pub struct KeyPositions {
    /// Slot `id mod len` holds the key last cached there.
    slots: Vec<Key>,
}

impl KeyPositions {
    /// The most slots: 128 Ki keys, 4 MiB. (At 64 Ki, a third of the
    /// 64-node bench row's requests over 100 k keys missed: 1.8 % of its
    /// instructions went to MD5.)
    pub const MAX_SLOTS: usize = 1 << 17;

    /// A cache for a workload of `keys` keys.
    pub fn new(keys: u64) -> Self {
        let len = usize::try_from(keys).unwrap_or(usize::MAX).clamp(1, Self::MAX_SLOTS).next_power_of_two();
        // Every request reads a random slot of up to 4 MiB.
        KeyPositions { slots: crate::allocator::table_on_huge_pages(len, Key::new(0)) }
    }

    /// The key with index `id`, cached.
    pub fn key(&mut self, id: u64) -> Key {
        let Some(slot) = self.slot_of(id) else { return Key::new(id) };
        let cached = &mut self.slots[slot];
        if cached.id != id {
            *cached = Key::new(id);
        }
        *cached
    }

    /// The key with index `id`, from the cache if it holds it.
    pub fn known(&self, id: u64) -> Key {
        match self.slot_of(id).map(|slot| self.slots[slot]) {
            Some(cached) if cached.id == id => cached,
            _ => Key::new(id),
        }
    }

    fn slot_of(&self, id: u64) -> Option<usize> {
        (!self.slots.is_empty()).then(|| (id & (self.slots.len() as u64 - 1)) as usize)
    }
}

/// A stored value. Its content is modelled by its size; `write` names the
/// client write that produced it. Shopping-cart values (the `merge` policy)
/// also carry their item set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The write that produced this value.
    pub write: WriteId,
    /// The value's size in bytes.
    pub bytes: u32,
    /// Cart items, sorted and distinct (None for opaque values).
    pub items: Option<CartItems>,
}

/// A shopping cart's items, sorted and distinct, shared by every copy of
/// the value. One pointer wide (an `Arc<[u32]>` is two): a version holds
/// it, and every version of every run pays for the word, carts or not.
pub type CartItems = Arc<Vec<u32>>;

/// The writer's physical timestamp and node id: what last-write-wins
/// orders versions by (ties broken by node id). Taken from the
/// coordinator's own, possibly skewed, clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Stamp {
    /// The writer's clock reading, µs (skew included).
    pub time_us: u64,
    /// The writer: a node id, or 2^31 + client id for a client-coordinated write.
    pub writer: u32,
}

/// One version of a key: a value, its own identity (dot), the clock that
/// orders it, and the writer's timestamp (used by last-write-wins).
///
/// Made once, by the write's coordinator, and never changed: every replica
/// store, read reply, client history record and checker index that sees it
/// holds the same [`VersionData`], so a copy is one reference-count
/// increment and a stored replica copy costs a pointer (at 10 M operations
/// the per-copy 80 bytes were over a gigabyte). Read its parts through
/// `Deref`; equality compares the parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version(Arc<VersionData>);

/// The bit of [`VersionData`]'s `bytes` that holds [`VersionData::clock_is_dot`].
const CLOCK_IS_DOT: u32 = 1 << 31;

/// The parts of a [`Version`]: its [`Stamp`] and [`Value`] laid out field
/// by field, so that no struct's padding is repeated inside another and
/// the whole, with the reference counts, takes 80 bytes — the allocator's
/// 80-byte class, where the nested layout took 96 (every write of a run
/// makes one, and the history keeps them all: 5 M at 10 M requests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionData {
    /// Causal history of this version (see [`crate::node::versioning`]).
    pub clock: VectorClock,
    /// The actor and counter that made this version: its identity.
    pub dot: Dot,
    /// The writer's clock reading, µs ([`Stamp::time_us`]).
    pub time_us: u64,
    /// The client write whose value this is ([`Value::write`]).
    pub write: WriteId,
    /// The writer ([`Stamp::writer`]).
    pub writer: u32,
    /// The value's size in bytes ([`Value::bytes`], at most 2^30: a
    /// scenario's values are at most 1 GiB), and in the top bit
    /// [`VersionData::clock_is_dot`]: the one spare bit of the 80 bytes.
    /// Read through [`VersionData::bytes`].
    bytes: u32,
    /// Cart items ([`Value::items`]).
    pub items: Option<CartItems>,
}

impl VersionData {
    /// The version of `value` with clock `clock`, identity `dot` and
    /// timestamp `stamp`.
    pub fn new(clock: VectorClock, dot: Dot, stamp: Stamp, value: Value) -> VersionData {
        let Stamp { time_us, writer } = stamp;
        let Value { write, bytes, items } = value;
        assert!(bytes < CLOCK_IS_DOT, "a value is smaller than 2 GiB");
        VersionData { clock, dot, time_us, write, writer, bytes, items }.sealed()
    }

    /// The value's size in bytes ([`Value::bytes`]).
    pub fn bytes(&self) -> u32 {
        self.bytes & !CLOCK_IS_DOT
    }

    /// True when the clock is exactly the version's own dot: one entry,
    /// of the dot's actor and counter, counting no range. A vector clock
    /// counts its version's dot (`Versioning::new_clock`), so every
    /// version a coordinator makes from an empty context or one of its
    /// own — every blind write's — has one; clocks of one such entry are
    /// then compared from the versions alone, without reading the
    /// clocks' entries, an allocation of their own (`Versioning::covers`).
    /// Computed where a version is made, from its clock and dot.
    pub fn clock_is_dot(&self) -> bool {
        self.bytes & CLOCK_IS_DOT != 0
    }

    /// This data with [`VersionData::clock_is_dot`] set from its clock and dot.
    fn sealed(mut self) -> VersionData {
        let is_dot = match self.clock.entries() {
            [only] => only.actor == self.dot.actor && only.counter == self.dot.counter && only.floor == 0,
            _ => false,
        };
        self.bytes = self.bytes() | if is_dot && self.dot.counter > 0 { CLOCK_IS_DOT } else { 0 };
        self
    }

    /// The writer's timestamp.
    pub fn stamp(&self) -> Stamp {
        Stamp { time_us: self.time_us, writer: self.writer }
    }

    /// Sets the writer's timestamp (tests give versions the stamps they need).
    #[cfg(test)]
    pub(crate) fn set_stamp(&mut self, stamp: Stamp) {
        (self.time_us, self.writer) = (stamp.time_us, stamp.writer);
    }
}

impl Version {
    /// The allocation this version's copies share, as a number: a version
    /// travels from its coordinator to replicas, hints and reads as
    /// copies, so a node's lists often share them, and copies are found in
    /// a sorted list of these without reading any version. An address: it
    /// may order a look-up table, never anything a run reports.
    pub fn allocation(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl From<VersionData> for Version {
    fn from(data: VersionData) -> Version {
        Version(Arc::new(data))
    }
}

impl std::ops::Deref for Version {
    type Target = VersionData;

    fn deref(&self) -> &VersionData {
        &self.0
    }
}

impl Version {
    /// Bytes of this version on the wire: value, clock, dot and timestamp.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes_given(true)
    }

    /// [`wire_bytes`](Self::wire_bytes), told whether its clock may hold
    /// ranges ([`VectorClock::wire_bytes_given`]): without them, the clock's
    /// entries are not read.
    pub fn wire_bytes_given(&self, ranges: bool) -> u64 {
        u64::from(self.bytes()) + self.clock.wire_bytes_given(ranges) + 12 + 12
    }

    /// The version's identity.
    pub fn id(&self) -> VersionId {
        VersionId { write: self.write, dot: self.dot }
    }
}

#[cfg(test)]
impl Version {
    /// A one-byte opaque value of write `write` (the checker's tests name
    /// versions by write, dot, clock and stamp alone).
    pub(crate) fn of_write(write: u64, dot: Dot, clock: VectorClock, stamp: Stamp) -> Version {
        let value = Value { write: WriteId(write), bytes: 1, items: None };
        Version::from(VersionData::new(clock, dot, stamp, value))
    }

    /// This version with its parts changed by `change`.
    pub(crate) fn changed(&self, change: impl FnOnce(&mut VersionData)) -> Version {
        let mut data = (*self.0).clone();
        change(&mut data);
        Version::from(data.sealed())
    }
}

/// One version's identity: the client write it holds and the dot that
/// made it (a write coordinated twice has two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct VersionId {
    /// The write.
    pub write: WriteId,
    /// The version's dot.
    pub dot: Dot,
}

/// A piece of the ring, inclusive at both ends; wraps when `first > last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// First position.
    pub first: Token,
    /// Last position.
    pub last: Token,
}

impl Span {
    /// True when `position` lies in the span.
    pub fn contains(&self, position: Token) -> bool {
        if self.first <= self.last {
            self.first <= position && position <= self.last
        } else {
            position >= self.first || position <= self.last
        }
    }
}

/// One client request: which client, and the client's own request number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId {
    /// The client that asked and gets the reply.
    pub client: ClientId,
    /// The client's request number.
    pub sequence: u64,
}

/// Names one coordination (a quorum read or write) at its coordinator, so
/// replica replies find their way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coordination {
    /// Who coordinates: a node, or a client under client-driven routing.
    pub coordinator: Endpoint,
    /// The coordinator's own number for it.
    pub id: u64,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The quorum did not answer before the coordinator's timeout.
    Timeout,
    /// Fewer than the needed replicas could be asked.
    NotEnoughReplicas,
}

/// A successful read: the siblings left after syntactic reconciliation and
/// the context (their merged clock) a following write should carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadResult {
    /// Pairwise concurrent versions.
    pub versions: Vec<Version>,
    /// Merge of their clocks.
    pub context: VectorClock,
    /// The replica that answered first (Dynamo §5: coordinates the next write).
    pub fastest: Option<NodeId>,
}

/// A replica's versions of one key, as a read reply carries them: nearly
/// always one or two, held inline, so a replica's answer costs no
/// allocation (22,649 of the quickstart's 83,897). As large as a `Vec`.
pub type Versions = smallvec::SmallVec<[Version; 2]>;

/// Every message of the protocol.
#[derive(Clone, Debug)]
pub enum Message {
    /// Client → node (or node → node when forwarded): read a key.
    Get {
        /// The client request.
        request: RequestId,
        /// The key.
        key: Key,
        /// True once a node has forwarded it (it is never forwarded twice).
        forwarded: bool,
    },
    /// Client → node (or forwarded): write a key.
    Put {
        /// The client request.
        request: RequestId,
        /// The key.
        key: Key,
        /// The context of the client's last read (empty for a blind write).
        context: VectorClock,
        /// The value written.
        value: Value,
        /// True once a node has forwarded it.
        forwarded: bool,
    },
    /// Coordinator → client: result of a get.
    GetReply {
        /// The request answered.
        request: RequestId,
        /// The versions, or why it failed.
        outcome: Result<ReadResult, Failure>,
    },
    /// Coordinator → client: result of a put, with the version it stored.
    PutReply {
        /// The request answered.
        request: RequestId,
        /// What the write was stored as, or why it failed.
        outcome: Result<Version, Failure>,
    },
    /// Coordinator → replica: send me your versions of `key`.
    ReplicaRead {
        /// Where to reply.
        coordination: Coordination,
        /// The key.
        key: Key,
    },
    /// Replica → coordinator: my versions of `key`.
    ReplicaReadReply {
        /// The coordination answered.
        coordination: Coordination,
        /// The replica's versions (possibly none).
        versions: Versions,
    },
    /// Coordinator → replica: store this version.
    ReplicaWrite {
        /// Where to acknowledge.
        coordination: Coordination,
        /// The key.
        key: Key,
        /// The version to store.
        version: Version,
        /// Sloppy quorum: the unreachable node this replica stands in for;
        /// the version is kept apart and handed back to it later.
        hint: Option<NodeId>,
        /// Buffered writes: this replica must write to disk before acking.
        durable: bool,
    },
    /// Replica → coordinator: stored.
    ReplicaWriteAck {
        /// The coordination acknowledged.
        coordination: Coordination,
    },
    /// Coordinator → replica after a read: versions you lack (never new ones).
    ReadRepair {
        /// The key.
        key: Key,
        /// The versions the replica did not return, with their original clocks.
        versions: Vec<Version>,
    },
    /// Hint holder → intended node: versions written on your behalf.
    Handoff {
        /// The key.
        key: Key,
        /// The hinted versions.
        versions: Vec<Version>,
    },
    /// Intended node → hint holder (or owner → stray holder): stored;
    /// drop these hints.
    HandoffAck {
        /// The key.
        key: Key,
        /// The versions stored, by dot.
        dots: Vec<Dot>,
        /// Whether the acknowledging node's view places the key on it.
        /// Only such an acknowledgement confirms a stray: a node that
        /// stores a key as a stray of its own pushes it on, and two nodes
        /// whose views each place the key on the other would otherwise
        /// confirm each other's pushes and both drop it. (A flag of the
        /// header: it adds no bytes on the wire.)
        owner: bool,
    },
    /// Coordinator → forwarding node: I have your forwarded request (so
    /// the forwarder can tell a live coordinator from an unreachable one).
    ForwardAck {
        /// The request forwarded.
        request: RequestId,
    },
    /// Anti-entropy: my hashes of these tree nodes of `range` (Dynamo §4.7).
    TreeCompare {
        /// The key range, by its bounds (both sides must host the same range).
        range: Span,
        /// (heap index, hash) of tree nodes.
        nodes: Vec<(u32, u64)>,
    },
    /// Anti-entropy: these leaves differ; here are my keys in them with digests.
    LeafDigests {
        /// The key range.
        range: Span,
        /// Heap indices of the differing leaves.
        leaves: Vec<u32>,
        /// (key, digest of its versions) for my keys in those leaves.
        keys: Vec<(Key, u64)>,
    },
    /// Anti-entropy: my versions of the keys whose digests differ.
    KeyVersions {
        /// (key, all my versions of it).
        entries: Vec<(Key, Vec<Version>)>,
        /// Keys whose versions the sender wants back (empty in a reply).
        wanted: Vec<Key>,
    },
    /// Gossip: my membership view (push).
    Gossip {
        /// The sender's view.
        view: Arc<crate::node::membership::View>,
    },
    /// Gossip: my view, in answer to yours (pull).
    GossipReply {
        /// The sender's view.
        view: Arc<crate::node::membership::View>,
    },
    /// A new node → a seed: send me your view so I can join.
    JoinRequest,
    /// Send me your data in this piece of the ring (after a ring change).
    FetchRange {
        /// First position.
        first: Token,
        /// Last position (inclusive; wraps when < first).
        last: Token,
    },
    /// The data of a piece of the ring.
    RangeData {
        /// First position.
        first: Token,
        /// Last position.
        last: Token,
        /// Every key in it with all its versions.
        entries: Vec<(Key, Vec<Version>)>,
        /// The source's id for this transfer (echoed in the acknowledgement,
        /// so the source drops exactly what this transfer carried).
        transfer: u64,
    },
    /// A range transfer is durably stored: the source may drop the versions
    /// it sent that it no longer replicates.
    TransferAck {
        /// First position of the range received.
        first: Token,
        /// Last position of the range received.
        last: Token,
        /// The transfer acknowledged.
        transfer: u64,
    },
    /// Failure detector probe of a peer believed unreachable.
    Ping,
    /// Answer to a probe.
    Pong,
    /// Client → node: which ring do you see? (Dynamo §6.4)
    MembershipRequest,
    /// Node → client: my ring view.
    MembershipReply {
        /// The node's current ring.
        ring: Arc<Ring>,
    },
}

/// Message kinds with their own latency distribution (scenario `network.by_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// Get/Put from a client or forwarded.
    ClientRequest = 0,
    /// GetReply/PutReply.
    ClientResponse = 1,
    /// ReplicaWrite.
    WriteRequest = 2,
    /// ReplicaWriteAck.
    WriteAck = 3,
    /// ReplicaRead.
    ReadRequest = 4,
    /// ReplicaReadReply.
    ReadResponse = 5,
    /// MembershipRequest/Reply, failure-detector probes.
    Membership = 6,
    /// Read repair and hinted handoff.
    Background = 7,
}

/// Number of message kinds (for per-kind tables).
pub const MESSAGE_KINDS: usize = 8;

/// Fixed per-message overhead on the wire: ids, type tag, addressing.
const HEADER_BYTES: u64 = 24;

impl Message {
    /// True for a request its receiver answers itself when it comes from a
    /// node: a replica read or write (the reply or acknowledgement) and a
    /// forwarded get or put (the forward's acknowledgement).
    pub fn answered_by_receiver(&self) -> bool {
        matches!(
            self,
            Message::ReplicaRead { .. } | Message::ReplicaWrite { .. } | Message::Get { .. } | Message::Put { .. }
        )
    }

    /// The latency class of this message.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Get { .. } | Message::Put { .. } | Message::ForwardAck { .. } => MessageKind::ClientRequest,
            Message::GetReply { .. } | Message::PutReply { .. } => MessageKind::ClientResponse,
            Message::ReplicaWrite { .. } => MessageKind::WriteRequest,
            Message::ReplicaWriteAck { .. } => MessageKind::WriteAck,
            Message::ReplicaRead { .. } => MessageKind::ReadRequest,
            Message::ReplicaReadReply { .. } => MessageKind::ReadResponse,
            Message::MembershipRequest | Message::MembershipReply { .. } => MessageKind::Membership,
            Message::ReadRepair { .. }
            | Message::Handoff { .. }
            | Message::HandoffAck { .. }
            | Message::TreeCompare { .. }
            | Message::LeafDigests { .. }
            | Message::KeyVersions { .. }
            | Message::FetchRange { .. }
            | Message::RangeData { .. }
            | Message::TransferAck { .. } => MessageKind::Background,
            Message::Ping
            | Message::Pong
            | Message::Gossip { .. }
            | Message::GossipReply { .. }
            | Message::JoinRequest => MessageKind::Membership,
        }
    }

    /// A stable code per variant, hashed into the run digest.
    pub fn code(&self) -> u8 {
        match self {
            Message::Get { .. } => 1,
            Message::Put { .. } => 2,
            Message::GetReply { .. } => 3,
            Message::PutReply { .. } => 4,
            Message::ReplicaRead { .. } => 5,
            Message::ReplicaReadReply { .. } => 6,
            Message::ReplicaWrite { .. } => 7,
            Message::ReplicaWriteAck { .. } => 8,
            Message::MembershipRequest => 9,
            Message::MembershipReply { .. } => 10,
            Message::ReadRepair { .. } => 11,
            Message::Handoff { .. } => 12,
            Message::HandoffAck { .. } => 13,
            Message::Ping => 14,
            Message::Pong => 15,
            Message::ForwardAck { .. } => 16,
            Message::TreeCompare { .. } => 17,
            Message::LeafDigests { .. } => 18,
            Message::KeyVersions { .. } => 19,
            Message::Gossip { .. } => 20,
            Message::GossipReply { .. } => 21,
            Message::JoinRequest => 22,
            Message::FetchRange { .. } => 23,
            Message::RangeData { .. } => 24,
            Message::TransferAck { .. } => 25,
        }
    }

    /// The key the message is about, if any (for the digest and traces).
    pub fn key_id(&self) -> Option<u64> {
        match self {
            Message::Get { key, .. }
            | Message::Put { key, .. }
            | Message::ReplicaRead { key, .. }
            | Message::ReplicaWrite { key, .. }
            | Message::ReadRepair { key, .. }
            | Message::Handoff { key, .. }
            | Message::HandoffAck { key, .. } => Some(key.id),
            _ => None,
        }
    }

    /// Size on the wire in bytes: header, key, values and clocks.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes_given::<true>()
    }

    /// [`wire_bytes`](Self::wire_bytes) in a run under `versioning`: the
    /// same figure, without reading the clocks' entries where no clock
    /// can hold a range ([`VectorClock::wire_bytes_given`]).
    pub fn wire_bytes_under(&self, versioning: Versioning) -> u64 {
        if versioning == Versioning::DottedVersionVectors {
            self.wire_bytes_given::<true>()
        } else {
            self.wire_bytes_given::<false>()
        }
    }

    /// The size, `RANGES` telling whether clocks may hold ranges (one
    /// copy of the match for each, as lean as the one it was before).
    fn wire_bytes_given<const RANGES: bool>(&self) -> u64 {
        let versions = |vs: &[Version]| vs.iter().map(|v| v.wire_bytes_given(RANGES)).sum::<u64>();
        let clock = |clock: &VectorClock| clock.wire_bytes_given(RANGES);
        HEADER_BYTES
            + match self {
                Message::Get { key, .. } | Message::ReplicaRead { key, .. } => key.wire_bytes(),
                Message::Put { key, context, value, .. } => key.wire_bytes() + clock(context) + u64::from(value.bytes),
                Message::GetReply { outcome: Ok(read), .. } => versions(&read.versions) + clock(&read.context),
                Message::PutReply { outcome: Ok(ack), .. } => clock(&ack.clock) + 12 + 12,
                Message::GetReply { .. }
                | Message::PutReply { .. }
                | Message::ReplicaWriteAck { .. }
                | Message::MembershipRequest
                | Message::Ping
                | Message::Pong
                | Message::ForwardAck { .. } => 0,
                Message::ReadRepair { key, versions: vs } | Message::Handoff { key, versions: vs } => {
                    key.wire_bytes() + versions(vs)
                }
                Message::HandoffAck { key, dots, .. } => key.wire_bytes() + 12 * dots.len() as u64,
                Message::TreeCompare { nodes, .. } => 32 + 12 * nodes.len() as u64,
                Message::Gossip { view } | Message::GossipReply { view } => view.wire_bytes(),
                Message::JoinRequest => 0,
                Message::FetchRange { .. } | Message::TransferAck { .. } => 32,
                Message::RangeData { entries, .. } => {
                    32 + entries.iter().map(|(k, vs)| k.wire_bytes() + versions(vs)).sum::<u64>()
                }
                Message::LeafDigests { leaves, keys, .. } => {
                    32 + 4 * leaves.len() as u64 + keys.iter().map(|(k, _)| k.wire_bytes() + 8).sum::<u64>()
                }
                Message::KeyVersions { entries, wanted } => {
                    entries.iter().map(|(k, vs)| k.wire_bytes() + versions(vs)).sum::<u64>()
                        + wanted.iter().map(Key::wire_bytes).sum::<u64>()
                }
                Message::ReplicaReadReply { versions: vs, .. } => versions(vs),
                Message::ReplicaWrite { key, version, .. } => key.wire_bytes() + version.wire_bytes_given(RANGES),
                Message::MembershipReply { ring } => ring.metadata_bytes(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version knows, without reading its clock's entries, whether its
    /// clock is exactly its dot; changing its parts tells it again, and
    /// the bit never shows in the value's size.
    #[test]
    fn a_version_knows_whether_its_clock_is_its_dot() {
        use crate::node::vclock::{Dot, VectorClock};
        use crate::types::{NodeId, Time};
        let dot = |node: u32, counter| Dot { actor: NodeId(node).into(), counter };
        let clock = |entries: &[(u32, u64)]| {
            let mut clock = VectorClock::new();
            entries.iter().for_each(|&(node, counter)| clock.set(NodeId(node), counter, Time(0)));
            clock
        };
        let of = |d: Dot, c: VectorClock| {
            Version::from(VersionData::new(
                c,
                d,
                Stamp::default(),
                Value { write: WriteId(1), bytes: 1 << 30, items: None },
            ))
        };
        assert!(of(dot(2, 7), clock(&[(2, 7)])).clock_is_dot());
        for (d, c) in [
            (dot(2, 7), clock(&[])),
            (dot(2, 7), clock(&[(2, 6)])),
            (dot(2, 7), clock(&[(3, 7)])),
            (dot(2, 7), clock(&[(1, 1), (2, 7)])),
        ] {
            assert!(!of(d, c.clone()).clock_is_dot(), "{d:?} {c:?}");
        }
        let mut ranged = VectorClock::new();
        ranged.count_range(NodeId(2), 3, 7, Time(0));
        assert!(!of(dot(2, 7), ranged).clock_is_dot(), "a range counts more than the dot");
        let version = of(dot(2, 7), clock(&[(2, 7)]));
        assert_eq!(version.bytes(), 1 << 30, "the bit is not part of the size");
        let moved = version.changed(|v| v.dot = dot(2, 8));
        assert!(!moved.clock_is_dot() && moved.bytes() == 1 << 30);
        assert!(moved.changed(|v| v.clock = clock(&[(2, 8)])).clock_is_dot());
    }

    /// A version's allocation (its parts and the two reference counts)
    /// fits mimalloc's 80-byte class: 16 bytes more and it takes 96.
    #[test]
    fn a_version_is_80_bytes_with_its_counts() {
        assert_eq!(std::mem::size_of::<VersionData>() + 2 * std::mem::size_of::<usize>(), 80);
    }

    /// The parts of a version are those it was made of.
    #[test]
    fn a_version_keeps_its_stamp_and_value() {
        let stamp = Stamp { time_us: 77, writer: 5 };
        let value = Value { write: WriteId(9), bytes: 1024, items: Some(CartItems::new(vec![2, 3])) };
        let version = Version::from(VersionData::new(VectorClock::new(), Dot::default(), stamp, value.clone()));
        assert_eq!(version.stamp(), stamp);
        assert_eq!((version.write, version.bytes(), version.items.clone()), (value.write, value.bytes, value.items));
    }

    #[test]
    fn cached_positions_are_the_keys_own() {
        let mut cache = KeyPositions::new(100); // 128 slots
        assert_eq!(cache.slots.len(), 128);
        assert_eq!(cache.known(7), Key::new(7)); // not cached yet
        for id in [0, 7, 99, 7, 0, 128, 5_000, 135, u64::MAX] {
            assert_eq!(cache.key(id), Key::new(id), "key {id}"); // 128 and 135 evict 0 and 7
            assert_eq!(cache.known(id), Key::new(id), "key {id}");
        }
        assert_eq!(cache.known(7), Key::new(7), "7 was evicted by 135: computed again");
        assert_eq!(cache.slots[135 % 128], Key::new(135));
        assert_eq!(KeyPositions::new(10_000_000).slots.len(), KeyPositions::MAX_SLOTS, "bounded");
        assert_eq!(KeyPositions::default().key(3), Key::new(3), "no slots: computed");
    }

    #[test]
    fn write_ids_keep_client_and_sequence_apart() {
        assert_ne!(WriteId::new(ClientId(1), 0), WriteId::new(ClientId(0), 1 << 40));
        assert_ne!(WriteId::new(ClientId(1), 5), WriteId::new(ClientId(2), 5));
    }

    #[test]
    fn key_wire_size_counts_its_name() {
        assert_eq!(Key::new(0).wire_bytes(), "key-0".len() as u64);
        for id in [0, 1, 9, 10, 99, 12345, u64::MAX] {
            assert_eq!(Key::new(id).position, key_position(Key::name(id).as_bytes()), "key {id}");
        }
        assert_eq!(Key::new(12345).wire_bytes(), "key-12345".len() as u64);
    }
}
