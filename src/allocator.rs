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
//! is measured on (Firecracker, free page reporting to the host), a 2 MiB
//! page the host must back anew costs 4–15 ms of system time to fault in
//! (15 ms in session 33, 4.5 ms in session 40; ~0.3 ms when the guest
//! recycles one it freed seconds before), four times or more a 4 KiB
//! page's cost per byte, so the kernel time outweighs the TLB misses saved
//! on most run shapes measured (BENCHMARKS.md, session 33): the binaries
//! turn huge pages off for themselves — except for the few tables they ask
//! for them ([`table_on_huge_pages`]), and for a run estimated at gigabytes
//! ([`configure_for_scenarios`]). A TLB miss is dear here too (a nested
//! page walk): with huge pages everywhere, 2,048 nodes and 10 M keys (2 M
//! requests) took 30–37 % less user time and seven to nine times the
//! system time (session 38), and 1,000 nodes at 10 M requests 10–18 % less
//! CPU (sessions 33 and 40). A table that every message reads at a random
//! place, such as the links' message counts, is read a million times or
//! more for each 2 MiB it spans at scale: for it the fault is a bargain.

use crate::scenario::limits::memory_estimate_bytes;
use crate::scenario::Scenario;

/// Sets a binary's allocator up for simulation runs: freed pages are kept
/// and transparent huge pages are used only where the program asks for
/// them (the module doc says why). Call it first thing in `main`, before
/// any other thread exists. Changes no result.
pub fn configure_for_runs() {
    keep_freed_pages();
    set_huge_pages(false);
}

/// Estimated bytes ([`memory_estimate_bytes`]) from which a run gets
/// transparent huge pages everywhere ([`configure_for_scenarios`]): 2 GiB,
/// about 1,000 nodes and 1 M keys at 4 M requests. Past it the page walks
/// of a working set of gigabytes cost more than faulting it in huge
/// (BENCHMARKS.md, session 40: the 1,000-node row at 10 M requests, 3–18 %
/// less wall time in five side-by-side pairs, ~10 % in session 33 when a
/// huge page took 15 ms to fault in); at 1 M requests neither won clearly.
pub const HUGE_PAGES_FROM_BYTES: f64 = 2.0 * (1u64 << 30) as f64;

