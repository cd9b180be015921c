//! The history: a plain record of every client operation, written by the
//! clients themselves (what they asked, when, and what they were told).
//! The checker reads it; nodes never do.

use crate::engine::prefetch::prefetch;
use crate::protocol::{Failure, Version, VersionId, WriteId};
use crate::types::{ClientId, NodeId, Time};
use serde::Serialize;

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

/// One client operation, in 64 bytes: a run of 10 M operations keeps every
/// one of them until the checker has read the history. What only writes
/// have lives behind one box (`Detail::Write`), what a read returned in
/// one boxed slice, and the optional fields are flagged in one byte instead
/// of each taking an `Option`'s padding (a cart operation's item lives in
/// the record's last spare bytes, not in the write's box, which it would
/// take from 32 to 40 bytes). Read them through the accessors.
#[derive(Clone, Debug)]
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
    /// The outcome.
    pub outcome: Outcome,
    /// Which of the optional fields are set ([`Flags`]).
    flags: Flags,
    /// When the client learned the outcome (when [`Flags::COMPLETE`]).
    complete: Time,
    /// The node the client sent it to (when [`Flags::TARGET`]).
    target: NodeId,
    /// The item of a write's cart operation (when [`Flags::CART`]; removed
    /// when [`Flags::CART_REMOVE`], added otherwise).
    cart_item: u32,
    /// What a read returned, or what a write wrote, saw and was
    /// acknowledged as.
    detail: Detail,
}

/// The bits of [`OpRecord::flags`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Flags(u8);

