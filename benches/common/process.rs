//! This process's CPU time and peak resident memory, read from Linux's
//! `/proc` (no libc crate needed).
//!
//! The machine is shared and noisy, so the benchmarks measure CPU time (what
//! the process itself consumed) rather than wall time, and peak resident
//! memory (VmHWM), which is per process — hence one child process per
//! scenario.

use std::fs;

/// CPU time (user + system) this process has used so far, in seconds: the
/// sum over its threads of the scheduler's on-CPU nanoseconds
/// (`/proc/self/task/*/schedstat`), which is finer than the 10 ms ticks of
/// `/proc/self/stat`.
pub fn cpu_seconds() -> Result<f64, String> {
    let tasks = fs::read_dir("/proc/self/task").map_err(|error| format!("cannot list /proc/self/task: {error}"))?;
    let mut nanoseconds = 0u64;
    for task in tasks {
        let path = task.map_err(|error| format!("cannot list /proc/self/task: {error}"))?.path().join("schedstat");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            // A thread that ended between the listing and the read used no more CPU.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        };
        let first = text.split_whitespace().next().unwrap_or("");
        nanoseconds += first
            .parse::<u64>()
            .map_err(|_| format!("{}: expected on-CPU nanoseconds first, got {text:?}", path.display()))?;
    }
    Ok(nanoseconds as f64 / 1e9)
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
pub fn peak_rss_bytes() -> Result<u64, String> {
    let path = "/proc/self/status";
    let status = fs::read_to_string(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .ok_or_else(|| format!("{path} has no VmHWM line"))?;
    let kib = line
        .trim()
        .strip_suffix("kB")
        .and_then(|number| number.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("{path}: VmHWM is not \"<n> kB\": {line:?}"))?;
    Ok(kib * 1024)
}
