//! Sharding a sweep across machines, and `dynasim merge`.
//!
//! Shard I of M runs the grid indices `i` with `i mod M = I` (round-robin,
//! so every shard gets a similar mix of configurations) and writes its rows
//! to `shard-I-of-M.json` with the whole grid's description. `merge` reads
//! the shard files of every directory given, checks that they describe the
//! same grid and that all M shards are there, and finishes the sweep from
//! the rows in grid order, exactly as one machine would have.

use super::{Row, SweepError, SweepOutcome};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the shard file format; a merge refuses other versions.
pub const FORMAT: u32 = 1;

/// Which slice of the grid this process runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    /// I, in 0..count.
    pub index: usize,
    /// M.
    pub count: usize,
}

impl Shard {
    /// `--shard I/M`, `--shard M` (I from the environment: Slurm's
    /// `SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`, else Kubernetes'
    /// `JOB_COMPLETION_INDEX`), or no flag: the whole grid (0 of 1).
    pub fn resolve(flag: Option<&str>) -> Result<Shard, SweepError> {
        let environment = |name: &str| std::env::var(name).ok();
        Shard::from_parts(flag, environment)
    }

    /// [`Shard::resolve`] with the environment given as a lookup (for tests).
    pub fn from_parts(flag: Option<&str>, environment: impl Fn(&str) -> Option<String>) -> Result<Shard, SweepError> {
        let Some(flag) = flag else {
            return Ok(Shard { index: 0, count: 1 });
        };
        let bad = |why: String| SweepError(format!("--shard {flag}: {why}"));
        let number = |text: &str, what: &str| {
            text.trim().parse::<usize>().map_err(|_| bad(format!("{what} {text:?} is not a whole number")))
        };
        let (index, count) = match flag.split_once('/') {
            Some((index, count)) => (number(index, "shard index")?, number(count, "shard count")?),
            None => {
                let count = number(flag, "shard count")?;
                (index_from_environment(&environment).map_err(bad)?, count)
            }
        };
        if count == 0 {
            return Err(bad("the shard count M must be at least 1".to_string()));
        }
        if index >= count {
            return Err(bad(format!(
                "shard index {index} is not in 0..{count} (indices start at 0; a 1-based array index needs \
                 SLURM_ARRAY_TASK_MIN or subtracting 1)"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Whether grid index `index` belongs to this shard.
    pub fn owns(&self, index: usize) -> bool {
        index % self.count == self.index
    }
}

fn index_from_environment(environment: &impl Fn(&str) -> Option<String>) -> Result<usize, String> {
    let parse = |name: &str, text: String| {
        text.trim().parse::<usize>().map_err(|_| format!("{name}={text:?} is not a whole number"))
    };
    if let Some(task) = environment("SLURM_ARRAY_TASK_ID") {
        let task = parse("SLURM_ARRAY_TASK_ID", task)?;
        let first = match environment("SLURM_ARRAY_TASK_MIN") {
            Some(min) => parse("SLURM_ARRAY_TASK_MIN", min)?,
            None => 0,
        };
        return task
            .checked_sub(first)
            .ok_or_else(|| format!("SLURM_ARRAY_TASK_ID {task} is below SLURM_ARRAY_TASK_MIN {first}"));
    }
    if let Some(index) = environment("JOB_COMPLETION_INDEX") {
        return parse("JOB_COMPLETION_INDEX", index);
    }
    Err("no shard index: give I/M, or set SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX".to_string())
}

/// One configuration of the grid, as the shard file records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// `path=value` per axis, space-separated (`base` without axes).
    pub label: String,
    /// The value per axis, as written.
    pub values: Vec<String>,
    /// Its directory under the sweep directory.
    pub directory: String,
    /// Why it was skipped, when the combination is not allowed.
    pub skipped: Option<String>,
}

/// A shard's rows and the grid they belong to (`shard-I-of-M.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile {
    /// [`FORMAT`].
    pub format: u32,
    /// Scenario name.
    pub scenario: String,
    /// I.
    pub shard: usize,
    /// M.
    pub shards: usize,
    /// Runs in the whole grid.
    pub runs: usize,
    /// The swept paths, outermost first.
    pub axes: Vec<String>,
    /// The seeds, in grid order.
    pub seeds: Vec<u64>,
    /// Every configuration of the grid.
    pub configurations: Vec<ConfigRecord>,
    /// This shard's rows in grid order (every row after a merge).
    pub rows: Vec<Row>,
}

impl ShardFile {
    /// `shard-I-of-M.json`.
    pub fn file_name(&self) -> String {
        format!("shard-{}-of-{}.json", self.shard, self.shards)
    }

    /// Writes the file into `directory` (created if needed).
    pub fn write(&self, directory: &Path) -> Result<(), SweepError> {
        let path = directory.join(self.file_name());
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| SweepError(format!("{}: {e}", path.display())))?;
        json.push(b'\n');
        std::fs::create_dir_all(directory)
            .and_then(|()| crate::report::write_atomically(&path, &json))
            .map_err(|e| SweepError(format!("cannot write {}: {e}", path.display())))
    }

    fn read(path: &Path) -> Result<ShardFile, SweepError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| SweepError(format!("{}: cannot read: {e}", path.display())))?;
        let file: ShardFile = serde_json::from_str(&text)
            .map_err(|e| SweepError(format!("{}: not a sweep shard file: {e}", path.display())))?;
        if file.shard >= file.shards {
            return Err(SweepError(format!(
                "{}: shard {} of {} is out of range",
                path.display(),
                file.shard,
                file.shards
            )));
        }
        if file.format != FORMAT {
            return Err(SweepError(format!(
                "{}: shard format {} (this dynasim reads {FORMAT})",
                path.display(),
                file.format
            )));
        }
        Ok(file)
    }