impl Flags {
    const COMPLETE: u8 = 1;
    const TARGET: u8 = 1 << 1;
    const BLIND: u8 = 1 << 2;
    const RECONCILE: u8 = 1 << 3;
    const CART: u8 = 1 << 4;
    const CART_REMOVE: u8 = 1 << 5;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    fn set(&mut self, bit: u8, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// The parts of a record only some operations have: a read that found
/// nothing allocates nothing. Two variants, so that the enum takes the 16
/// bytes of the boxed slice (the thin box of a write fits beside the
/// slice pointer's niche); a third, data-less one would add a tag word.
#[derive(Clone, Debug)]
enum Detail {
    /// A read's returned versions; empty (no allocation) while nothing is
    /// known yet: a read in flight, failed or that found no version, or a
    /// write before [`OpRecord::set_write`].
    Read(Box<[Version]>),
    /// A write's value, context and acknowledgement.
    Write(Box<WriteDetail>),
}

/// What only a write has.
#[derive(Clone, Debug)]
struct WriteDetail {
    /// The id of the value written.
    write: WriteId,
    /// The version the acknowledgement named.
    acked: Option<Version>,
    /// The versions of the read whose context this write carries.
    context: Box<[VersionId]>,
}

impl OpRecord {
    /// Hints that this record's detail (a read's returned versions, a
    /// write's box) will be read soon ([`KeyRuns`]).
    fn prefetch_detail(&self) {
        match &self.detail {
            Detail::Read(returned) => prefetch(returned.as_ptr()),
            Detail::Write(write) => prefetch(&**write),
        }
    }

    /// Hints that the versions this record names (a read's first returned
    /// ones, a write's acknowledged one) will be read soon: their shared
    /// data sits wherever the write's coordinator made it. The detail must
    /// have been asked for already ([`OpRecord::prefetch_detail`]).
    fn prefetch_versions(&self) {
        match &self.detail {
            Detail::Read(returned) => returned.iter().take(PREFETCHED_VERSIONS).for_each(|v| prefetch(&**v)),
            Detail::Write(write) => write.acked.iter().for_each(|v| prefetch(&**v)),
        }
    }

    /// A just-invoked operation: in flight, nothing returned yet.
    pub fn invoked(client: ClientId, sequence: u64, kind: OpKind, key: u64, invoke: Time) -> OpRecord {
        OpRecord {
            client,
            sequence,
            kind,
            key,
            invoke,
            outcome: Outcome::InFlight,
            flags: Flags::default(),
            complete: Time::ZERO,
            target: NodeId(0),
            cart_item: 0,
            detail: Detail::Read(Box::default()),
        }
    }

    /// When the client learned the outcome (None while in flight).
    pub fn complete(&self) -> Option<Time> {
        self.flags.has(Flags::COMPLETE).then_some(self.complete)
    }

    /// Records when the client learned the outcome.
    pub fn set_complete(&mut self, at: Time) {
        self.complete = at;
        self.flags.set(Flags::COMPLETE, true);
    }

    /// The node the client sent it to (None when the client coordinated it).
    pub fn target(&self) -> Option<NodeId> {
        self.flags.has(Flags::TARGET).then_some(self.target)
    }

    /// Records the node the client sent it to.
    pub fn set_target(&mut self, node: NodeId) {
        self.target = node;
        self.flags.set(Flags::TARGET, true);
    }

    /// Writes: the id of the value written.
    pub fn write(&self) -> Option<WriteId> {
        self.write_detail().map(|w| w.write)
    }

    /// Makes this record a write of value `write`: `blind` when sent with
    /// an empty context, `reconcile` for a client-side reconciliation of
    /// siblings it read. The other write fields are set after this.
    pub fn set_write(&mut self, write: WriteId, blind: bool, reconcile: bool) {
        let detail = WriteDetail { write, acked: None, context: Box::default() };
        self.detail = Detail::Write(Box::new(detail));
        self.flags.set(Flags::BLIND, blind);
        self.flags.set(Flags::RECONCILE, reconcile);
    }

    /// Writes: sent with an empty context.
    pub fn blind(&self) -> bool {
        self.flags.has(Flags::BLIND)
    }

    /// Writes: a client-side reconciliation of siblings it read.
    pub fn reconcile(&self) -> bool {
        self.flags.has(Flags::RECONCILE)
    }

    /// Writes: the version the acknowledgement named (a write coordinated
    /// twice has another version, which only reads and stores show).
    pub fn acked(&self) -> Option<&Version> {
        self.write_detail()?.acked.as_ref()
    }

    /// Records the version a write's acknowledgement named.
    pub fn set_acked(&mut self, version: Version) {
        self.write_detail_mut().acked = Some(version);
    }

    /// Changes the acknowledged version's parts (tests build histories
    /// with it; a version is shared, so this makes a changed copy).
    #[cfg(test)]
    pub fn amend_acked(&mut self, change: impl FnOnce(&mut crate::protocol::VersionData)) {
        let acked = self.write_detail_mut().acked.as_mut().expect("an acknowledged write");
        *acked = acked.changed(change);
    }

    /// Writes under the `merge` policy: the cart operation.
    pub fn cart(&self) -> Option<CartOp> {
        if !self.flags.has(Flags::CART) {
            return None;
        }
        Some(if self.flags.has(Flags::CART_REMOVE) {
            CartOp::Remove(self.cart_item)
        } else {
            CartOp::Add(self.cart_item)
        })
    }

    /// Records a write's cart operation (none outside the `merge` policy).
    pub fn set_cart(&mut self, cart: Option<CartOp>) {
        debug_assert!(self.kind == OpKind::Write, "only a write carries a cart operation");
        let (item, remove) = match cart {
            None => (0, false),
            Some(CartOp::Add(item)) => (item, false),
            Some(CartOp::Remove(item)) => (item, true),
        };
        self.cart_item = item;
        self.flags.set(Flags::CART, cart.is_some());
        self.flags.set(Flags::CART_REMOVE, remove);
    }

    /// Writes: the versions returned by the read whose context this write
    /// carries (what its writer saw).
    pub fn context(&self) -> &[VersionId] {
        self.write_detail().map_or(&[], |w| &w.context)
    }

    /// Records what a write's writer saw.
    pub fn set_context(&mut self, context: Vec<VersionId>) {
        self.write_detail_mut().context = context.into_boxed_slice();
    }

    /// Reads: the versions returned.
    pub fn returned(&self) -> &[Version] {
        match &self.detail {
            Detail::Read(returned) => returned,
            Detail::Write(_) => &[],
        }
    }

    /// Records the versions a read returned.
    pub fn set_returned(&mut self, returned: Vec<Version>) {
        debug_assert!(self.kind == OpKind::Read, "only a read returns versions");
        self.detail = Detail::Read(returned.into_boxed_slice()); // an empty one frees its buffer
    }

    /// Changes the parts of the `at`-th returned version (tests build
    /// histories with it; a version is shared, so this makes a changed copy).
    #[cfg(test)]
    pub fn amend_returned(&mut self, at: usize, change: impl FnOnce(&mut crate::protocol::VersionData)) {
        let Detail::Read(returned) = &mut self.detail else { panic!("only a read returns versions") };
        returned[at] = returned[at].changed(change);
    }

    /// Heap bytes this record owns beyond its own size (versions are shared
    /// with the stores and the other records that saw them, and not
    /// counted): what the history costs per operation, for the test that
    /// keeps it compact.
    pub fn heap_bytes(&self) -> usize {
        match &self.detail {
            Detail::Read(returned) => std::mem::size_of_val::<[Version]>(returned),
            Detail::Write(write) => {
                std::mem::size_of::<WriteDetail>() + std::mem::size_of_val::<[VersionId]>(&write.context)
            }
        }
    }

    fn write_detail(&self) -> Option<&WriteDetail> {
        match &self.detail {
            Detail::Write(write) => Some(write),
            Detail::Read(_) => None,
        }
    }

    fn write_detail_mut(&mut self) -> &mut WriteDetail {
        match &mut self.detail {
            Detail::Write(write) => write,
            Detail::Read(_) => panic!("set_write names a write before its other fields"),
        }
    }

    /// Latency in µs, for completed operations.
    pub fn latency_us(&self) -> Option<u64> {
        self.complete().map(|c| c.since(self.invoke))
    }

    /// True for a write acknowledged as successful.
    pub fn is_acknowledged_write(&self) -> bool {
        self.kind == OpKind::Write && self.outcome == Outcome::Ok
    }
}

/// Sorts a run's history by (invoke, client, sequence), which identifies
/// an operation, in place. The clients record operations as they invoke
/// them, so the history arrives ordered by invoke time but for operations
/// invoked at the same µs: then only each run of equal times is sorted,
/// in linear time overall (a full sort of the 64-byte records was 1.3 % of
/// the quickstart's instructions). Any order is accepted.
pub fn sort_by_invoke(history: &mut [OpRecord]) {
    if history.is_sorted_by_key(|op| op.invoke) {
        for same_time in history.chunk_by_mut(|a, b| a.invoke == b.invoke) {
            same_time.sort_unstable_by_key(|op| (op.client, op.sequence));
        }
    } else {
        history.sort_unstable_by_key(|op| (op.invoke, op.client, op.sequence));
    }
}

/// The operations of `ops` ordered by key, each key's in their order in
/// `ops`: walk it with [`key_runs`]. One sort instead of a map of
/// vectors, which a run with a million keys would allocate a million times.
///
/// Key ids are dense (the workload numbers its keys from 0), so the usual
/// case is a counting sort: one pass counts each key's operations, one
/// places them — linear, and stable by construction. It replaced a
/// comparison sort that was 2.5 % of the quickstart's instructions (six
/// sorts of the history per check). Keys too sparse for a count table
/// (more than four slots an operation) fall back to `sorted_by_packed_key`.
pub fn sorted_by_key<'h>(ops: impl IntoIterator<Item = &'h OpRecord>) -> Vec<&'h OpRecord> {
    let ops: Vec<&OpRecord> = ops.into_iter().collect();
    let Some(largest) = ops.iter().map(|op| op.key).max() else { return ops };
    let table = (ops.len() as u64).saturating_mul(4).max(1 << 16);
    if largest >= table || ops.len() >= u32::MAX as usize {
        return sorted_by_packed_key(ops);
    }
    // `next[k]`: where key k's next operation goes (counts, then their prefix sums).
    let mut next = vec![0u32; largest as usize + 1];
    for op in &ops {
        next[op.key as usize] += 1;
    }
    let mut start = 0;
    for slot in &mut next {
        (*slot, start) = (start, start + *slot);
    }
    let mut sorted = vec![ops[0]; ops.len()];
    for op in ops {
        let at = &mut next[op.key as usize];
        sorted[*at as usize] = op;
        *at += 1;
    }
    sorted
}

