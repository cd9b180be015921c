//! One scenario explore tries: the scenario file's own document with a
//! fault list and a few settings replaced.
//!
//! Candidates are rendered back to TOML text and loaded with
//! [`Scenario::parse`], so every schedule explore runs, and every file it
//! writes, met exactly the checks a hand-written scenario meets.

use crate::fault::FaultSpec;
use crate::Scenario;
use std::collections::BTreeMap;

/// A fault list and settings (dotted path → value) over a base document.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The whole `[[faults]]` list: the scenario's own and the drawn ones.
    pub faults: Vec<FaultSpec>,
    /// Top-level or `table.key` settings that replace the file's.
    pub settings: BTreeMap<String, toml::Value>,
}

impl Candidate {
    /// The value a setting has in this candidate, else in `base`.
    pub fn setting<'a>(&'a self, base: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
        self.settings.get(path).or_else(|| lookup(base, path))
    }

    /// The candidate as scenario text: `base` (the `[explore]` table left
    /// out) with `name`, `seed`, the settings and the faults replaced.
    pub fn render(&self, base: &toml::Table, name: &str, seed: u64) -> String {
        let mut document = base.clone();
        document.remove("explore");
        document.insert("name".into(), toml::Value::String(name.into()));
        let seed = i64::try_from(seed).map_or_else(|_| toml::Value::String(seed.to_string()), toml::Value::Integer);
        document.insert("seed".into(), seed);
        for (path, value) in &self.settings {
            set(&mut document, path, value.clone());
        }
        let faults: Vec<toml::Value> = self.faults.iter().map(fault_table).collect();
        document.remove("faults");
        if !faults.is_empty() {
            document.insert("faults".into(), toml::Value::Array(faults));
        }
        toml::to_string(&document).expect("a TOML document renders")
    }

    /// Renders and loads the candidate; `None` when the scenario refuses it.
    pub fn load(&self, base: &toml::Table, name: &str, seed: u64) -> Option<Scenario> {
        Scenario::parse(&self.render(base, name, seed), name, name).ok()
    }
}

/// A fault as a table without the fields it leaves empty.
fn fault_table(fault: &FaultSpec) -> toml::Value {
    let mut value = toml::Value::try_from(fault).expect("a fault serializes");
    if let toml::Value::Table(table) = &mut value {
        table.retain(|_, v| !matches!(v, toml::Value::Array(a) if a.is_empty()));
    }
    value
}

fn lookup<'a>(table: &'a toml::Table, path: &str) -> Option<&'a toml::Value> {
    match path.split_once('.') {
        Some((head, rest)) => lookup(table.get(head)?.as_table()?, rest),
        None => table.get(path),
    }
}

fn set(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let child = table.entry(head.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(child) = child {
                set(child, rest, value);
            }
        }
        None => {
            table.insert(path.to_string(), value);
        }
    }
}
