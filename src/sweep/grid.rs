//! The grid of a sweep: axes (`--set PATH=V1,V2` or `PATH=A..B`), seeds
//! (`--seeds 1..20` or `1,5,9`), and their cartesian product in one
//! documented order.
//!
//! Order: configurations are the product of the axes in the order given
//! (the scenario's `[sweep] set` first, then the command line's `--set`s),
//! the first axis outermost and each axis's values in the order written;
//! seeds are innermost. Grid index `i` is configuration `i / seeds` with
//! seed number `i % seeds`, and everything (rows, shards, directories)
//! follows that index, never the order runs finish in.

use crate::scenario::overrides::Override;
use crate::scenario::seed::parse_seed;

/// One axis: a field and the values it takes, each as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The dotted path, as written (`quorum.r`).
    pub path: String,
    /// The values, as written (`1`, `{n=3,r=2,w=2}`).
    pub values: Vec<String>,
}

impl Axis {
    /// Parses `PATH=V1,V2,...` (TOML values split at top-level commas only,
    /// not inside `[...]`, `{...}` or quotes) or `PATH=A..B` (an inclusive
    /// integer range). Each value must also be a valid `--set`.
    pub fn parse(text: &str) -> Result<Axis, String> {
        let (path, raw) = text
            .split_once('=')
            .ok_or_else(|| format!("--set {text}: expected PATH=VALUES, e.g. --set quorum.r=1,2,3"))?;
        let (path, raw) = (path.trim(), raw.trim());
        let values = match integer_range(raw) {
            Some(range) => range.map_err(|why| format!("--set {text}: {why}"))?,
            None => split_top_level(raw).map_err(|why| format!("--set {text}: {why}"))?,
        };
        for value in &values {
            Override::parse(&format!("{path}={value}"))?;
        }
        Ok(Axis { path: path.to_string(), values })
    }

    /// The `--set` for value number `index`.
    pub fn setting(&self, index: usize) -> Override {
        Override::parse(&format!("{}={}", self.path, self.values[index])).expect("checked when the axis was parsed")
    }
}

/// `A..B` with integers A ≤ B: `Some(values)`; `None` when `raw` is not
/// of that form (then it is a list).
fn integer_range(raw: &str) -> Option<Result<Vec<String>, String>> {
    let (low, high) = raw.split_once("..")?;
    let (Ok(low), Ok(high)) = (low.trim().parse::<i64>(), high.trim().parse::<i64>()) else {
        return None;
    };
    if low > high {
        return Some(Err(format!("empty range {low}..{high} (ranges are inclusive and increasing)")));
    }
    if high - low >= MAX_AXIS_VALUES as i64 {
        return Some(Err(format!("range {low}..{high} has more than {MAX_AXIS_VALUES} values")));
    }
    Some(Ok((low..=high).map(|v| v.to_string()).collect()))
}

/// Most values one axis or one seed list may have (a typo like `1..1000000`
/// must be an error, not a week of runs).
pub const MAX_AXIS_VALUES: usize = 100_000;

/// Splits at commas outside brackets, braces and quoted strings.
fn split_top_level(raw: &str) -> Result<Vec<String>, String> {
    let mut values = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut current = String::new();
    for c in raw.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                ',' if depth == 0 => {
                    values.push(std::mem::take(&mut current).trim().to_string());
                    continue;
                }
                _ => {}
            },
        }
        if depth < 0 {
            return Err(format!("unbalanced closing bracket in {raw:?}"));
        }
        current.push(c);
    }
    if quote.is_some() || depth != 0 {
        return Err(format!("unclosed quote or bracket in {raw:?}"));
    }
    values.push(current.trim().to_string());
    if values.iter().any(String::is_empty) {
        return Err(format!("empty value in {raw:?} (values are separated by single commas)"));
    }
    Ok(values)
}

