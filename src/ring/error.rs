//! Errors of the ring and of `dynasim ring`: each names what is wrong and what is allowed.

use super::Strategy;
use std::path::PathBuf;

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
    /// The config file could not be read.
    #[error("cannot read ring config {path}: {source}")]
    ReadConfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config is not valid TOML or names an unknown field.
    #[error("{origin}: {message}")]
    ParseConfig {
        /// The file (or "command line").
        origin: String,
        /// The parser's message, naming the line and field.
        message: String,
    },
    /// A config field holds a value outside its allowed range.
    #[error("{origin}: invalid field `{field}`: {reason}")]
    InvalidConfig {
        /// The file (or "command line").
        origin: String,
        /// The field.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A plot could not be drawn.
    #[error("cannot draw {path}: {message}")]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The plotting library's message.
        message: String,
    },
}