/// Gives the process transparent huge pages everywhere if the largest of
/// the `scenarios` it is about to run is as large as
/// [`HUGE_PAGES_FROM_BYTES`] (else leaves them as [`configure_for_runs`]
/// set them): `run` and `explore` pass their one scenario, `sweep` and
/// `check` every run's. Call it after `configure_for_runs`, before the
/// runs start, while no other thread allocates (rayon's idle pool may
/// exist: `mi_option_set` writes one word of mimalloc's option table, read
/// when it maps memory). Changes no result.
pub fn configure_for_scenarios<'a>(scenarios: impl IntoIterator<Item = &'a Scenario>) {
    let largest = scenarios.into_iter().map(|scenario| memory_estimate_bytes(&scenario.spec)).fold(0.0, f64::max);
    if largest >= HUGE_PAGES_FROM_BYTES {
        set_huge_pages(true);
    }
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

/// `mi_option_allow_thp` in mimalloc v2's `mimalloc.h`: while set (its
/// default), mimalloc asks for huge pages on every region it maps.
const ALLOW_HUGE_PAGES: libmimalloc_sys::mi_option_t = 37;

/// mimalloc v2 keeps at most this many arenas (`MI_MAX_ARENAS`); ids run
/// from 1.
const MAX_ARENAS: libc::c_int = 132;

unsafe extern "C" {
    /// mimalloc's arena `arena_id`: its first byte, and its length in
    /// `size` (null and 0 if there is none).
    fn mi_arena_area(arena_id: libc::c_int, size: *mut usize) -> *mut libc::c_void;
}

/// `PR_THP_DISABLE_EXCEPT_ADVISED` (Linux 6.18's `prctl.h`, not yet in
/// the `libc` crate): with `PR_SET_THP_DISABLE`, huge pages only where
/// `madvise(MADV_HUGEPAGE)` asked for them.
const EXCEPT_ADVISED: libc::c_ulong = 1 << 1;

/// With `everywhere` false, turns transparent huge pages off for this
/// process except where [`table_on_huge_pages`] asks for them: mimalloc
/// stops asking for them on the regions it maps from now on, and the
/// arenas it reserved before `main` (madvised) are advised back.
/// `PR_SET_THP_DISABLE` is checked by the kernel at every fault; a kernel
/// older than 6.18 refuses `EXCEPT_ADVISED`, and huge pages are then off
/// altogether, advised tables too. With `everywhere` true, undoes that:
/// mimalloc asks for them again, its arenas are advised for them, and the
/// process takes them wherever the system's policy allows. Either way,
/// nothing happens if [`HUGE_PAGES_VARIABLE`] is set (the user left them
/// to mimalloc), and if a call fails pages stay as they were: only the
/// speed depends on it.
fn set_huge_pages(everywhere: bool) {
    if std::env::var_os(HUGE_PAGES_VARIABLE).is_some() {
        return;
    }
    // SAFETY: `mi_option_set` writes one entry of mimalloc's option table;
    // no other thread allocates meanwhile (see the callers).
    unsafe { libmimalloc_sys::mi_option_set(ALLOW_HUGE_PAGES, libc::c_long::from(everywhere)) };
    #[cfg(target_os = "linux")]
    // SAFETY: `madvise` with MADV_HUGEPAGE or MADV_NOHUGEPAGE changes no
    // byte of the mapped range; prctl with PR_SET_THP_DISABLE takes
    // integer arguments and sets or clears a flag of the calling process.
    unsafe {
        if everywhere {
            advise_arenas(libc::MADV_HUGEPAGE);
            libc::prctl(libc::PR_SET_THP_DISABLE, 0, 0, 0, 0);
        } else {
            advise_arenas(libc::MADV_NOHUGEPAGE);
            if libc::prctl(libc::PR_SET_THP_DISABLE, 1, EXCEPT_ADVISED, 0, 0) != 0 {
                libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
            }
        }
    }
}

/// Gives `advice` to every arena mimalloc has reserved.
///
/// # Safety
/// `advice` must change how pages are backed, not their bytes.
#[cfg(target_os = "linux")]
unsafe fn advise_arenas(advice: libc::c_int) {
    for arena in 1..=MAX_ARENAS {
        let mut bytes = 0;
        // SAFETY: `mi_arena_area` reads mimalloc's arena table.
        let start = unsafe { mi_arena_area(arena, &mut bytes) };
        if !start.is_null() {
            // SAFETY: the range is an arena's mapping; the caller vouches for `advice`.
            unsafe { libc::madvise(start, bytes, advice) };
        }
    }
}

/// A transparent huge page's size on x86-64 and most arm64 kernels.
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// `len` copies of `value`, with the whole 2 MiB pages inside them backed
/// by transparent huge pages if the process and the system allow them
/// (see [`configure_for_runs`]). For a table read at a random place on
/// every event and large at scale, where a TLB miss a read costs more than
/// the ~15 ms a huge page takes to fault in here. A table smaller than a
/// huge page gets none. The pages are advised before their first write,
/// so they are faulted in huge.
pub fn table_on_huge_pages<T: Clone>(len: usize, value: T) -> Vec<T> {
    let mut table = Vec::with_capacity(len);
    advise_huge_pages(table.spare_capacity_mut());
    table.resize(len, value);
    table
}

/// Asks the kernel to back the whole 2 MiB pages inside `table` with
/// transparent huge pages. Changes no byte.
fn advise_huge_pages<T>(table: &[T]) {
    let Some((first, bytes)) = whole_huge_pages(table.as_ptr() as usize, std::mem::size_of_val(table)) else {
        return;
    };
    #[cfg(target_os = "linux")]
    // SAFETY: the range lies inside `table`'s allocation, and
    // MADV_HUGEPAGE changes how its pages are backed, not their bytes.
    unsafe {
        libc::madvise(first as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (first, bytes);
}

/// The first address and the length of the whole huge pages inside the
/// `bytes` bytes from `start`, if there is one.
fn whole_huge_pages(start: usize, bytes: usize) -> Option<(usize, usize)> {
    let first = start.checked_next_multiple_of(HUGE_PAGE_BYTES)?;
    let end = (start + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    (end > first).then(|| (first, end - first))
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
    fn a_configured_process_uses_huge_pages_only_where_advised_until_a_large_scenario() {
        if std::env::var_os(HUGE_PAGES_VARIABLE).is_some() {
            return; // the user's choice is left to mimalloc
        }
        // SAFETY: reads entries of mimalloc's option table.
        let option = |option| unsafe { libmimalloc_sys::mi_option_get(option) };
        assert_eq!(
            (option(ALLOW_HUGE_PAGES), option(ALLOW_HUGE_PAGES + 1)),
            (1, 0),
            "option {ALLOW_HUGE_PAGES} is not mimalloc's last, allow_thp (default 1)"
        );
        // Not `configure_for_runs`: the test above reads the purge delay's default.
        set_huge_pages(false);
        assert_eq!(option(ALLOW_HUGE_PAGES), 0, "mimalloc no longer asks for huge pages");
        // SAFETY: PR_GET_THP_DISABLE reads a flag of the calling process.
        let disabled = || unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert!(disabled() == 1 || disabled() == 1 | EXCEPT_ADVISED as i32, "{}", disabled());
        // Then a scenario of each size, in this one test: the setting is
        // the process's.
        let scenario = |requests_per_s: u32| {
            let text = format!(
                "name = \"t\"\nseed = 1\nduration_ms = 100000\n[cluster]\nnodes = 1000\n\
                 [workload]\nkeys = 1000000\nrate_per_s = {requests_per_s}\n"
            );
            Scenario::parse(&text, "test", "t").expect("a valid scenario")
        };
        let (small, large) = (scenario(10_000), scenario(100_000));
        assert!(memory_estimate_bytes(&small.spec) < HUGE_PAGES_FROM_BYTES);
        configure_for_scenarios([&small, &small]);
        assert_eq!((option(ALLOW_HUGE_PAGES), disabled() != 0), (0, true), "1 M requests: as configured");
        configure_for_scenarios([&small, &large, &small]);
        assert_eq!((option(ALLOW_HUGE_PAGES), disabled()), (1, 0), "10 M requests in a sweep: huge pages everywhere");
        set_huge_pages(false); // as the other tests of this process expect
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_advised_table_is_marked_for_huge_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return; // a kernel built without them refuses the advice
        }
        let table = table_on_huge_pages(3 * HUGE_PAGE_BYTES / 8, 7_u64);
        assert!(table.iter().all(|&cell| cell == 7));
        let (first, _) = whole_huge_pages(table.as_ptr() as usize, 3 * HUGE_PAGE_BYTES).expect("a whole page inside");
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("Linux has /proc/self/smaps");
        let mut holds_first = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ').filter(|(range, _)| range.contains('-')) {
                let (from, to) = range.split_once('-').expect("a mapping's range");
                let parse = |hex| usize::from_str_radix(hex, 16).expect("a hexadecimal address");
                holds_first = (parse(from)..parse(to)).contains(&first);
            } else if holds_first && line.starts_with("VmFlags:") {
                assert!(line.split_whitespace().any(|flag| flag == "hg"), "{line}");
                return;
            }
        }
        panic!("no mapping holds the table");
    }

    #[test]
    fn only_whole_huge_pages_are_advised() {
        const P: usize = HUGE_PAGE_BYTES;
        assert_eq!(whole_huge_pages(P, P), Some((P, P)));
        assert_eq!(whole_huge_pages(P + 1, 3 * P), Some((2 * P, 2 * P)));
        assert_eq!(whole_huge_pages(P + 1, 2 * P), Some((2 * P, P)));
        assert_eq!(whole_huge_pages(P + 1, 2 * P - 2), None, "no whole page inside");
        assert_eq!(whole_huge_pages(0, P - 1), None);
        assert_eq!(whole_huge_pages(usize::MAX - 8, 8), None);
    }
}