    /// Everything but the shard number and rows: what every shard must share.
    fn grid(&self) -> (&str, usize, usize, &[String], &[u64], &[ConfigRecord]) {
        (&self.scenario, self.shards, self.runs, &self.axes, &self.seeds, &self.configurations)
    }
}

/// Shard files (`shard-*-of-*.json`) in `directory`, sorted by name.
fn shard_files(directory: &Path) -> Result<Vec<PathBuf>, SweepError> {
    let entries = std::fs::read_dir(directory)
        .map_err(|e| SweepError(format!("{}: cannot read directory: {e}", directory.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("shard-") && name.contains("-of-") && name.ends_with(".json")
        })
        .collect();
    files.sort();
    Ok(files)
}

/// `dynasim merge DIR... --out DIR`: combines the shards found in
/// `directories` into the sweep one machine would have written in `out`.
pub fn merge(directories: &[PathBuf], out: &Path) -> Result<SweepOutcome, SweepError> {
    let mut shards: Vec<(PathBuf, ShardFile)> = Vec::new();
    for directory in directories {
        for path in shard_files(directory)? {
            let file = ShardFile::read(&path)?;
            shards.push((path, file));
        }
    }
    let Some((first_path, first)) = shards.first() else {
        return Err(SweepError(format!("no shard files (shard-I-of-M.json) in {}", list(directories))));
    };
    for (path, file) in &shards {
        if file.grid() != first.grid() {
            return Err(SweepError(format!(
                "{} and {} are shards of different sweeps (scenario, grid, seeds or shard count differ)",
                first_path.display(),
                path.display()
            )));
        }
    }
    let mut seen = vec![None::<&PathBuf>; first.shards];
    for (path, file) in &shards {
        if let Some(earlier) = seen[file.shard].replace(path) {
            return Err(SweepError(format!(
                "shard {} given twice: {} and {}",
                file.shard,
                earlier.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> =
        seen.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| i.to_string()).collect();
    if !missing.is_empty() {
        return Err(SweepError(format!(
            "missing shard(s) {} of {} in {}",
            missing.join(", "),
            first.shards,
            list(directories)
        )));
    }
    let mut rows: Vec<Row> = shards.iter().flat_map(|(_, file)| file.rows.iter().cloned()).collect();
    rows.sort_by_key(|row| row.index);
    if rows.len() != first.runs || rows.iter().enumerate().any(|(i, row)| row.index != i) {
        return Err(SweepError(format!(
            "the shards hold {} rows, not the grid's {} runs once each",
            rows.len(),
            first.runs
        )));
    }
    let merged = ShardFile { shard: 0, shards: 1, rows, ..first.clone() };
    merged.write(out)?;
    super::finish(out, &merged)
}

fn list(directories: &[PathBuf]) -> String {
    directories.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn shards_come_from_the_flag_or_the_scheduler() {
        assert_eq!(Shard::from_parts(None, environment(&[])).unwrap(), Shard { index: 0, count: 1 });
        assert_eq!(Shard::from_parts(Some("2/4"), environment(&[])).unwrap(), Shard { index: 2, count: 4 });
        let slurm = environment(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert_eq!(Shard::from_parts(Some("4"), slurm).unwrap(), Shard { index: 2, count: 4 });
        let k8s = environment(&[("JOB_COMPLETION_INDEX", "0")]);
        assert_eq!(Shard::from_parts(Some("3"), k8s).unwrap(), Shard { index: 0, count: 3 });
        assert!(Shard::from_parts(Some("4/4"), environment(&[])).unwrap_err().0.contains("not in 0..4"));
        assert!(Shard::from_parts(Some("4"), environment(&[])).unwrap_err().0.contains("no shard index"));
        assert!(Shard::from_parts(Some("1/0"), environment(&[])).unwrap_err().0.contains("at least 1"));
        assert!(Shard::from_parts(Some("a/2"), environment(&[])).unwrap_err().0.contains("not a whole number"));
    }

    #[test]
    fn shards_partition_the_grid_round_robin() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for grid_index in 0..20 {
            assert_eq!(shards.iter().filter(|s| s.owns(grid_index)).count(), 1);
        }
        assert!(shards[1].owns(4) && shards[0].owns(6));
    }
}
