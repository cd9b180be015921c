//! Reading a run directory's CSV files for the plots: a table by column
//! name, with errors that name the file, the line and the column, so a
//! hand-edited or truncated file is reported rather than panicking.

use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};

/// One CSV file of a run directory, read whole (the files are small: one
/// row per interval, node, fault or CDF step).
pub struct Table {
    path: PathBuf,
    headers: Vec<String>,
    /// Rows with their 1-based line number in the file.
    rows: Vec<(u64, csv::StringRecord)>,
}

/// An `InvalidData` error whose message starts with the file it is about.
pub fn invalid(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidData, format!("{}: {message}", path.display()))
}

impl Table {
    /// Reads `directory/name`; `Ok(None)` when the file does not exist, so
    /// the caller skips that plot.
    pub fn read_optional(directory: &Path, name: &str) -> std::io::Result<Option<Table>> {
        let path = directory.join(name);
        let text = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::new(error.kind(), format!("{}: cannot read: {error}", path.display()))),
        };
        Table::parse(path, &text).map(Some)
    }

    /// Parses CSV `text` (with a header row) read from `path`.
    pub fn parse(path: PathBuf, text: &[u8]) -> std::io::Result<Table> {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text);
        let headers = reader.headers().map_err(|e| invalid(&path, format!("bad header row: {e}")))?;
        let headers: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| invalid(&path, csv_error_text(&e)))?;
            let line = record.position().map_or(0, |p| p.line());
            rows.push((line, record));
        }
        Ok(Table { path, headers, rows })
    }

    /// The file this table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the file has a header but no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn column(&self, name: &str) -> std::io::Result<usize> {
        self.headers.iter().position(|h| h == name).ok_or_else(|| {
            invalid(&self.path, format!("missing column `{name}` (columns: {})", self.headers.join(",")))
        })
    }

    /// Every cell of column `name` as text.
    pub fn texts(&self, name: &str) -> std::io::Result<Vec<String>> {
        let column = self.column(name)?;
        Ok(self.rows.iter().map(|(_, r)| r.get(column).unwrap_or("").trim().to_string()).collect())
    }

    /// Every cell of column `name` as a number; an empty cell is `None`.
    pub fn optional_numbers(&self, name: &str) -> std::io::Result<Vec<Option<f64>>> {
        let column = self.column(name)?;
        self.rows
            .iter()
            .map(|(line, record)| {
                let cell = record.get(column).unwrap_or("").trim();
                if cell.is_empty() {
                    return Ok(None);
                }
                match cell.parse::<f64>() {
                    Ok(value) if value.is_finite() => Ok(Some(value)),
                    _ => Err(invalid(
                        &self.path,
                        format!("line {line}, column `{name}`: expected a finite number, got {cell:?}"),
                    )),
                }
            })
            .collect()
    }

    /// Every cell of column `name` as a number; an empty cell is an error.
    pub fn numbers(&self, name: &str) -> std::io::Result<Vec<f64>> {
        let values = self.optional_numbers(name)?;
        match values.iter().position(Option::is_none) {
            Some(index) => Err(invalid(
                &self.path,
                format!("line {}, column `{name}`: empty cell, a number is required", self.rows[index].0),
            )),
            None => Ok(values.into_iter().flatten().collect()),
        }
    }
}

fn csv_error_text(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => {
            format!("line {}: {len} fields where the header has {expected_len}", pos.as_ref().map_or(0, |p| p.line()))
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        Table::parse(PathBuf::from("x.csv"), text.as_bytes()).expect("parses")
    }

    #[test]
    fn columns_are_found_by_name_and_empty_cells_are_none() {
        let t = table("a,b\n1,\n2,3.5\n");
        assert_eq!(t.numbers("a").expect("a"), vec![1.0, 2.0]);
        assert_eq!(t.optional_numbers("b").expect("b"), vec![None, Some(3.5)]);
    }

    #[test]
    fn a_bad_cell_names_file_line_and_column() {
        let error = table("a,b\n1,2\n1,x\n").numbers("b").expect_err("x is no number");
        assert_eq!(error.to_string(), "x.csv: line 3, column `b`: expected a finite number, got \"x\"");
        let error = table("a,b\n1,\n").numbers("b").expect_err("empty");
        assert_eq!(error.to_string(), "x.csv: line 2, column `b`: empty cell, a number is required");
    }

    #[test]
    fn a_missing_column_lists_the_columns_there_are() {
        let error = table("a,b\n1,2\n").texts("c").expect_err("no column c");
        assert_eq!(error.to_string(), "x.csv: missing column `c` (columns: a,b)");
    }

    #[test]
    fn a_ragged_row_is_an_error_not_a_panic() {
        let error = Table::parse(PathBuf::from("x.csv"), b"a,b\n1,2\n3\n").err().expect("ragged");
        assert_eq!(error.to_string(), "x.csv: line 3: 1 fields where the header has 2");
    }
}
