//! Small newtypes shared by every layer, so ids and times cannot be mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Virtual time in microseconds since the start of the run.
///
/// Integer time keeps event ordering exact and identical on every machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

impl Time {
    /// The start of every run.
    pub const ZERO: Time = Time(0);

    /// This time plus `micros` microseconds (saturating, so a huge delay cannot wrap).
    pub fn plus(self, micros: u64) -> Time {
        Time(self.0.saturating_add(micros))
    }

    /// Microseconds elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Converts milliseconds (as written in scenario files) to virtual time.
    pub fn from_ms(ms: f64) -> Time {
        Time(ms_to_us(ms))
    }
}

/// Rounds a non-negative millisecond figure to whole microseconds.
pub fn ms_to_us(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        libm::round(ms * 1000.0) as u64
    } else {
        0
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A physical storage node (server). Ids are dense, starting at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A client process driving the workload. Ids are dense, starting at 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ClientId(pub u32);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A position on the 128-bit consistent-hashing ring (Dynamo §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Token(pub u128);

/// Anything that can send or receive a message: a node or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// A storage node.
    Node(NodeId),
    /// A client.
    Client(ClientId),
}

impl Endpoint {
    /// A dense code used in the digest: nodes first, then clients offset by 2^31.
    pub fn code(self) -> u32 {
        match self {
            Endpoint::Node(n) => n.0,
            Endpoint::Client(c) => c.0 | 0x8000_0000,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Node(n) => n.fmt(f),
            Endpoint::Client(c) => c.fmt(f),
        }
    }
}
