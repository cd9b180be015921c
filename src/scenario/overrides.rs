//! `--set PATH=VALUE`: changing one field of a scenario from the command line.
//!
//! Comparing configurations means running one scenario file with a field or
//! two changed; copying the file per configuration is how comparisons go
//! wrong. An override is applied to the parsed TOML document before the
//! scenario is deserialized and validated, so an overridden value meets
//! exactly the checks a value written in the file meets, and an error names
//! the `--set` that caused it.

use std::fmt;

/// One `--set PATH=VALUE`, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// Path segments: table keys, or array indices (`faults[0].at_ms` and
    /// `faults.0.at_ms` both give `faults`, `0`, `at_ms`).
    segments: Vec<Segment>,
    /// The value, read as a TOML value; text that is not one is a string.
    value: toml::Value,
    /// As the user wrote it, for messages and repro lines.
    text: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl Override {
    /// Parses `PATH=VALUE`. The value is TOML (`1`, `0.01`, `true`,
    /// `"lww"`, `[0, 1, 5]`, `{ constant = 2.0 }`); bare text that is not
    /// TOML is taken as a string, so `--set reconciliation.policy=lww` works.
    pub fn parse(text: &str) -> Result<Override, String> {
        let (path, raw) =
            text.split_once('=').ok_or_else(|| format!("--set {text}: expected PATH=VALUE, e.g. --set quorum.r=2"))?;
        let segments = parse_path(path.trim()).map_err(|why| format!("--set {text}: {why}"))?;
        let raw = raw.trim();
        let value = match toml::from_str::<toml::Table>(&format!("value = {raw}")) {
            Ok(mut table) => table.remove("value").expect("the key just parsed"),
            Err(_) => toml::Value::String(raw.to_string()),
        };
        Ok(Override { segments, value, text: text.to_string() })
    }

    /// The path in the form validation messages use: `faults[0].at_ms`.
    pub fn field(&self) -> String {
        let mut field = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Key(key) if field.is_empty() => field.push_str(key),
                Segment::Key(key) => {
                    field.push('.');
                    field.push_str(key);
                }
                Segment::Index(index) => field.push_str(&format!("[{index}]")),
            }
        }
        field
    }

    /// Whether this override sets `field` or a table or array that holds it.
    pub fn covers(&self, field: &str) -> bool {
        let own = self.field();
        field == own || field.starts_with(&format!("{own}.")) || field.starts_with(&format!("{own}["))
    }

    /// Sets the value in `document`, creating missing tables on the way.
    pub fn apply(&self, document: &mut toml::Table) -> Result<(), String> {
        let (last, parents) = self.segments.split_last().expect("a parsed path has a segment");
        let mut current = Slot::Table(document);
        let mut walked = String::new();
        for (depth, segment) in parents.iter().enumerate() {
            let holds_array = matches!(self.segments[depth + 1], Segment::Index(_));
            current = current.descend(segment, holds_array, &walked)?;
            walked = describe(&walked, segment);
        }
        current.set(last, self.value.clone(), &walked)
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where the walk down a document currently is.
enum Slot<'a> {
    Table(&'a mut toml::Table),
    Array(&'a mut Vec<toml::Value>),
}

impl<'a> Slot<'a> {
    /// One step down; a missing key becomes an empty table, or an empty
    /// array when the path goes on with an index (which is then out of range).
    fn descend(self, segment: &Segment, holds_array: bool, walked: &str) -> Result<Slot<'a>, String> {
        let child = match (self, segment) {
            (Slot::Table(table), Segment::Key(key)) => table.entry(key.clone()).or_insert_with(|| {
                if holds_array {
                    toml::Value::Array(Vec::new())
                } else {
                    toml::Value::Table(toml::Table::new())
                }
            }),
            (Slot::Array(array), Segment::Index(index)) => {
                let length = array.len();
                array.get_mut(*index).ok_or_else(|| {
                    format!("`{walked}` has {length} entr{} (index {index} is out of range)", plural(length))
                })?
            }
            (Slot::Table(_), Segment::Index(index)) => {
                return Err(format!("`{walked}` is a table, not an array: it has no entry [{index}]"))
            }
            (Slot::Array(_), Segment::Key(key)) => {
                return Err(format!("`{walked}` is an array: use `{walked}[N].{key}` to set a field of one entry"))
            }
        };
        let here = describe(walked, segment);
        match child {
            toml::Value::Table(table) => Ok(Slot::Table(table)),
            toml::Value::Array(array) => Ok(Slot::Array(array)),
            other => Err(format!("`{here}` is not a table (its value is of type {})", other.type_str())),
        }
    }

    fn set(self, segment: &Segment, value: toml::Value, walked: &str) -> Result<(), String> {
        match (self, segment) {
            (Slot::Table(table), Segment::Key(key)) => {
                table.insert(key.clone(), value);
                Ok(())
            }
            (Slot::Array(array), Segment::Index(index)) => {
                let length = array.len();
                let entry = array.get_mut(*index).ok_or_else(|| {
                    format!("`{walked}` has {length} entr{} (index {index} is out of range)", plural(length))
                })?;
                *entry = value;
                Ok(())
            }
            (Slot::Table(_), Segment::Index(index)) => {
                Err(format!("`{walked}` is a table, not an array: it has no entry [{index}]"))
            }
            (Slot::Array(_), Segment::Key(key)) => {
                Err(format!("`{walked}` is an array: use `{walked}[N].{key}` to set a field of one entry"))
            }
        }
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        "y"
    } else {
        "ies"
    }
}

fn describe(walked: &str, segment: &Segment) -> String {
    match segment {
        Segment::Key(key) if walked.is_empty() => key.clone(),
        Segment::Key(key) => format!("{walked}.{key}"),
        Segment::Index(index) => format!("{walked}[{index}]"),
    }
}

fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (key, indices) = match part.find('[') {
            Some(open) => (&part[..open], &part[open..]),
            None => (part, ""),
        };
        if key.is_empty() && indices.is_empty() {
            return Err(format!("empty field name in path {path:?}"));
        }
        if !key.is_empty() {
            match key.parse::<usize>() {
                Ok(index) if !segments.is_empty() => segments.push(Segment::Index(index)),
                _ if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') => {
                    segments.push(Segment::Key(key.to_string()))
                }
                _ => return Err(format!("{key:?} is not a field name (letters, digits, '_' and '-')")),
            }
        }
        let mut rest = indices;
        while let Some(inner) = rest.strip_prefix('[') {
            let (number, after) = inner.split_once(']').ok_or_else(|| format!("unclosed '[' in path {path:?}"))?;
            let index = number.parse().map_err(|_| format!("{number:?} is not an array index in path {path:?}"))?;
            segments.push(Segment::Index(index));
            rest = after;
        }
        if !rest.is_empty() {
            return Err(format!("unexpected {rest:?} in path {path:?}"));
        }
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> toml::Table {
        toml::from_str("[quorum]\nn = 3\n[[faults]]\nat_ms = 5\n[[faults]]\nat_ms = 6\n").unwrap()
    }

    #[test]
    fn values_are_toml_and_bare_words_are_strings() {
        assert_eq!(Override::parse("quorum.r=2").unwrap().value, toml::Value::Integer(2));
        assert_eq!(Override::parse("network.loss=0.01").unwrap().value, toml::Value::Float(0.01));
        assert_eq!(Override::parse("a=lww").unwrap().value, toml::Value::String("lww".into()));
        assert_eq!(Override::parse("a=\"1\"").unwrap().value, toml::Value::String("1".into()));
        let list = Override::parse("workload.probe_delays_ms=[0, 1, 5]").unwrap();
        assert_eq!(list.value.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn both_index_spellings_name_the_same_field() {
        assert_eq!(Override::parse("faults[1].at_ms=9").unwrap().field(), "faults[1].at_ms");
        assert_eq!(Override::parse("faults.1.at_ms=9").unwrap().field(), "faults[1].at_ms");
    }

    #[test]
    fn apply_sets_existing_and_creates_missing_tables() {
        let mut doc = document();
        Override::parse("quorum.r=2").unwrap().apply(&mut doc).unwrap();
        Override::parse("network.loss=0.5").unwrap().apply(&mut doc).unwrap();
        Override::parse("faults[1].at_ms=9").unwrap().apply(&mut doc).unwrap();
        assert_eq!(doc["quorum"]["r"].as_integer(), Some(2));
        assert_eq!(doc["quorum"]["n"].as_integer(), Some(3));
        assert_eq!(doc["network"]["loss"].as_float(), Some(0.5));
        assert_eq!(doc["faults"][1]["at_ms"].as_integer(), Some(9));
        assert_eq!(doc["faults"][0]["at_ms"].as_integer(), Some(5));
    }

    #[test]
    fn bad_paths_are_refused_with_the_reason() {
        let mut doc = document();
        let error = |text: &str, doc: &mut toml::Table| Override::parse(text).and_then(|o| o.apply(doc)).unwrap_err();
        assert!(error("quorum.r", &mut doc).contains("expected PATH=VALUE"));
        assert!(error("faults[7].at_ms=1", &mut doc).contains("has 2 entries"));
        assert!(error("faults.at_ms=1", &mut doc).contains("is an array"));
        assert!(error("quorum.n.x=1", &mut doc).contains("`quorum.n` is not a table (its value is of type integer)"));
        assert!(error("quorum..r=1", &mut doc).contains("empty field name"));
        assert!(error("quo rum=1", &mut doc).contains("not a field name"));
    }

    #[test]
    fn covers_matches_the_field_and_what_it_holds() {
        let set = Override::parse("faults[0]={ at_ms = 1 }").unwrap();
        assert!(set.covers("faults[0]") && set.covers("faults[0].at_ms"));
        assert!(!set.covers("faults[1].at_ms"));
        assert!(Override::parse("quorum=1").unwrap().covers("quorum.r"));
        assert!(!Override::parse("quorum.r=1").unwrap().covers("quorum.rr"));
    }
}
