//! What `dynasim ring` analyses: the grid of strategy × S × T × Q × N × seeds.
//!
//! The defaults reproduce the Dynamo paper's Figure 8 (S = 30, N = 3), so
//! `dynasim ring` with no flags and `scenarios/ring/figure8.toml` give the
//! same result. A TOML file sets any field; command-line flags override it.

use super::RingError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Largest cluster size accepted (limits memory and run time).
pub const NODE_COUNT_MAX: u32 = 4096;
/// Largest T accepted.
pub const TOKENS_PER_NODE_MAX: u32 = 4096;
/// Largest total token count S·T accepted for one ring.
pub const RING_TOKENS_MAX: u64 = 1 << 21;
/// Largest Q accepted.
pub const PARTITIONS_MAX: u32 = 1 << 20;
/// Most seeds accepted per grid cell.
pub const SEEDS_MAX: u32 = 100_000;

/// The ring-analysis grid. Every field has a default (the Figure 8 grid).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RingAnalysisConfig {
    /// Strategies to analyse, from {1, 2, 3}. Default: all three.
    pub strategies: Vec<u8>,
    /// Cluster sizes S. Default: `[30]` (the paper's Figure 8).
    pub node_counts: Vec<u32>,
    /// Replication factors N (1 ≤ N ≤ S). Default: `[3]`.
    pub replicas: Vec<u32>,
    /// Tokens per node T for strategies 1 and 2. Default: 1, 2, 4, …, 256.
    pub tokens_per_node: Vec<u32>,
    /// Equal partitions Q for strategy 3 (cells with Q < S + 1 are skipped,
    /// since a join needs a partition for the joiner). Default: 32, 64, …, 8192.
    pub partitions: Vec<u32>,
    /// Equal partitions Q for strategy 2 (each crossed with every T).
    /// Default: [256, 1024, 4096].
    pub strategy2_partitions: Vec<u32>,
    /// Seeds per cell: `first_seed .. first_seed + seeds`. Default: 30.
    pub seeds: u32,
    /// First master seed. Default: 1.
    pub first_seed: u64,
    /// Zones for zone-aware placement (node i is in zone i mod zones);
    /// 0 turns zones off. Default: 0.
    pub zones: u32,
    /// Cluster sizes for the moved-fraction-vs-S plot. Default: 8, 16, 30, 64, 128, 256.
    pub movement_node_counts: Vec<u32>,
    /// T used by strategies 1 and 2 in the movement grid. Default: 64.
    pub movement_tokens_per_node: u32,
    /// Q used by strategies 2 and 3 in the movement grid (must exceed every
    /// movement cluster size). Default: 4096.
    pub movement_partitions: u32,
}

impl Default for RingAnalysisConfig {
    fn default() -> Self {
        RingAnalysisConfig {
            strategies: vec![1, 2, 3],
            node_counts: vec![30],
            replicas: vec![3],
            tokens_per_node: (0..=8).map(|k| 1 << k).collect(),
            partitions: (5..=13).map(|k| 1 << k).collect(),
            strategy2_partitions: vec![256, 1024, 4096],
            seeds: 30,
            first_seed: 1,
            zones: 0,
            movement_node_counts: vec![8, 16, 30, 64, 128, 256],
            movement_tokens_per_node: 64,
            movement_partitions: 4096,
        }
    }
}