/// Parses `--seeds`: `A..B` (inclusive) or a comma list; each seed as
/// `--seed` takes it (decimal or 0x hex). Repeated seeds are refused.
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let context = |why: String| format!("--seeds {text}: {why}");
    let seeds: Vec<u64> = match text.split_once("..") {
        Some((low, high)) => {
            let low = parse_seed(low.trim()).map_err(context)?;
            let high = parse_seed(high.trim()).map_err(context)?;
            if low > high {
                return Err(context(format!("empty range {low}..{high} (ranges are inclusive and increasing)")));
            }
            if high - low >= MAX_AXIS_VALUES as u64 {
                return Err(context(format!("more than {MAX_AXIS_VALUES} seeds")));
            }
            (low..=high).collect()
        }
        None => text.split(',').map(|s| parse_seed(s.trim())).collect::<Result<_, _>>().map_err(context)?,
    };
    let mut sorted = seeds.clone();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(context(format!("seed {} is listed twice", pair[0])));
    }
    Ok(seeds)
}

/// Axes and seeds: the grid of a sweep.
#[derive(Clone, Debug)]
pub struct Grid {
    /// Axes, outermost first. A later axis on the same path replaces an
    /// earlier one (the command line refines the file).
    pub axes: Vec<Axis>,
    /// Seeds, in the order given.
    pub seeds: Vec<u64>,
}

/// One configuration: a value for every axis.
#[derive(Clone, Debug)]
pub struct Configuration {
    /// Index in grid order.
    pub index: usize,
    /// `path=value` per axis, joined by spaces (`quorum.r=1 quorum.w=2`);
    /// `base` when there are no axes.
    pub label: String,
    /// The value text per axis, in axis order.
    pub values: Vec<String>,
    /// The overrides that make it.
    pub overrides: Vec<Override>,
    /// Its directory under the sweep directory: a safe, unique name.
    pub directory: String,
}

impl Grid {
    /// The grid of `file_axes` then `cli_axes` (a path given twice keeps
    /// the later values, in the earlier position), over `seeds`.
    pub fn new(file_axes: Vec<Axis>, cli_axes: Vec<Axis>, seeds: Vec<u64>) -> Grid {
        let mut axes: Vec<Axis> = Vec::new();
        for axis in file_axes.into_iter().chain(cli_axes) {
            match axes.iter_mut().find(|a| a.path == axis.path) {
                Some(existing) => *existing = axis,
                None => axes.push(axis),
            }
        }
        Grid { axes, seeds }
    }

    /// The configurations in grid order (first axis outermost).
    pub fn configurations(&self) -> Vec<Configuration> {
        let count: usize = self.axes.iter().map(|a| a.values.len()).product();
        let mut taken = std::collections::BTreeSet::new();
        (0..count)
            .map(|index| {
                let mut rest = index;
                let mut picks = vec![0; self.axes.len()];
                for (slot, axis) in self.axes.iter().enumerate().rev() {
                    picks[slot] = rest % axis.values.len();
                    rest /= axis.values.len();
                }
                let values: Vec<String> =
                    self.axes.iter().zip(&picks).map(|(axis, &pick)| axis.values[pick].clone()).collect();
                let overrides = self.axes.iter().zip(&picks).map(|(axis, &pick)| axis.setting(pick)).collect();
                let parts: Vec<String> =
                    self.axes.iter().zip(&values).map(|(a, v)| format!("{}={v}", a.path)).collect();
                let label = if parts.is_empty() { "base".to_string() } else { parts.join(" ") };
                let mut directory = if parts.is_empty() { "base".to_string() } else { directory_name(&parts) };
                if !taken.insert(directory.clone()) {
                    directory = format!("{directory}-{index}");
                    taken.insert(directory.clone());
                }
                Configuration { index, label, values, overrides, directory }
            })
            .collect()
    }

    /// Runs in the grid: configurations × seeds.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product::<usize>() * self.seeds.len()
    }

    /// Whether the grid has no runs (never, once seeds are checked non-empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A directory name for a configuration from its `path=value` parts:
/// spaces, quotes and brackets dropped, other characters unsafe in paths
/// replaced by `_`, parts joined by `_` (`quorum.r=1`, `quorum.w=2` →
/// `quorum.r=1_quorum.w=2`), at most 120 bytes. [`Grid::configurations`]
/// makes names unique.
pub fn directory_name(parts: &[String]) -> String {
    let clean = |part: &String| -> String {
        part.chars()
            .filter(|c| !matches!(c, ' ' | '"' | '\'' | '{' | '}' | '[' | ']'))
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '=' | ',' | '+' | '-') { c } else { '_' })
            .collect()
    };
    let name: String = parts.iter().map(clean).collect::<Vec<_>>().join("_");
    let name = name.trim_matches(|c| c == '.' || c == '_');
    let name = &name[..name.len().min(120)];
    match name.trim_matches(|c| c == '.' || c == '_') {
        "" => "config".to_string(),
        short => short.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_split_at_top_level_commas_only() {
        let axis = Axis::parse("quorum={n=3,r=2,w=2},{n=3,r=1,w=1}").unwrap();
        assert_eq!(axis.values, ["{n=3,r=2,w=2}", "{n=3,r=1,w=1}"]);
        let axis = Axis::parse("workload.probe_delays_ms=[0, 1],[5]").unwrap();
        assert_eq!(axis.values, ["[0, 1]", "[5]"]);
        let axis = Axis::parse("name=\"a,b\",c").unwrap();
        assert_eq!(axis.values, ["\"a,b\"", "c"]);
        assert_eq!(Axis::parse("quorum.r=1..3").unwrap().values, ["1", "2", "3"]);
        assert_eq!(Axis::parse("network.loss=0.01").unwrap().values, ["0.01"]);
    }

    #[test]
    fn bad_axes_say_why() {
        assert!(Axis::parse("quorum.r").unwrap_err().contains("expected PATH=VALUES"));
        assert!(Axis::parse("quorum.r=3..1").unwrap_err().contains("empty range"));
        assert!(Axis::parse("quorum.r=1,,2").unwrap_err().contains("empty value"));
        assert!(Axis::parse("quorum.r=[1,2").unwrap_err().contains("unclosed"));
        assert!(Axis::parse("quo rum=1").unwrap_err().contains("not a field name"));
    }

    #[test]
    fn seeds_are_ranges_or_lists_without_repeats() {
        assert_eq!(parse_seeds("1..4").unwrap(), [1, 2, 3, 4]);
        assert_eq!(parse_seeds("9,1,0x10").unwrap(), [9, 1, 16]);
        assert!(parse_seeds("1,1").unwrap_err().contains("listed twice"));
        assert!(parse_seeds("5..1").unwrap_err().contains("empty range"));
        assert!(parse_seeds("x").is_err());
    }

    #[test]
    fn the_first_axis_is_outermost_and_a_later_axis_replaces_an_earlier() {
        let file = vec![Axis::parse("quorum.r=1,2").unwrap(), Axis::parse("quorum.w=1,2").unwrap()];
        let grid = Grid::new(file, vec![Axis::parse("quorum.r=3,1").unwrap()], vec![1, 2]);
        let labels: Vec<String> = grid.configurations().into_iter().map(|c| c.label).collect();
        assert_eq!(
            labels,
            ["quorum.r=3 quorum.w=1", "quorum.r=3 quorum.w=2", "quorum.r=1 quorum.w=1", "quorum.r=1 quorum.w=2"]
        );
        assert_eq!(grid.len(), 8);
        let none = Grid::new(vec![], vec![], vec![7]);
        assert_eq!(none.configurations()[0].label, "base");
    }

    #[test]
    fn directory_names_are_safe() {
        let name = |parts: &[&str]| directory_name(&parts.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        assert_eq!(name(&["quorum.r=1", "quorum.w=2"]), "quorum.r=1_quorum.w=2");
        assert_eq!(name(&["quorum={ n = 3, r = 2 }"]), "quorum=n=3,r=2");
        assert_eq!(name(&["name=../../etc"]), "name=.._.._etc");
        assert_eq!(name(&["../"]), "config");
        assert_eq!(name(&[]), "config");
        let grid = Grid::new(vec![Axis::parse("name=\"a b\",ab").unwrap()], vec![], vec![1]);
        let directories: Vec<String> = grid.configurations().into_iter().map(|c| c.directory).collect();
        assert_eq!(directories, ["name=ab", "name=ab-1"]);
    }
}
