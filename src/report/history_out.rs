//! `history.jsonl` (`--history`): every client operation, one JSON object
//! per line in invoke order — enough to recompute every consistency figure
//! offline (the versions a read returned and a write was acknowledged as,
//! with their clocks, dots and timestamps, and what each writer had seen).

use super::summary::failure_name;
use super::trace::write_text;
use super::PartialFile;
use crate::check::history::{OpKind, OpRecord, Outcome};
use crate::node::vclock::VectorClock;
use crate::protocol::{Version, VersionId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One line of `history.jsonl`.
#[derive(Serialize)]
struct Line {
    client: String,
    sequence: u64,
    kind: &'static str,
    key: u64,
    invoke_us: u64,
    complete_us: Option<u64>,
    /// ok, failed:<cause>, timed_out or in_flight.
    result: String,
    /// Writes: the value written (`c<client>#<n>`).
    write: Option<String>,
    blind: bool,
    reconcile: bool,
    /// Writes: the version the acknowledgement named.
    acked: Option<VersionLine>,
    /// Writes: the versions the writer had read (its context).
    context: Vec<VersionRef>,
    /// Reads: the versions returned.
    returned: Vec<VersionLine>,
    /// The node the client sent it to (null: the client coordinated it).
    target: Option<String>,
}

/// A version by identity: the write it holds and its dot.
#[derive(Serialize)]
struct VersionRef {
    write: String,
    dot: String,
}

/// A version with what orders it.
#[derive(Serialize)]
struct VersionLine {
    write: String,
    dot: String,
    /// Actor → counter, or → its ranges when it has a gap.
    clock: BTreeMap<String, ClockCounts>,
    /// The writer's timestamp, µs (last-write-wins orders by it, then `writer`).
    stamp_us: u64,
    writer: u32,
    /// Cart items (merge policy).
    items: Option<Vec<u32>>,
}

fn version_line(version: &Version) -> VersionLine {
    VersionLine {
        write: write_text(version.write),
        dot: version.dot.to_string(),
        clock: clock_counts(&version.clock),
        stamp_us: version.time_us,
        writer: version.writer,
        items: version.items.as_ref().map(|items| items.to_vec()),
    }
}

/// What a clock counts of one actor: every counter up to one (a vector
/// clock's entry), or, under dotted version vectors with a gap, its ranges
/// as `[floor, counter]` pairs, each counting (floor, counter].
#[derive(Serialize)]
#[serde(untagged)]
enum ClockCounts {
    UpTo(u64),
    Ranges(Vec<[u64; 2]>),
}

fn clock_counts(clock: &VectorClock) -> BTreeMap<String, ClockCounts> {
    let by_actor = clock.entries().chunk_by(|a, b| a.actor == b.actor);
    by_actor
        .map(|ranges| {
            let counts = match ranges {
                [only] if only.floor == 0 => ClockCounts::UpTo(only.counter),
                _ => ClockCounts::Ranges(ranges.iter().map(|e| [e.floor, e.counter]).collect()),
            };
            (ranges[0].actor.to_string(), counts)
        })
        .collect()
}

fn version_ref(id: &VersionId) -> VersionRef {
    VersionRef { write: write_text(id.write), dot: id.dot.to_string() }
}

fn line(op: &OpRecord) -> Line {
    Line {
        client: op.client.to_string(),
        sequence: op.sequence,
        kind: if op.kind == OpKind::Read { "read" } else { "write" },
        key: op.key,
        invoke_us: op.invoke.0,
        complete_us: op.complete().map(|t| t.0),
        result: match op.outcome {
            Outcome::Ok => "ok".to_string(),
            Outcome::Failed(failure) => format!("failed:{}", failure_name(failure)),
            Outcome::TimedOut => "timed_out".to_string(),
            Outcome::InFlight => "in_flight".to_string(),
        },
        write: op.write().map(write_text),
        blind: op.blind(),
        reconcile: op.reconcile(),
        acked: op.acked().map(version_line),
        context: op.context().iter().map(version_ref).collect(),
        returned: op.returned().iter().map(version_line).collect(),
        target: op.target().map(|n| n.to_string()),
    }
}

/// Streams `history` to `path` (through its partial file).
pub fn write_history(path: &Path, history: &[OpRecord]) -> std::io::Result<()> {
    let mut file = PartialFile::create(path)?;
    for op in history {
        let out = file.writer();
        serde_json::to_writer(&mut *out, &line(op)).map_err(std::io::Error::other)?;
        out.write_all(b"\n")?;
    }
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{NodeId, Time};

    #[test]
    fn a_clock_prints_a_counter_per_actor_and_ranges_where_it_has_a_gap() {
        let mut clock = VectorClock::new();
        clock.set(NodeId(1), 3, Time(0));
        clock.set(NodeId(2), 4, Time(0));
        clock.count_range(NodeId(1), 5, 8, Time(0));
        let json = serde_json::to_string(&clock_counts(&clock)).expect("serializes");
        assert_eq!(json, r#"{"n1":[[0,3],[5,8]],"n2":4}"#);
    }
}