/// `dynasim ring` command-line flags. Every flag overrides the same field of
/// `--config` (or of the Figure 8 defaults); lists are comma-separated.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RingArgs {
    /// TOML file with the grid, e.g. scenarios/ring/figure8.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output directory for ring-analysis.csv, figure8.svg and movement.svg.
    #[arg(long, value_name = "DIR", default_value = "results/ring")]
    pub out: PathBuf,
    /// Strategies to analyse, e.g. 1,2,3.
    #[arg(long, value_delimiter = ',')]
    pub strategies: Option<Vec<u8>>,
    /// Cluster sizes S, e.g. 30.
    #[arg(long = "nodes", value_delimiter = ',', value_name = "S")]
    pub node_counts: Option<Vec<u32>>,
    /// Replication factors N, e.g. 3.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub replicas: Option<Vec<u32>>,
    /// Tokens per node T for strategies 1 and 2, e.g. 1,8,64.
    #[arg(long = "tokens", value_delimiter = ',', value_name = "T")]
    pub tokens_per_node: Option<Vec<u32>>,
    /// Partitions Q for strategy 3, e.g. 64,1024.
    #[arg(long, value_delimiter = ',', value_name = "Q")]
    pub partitions: Option<Vec<u32>>,
    /// Partitions Q for strategy 2, e.g. 1024.
    #[arg(long, value_delimiter = ',', value_name = "Q")]
    pub strategy2_partitions: Option<Vec<u32>>,
    /// Seeds per grid cell.
    #[arg(long)]
    pub seeds: Option<u32>,
    /// First master seed.
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Zones for zone-aware placement (0 = off).
    #[arg(long)]
    pub zones: Option<u32>,
    /// Cluster sizes for the moved-fraction-vs-S plot.
    #[arg(long = "movement-nodes", value_delimiter = ',', value_name = "S")]
    pub movement_node_counts: Option<Vec<u32>>,
}

