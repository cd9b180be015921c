//! Errors of the ring and of `dynasim ring`: each names what is wrong and what is allowed.

use super::Strategy;

/// Everything that can go wrong building rings or running the ring analysis.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// A strategy's parameters cannot build a ring of the requested size.
    #[error("invalid partitioning strategy {strategy:?}: {reason}")]
    InvalidStrategy {
        /// The offending strategy.
        strategy: Strategy,
        /// What is wrong and what is allowed.
        reason: String,
    },
}
