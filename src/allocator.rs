//! Settings for mimalloc, the allocator the `dynasim` binaries (and the
//! benchmark's children) run on.
//!
//! mimalloc returns a page to the operating system ("purges" it) 10 ms after
//! its last block is freed. A run frees and allocates small objects by the
//! million (replies, clocks, coordination state, a growing key table's old
//! slots), so pages are emptied, purged and faulted back in — zeroed by the
//! kernel each time — all run long: at 1,000 nodes and 10 M operations ~90 k
//! of 310 k page faults, and 8–14 % more CPU time in three of four
//! measurements (BENCHMARKS.md, session 20). A run is a batch job whose
//! memory peaks near its end anyway, so the binaries keep what they free
//! for their own later allocations.

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the Rust bindings
/// stop short of it); its default is 10 ms, which a test checks.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the operating system, so a
/// page emptied and refilled later is not zeroed and faulted in again.
/// Call it first thing in `main`, before any other thread exists
/// (`mi_option_set` is not thread-safe). Costs ~5 % more peak memory on the
/// 1,000-node row (BENCHMARKS.md); changes no result.
pub fn keep_freed_pages() {
    // SAFETY: `mi_option_set` writes one entry of mimalloc's option table;
    // it is called before the binary starts any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_the_purge_delay() {
        // SAFETY: reads one entry of mimalloc's option table.
        let default = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(
            default, 10,
            "option {PURGE_DELAY} is not mimalloc's 10 ms purge delay (or MIMALLOC_PURGE_DELAY is set)"
        );
        keep_freed_pages();
        // SAFETY: as above.
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, -1);
    }
}
