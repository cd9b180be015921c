//! Bad input never crashes: thousands of mutated bundled scenarios go
//! through `Scenario::parse`, and every one is accepted or refused with an
//! error that names the place (file:line(:col), or the field); huge inputs
//! are refused before anything is allocated.

use dynasim::Scenario;
use proptest::prelude::*;
use std::path::Path;

/// Every bundled scenario's text (not the suite, not ring configurations).
fn bundled_texts() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&root)
        .expect("scenarios directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml") && !path.ends_with("suite.toml"))
        .collect();
    paths.sort();
    paths.iter().map(|path| std::fs::read_to_string(path).expect("bundled scenario")).collect()
}

/// Values that are wrong for most fields: other types, huge, negative, empty.
const HOSTILE_VALUES: [&str; 16] = [
    "\"text\"",
    "\"\"",
    "true",
    "[1, 2]",
    "{ a = 1 }",
    "-1",
    "-0.5",
    "0",
    "1e308",
    "18446744073709551616",
    "99999999999999",
    "nan",
    "inf",
    "1e18",
    "[]",
    "[[\"n99\"], [\"others\"]]",
];

/// Fragments that break TOML syntax.
const JUNK: [&str; 8] = ["[", "]]", "=", "\"", "[[faults]]", "\u{0}", "é", "= = ="];

#[derive(Clone, Debug)]
enum Edit {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapValues(usize, usize),
    ReplaceValue(usize, usize),
    Insert(usize, usize),
    AbsentNodeFault(u32),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::DeleteLine),
        any::<usize>().prop_map(Edit::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapValues(a, b)),
        (any::<usize>(), 0..HOSTILE_VALUES.len()).prop_map(|(a, v)| Edit::ReplaceValue(a, v)),
        (any::<usize>(), 0..JUNK.len()).prop_map(|(a, j)| Edit::Insert(a, j)),
        (8u32..1_000_000).prop_map(Edit::AbsentNodeFault),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.is_empty() {
        lines.push(String::new());
    }
    let pick = |i: usize| i % lines.len();
    let value_lines: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
    match *edit {
        Edit::DeleteLine(i) => {
            lines.remove(pick(i));
        }
        Edit::DuplicateLine(i) => {
            let line = lines[pick(i)].clone();
            lines.insert(pick(i), line);
        }
        Edit::SwapValues(a, b) if !value_lines.is_empty() => {
            let (a, b) = (value_lines[a % value_lines.len()], value_lines[b % value_lines.len()]);
            let value = |line: &str| line.split_once(" = ").map(|(_, v)| v.to_string()).unwrap_or_default();
            let (va, vb) = (value(&lines[a]), value(&lines[b]));
            let key = |line: &str| line.split_once(" = ").map(|(k, _)| k.to_string()).unwrap_or_default();
            let (ka, kb) = (key(&lines[a]), key(&lines[b]));
            lines[a] = format!("{ka} = {vb}");
            lines[b] = format!("{kb} = {va}");
        }
        Edit::ReplaceValue(a, v) if !value_lines.is_empty() => {
            let line = value_lines[a % value_lines.len()];
            let key = lines[line].split_once(" = ").map(|(k, _)| k.to_string()).unwrap_or_default();
            lines[line] = format!("{key} = {}", HOSTILE_VALUES[v]);
        }
        Edit::Insert(a, j) => {
            let line = pick(a);
            let cut = lines[line].char_indices().map(|(i, _)| i).nth(a % (lines[line].len() + 1)).unwrap_or(0);
            lines[line].insert_str(cut, JUNK[j]);
        }
        Edit::AbsentNodeFault(node) => {
            lines.push(format!("[[faults]]\nat_ms = 10\naction = \"crash\"\nnodes = [{node}]\nduration_ms = 5"));
        }
        Edit::Truncate(at) => {
            let joined = lines.join("\n");
            let cut = joined.char_indices().map(|(i, _)| i).nth(at % (joined.len() + 1)).unwrap_or(joined.len());
            return joined[..cut].to_string();
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

/// The error names the file and a line (`fuzz.toml:12`) or the field.
fn names_the_place(error: &str) -> bool {
    let located = error.strip_prefix("fuzz.toml:").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()));
    located || (error.starts_with("fuzz.toml") && (error.contains("field `") || error.contains("configuration for")))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("DYNASIM_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(3000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_bundled_scenarios_never_panic_and_every_error_names_its_place(
        index in any::<usize>(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let texts = bundled_texts();
        let mut text = texts[index % texts.len()].clone();
        for edit in &edits {
            text = apply(&text, edit);
        }
        if let Err(error) = Scenario::parse(&text, "fuzz.toml", "fuzz") {
            let message = error.to_string();
            prop_assert!(names_the_place(&message), "{message}\n--- text:\n{text}");
        }
    }
}

#[test]
fn non_utf8_bytes_are_refused_with_the_line_and_column() {
    let directory = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&directory).expect("scratch directory");
    let path = directory.join("binary.toml");
    std::fs::write(&path, b"duration_ms = 100\n[quorum]\nn = \xff\xfe3\n").expect("written");
    let error = Scenario::load(&path).expect_err("not UTF-8").to_string();
    assert!(error.contains("binary.toml:3:5:") && error.contains("UTF-8"), "{error}");
}

/// `Scenario::parse` builds nothing of the run: a refusal there comes
/// before anything is allocated (no wall-clock bound needed, or wanted).
#[test]
fn absurd_sizes_are_refused_before_anything_is_allocated() {
    for (text, field) in [
        ("[workload]\nkeys = 1000000000000\n", "workload.keys"),
        ("[cluster]\nnodes = 1000000000\n", "cluster.nodes"),
        ("duration_ms = 1e18\n", "duration_ms"),
        ("[cluster]\nnodes = 100000\n[quorum]\nn = 3\n", "cluster.nodes"),
    ] {
        let error = Scenario::parse(text, "huge.toml", "huge").expect_err(text).to_string();
        assert!(error.starts_with("huge.toml:") && error.contains(&format!("field `{field}`")), "{error}");
    }
}
