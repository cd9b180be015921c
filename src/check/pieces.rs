//! The checker's walks by key, cut into pieces of whole keys that run on
//! every core; and the report's passes over a long history, two at a time.
//!
//! Why: at 10 M requests on 1,000 nodes the end-of-run checks took ~15 s
//! of one core after an 85 s event loop (BENCHMARKS.md, "Session 29"),
//! while the machine's other core sat idle. Each check looks at one key's
//! operations at a time and adds up figures or lists findings in key
//! order, so pieces of whole keys checked apart and combined in piece
//! order give the report one walk gives — on any number of threads, and
//! whatever the pieces' size (tests hold the checks to both).

use super::history::OpRecord;
use rayon::prelude::*;

/// The fewest operations in a piece (all but the last). Below this a
/// history is checked in one piece on the calling thread: the bench's
/// quickstart and 64-node rows (14 k and 145 k operations) never pay for a
/// thread, and a piece of 256 Ki operations keeps the cost of starting one
/// under a thousandth of its work.
pub const PIECE_OPS: usize = 1 << 18;

/// `by_key` (sorted by key, as [`super::history::sorted_by_key`] leaves
/// it) cut into consecutive pieces of whole keys, each at least
/// `min_ops` operations long but the last.
pub fn key_pieces<'s, 'h>(by_key: &'s [&'h OpRecord], min_ops: usize) -> Vec<&'s [&'h OpRecord]> {
    let mut pieces = Vec::with_capacity(by_key.len() / min_ops.max(1) + 1);
    let mut rest = by_key;
    while !rest.is_empty() {
        let mut end = min_ops.clamp(1, rest.len());
        let last_key = rest[end - 1].key;
        end += rest[end..].iter().take_while(|op| op.key == last_key).count();
        let (piece, after) = rest.split_at(end);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// `check` applied to every item (a piece, with whatever the caller
/// prepared for it), in parallel on the current rayon pool (a sweep's pool
/// inside a sweep, the global one for a single run), the results in item
/// order. One item is checked on the calling thread.
///
/// What a check keeps past its piece is best allocated by the caller, on
/// its own thread, and handed in with the piece: mimalloc gives each thread
/// its own pages, and a pool thread cannot reuse those the run freed on
/// the calling thread — 32 bytes a read of verdicts allocated on pool
/// threads raised the 1,000-node row's peak by 47 MB at 1 M requests.
pub fn map_pieces<I: Send, T: Send>(items: Vec<I>, check: impl Fn(I) -> T + Sync + Send) -> Vec<T> {
    if items.len() <= 1 {
        return items.into_iter().map(check).collect();
    }
    items.into_par_iter().map(check).collect()
}

/// Makes the calling thread the first of rayon's global pool's threads (of
/// as many as there are cores, this one included), if the pool is not
/// built yet. Call it first thing on the thread that will run simulations.
///
/// Why: mimalloc gives each thread its own pages, and a thread cannot
/// reuse the pages another freed. From outside the pool, [`map_pieces`]
/// and [`join`] hand all the work to pool threads, whose allocations (a
/// piece's findings, a pass's latency lists) then take fresh memory while
/// the pages the run freed sit idle on the calling thread. As a member,
/// the calling thread does its share itself, from its own pages.
pub fn use_calling_thread() {
    // An error only says the pool was built already: then it stays as it is.
    let _ = rayon::ThreadPoolBuilder::new().use_current_thread().build_global();
}

/// `a` and `b` at once on the current rayon pool when they walk a history
/// of at least [`PIECE_OPS`] operations (`ops`), else one after the other
/// on the calling thread. For the report's passes over a long history
/// (latencies, windows, staleness, the time series): each reads the
/// history only and makes a small result, so the order they run in
/// changes nothing. On a thread of the pool `a` runs on the calling
/// thread (see [`use_calling_thread`]): give it the pass that allocates
/// more.
pub fn join<A: Send, B: Send>(ops: usize, a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    if ops < PIECE_OPS {
        return (a(), b());
    }
    rayon::join(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::history::OpKind;
    use crate::types::{ClientId, Time};

    fn history(keys: &[u64]) -> Vec<OpRecord> {
        let ops = keys.iter().enumerate();
        ops.map(|(at, &key)| OpRecord::invoked(ClientId(0), at as u64, OpKind::Read, key, Time(at as u64))).collect()
    }

    proptest::proptest! {
        /// Pieces cover the list in order, never split a key, and are
        /// each at least `min_ops` long but the last.
        #[test]
        fn pieces_are_whole_keys_in_order(runs in proptest::collection::vec(1usize..6, 0..40), min_ops in 1usize..9) {
            let keys: Vec<u64> = runs.iter().enumerate().flat_map(|(key, &n)| std::iter::repeat_n(key as u64, n)).collect();
            let history = history(&keys);
            let by_key: Vec<&OpRecord> = history.iter().collect();
            let pieces = key_pieces(&by_key, min_ops);
            let joined: Vec<&OpRecord> = pieces.iter().flat_map(|piece| piece.iter().copied()).collect();
            proptest::prop_assert!(joined.iter().zip(&by_key).all(|(a, b)| std::ptr::eq(*a, *b)));
            proptest::prop_assert_eq!(joined.len(), by_key.len());
            for pair in pieces.windows(2) {
                proptest::prop_assert!(pair[0].len() >= min_ops, "only the last piece may be short");
                proptest::prop_assert_ne!(pair[0].last().unwrap().key, pair[1][0].key, "a key split");
            }
        }
    }

    #[test]
    fn results_come_back_in_piece_order_on_any_pool() {
        let keys: Vec<u64> = (0..1000).map(|at| at / 3).collect();
        let history = history(&keys);
        let by_key: Vec<&OpRecord> = history.iter().collect();
        let pieces = key_pieces(&by_key, 10);
        let expected: Vec<u64> = pieces.iter().map(|piece| piece[0].key).collect();
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let firsts = pool.install(|| map_pieces(pieces.clone(), |piece| piece[0].key));
            assert_eq!(firsts, expected, "{threads} threads");
        }
        assert!(map_pieces(Vec::<&[&OpRecord]>::new(), |piece| piece.len()).is_empty());
    }
}