/// [`sorted_by_key`] for sparse keys. The keys are read once, in order,
/// into one `u64` per operation (key above, position below) and those are
/// sorted: comparing through the references missed the cache at every
/// comparison of a long history (2.7 % of the 1,000-node row, for its three
/// sorts), and a side array of (key, index) pairs would add 16 bytes an
/// operation to the checker's peak (174 MB at 10 M requests) where this
/// adds 4.
fn sorted_by_packed_key(mut sorted: Vec<&OpRecord>) -> Vec<&OpRecord> {
    let packs = sorted.len() < u32::MAX as usize && sorted.iter().all(|op| op.key <= u64::from(u32::MAX));
    if !packs {
        sorted.sort_by_cached_key(|op| op.key); // stable: each key's operations keep their order
        return sorted;
    }
    let mut order: Vec<u64> = sorted.iter().enumerate().map(|(at, op)| op.key << 32 | at as u64).collect();
    order.sort_unstable(); // positions are distinct, so ties keep their order
    permute(&mut sorted, &mut order);
    sorted
}

/// Rearranges `items` in place so that item `i` becomes the one at the
/// position in `order[i]`'s low 32 bits, following each cycle once (and
/// marking `order` as it goes; no entry is `u64::MAX` beforehand, as
/// positions stay below `u32::MAX`).
fn permute<T: Copy>(items: &mut [T], order: &mut [u64]) {
    const DONE: u64 = u64::MAX;
    for start in 0..items.len() {
        if order[start] == DONE {
            continue;
        }
        let first = items[start];
        let mut at = start;
        loop {
            let from = (order[at] & u64::from(u32::MAX)) as usize;
            order[at] = DONE;
            if from == start {
                items[at] = first;
                break;
            }
            items[at] = items[from];
            at = from;
        }
    }
}

