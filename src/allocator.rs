//! Settings for mimalloc, the allocator the `dynasim` binaries (and the
//! benchmark's children) run on, and for the pages it gets from the kernel.
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
//!
//! mimalloc also asks for transparent huge pages (`madvise(MADV_HUGEPAGE)`
//! on the 1 GiB regions it reserves). On the virtual machines this project
//! is measured on (Firecracker, free page reporting to the host), a fresh
//! 2 MiB page costs ~15 ms of system time to fault in, ten times or more a
//! 4 KiB page's cost per byte, so the kernel time outweighs the TLB misses
//! saved on every run shape measured but one (BENCHMARKS.md, session 33):
//! the binaries turn huge pages off for themselves.

/// Sets a binary's allocator up for simulation runs: freed pages are kept
/// and no transparent huge page is used (the module doc says why). Call it
/// first thing in `main`, before any other thread exists. Changes no result.
pub fn configure_for_runs() {
    keep_freed_pages();
    refuse_huge_pages();
}

/// `mi_option_purge_delay` in mimalloc v2's `mimalloc.h` (the Rust bindings
/// stop short of it); its default is 10 ms, which a test checks.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the operating system, so a
/// page emptied and refilled later is not zeroed and faulted in again.
/// Called before any other thread exists (`mi_option_set` is not
/// thread-safe). Costs ~5 % more peak memory on the 1,000-node row
/// (BENCHMARKS.md).
fn keep_freed_pages() {
    // SAFETY: `mi_option_set` writes one entry of mimalloc's option table;
    // it is called before the binary starts any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

/// Set, this environment variable says which pages the user wants mimalloc
/// to ask for (mimalloc reads it at start-up): the binaries leave it to it.
const HUGE_PAGES_VARIABLE: &str = "MIMALLOC_ALLOW_THP";

/// Turns transparent huge pages off for this process (Linux's
/// `PR_SET_THP_DISABLE`, which the kernel checks at every fault, so it
/// also covers the region mimalloc reserved before `main`), unless
/// [`HUGE_PAGES_VARIABLE`] is set. Elsewhere, or if the call fails, pages
/// stay as they were: only the speed depends on it.
fn refuse_huge_pages() {
    if std::env::var_os(HUGE_PAGES_VARIABLE).is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes integer arguments only
    // and sets a flag of the calling process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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

    #[cfg(target_os = "linux")]
    #[test]
    fn a_configured_process_uses_no_huge_pages() {
        if std::env::var_os(HUGE_PAGES_VARIABLE).is_some() {
            return; // the user's choice is left to mimalloc
        }
        // Not `configure_for_runs`: the test above reads the purge delay's default.
        refuse_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE reads a flag of the calling process.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) }, 1);
    }
}
