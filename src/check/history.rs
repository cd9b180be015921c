//! The history: a plain record of every client operation, written by the
//! clients themselves (what they asked, when, and what they were told).
//! The checker reads it; nodes never do.

use crate::node::vclock::{Dot, VectorClock};
use crate::protocol::{Failure, Stamp, WriteId};
use crate::types::{ClientId, NodeId, Time};
use serde::Serialize;
use std::sync::Arc;

/// Read or write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// A get.
    Read,
    /// A put.
    Write,
}

/// How an operation ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Succeeded.
    Ok,
    /// A coordinator answered failure.
    Failed(Failure),
    /// No answer before the client's timeout. A write that timed out is
    /// indeterminate: it may or may not have taken effect.
    TimedOut,
    /// Still outstanding when the run ended (indeterminate, like a timeout).
    InFlight,
}

/// One client operation.
#[derive(Clone, Debug, Serialize)]
pub struct OpRecord {
    /// Who issued it.
    pub client: ClientId,
    /// The client's request number.
    pub sequence: u64,
    /// Read or write.
    pub kind: OpKind,
    /// The key's index.
    pub key: u64,
    /// When the client sent it.
    pub invoke: Time,
    /// When the client learned the outcome (None while in flight).
    pub complete: Option<Time>,
    /// The outcome.
    pub outcome: Outcome,
    /// Writes: the id of the value written.
    pub write: Option<WriteId>,
    /// Writes: sent with an empty context.
    pub blind: bool,
    /// Writes: a client-side reconciliation of siblings it read.
    pub reconcile: bool,
    /// Writes: the version the acknowledgement named (a write coordinated
    /// twice has another version, which only reads and stores show).
    pub acked: Option<Observed>,
    /// Writes under the `merge` policy: the cart operation.
    pub cart: Option<CartOp>,
    /// Writes: the versions returned by the read whose context this write
    /// carries (what its writer saw).
    pub context: Vec<VersionId>,
    /// Reads: the versions returned.
    pub returned: Vec<Observed>,
    /// The node the client sent it to (None when the client coordinated it).
    pub target: Option<NodeId>,
}

impl OpRecord {
    /// A just-invoked operation: in flight, nothing returned yet.
    pub fn invoked(client: ClientId, sequence: u64, kind: OpKind, key: u64, invoke: Time) -> OpRecord {
        OpRecord {
            client,
            sequence,
            kind,
            key,
            invoke,
            complete: None,
            outcome: Outcome::InFlight,
            write: None,
            blind: false,
            reconcile: false,
            acked: None,
            cart: None,
            context: Vec::new(),
            returned: Vec::new(),
            target: None,
        }
    }

    /// Latency in µs, for completed operations.
    pub fn latency_us(&self) -> Option<u64> {
        self.complete.map(|c| c.since(self.invoke))
    }

    /// True for a write acknowledged as successful.
    pub fn is_acknowledged_write(&self) -> bool {
        self.kind == OpKind::Write && self.outcome == Outcome::Ok
    }
}

/// The operations of `ops` ordered by key, each key's in their order in
/// `ops`: walk it with `chunk_by(same_key)`. One sort instead of a map of
/// vectors, which a run with a million keys would allocate a million times.
pub fn sorted_by_key<'h>(ops: impl IntoIterator<Item = &'h OpRecord>) -> Vec<&'h OpRecord> {
    let mut sorted: Vec<&OpRecord> = ops.into_iter().collect();
    sorted.sort_by_key(|op| op.key); // stable: each key's operations keep their order
    sorted
}

/// True when two operations are of one key (to split [`sorted_by_key`]).
pub fn same_key(a: &&OpRecord, b: &&OpRecord) -> bool {
    a.key == b.key
}

/// One version's identity: the client write it holds and the dot that
/// made it (a write coordinated twice has two).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct VersionId {
    /// The write.
    pub write: WriteId,
    /// The version's dot.
    pub dot: Dot,
}

/// A version as a client saw it returned (or the checker found it stored).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observed {
    /// The write that produced it.
    pub write: WriteId,
    /// Its own identity.
    pub dot: Dot,
    /// Its clock.
    pub clock: VectorClock,
    /// Its timestamp.
    pub stamp: Stamp,
    /// Cart items, under the `merge` policy.
    pub items: Option<Arc<[u32]>>,
}

impl Observed {
    /// What a client records of a version it was returned.
    pub fn of(version: &crate::protocol::Version) -> Observed {
        Observed {
            write: version.value.write,
            dot: version.dot,
            clock: version.clock.clone(),
            stamp: version.stamp,
            items: version.value.items.clone(),
        }
    }
}

impl Observed {
    /// The version's identity.
    pub fn id(&self) -> VersionId {
        VersionId { write: self.write, dot: self.dot }
    }
}

impl crate::node::versioning::Versioned for Observed {
    fn clock(&self) -> &VectorClock {
        &self.clock
    }
    fn dot(&self) -> Dot {
        self.dot
    }
    fn stamp(&self) -> Stamp {
        self.stamp
    }
}

/// A shopping-cart operation (a read-modify-write of the cart's item set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CartOp {
    /// Put the item in the cart.
    Add(u32),
    /// Take the item out of the cart.
    Remove(u32),
}