/// How many operations ahead [`KeyRuns`] asks for a record; it asks for
/// the record's detail (what a read returned, what a write carried) when
/// the walk is half as far from it, by which time the record is cached,
/// and for the versions the detail names when a quarter as far.
const RECORD_PREFETCH_DISTANCE: usize = 16;

/// A read's returned versions [`KeyRuns`] asks for: reads return one as a
/// rule, a few siblings now and then.
const PREFETCHED_VERSIONS: usize = 4;

/// The runs of one key in a list [`sorted_by_key`] made, each a slice in
/// the list's order: `chunk_by` on the key, and a walk of scattered
/// records. A key-sorted list of a long run points all over its history
/// (at 10 M operations, 930 MB of records), so every record is a cache
/// miss, taken one at a time as the checker reaches it; this walk asks for
/// the records it will reach a few operations early instead, so those
/// misses overlap. Hints only: the runs are exactly `chunk_by`'s.
pub fn key_runs<'s, 'h>(sorted: &'s [&'h OpRecord]) -> KeyRuns<'s, 'h> {
    // A short list's records sit in the cache already: asking for them
    // would only cost instructions (0.3 % of the quickstart's).
    let prefetched = if sorted.len() < PREFETCHED_RUNS_MIN_OPS { sorted.len() } else { 0 };
    KeyRuns { sorted, start: 0, prefetched }
}

/// The shortest list whose walk [`key_runs`] prefetches: 64 Ki records
/// span 4 MiB, past a core's L2, where a walk in key order starts to miss.
const PREFETCHED_RUNS_MIN_OPS: usize = 1 << 16;

/// The iterator of [`key_runs`].
pub struct KeyRuns<'s, 'h> {
    sorted: &'s [&'h OpRecord],
    /// Where the next run starts.
    start: usize,
    /// Records before this index have been asked for (or need not be:
    /// all of them, for a short list).
    prefetched: usize,
}

impl KeyRuns<'_, '_> {
    /// Asks for the records up to `RECORD_PREFETCH_DISTANCE` past `at`,
    /// and the details of those half as far.
    fn prefetch_past(&mut self, at: usize) {
        let until = (at + RECORD_PREFETCH_DISTANCE).min(self.sorted.len());
        while self.prefetched < until {
            prefetch(self.sorted[self.prefetched]);
            if let Some(nearer) = self.prefetched.checked_sub(RECORD_PREFETCH_DISTANCE / 2) {
                self.sorted[nearer].prefetch_detail();
            }
            if let Some(nearest) = self.prefetched.checked_sub(RECORD_PREFETCH_DISTANCE * 3 / 4) {
                self.sorted[nearest].prefetch_versions();
            }
            self.prefetched += 1;
        }
    }
}

