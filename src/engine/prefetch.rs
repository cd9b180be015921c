//! Asking the CPU for a cache line before the program needs it.
//!
//! At a thousand nodes most of a run's state is cold when an event
//! touches it: the receiver's store, the link's stream position. The
//! simulator knows both while a message is still in flight — whom it goes
//! to, which key it names, which link the answer will take — so it can
//! ask for those lines early and the event finds them in the cache. A
//! prefetch is only a hint: it changes no value the program reads, so no
//! result depends on it.

/// Hints that the line holding `item` will be read soon. `item` need not
/// be valid to dereference; nothing is read through it.
pub fn prefetch<T>(item: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of every x86-64 CPU, and a prefetch reads
        // nothing the program sees, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(item.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = item;
}
