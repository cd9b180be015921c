//! Run outputs: the summary, the run directory's files and the
//! human-readable digest of a run.

pub mod events;
pub mod fault_windows;
pub mod history_out;
pub mod latency_counts;
pub mod observer;
pub mod progress;
pub mod render;
pub mod run_directory;
pub mod staleness;
pub mod summary;
pub mod tables;
pub mod timeseries;
pub mod trace;
pub mod windows;

pub use run_directory::{write_run_directory, RunDirectoryOptions};

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use summary::RunSummary;

/// The hidden subdirectory of a run directory that holds files being written.
pub const PARTIAL_DIRECTORY: &str = ".dynasim-partial";

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// crash or error never leaves a half-written output behind (see
/// [`PartialFile`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = PartialFile::create(path)?;
    file.writer().write_all(bytes)?;
    file.commit()
}

/// An output being written: a buffered temporary file that becomes `path`
/// only on [`PartialFile::commit`]. The temporary is
/// `.dynasim-partial/<name>.partial` beside `path`: no glob for outputs
/// (`*.json`, `**/summary.json`) matches it, and the rename stays on one
/// file system, so it is atomic. A kill leaves at most that file, which
/// the next write to `path` replaces. Large outputs stream through it.
///
/// There is no fsync: the rename is atomic for every reader and against a
/// killed process, which is the promise; surviving a power loss is not
/// worth an fsync per file (about 12 ms each on a VM disk, ten files a
/// run), since every output can be made again from (scenario, seed).
#[derive(Debug)]
pub struct PartialFile {
    writer: BufWriter<std::fs::File>,
    temporary: PathBuf,
    path: PathBuf,
}

impl PartialFile {
    /// Starts writing `path` (its directory is created if needed).
    pub fn create(path: &Path) -> std::io::Result<PartialFile> {
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("output");
        let partial = path.with_file_name(PARTIAL_DIRECTORY);
        std::fs::create_dir_all(&partial)?;
        let temporary = partial.join(format!("{file_name}.partial"));
        let writer = BufWriter::new(std::fs::File::create(&temporary)?);
        Ok(PartialFile { writer, temporary, path: path.to_path_buf() })
    }

    /// Where to write the content.
    pub fn writer(&mut self) -> &mut BufWriter<std::fs::File> {
        &mut self.writer
    }

    /// Flushes the content and renames it into place.
    pub fn commit(self) -> std::io::Result<()> {
        let file = self.writer.into_inner().map_err(|error| error.into_error())?;
        drop(file);
        std::fs::rename(&self.temporary, &self.path)?;
        // Another writer may still use the directory: then it stays, empty or not.
        if let Some(partial) = self.temporary.parent() {
            let _ = std::fs::remove_dir(partial);
        }
        Ok(())
    }
}

/// Writes `summary.json` and `wall.json` (its machine-dependent part)
/// into `directory` (created if needed).
pub fn write_summary(directory: &Path, summary: &RunSummary) -> std::io::Result<()> {
    std::fs::create_dir_all(directory)?;
    write_json(&directory.join("summary.json"), summary)?;
    write_json(&directory.join("wall.json"), &summary.wall)
}

/// Writes `value` as pretty JSON with a final newline.
fn write_json(path: &Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    json.push(b'\n');
    write_atomically(path, &json)
}

/// A short human summary for the terminal.
pub fn render_text(summary: &RunSummary) -> String {
    let c = &summary.config;
    let o = &summary.ops;
    let read = summary.latency_us.get("read").cloned().unwrap_or_default();
    let write = summary.latency_us.get("write").cloned().unwrap_or_default();
    let siblings: Vec<String> = summary.consistency.siblings_per_read.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    let mut text = format!(
        "{} seed {}  digest {}\n\
         cluster   {} nodes, strategy {}, N={} R={} W={}, {:?} routing, {} clients\n\
         ops       {} issued ({} reads, {} writes), {} ok, {} failed, {} timed out, {} in flight\n\
         latency   read  p50 {} p99 {} p99.9 {} max {} µs\n\
         \x20         write p50 {} p99 {} p99.9 {} max {} µs\n\
         consistency  {} stale of {} reads of written keys; siblings per read {}; {} indeterminate writes\n\
         network   {} messages ({} dropped), {} bytes\n\
         engine    {} events, {:.3} s simulated, {:.3} s wall, {:.0} events/s\n",
        summary.scenario,
        summary.seed,
        summary.digest,
        c.nodes,
        c.strategy,
        c.n,
        c.r,
        c.w,
        c.routing,
        c.clients,
        o.total,
        o.reads,
        o.writes,
        o.succeeded,
        o.failed.values().sum::<u64>(),
        o.timed_out,
        o.in_flight,
        read.p50,
        read.p99,
        read.p999,
        read.max,
        write.p50,
        write.p99,
        write.p999,
        write.max,
        summary.consistency.stale_reads,
        summary.consistency.reads_of_written_keys,
        siblings.join(" "),
        summary.consistency.indeterminate_writes,
        summary.network.messages_sent,
        summary.network.messages_dropped,
        summary.network.bytes_sent,
        summary.engine.events,
        summary.engine.simulated_time_us as f64 / 1e6,
        summary.wall.seconds,
        summary.wall.events_per_s,
    );
    text.push_str(&staleness::render_text(&summary.staleness));
    for (name, verdict) in &summary.invariants {
        if !verdict.starts_with("not-checked") {
            text.push_str(&format!("invariant {name}: {verdict}\n"));
        }
    }
    text
}