impl<'s, 'h> Iterator for KeyRuns<'s, 'h> {
    type Item = &'s [&'h OpRecord];

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.start;
        let key = self.sorted.get(start)?.key;
        let mut end = start + 1;
        loop {
            self.prefetch_past(end);
            if self.sorted.get(end).is_none_or(|op| op.key != key) {
                break;
            }
            end += 1;
        }
        self.start = end;
        Some(&self.sorted[start..end])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::vclock::{Dot, VectorClock};
    use crate::protocol::Stamp;

    fn version(write: u64) -> Version {
        let dot = Dot { actor: NodeId(1).into(), counter: write };
        Version::of_write(write, dot, VectorClock::new(), Stamp::default())
    }

    proptest::proptest! {
        /// The counting sort (dense keys), the packed sort (sparse keys
        /// below 2^32) and its fallback (a larger key anywhere) all give a
        /// stable sort by key, which [`key_runs`] splits by key.
        #[test]
        fn sorted_by_key_is_a_stable_sort_by_key(
            keys in proptest::collection::vec(0u64..6, 0..200), spread in 0..3usize,
        ) {
            let history: Vec<OpRecord> = keys
                .iter()
                .enumerate()
                .map(|(at, &key)| {
                    let key = match (spread, key) {
                        (1, 5) => 1 << 31,
                        (2, 5) => u64::MAX - key,
                        _ => key,
                    };
                    OpRecord::invoked(ClientId(at as u32), at as u64, OpKind::Read, key, Time(at as u64))
                })
                .collect();
            let mut expected: Vec<&OpRecord> = history.iter().collect();
            expected.sort_by_key(|op| op.key);
            let sorted = sorted_by_key(history.iter().filter(|op| op.sequence % 7 != 3));
            expected.retain(|op| op.sequence % 7 != 3);
            let identities = |ops: &[&OpRecord]| ops.iter().map(|op| (op.key, op.sequence)).collect::<Vec<_>>();
            proptest::prop_assert_eq!(identities(&sorted), identities(&expected));
            // Its runs, with the walk's prefetches, are exactly chunk_by's on the key.
            let runs: Vec<&[&OpRecord]> = key_runs(&sorted).collect();
            let chunks: Vec<&[&OpRecord]> = sorted.chunk_by(|a, b| a.key == b.key).collect();
            proptest::prop_assert_eq!(runs.len(), chunks.len());
            for (run, chunk) in runs.iter().zip(&chunks) {
                proptest::prop_assert_eq!(identities(run), identities(chunk));
            }
        }
    }

    /// A list long enough for [`key_runs`] to prefetch splits as a short one does.
    #[test]
    fn a_long_list_splits_into_the_same_runs_with_prefetches() {
        let ops = PREFETCHED_RUNS_MIN_OPS + 1000;
        let history: Vec<OpRecord> = (0..ops as u64)
            .map(|at| OpRecord::invoked(ClientId(0), at, OpKind::Read, at * 7919 % 5003, Time(at)))
            .collect();
        let sorted = sorted_by_key(&history);
        let runs: Vec<&[&OpRecord]> = key_runs(&sorted).collect();
        let chunks: Vec<&[&OpRecord]> = sorted.chunk_by(|a, b| a.key == b.key).collect();
        assert_eq!(runs.len(), 5003);
        assert!(runs.iter().zip(&chunks).all(|(run, chunk)| std::ptr::eq(*run, *chunk)), "the same slices");
    }

    proptest::proptest! {
        /// Whether the history arrives ordered by invoke time (as a run
        /// records it) or not, it ends ordered by (invoke, client, sequence).
        #[test]
        fn sort_by_invoke_orders_by_invoke_client_and_sequence(
            ops in proptest::collection::vec((0u64..4, 0u32..3, 0u64..1000), 0..60), arrives_ordered in proptest::prelude::any::<bool>(),
        ) {
            let mut history: Vec<OpRecord> = ops
                .iter()
                .enumerate()
                .map(|(at, &(invoke, client, sequence))| {
                    // The position makes (client, sequence) unique, as in a run.
                    OpRecord::invoked(ClientId(client), sequence * 100 + at as u64, OpKind::Read, 0, Time(invoke))
                })
                .collect();
            if arrives_ordered {
                history.sort_by_key(|op| op.invoke); // stable: ties stay in arrival order
            }
            let identity = |op: &OpRecord| (op.invoke, op.client, op.sequence);
            let mut expected: Vec<_> = history.iter().map(identity).collect();
            expected.sort_unstable();
            sort_by_invoke(&mut history);
            proptest::prop_assert_eq!(history.iter().map(identity).collect::<Vec<_>>(), expected);
        }
    }

    /// 10 M operations must fit in well under 1 GB of history (issue 13).
    #[test]
    fn a_record_is_64_bytes_and_a_read_that_found_nothing_allocates_nothing() {
        assert!(std::mem::size_of::<OpRecord>() <= 64, "{} bytes", std::mem::size_of::<OpRecord>());
        let mut read = OpRecord::invoked(ClientId(3), 1, OpKind::Read, 9, Time(5));
        read.set_complete(Time(8));
        read.set_target(NodeId(2));
        read.set_returned(Vec::new());
        assert_eq!(read.heap_bytes(), 0);
        assert_eq!(
            (read.complete(), read.target(), read.write(), read.acked()),
            (Some(Time(8)), Some(NodeId(2)), None, None)
        );
        assert!(read.returned().is_empty() && read.context().is_empty() && read.cart().is_none());
        read.set_returned(vec![version(4), version(5)]);
        assert_eq!(read.returned(), &[version(4), version(5)]);
        assert_eq!(read.heap_bytes(), 2 * std::mem::size_of::<Version>());
    }

    #[test]
    fn a_write_keeps_what_it_was_given() {
        let mut write = OpRecord::invoked(ClientId(3), 2, OpKind::Write, 9, Time(5));
        assert_eq!((write.complete(), write.target(), write.write()), (None, None, None));
        write.set_write(WriteId(7), false, true);
        write.set_cart(Some(CartOp::Add(4)));
        write.set_context(vec![version(4).id()]);
        write.set_acked(version(7));
        assert_eq!((write.write(), write.blind(), write.reconcile()), (Some(WriteId(7)), false, true));
        assert_eq!(
            (write.cart(), write.context(), write.acked()),
            (Some(CartOp::Add(4)), &[version(4).id()][..], Some(&version(7)))
        );
        assert!(write.returned().is_empty());
        write.amend_acked(|v| v.time_us = 11);
        assert_eq!(write.acked().map(|v| v.time_us), Some(11));
        write.set_cart(Some(CartOp::Remove(u32::MAX)));
        assert_eq!(write.cart(), Some(CartOp::Remove(u32::MAX)));
        write.set_cart(Some(CartOp::Add(0)));
        assert_eq!(write.cart(), Some(CartOp::Add(0)));
        write.set_cart(None);
        assert_eq!(
            (write.cart(), write.write(), write.blind(), write.reconcile()),
            (None, Some(WriteId(7)), false, true)
        );
        // Every write of a run has its box: 32 bytes, a size class of its own.
        assert_eq!(std::mem::size_of::<WriteDetail>(), 32);
    }

    /// What the reports read of a record: its latency, from invocation to
    /// completion and unknown while it is in flight.
    #[test]
    fn latency_runs_from_invocation_to_completion_and_is_unknown_in_flight() {
        let mut read = OpRecord::invoked(ClientId(3), 1, OpKind::Read, 9, Time(5));
        assert_eq!(read.latency_us(), None);
        read.set_complete(Time(12));
        assert_eq!(read.latency_us(), Some(7));
    }

    /// A blind write is flagged as one and owns only its detail; a write
    /// made from a read is flagged neither blind nor a reconciliation, keeps
    /// the flags set before it was named a write, and owns its context's
    /// versions too.
    #[test]
    fn a_write_owns_its_detail_and_its_context_and_a_blind_one_is_flagged() {
        let detail = std::mem::size_of::<WriteDetail>();
        let mut blind = OpRecord::invoked(ClientId(3), 2, OpKind::Write, 9, Time(5));
        blind.set_write(WriteId(7), true, false);
        assert_eq!((blind.blind(), blind.reconcile(), blind.heap_bytes()), (true, false, detail));
        let mut after_a_read = OpRecord::invoked(ClientId(3), 3, OpKind::Write, 9, Time(6));
        after_a_read.set_target(NodeId(2));
        after_a_read.set_write(WriteId(8), false, false);
        let flags = (after_a_read.blind(), after_a_read.reconcile(), after_a_read.complete(), after_a_read.target());
        assert_eq!(flags, (false, false, None, Some(NodeId(2))));
        after_a_read.set_context(vec![version(4).id(), version(5).id()]);
        assert_eq!(after_a_read.heap_bytes(), detail + 2 * std::mem::size_of::<VersionId>());
    }
}
