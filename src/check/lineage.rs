//! What the checker knows of every version, and what each writer saw.
//!
//! Versions are identified by their dot, never by the client write alone:
//! a request coordinated twice (a re-forward, a retry) makes two versions
//! of one write with different clocks. What a writer saw comes from the
//! client history (the versions its read returned), so the checker never
//! has to trust clocks to decide it.

use super::history::{self, OpRecord};
use super::writes::WriteIndex;
use crate::engine::id_map::{IdHasher, IdMap};
use crate::engine::key_table::KeyTable;
use crate::protocol::{Version, VersionId, WriteId};
use crate::types::Time;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasherDefault;

/// Every known version by key, and every write's record.
///
/// Flat sorted vectors rather than nested maps: a key holds one to three
/// versions as a rule, and a map per key cost a 368-byte B-tree node each
/// (a third of the checker's memory on a million keys).
#[derive(Debug, Default)]
pub struct Lineage<'a> {
    /// Known versions of each key, sorted by identity (borrowed: the
    /// history and the end state outlive the checks; a pointer each, with
    /// its write: the rest of the identity is read through the pointer).
    /// Looked up, never walked in key order: a B-tree of a million keys
    /// cost ~4 cache misses a lookup, and the checker looks a key up for
    /// every operation. A [`KeyTable`] sized for the keys the history
    /// names, each list exactly as long as it is: 24 bytes a slot, where a
    /// SwissTable of vectors took 33 a bucket and, at 3.9 M keys, 2^23
    /// buckets (277 MB at 10 M keys and 10 M requests).
    keys: KeyTable<Box<[(WriteId, &'a Version)]>>,
    /// Each write's operation record (its key, invoke time and context).
    writes: WriteIndex<'a>,
    /// (seen, reader) for every version a write's context named, sorted by
    /// the write seen (each one's readers in history order): one flat
    /// vector instead of a vector per write, 16 bytes a link.
    readers: Vec<(WriteId, WriteId)>,
    /// [`Lineage::contexts_precede_writers`], found once the writes are
    /// indexed (every check asks, some once a piece).
    contexts_in_order: bool,
}

impl<'a> Lineage<'a> {
    /// The versions the history names: each acknowledgement's, and every
    /// version a read returned.
    pub fn from_history(history: &'a [OpRecord]) -> Lineage<'a> {
        Lineage::with_history_by_key(history).0
    }

    /// [`Lineage::from_history`], and the history sorted by key
    /// ([`history::sorted_by_key`]) that it walked, for the checks to walk
    /// too. The list (8 bytes an operation) is made once the write index
    /// is built, not held while it is.
    pub fn with_history_by_key(history: &'a [OpRecord]) -> (Lineage<'a>, Vec<&'a OpRecord>) {
        let mut lineage = Lineage::of_writes(history);
        let by_key = history::sorted_by_key(history);
        lineage.add_named(&by_key);
        (lineage, by_key)
    }

    /// Every write's record and what each writer saw, no version yet.
    fn of_writes(history: &'a [OpRecord]) -> Lineage<'a> {
        let mut lineage = Lineage::default();
        let mut writes = Vec::new();
        for op in history {
            if let Some(write) = op.write() {
                writes.push((write, op));
                lineage.readers.extend(op.context().iter().map(|seen| (seen.write, write)));
            }
        }
        lineage.writes = WriteIndex::new(writes);
        lineage.readers.sort_by_key(|(seen, _)| *seen); // stable: history order within a write
        lineage.contexts_in_order = lineage.writes.records().all(|op| {
            op.context().iter().all(|id| lineage.invoked(id.write).is_none_or(|invoked| invoked < op.invoke))
        });
        lineage
    }

    /// Adds the versions the history sorted by key names to a lineage
    /// that knows no version yet.
    ///
    /// A key's versions are gathered in one go, in the walk by key: in
    /// history order each operation looked its key up in a table of every
    /// key and then searched that key's list, two or three cache misses an
    /// operation at 10 M operations.
    fn add_named(&mut self, by_key: &[&'a OpRecord]) {
        debug_assert!(self.keys.is_empty(), "versions already known");
        let mut named: Vec<(VersionId, &'a Version)> = Vec::new();
        let mut keys = Vec::new();
        for ops in history::key_runs(by_key) {
            named.clear();
            named.extend(ops.iter().flat_map(|op| op.acked().into_iter().chain(op.returned())).map(|v| (v.id(), v)));
            if named.is_empty() {
                continue;
            }
            named.sort_by_key(|&(id, _)| id); // stable: the first named of an identity stays
            named.dedup_by_key(|&mut (id, _)| id);
            // Collected from an exact-size iterator: as many slots as versions.
            keys.push((ops[0].key, named.iter().map(|&(id, version)| (id.write, version)).collect()));
        }
        // Room for an eighth more: the end state adds keys no operation
        // named (writes never acknowledged, never read), and growing the
        // table would hold it twice for a while.
        self.keys = KeyTable::with_capacity(keys.len() + keys.len() / 8);
        for (key, known) in keys {
            *self.keys.entry(key) = known;
        }
    }

    /// Adds versions of `key` seen elsewhere (in the stores at the end, or
    /// lost with a disk).
    pub fn add(&mut self, key: u64, versions: impl IntoIterator<Item = &'a Version>) {
        let mut versions = versions.into_iter().peekable();
        if versions.peek().is_none() {
            return;
        }
        let known = self.keys.entry(key);
        for version in versions {
            if let Err(at) = search(known, version.id()) {
                let mut grown = std::mem::take(known).into_vec();
                // Exactly as many as known: a key of a long run knows a
                // handful of versions, and doubling would reserve up to
                // twice that (a quarter of the lineage at 10 M operations).
                grown.reserve_exact(1);
                grown.insert(at, (version.write, version)); // the first seen of an identity stays
                *known = grown.into_boxed_slice();
            }
        }
    }

    /// The known versions of `key`, by identity (either way round).
    pub fn versions_of_key(&self, key: u64) -> impl DoubleEndedIterator<Item = &Version> {
        self.keys.get(key).into_iter().flat_map(|known| known.iter()).map(|&(_, version)| version)
    }

    /// The known versions of `write` (several if it was coordinated twice).
    pub fn versions_of(&self, write: WriteId) -> impl Iterator<Item = &Version> {
        self.key_of(write).into_iter().flat_map(move |key| self.versions_of_in(key, write))
    }

    /// The known versions of `key` that `write` made: [`Lineage::versions_of`]
    /// when `write` wrote `key`, found by a search of the key's versions.
    pub fn versions_of_in(&self, key: u64, write: WriteId) -> impl Iterator<Item = &Version> {
        self.keys
            .get(key)
            .into_iter()
            .flat_map(move |known| {
                let from = known.partition_point(|&(known, _)| known < write);
                known[from..].iter().take_while(move |&&(known, _)| known == write)
            })
            .map(|&(_, version)| version)
    }

    /// The version known by this identity.
    pub fn version(&self, key: u64, id: VersionId) -> Option<&Version> {
        let known = self.keys.get(key)?;
        search(known, id).ok().map(|at| known[at].1)
    }

    /// The key `write` wrote (None for a write the history does not name).
    pub fn key_of(&self, write: WriteId) -> Option<u64> {
        self.record(write).map(|op| op.key)
    }

    /// True when the writer of `write` saw no write: a blind write (empty
    /// context), or one the history does not name. [`Lineage::saw`] is
    /// false for such a writer whatever it is asked about.
    pub fn saw_nothing(&self, write: WriteId) -> bool {
        self.record(write).is_none_or(|op| op.context().is_empty())
    }

    /// When `write` was invoked (None for a write the history does not name).
    pub fn invoked(&self, write: WriteId) -> Option<Time> {
        self.record(write).map(|op| op.invoke)
    }

    /// The operation record of `write` (None for a write the history does
    /// not name; the last record, were one named twice).
    pub fn record(&self, write: WriteId) -> Option<&'a OpRecord> {
        self.writes.get(write)
    }

    /// True when every write id the history names is named by one record
    /// only (as in every run), so a write's record found anywhere is the
    /// one [`Lineage::record`] returns.
    pub fn writes_named_once(&self) -> bool {
        self.writes.named_once()
    }

    /// How many of the history's records are writes.
    pub fn write_records(&self) -> usize {
        self.writes.records_named()
    }

    /// True when the writer of `writer` saw `seen` (some version of it),
    /// directly in its context or through the contexts of the writes it
    /// saw.
    pub fn saw(&self, writer: WriteId, seen: WriteId) -> bool {
        self.reaches(writer, seen, |id| id.write == seen)
    }

    /// True when the writer of `writer` saw exactly the version `seen`,
    /// directly or through the contexts of the writes it saw.
    pub fn saw_version(&self, writer: WriteId, seen: VersionId) -> bool {
        self.reaches(writer, seen.write, |id| *id == seen)
    }

    /// Every write whose writer saw `write` (some version of it), directly or
    /// through the contexts of other writes: [`Lineage::saw`] for many
    /// writers at once, in one walk forward.
    pub fn seen_by(&self, write: WriteId) -> BTreeSet<WriteId> {
        let mut seen_by = BTreeSet::new();
        let mut stack = vec![write];
        while let Some(seen) = stack.pop() {
            let from = self.readers.partition_point(|(write, _)| *write < seen);
            for &(_, reader) in self.readers[from..].iter().take_while(|(write, _)| *write == seen) {
                if seen_by.insert(reader) {
                    stack.push(reader);
                }
            }
        }
        seen_by
    }

    /// Searches the contexts back from `from` for a version `found`
    /// accepts ([`search_back`] over every record).
    fn reaches(&self, from: WriteId, target: WriteId, found: impl Fn(&VersionId) -> bool) -> bool {
        if self.saw_nothing(from) {
            return false; // the common case, without allocating
        }
        let Some(not_before) = self.invoked(target) else { return false };
        search_back(from, target, not_before, |write| self.record(write), found, &mut Walk::default())
    }

    /// True when every context names only writes invoked strictly before
    /// its writer (as real reads make them; a context naming a later write
    /// is a causality violation). Then no write sees itself through others,
    /// and what a writer saw is all it reaches ([`SawCache`]).
    pub fn contexts_precede_writers(&self) -> bool {
        self.contexts_in_order
    }

    /// Every write whose version `writer`'s context named, directly or
    /// through the contexts of the writes it names (unbounded: the walk
    /// [`Lineage::saw`] makes, for every target at once), sorted. Gathered
    /// in `walk`'s hash set and sorted once: a hot key's end state holds a
    /// thousand siblings whose writers each saw thousands of writes, and
    /// a B-tree insert each was an eighth of such a run's CPU.
    fn sight(&self, writer: WriteId, walk: &mut Walk) -> Box<[WriteId]> {
        walk.stack.clear();
        walk.visited.clear();
        walk.stack.push(writer);
        while let Some(write) = walk.stack.pop() {
            for id in self.record(write).map_or(&[][..], |op| op.context()) {
                if walk.visited.insert(id.write) {
                    walk.stack.push(id.write);
                }
            }
        }
        // The set's order never shows: sorted before use.
        let mut seen: Vec<WriteId> = walk.visited.iter().copied().collect();
        seen.sort_unstable();
        seen.into_boxed_slice()
    }

    /// Versions seen beyond the first of each write: requests coordinated
    /// more than once (re-forwarded, retried) that left a trace.
    pub fn duplicate_coordinations(&self) -> u64 {
        let mut extra = 0;
        // A sum over the keys: the map's order never shows.
        for (_, known) in self.keys.iter() {
            let mut previous: Option<WriteId> = None;
            for &(write, _) in known {
                extra += u64::from(previous == Some(write));
                previous = Some(write);
            }
        }
        extra
    }
}

/// Where `id` is (or would go) among a key's known versions, sorted by
/// identity. Each carries its write so that the search reads a version
/// (a cache miss in a long run's history) only to tell apart the versions
/// of one write.
fn search(known: &[(WriteId, &Version)], id: VersionId) -> Result<usize, usize> {
    known.binary_search_by(|&(write, version)| write.cmp(&id.write).then_with(|| version.dot.cmp(&id.dot)))
}

/// Searches the contexts back from `from` (records found by `record`) for
/// a version `found` accepts, through writes invoked at `not_before` (when
/// `target` was) or later: only those can have seen `target`, which
/// bounds the search. `walk` is scratch a caller may keep between calls.
pub fn search_back<'h>(
    from: WriteId,
    target: WriteId,
    not_before: Time,
    record: impl Fn(WriteId) -> Option<&'h OpRecord>,
    found: impl Fn(&VersionId) -> bool,
    walk: &mut Walk,
) -> bool {
    walk.stack.clear();
    walk.visited.clear();
    walk.stack.push(from);
    while let Some(write) = walk.stack.pop() {
        let Some(op) = record(write) else { continue };
        for id in op.context() {
            if found(id) {
                return true;
            }
            let later = record(id.write).is_some_and(|op| op.invoke >= not_before);
            if later && id.write != target && walk.visited.insert(id.write) {
                walk.stack.push(id.write);
            }
        }
    }
    false
}

/// [`search_back`] from every write of `from` at once, for every write of
/// `targets` (sorted, no repeats): removes from `targets` each write it
/// finds. Searched through writes invoked at `not_before` or later, which
/// must be no later than every target's invocation.
///
/// Where contexts precede their writers (where `search_back` is exact) it
/// finds what one search per (write of `from`, target) pair finds: a write
/// invoked before a target reaches only writes invoked before it, so the
/// wider bound finds no target a pair's search would miss. A read of a hot
/// key returns a thousand siblings: a search per pair re-walked, for each
/// target, what every sibling's writer saw.
///
/// The writes of `from`'s own contexts are looked at first, without a
/// look-up each (a target a read did not return itself is nearly always
/// named by the context of a version it did return). Both looks skip the
/// writes of `from` invoked at `not_before` or earlier: they cannot have
/// seen a target.
pub fn search_back_all<'h>(
    from: &[WriteId],
    targets: &mut Vec<WriteId>,
    not_before: Time,
    record: impl Fn(WriteId) -> Option<&'h OpRecord>,
    walk: &mut Walk,
) {
    let find = |named: &[VersionId], targets: &mut Vec<WriteId>| {
        for id in named {
            let (Some(&first), Some(&last)) = (targets.first(), targets.last()) else { return true };
            if (first..=last).contains(&id.write) {
                if let Ok(at) = targets.binary_search(&id.write) {
                    targets.remove(at);
                }
            }
        }
        targets.is_empty()
    };
    walk.stack.clear();
    walk.visited.clear();
    // Only a write invoked after the earliest target can have seen one: a
    // context names writes invoked before its writer. Most of a hot key's
    // siblings were written long before the writes a read may miss.
    walk.stack.extend(from.iter().copied().filter(|&write| record(write).is_some_and(|op| op.invoke > not_before)));
    for &write in &walk.stack {
        if find(record(write).map_or(&[][..], |op| op.context()), targets) {
            return;
        }
    }
    while let Some(write) = walk.stack.pop() {
        let Some(op) = record(write) else { continue };
        if find(op.context(), targets) {
            return;
        }
        // Each write is looked up once: siblings' writers saw much the same.
        for id in op.context() {
            if walk.visited.insert(id.write) && record(id.write).is_some_and(|op| op.invoke >= not_before) {
                walk.stack.push(id.write);
            }
        }
    }
}

/// The scratch of [`search_back`]: the writes still to look at, and those
/// already pushed (only looked up: the set's order never shows).
#[derive(Default)]
pub struct Walk {
    stack: Vec<WriteId>,
    visited: HashSet<WriteId, BuildHasherDefault<IdHasher>>,
}

/// [`Lineage::saw`] asked about few writers and many writes (the versions
/// a key's end state shows against each of its acknowledged writes): each
/// writer's sight is walked once, whole, and kept, instead of once per
/// question — linear in the key's writes instead of quadratic.
///
/// Exact when contexts precede their writers
/// ([`Lineage::contexts_precede_writers`]): every write on a path to a
/// write's reader was then invoked after it, which is all `saw`'s bounded
/// search requires. Otherwise each question goes to [`Lineage::saw`].
pub struct SawCache<'l, 'a> {
    lineage: &'l Lineage<'a>,
    /// Contexts precede their writers: the cached sights are exact.
    exact: bool,
    /// The sight of each writer asked about so far (looked up only).
    sights: RefCell<IdMap<WriteId, Box<[WriteId]>>>,
    /// The walks' scratch.
    walk: RefCell<Walk>,
}

impl<'l, 'a> SawCache<'l, 'a> {
    /// An empty cache over `lineage`; `exact` is
    /// [`Lineage::contexts_precede_writers`], computed once by the caller.
    pub fn new(lineage: &'l Lineage<'a>, exact: bool) -> Self {
        SawCache { lineage, exact, sights: RefCell::default(), walk: RefCell::default() }
    }

    /// Forgets every sight (a key's writers are asked about on that key
    /// only), keeping the room they took for the next key's.
    pub fn forget(&mut self) {
        self.sights.get_mut().clear();
    }

    /// [`Lineage::saw`].
    pub fn saw(&self, writer: WriteId, seen: WriteId) -> bool {
        if !self.exact {
            return self.lineage.saw(writer, seen);
        }
        let mut sights = self.sights.borrow_mut();
        let sight = sights.entry(writer).or_insert_with(|| self.lineage.sight(writer, &mut self.walk.borrow_mut()));
        // A blind writer saw nothing: no need to look `seen` up in the history.
        // `saw` knows nothing of a write the history does not name.
        !sight.is_empty() && self.lineage.invoked(seen).is_some() && sight.binary_search(&seen).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::{OpKind, Outcome};
    use crate::node::vclock::{Dot, VectorClock};
    use crate::protocol::Stamp;
    use crate::types::{ClientId, NodeId};

    fn id(write: u64, node: u32) -> VersionId {
        VersionId { write: WriteId(write), dot: Dot { actor: NodeId(node).into(), counter: write } }
    }

    fn write(write: u64, invoke: u64, context: &[VersionId]) -> OpRecord {
        let mut op = OpRecord::invoked(ClientId(0), write, OpKind::Write, 1, Time(invoke));
        op.outcome = Outcome::Ok;
        op.set_write(WriteId(write), false, false);
        op.set_context(context.to_vec());
        let version = id(write, 0);
        op.set_acked(Version::of_write(version.write.0, version.dot, VectorClock::new(), Stamp::default()));
        op
    }

    #[test]
    fn sight_follows_contexts_transitively_and_by_exact_version() {
        // 2 read 1's version at n0; 3 read 2; 4 read a duplicate of 1 made at n1.
        let history =
            vec![write(1, 0, &[]), write(2, 10, &[id(1, 0)]), write(3, 20, &[id(2, 0)]), write(4, 30, &[id(1, 1)])];
        let lineage = Lineage::from_history(&history);
        assert!(lineage.saw(WriteId(3), WriteId(1)), "through 2's context");
        assert!(lineage.saw_version(WriteId(3), id(1, 0)));
        assert!(!lineage.saw_version(WriteId(3), id(1, 1)), "the other version of 1 was never seen");
        assert!(lineage.saw(WriteId(4), WriteId(1)), "any version of a write shows its value");
        assert!(!lineage.saw(WriteId(1), WriteId(3)), "no write sees the future");
        assert!(!lineage.saw(WriteId(4), WriteId(2)));
        let seen_by_1: Vec<WriteId> = lineage.seen_by(WriteId(1)).into_iter().collect();
        assert_eq!(seen_by_1, vec![WriteId(2), WriteId(3), WriteId(4)], "the same sight, walked forward");
        assert!(lineage.seen_by(WriteId(3)).is_empty());
    }

    /// `saw_nothing` is exactly "`saw` is false whatever it is asked":
    /// blind writes and writes the history does not name.
    #[test]
    fn only_blind_and_unnamed_writers_saw_nothing() {
        let history = vec![write(1, 0, &[]), write(2, 10, &[id(1, 0)])];
        let lineage = Lineage::from_history(&history);
        assert!(lineage.saw_nothing(WriteId(1)), "a blind write");
        assert!(lineage.saw_nothing(WriteId(9)), "a write the history does not name");
        assert!(!lineage.saw_nothing(WriteId(2)), "2 read 1");
        assert!(lineage.saw(WriteId(2), WriteId(1)));
        for writer in [1, 9] {
            assert!(!lineage.saw(WriteId(writer), WriteId(1)) && !lineage.saw(WriteId(writer), WriteId(2)));
        }
    }

    #[test]
    fn versions_of_one_write_are_told_apart_and_counted_as_duplicates() {
        let history = vec![write(1, 0, &[]), write(2, 10, &[id(1, 1)])];
        let mut lineage = Lineage::from_history(&history);
        assert_eq!(lineage.duplicate_coordinations(), 0);
        let duplicate = history[0].acked().expect("acked").changed(|v| v.dot = id(1, 1).dot);
        lineage.add(1, [&duplicate]);
        assert_eq!(lineage.versions_of(WriteId(1)).count(), 2);
        assert_eq!(lineage.versions_of(WriteId(2)).count(), 1);
        assert_eq!(lineage.duplicate_coordinations(), 1);
    }

    #[test]
    fn the_cached_sight_answers_as_saw_does() {
        // 2 read 1; 3 read 2 and a write never made (9); 4 read 1 at n1; 5 is blind.
        let history = vec![
            write(1, 0, &[]),
            write(2, 10, &[id(1, 0)]),
            write(3, 20, &[id(2, 0), id(9, 0)]),
            write(4, 30, &[id(1, 1)]),
            write(5, 40, &[]),
        ];
        let lineage = Lineage::from_history(&history);
        assert!(lineage.contexts_precede_writers());
        let cache = SawCache::new(&lineage, true);
        for writer in 1..=5 {
            for seen in 1..=9 {
                let (writer, seen) = (WriteId(writer), WriteId(seen));
                assert_eq!(cache.saw(writer, seen), lineage.saw(writer, seen), "{writer:?} saw {seen:?}");
            }
        }
        assert!(!lineage.saw(WriteId(3), WriteId(9)), "9 is named in 3's context but the history never wrote it");
        let future = vec![write(1, 0, &[id(2, 0)]), write(2, 10, &[])];
        assert!(!Lineage::from_history(&future).contexts_precede_writers(), "1 names a write invoked after it");
        let same_instant = vec![write(1, 10, &[id(2, 0)]), write(2, 10, &[])];
        assert!(!Lineage::from_history(&same_instant).contexts_precede_writers(), "not strictly before");
    }

    /// 2 (invoked at 5) names 3, invoked only at 10: a causality violation.
    /// 4 read 2. The bounded search of `saw` does not follow 2 (invoked
    /// before 3, it cannot have seen it), while the whole sight of 4 holds
    /// 3: once contexts do not precede their writers, the cache must ask
    /// `saw`, not its cached sights.
    #[test]
    fn the_cache_of_a_history_naming_future_writes_asks_saw() {
        let history = vec![write(2, 5, &[id(3, 0)]), write(3, 10, &[]), write(4, 20, &[id(2, 0)])];
        let lineage = Lineage::from_history(&history);
        assert!(!lineage.contexts_precede_writers());
        assert!(lineage.saw(WriteId(2), WriteId(3)), "named directly");
        assert!(!lineage.saw(WriteId(4), WriteId(3)), "not through a write invoked before 3");
        assert!(lineage.sight(WriteId(4), &mut Walk::default()).contains(&WriteId(3)));
        let cache = SawCache::new(&lineage, false);
        for writer in 2..=4 {
            for seen in 2..=4 {
                let (writer, seen) = (WriteId(writer), WriteId(seen));
                assert_eq!(cache.saw(writer, seen), lineage.saw(writer, seen), "{writer:?} saw {seen:?}");
            }
        }
    }

    /// Contexts that name each other (only a causality bug makes them)
    /// must not trap the search: each write is visited once.
    #[test]
    fn contexts_forming_a_cycle_are_searched_once() {
        let history = vec![write(5, 0, &[]), write(1, 10, &[id(2, 0)]), write(2, 20, &[id(1, 0)])];
        let lineage = Lineage::from_history(&history);
        assert!(!lineage.saw(WriteId(1), WriteId(5)));
        assert!(lineage.saw(WriteId(1), WriteId(2)) && lineage.saw(WriteId(2), WriteId(1)));
        assert_eq!(lineage.seen_by(WriteId(1)), BTreeSet::from([WriteId(1), WriteId(2)]));
    }

    /// Each write's versions, key and invoke time are looked up on its own
    /// key, whichever keys others wrote.
    #[test]
    fn a_writes_versions_are_found_on_its_own_key() {
        let mut on_key_2 = write(2, 10, &[]);
        on_key_2.key = 2;
        let history = vec![write(1, 0, &[]), on_key_2, write(3, 20, &[id(1, 0)])];
        let lineage = Lineage::from_history(&history);
        assert_eq!(lineage.key_of(WriteId(2)), Some(2));
        assert_eq!(lineage.key_of(WriteId(3)), Some(1));
        assert_eq!(lineage.key_of(WriteId(7)), None);
        assert_eq!(lineage.invoked(WriteId(2)), Some(Time(10)));
        assert_eq!(lineage.invoked(WriteId(7)), None);
        let writes = |versions: Vec<&Version>| versions.iter().map(|v| v.write).collect::<Vec<_>>();
        assert_eq!(writes(lineage.versions_of(WriteId(2)).collect()), vec![WriteId(2)]);
        assert_eq!(writes(lineage.versions_of(WriteId(3)).collect()), vec![WriteId(3)]);
        assert_eq!(writes(lineage.versions_of_key(1).collect()), vec![WriteId(1), WriteId(3)]);
        assert_eq!(writes(lineage.versions_of_key(2).collect()), vec![WriteId(2)]);
        assert_eq!(lineage.version(2, id(2, 0)).map(|v| v.write), Some(WriteId(2)));
        assert!(lineage.version(1, id(2, 0)).is_none(), "write 2's version is not on key 1");
    }

    proptest::proptest! {
        /// Gathering each key's versions in the walk by key keeps, of each
        /// identity, the very version an operation-by-operation walk in
        /// history order kept (the first named), on every key.
        #[test]
        fn versions_gathered_by_key_are_those_added_in_history_order(
            ops in proptest::collection::vec((1..4u64, 1..6u64, 0..2u32, proptest::collection::vec((1..6u64, 0..2u32), 0..3)), 0..24),
        ) {
            let history: Vec<OpRecord> = ops
                .iter()
                .enumerate()
                .map(|(at, &(key, write, node, ref returned))| {
                    // Identities repeat across operations, each made anew: which one stays shows.
                    let made = |write: u64, node: u32| {
                        let id = id(write, node);
                        Version::of_write(id.write.0, id.dot, VectorClock::new(), Stamp { time_us: at as u64, writer: 0 })
                    };
                    let mut op = OpRecord::invoked(ClientId(0), at as u64, OpKind::Read, key, Time(at as u64));
                    if returned.is_empty() {
                        op = OpRecord::invoked(ClientId(0), at as u64, OpKind::Write, key, Time(at as u64));
                        op.set_write(WriteId(write), false, false);
                        op.set_acked(made(write, node));
                    } else {
                        op.set_returned(returned.iter().map(|&(write, node)| made(write, node)).collect());
                    }
                    op
                })
                .collect();
            let by_key = Lineage::from_history(&history);
            let mut in_order = Lineage::default();
            for op in &history {
                in_order.add(op.key, op.acked().into_iter().chain(op.returned()));
            }
            for key in 1..4 {
                let kept = |lineage: &Lineage| lineage.versions_of_key(key).map(|v| v as *const Version).collect::<Vec<_>>();
                proptest::prop_assert_eq!(kept(&by_key), kept(&in_order));
            }
        }
    }
}
