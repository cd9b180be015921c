//! The engine's parts: virtual-time event queue, random streams, run digest.

pub mod digest;
pub mod id_map;
pub mod id_window;
pub mod key_table;
mod lane;
pub mod prefetch;
pub mod queue;
pub mod rng;
pub mod search;
pub mod slab;
mod wheel;