impl RingAnalysisConfig {
    /// Reads a TOML grid file; unknown fields and bad values are errors that
    /// name the file and the field.
    pub fn from_toml_file(path: &Path) -> Result<RingAnalysisConfig, RingError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| RingError::ReadConfig { path: path.to_path_buf(), source })?;
        let config = RingAnalysisConfig::from_toml_str(&text, &path.display().to_string())?;
        Ok(config)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    /// Errors carry `origin:line:column` (syntax, unknown fields, types) or
    /// `origin:line` (a value out of range, when the file sets it).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<RingAnalysisConfig, RingError> {
        let config: RingAnalysisConfig = toml::from_str(text).map_err(|error| {
            let location = error.span().map(|span| crate::scenario::line_column(text, span.start));
            RingError::ParseConfig {
                origin: location
                    .map_or_else(|| origin.to_string(), |(line, column)| format!("{origin}:{line}:{column}")),
                message: error.message().trim_end().to_string(),
            }
        })?;
        config.validate(origin).map_err(|error| match error {
            RingError::InvalidConfig { origin, field, reason } => {
                let line = text.lines().position(|line| {
                    line.trim_start().strip_prefix(field).is_some_and(|rest| rest.trim_start().starts_with('='))
                });
                let origin = line.map_or(origin.clone(), |index| format!("{origin}:{}", index + 1));
                RingError::InvalidConfig { origin, field, reason }
            }
            other => other,
        })?;
        Ok(config)
    }

    /// The config for `args`: the file (or the defaults) with flags applied, validated.
    pub fn from_args(args: &RingArgs) -> Result<RingAnalysisConfig, RingError> {
        let (mut config, origin) = match &args.config {
            Some(path) => {
                (RingAnalysisConfig::from_toml_file(path)?, format!("{} with command-line flags", path.display()))
            }
            None => (RingAnalysisConfig::default(), "command line".to_string()),
        };
        if let Some(strategies) = &args.strategies {
            config.strategies.clone_from(strategies);
        }
        let lists = [
            (&args.node_counts, &mut config.node_counts),
            (&args.replicas, &mut config.replicas),
            (&args.tokens_per_node, &mut config.tokens_per_node),
            (&args.partitions, &mut config.partitions),
            (&args.strategy2_partitions, &mut config.strategy2_partitions),
            (&args.movement_node_counts, &mut config.movement_node_counts),
        ];
        for (flag, field) in lists {
            if let Some(value) = flag {
                field.clone_from(value);
            }
        }
        if let Some(seeds) = args.seeds {
            config.seeds = seeds;
        }
        if let Some(first_seed) = args.first_seed {
            config.first_seed = first_seed;
        }
        if let Some(zones) = args.zones {
            config.zones = zones;
        }
        config.validate(&origin)?;
        Ok(config)
    }

    /// Checks every field against its allowed range.
    pub fn validate(&self, origin: &str) -> Result<(), RingError> {
        let fail = |field: &'static str, reason: String| {
            Err(RingError::InvalidConfig { origin: origin.to_string(), field, reason })
        };
        if self.strategies.is_empty() || self.strategies.iter().any(|s| !(1..=3).contains(s)) {
            return fail("strategies", format!("got {:?}; allowed: a non-empty list of 1, 2, 3", self.strategies));
        }
        let uses = |number: u8| self.strategies.contains(&number);
        for (field, values, min, max) in [
            ("node_counts", &self.node_counts, 1, NODE_COUNT_MAX),
            ("replicas", &self.replicas, 1, NODE_COUNT_MAX),
            ("movement_node_counts", &self.movement_node_counts, 1, NODE_COUNT_MAX - 1),
        ] {
            check_list(origin, field, values, min, max, true)?;
        }
        check_list(origin, "tokens_per_node", &self.tokens_per_node, 1, TOKENS_PER_NODE_MAX, uses(1) || uses(2))?;
        check_list(origin, "partitions", &self.partitions, 1, PARTITIONS_MAX, uses(3))?;
        check_list(origin, "strategy2_partitions", &self.strategy2_partitions, 1, PARTITIONS_MAX, uses(2))?;
        let node_count_min = self.node_counts.iter().chain(&self.movement_node_counts).min().copied().unwrap_or(1);
        if let Some(&n) = self.replicas.iter().find(|&&n| n > node_count_min) {
            return fail(
                "replicas",
                format!("N = {n} exceeds the smallest cluster size {node_count_min}; allowed: 1 ≤ N ≤ S"),
            );
        }
        if !(1..=SEEDS_MAX).contains(&self.seeds) {
            return fail("seeds", format!("got {}; allowed: 1..={SEEDS_MAX}", self.seeds));
        }
        if self.first_seed.checked_add(u64::from(self.seeds)).is_none() {
            return fail("first_seed", format!("first_seed + seeds overflows u64 (first_seed = {})", self.first_seed));
        }
        if self.zones > NODE_COUNT_MAX {
            return fail("zones", format!("got {}; allowed: 0 (off) ..={NODE_COUNT_MAX}", self.zones));
        }
        if !(1..=TOKENS_PER_NODE_MAX).contains(&self.movement_tokens_per_node) {
            return fail(
                "movement_tokens_per_node",
                format!("got {}; allowed: 1..={TOKENS_PER_NODE_MAX}", self.movement_tokens_per_node),
            );
        }
        let movement_max = self.movement_node_counts.iter().max().copied().unwrap_or(0);
        if !(movement_max + 1..=PARTITIONS_MAX).contains(&self.movement_partitions) {
            return fail(
                "movement_partitions",
                format!(
                    "got {}; allowed: {}..={PARTITIONS_MAX} (more than the largest movement cluster)",
                    self.movement_partitions,
                    movement_max + 1
                ),
            );
        }
        let tokens_max =
            self.tokens_per_node.iter().chain([&self.movement_tokens_per_node]).max().copied().unwrap_or(1);
        let nodes_max = self.node_counts.iter().chain(&self.movement_node_counts).max().copied().unwrap_or(1);
        if (uses(1) || uses(2)) && u64::from(tokens_max) * u64::from(nodes_max + 1) > RING_TOKENS_MAX {
            return fail(
                "tokens_per_node",
                format!(
                    "S·T up to {} tokens; allowed: at most {RING_TOKENS_MAX} per ring",
                    u64::from(tokens_max) * u64::from(nodes_max + 1)
                ),
            );
        }
        Ok(())
    }
}

/// Checks one list field: non-empty when `required`, every value in `min..=max`.
fn check_list(
    origin: &str,
    field: &'static str,
    values: &[u32],
    min: u32,
    max: u32,
    required: bool,
) -> Result<(), RingError> {
    let bad = values.iter().find(|v| !(min..=max).contains(*v));
    if (required && values.is_empty()) || bad.is_some() {
        return Err(RingError::InvalidConfig {
            origin: origin.to_string(),
            field,
            reason: format!("got {values:?}; allowed: a non-empty list of values in {min}..={max}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_match_figure_eight() {
        let config = RingAnalysisConfig::default();
        assert!(config.validate("defaults").is_ok());
        assert_eq!((config.node_counts.clone(), config.replicas.clone()), (vec![30], vec![3]));
    }

    #[test]
    fn an_empty_file_means_the_defaults() {
        let config = RingAnalysisConfig::from_toml_str("", "empty.toml");
        assert_eq!(config.ok(), Some(RingAnalysisConfig::default()));
    }

    #[test]
    fn an_unknown_field_is_named_with_its_file() {
        let error =
            RingAnalysisConfig::from_toml_str("seedz = 3\n", "x.toml").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("x.toml") && error.contains("seedz"), "{error}");
    }

    #[test]
    fn errors_name_the_line_and_column_of_the_file() {
        let error = RingAnalysisConfig::from_toml_str("seeds = 2\nseedz = 1\n", "x.toml").unwrap_err().to_string();
        assert!(error.starts_with("x.toml:2:1: unknown field `seedz`"), "{error}");
        let error =
            RingAnalysisConfig::from_toml_str("seeds = 2\nstrategies = [4]\n", "x.toml").unwrap_err().to_string();
        assert!(error.starts_with("x.toml:2: invalid field `strategies`"), "{error}");
    }

    #[test]
    fn a_bad_value_names_the_field_and_what_is_allowed() {
        let error = RingAnalysisConfig::from_toml_str("strategies = [4]\n", "x.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("`strategies`") && error.contains("allowed"), "{error}");
        let error = RingAnalysisConfig::from_toml_str("replicas = [40]\n", "x.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("`replicas`") && error.contains("N ≤ S"), "{error}");
    }

    /// `Ok` if `text` is a valid grid, else the field an `InvalidConfig`
    /// names (or the whole message of any other error).
    fn verdict(text: &str) -> Result<(), String> {
        RingAnalysisConfig::from_toml_str(text, "t.toml").map(|_| ()).map_err(|error| match error {
            RingError::InvalidConfig { field, .. } => field.to_string(),
            other => other.to_string(),
        })
    }

    #[test]
    fn the_bundled_figure_eight_file_reads_as_the_defaults_and_a_missing_file_is_named() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ring/figure8.toml");
        assert_eq!(RingAnalysisConfig::from_toml_file(&path).ok(), Some(RingAnalysisConfig::default()));
        let missing = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ring/no-such-grid.toml");
        let error = RingAnalysisConfig::from_toml_file(&missing).map(|_| ()).map_err(|e| e.to_string());
        assert!(matches!(&error, Err(message) if message.contains("no-such-grid.toml")), "{error:?}");
        let args = RingArgs { config: Some(missing), ..RingArgs::default() };
        assert!(matches!(RingAnalysisConfig::from_args(&args), Err(RingError::ReadConfig { .. })));
    }

    #[test]
    fn every_list_rejects_a_value_outside_its_range_and_a_required_list_rejects_emptiness() {
        for (text, field) in [
            ("strategies = []\n", "strategies"),
            ("node_counts = []\n", "node_counts"),
            ("node_counts = [0]\n", "node_counts"),
            ("node_counts = [30, 4097]\n", "node_counts"),
            ("replicas = [0]\n", "replicas"),
            ("tokens_per_node = [0]\n", "tokens_per_node"),
            ("tokens_per_node = [4097]\n", "tokens_per_node"),
            ("partitions = [0]\n", "partitions"),
            ("strategy2_partitions = [1048577]\n", "strategy2_partitions"),
            // 4095 is the largest movement cluster: one join makes 4096.
            ("movement_node_counts = [4096]\nmovement_partitions = 8192\n", "movement_node_counts"),
        ] {
            assert_eq!(verdict(text), Err(field.to_string()), "{text}");
        }
        assert_eq!(verdict("movement_node_counts = [4095]\nmovement_partitions = 8192\n"), Ok(()));
        assert_eq!(verdict("partitions = [1048576]\nstrategy2_partitions = [1]\n"), Ok(()));
    }

    #[test]
    fn a_list_only_some_strategy_uses_may_be_empty_when_no_chosen_strategy_uses_it() {
        for strategy in [1, 2] {
            let text = format!("strategies = [{strategy}]\ntokens_per_node = []\n");
            assert_eq!(verdict(&text), Err("tokens_per_node".to_string()), "{text}");
        }
        assert_eq!(verdict("strategies = [3]\ntokens_per_node = []\n"), Ok(()));
        assert_eq!(verdict("strategies = [1, 2]\npartitions = []\n"), Ok(()));
        assert_eq!(verdict("strategies = [3]\npartitions = []\n"), Err("partitions".to_string()));
        assert_eq!(verdict("strategies = [1, 3]\nstrategy2_partitions = []\n"), Ok(()));
        assert_eq!(verdict("strategies = [2]\nstrategy2_partitions = []\n"), Err("strategy2_partitions".to_string()));
    }

    #[test]
    fn each_bound_admits_its_limit_and_rejects_one_past_it() {
        // N may equal the smallest cluster, in either grid.
        assert_eq!(verdict("node_counts = [5]\nmovement_node_counts = [5]\nreplicas = [5]\n"), Ok(()));
        assert_eq!(verdict("node_counts = [5]\nmovement_node_counts = [5]\nreplicas = [6]\n"), Err("replicas".into()));
        assert_eq!(verdict("node_counts = [9]\nmovement_node_counts = [5]\nreplicas = [6]\n"), Err("replicas".into()));
        assert_eq!(verdict("zones = 4096\n"), Ok(()));
        assert_eq!(verdict("zones = 4097\n"), Err("zones".into()));
        assert_eq!(verdict("seeds = 100000\n"), Ok(()));
        assert_eq!(verdict("seeds = 100001\n"), Err("seeds".into()));
        assert_eq!(verdict("seeds = 0\n"), Err("seeds".into()));
        // TOML integers stop at i64::MAX, so the last seed's bound is checked on the value.
        let last_seed = |first_seed: u64| RingAnalysisConfig { first_seed, ..RingAnalysisConfig::default() };
        assert!(last_seed(u64::MAX - 30).validate("t").is_ok());
        assert!(matches!(
            last_seed(u64::MAX - 29).validate("t"),
            Err(RingError::InvalidConfig { field: "first_seed", .. })
        ));
        assert_eq!(verdict("movement_tokens_per_node = 4096\n"), Ok(()));
        assert_eq!(verdict("movement_tokens_per_node = 0\n"), Err("movement_tokens_per_node".into()));
        // Q must exceed every movement cluster size (a join needs a partition).
        assert_eq!(verdict("movement_node_counts = [16]\nmovement_partitions = 17\n"), Ok(()));
        assert_eq!(
            verdict("movement_node_counts = [16]\nmovement_partitions = 16\n"),
            Err("movement_partitions".into())
        );
        assert_eq!(verdict("movement_partitions = 1048577\n"), Err("movement_partitions".into()));
    }

    #[test]
    fn a_ring_of_strategy_one_or_two_may_hold_two_to_the_twenty_one_tokens_after_a_join() {
        // T · (S + 1): 512 · 4096 = 2^21 is the limit, 512 · 4097 is past it.
        let grid = |strategies: &str, nodes: u32| {
            verdict(&format!("strategies = [{strategies}]\nnode_counts = [{nodes}]\ntokens_per_node = [512]\n"))
        };
        for strategies in ["1", "2", "1, 2, 3"] {
            assert_eq!(grid(strategies, 4095), Ok(()), "{strategies}");
            assert_eq!(grid(strategies, 4096), Err("tokens_per_node".into()), "{strategies}");
        }
        // Strategy 3 alone draws no tokens, so T does not limit it.
        assert_eq!(grid("3", 4096), Ok(()));
        // The movement grid's T and S count too.
        let movement = "strategies = [1]\nmovement_node_counts = [4095]\nmovement_partitions = 4096\n";
        assert_eq!(verdict(&format!("{movement}movement_tokens_per_node = 512\n")), Ok(()));
        assert_eq!(verdict(&format!("{movement}movement_tokens_per_node = 513\n")), Err("tokens_per_node".into()));
    }

    #[test]
    fn flags_override_the_file() {
        let args = RingArgs { seeds: Some(2), tokens_per_node: Some(vec![8]), ..RingArgs::default() };
        let config = RingAnalysisConfig::from_args(&args).ok();
        assert_eq!(config.as_ref().map(|c| (c.seeds, c.tokens_per_node.clone())), Some((2, vec![8])));
    }
}
