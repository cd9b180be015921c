//! Bounds on summary figures: `"consistency.stale_reads" = "== 0"`.
//!
//! A bound is an operator and a value: `==`, `!=`, `<=`, `>=`, `<` or `>`
//! followed by a number, or `==` / `!=` followed by a word for text figures
//! (`"invariants.converges" = "== held"`), or `between A and B` (both
//! included) for a figure that must stay within a band, such as a PBS
//! probability against its published value.

use serde_json::Value;
use std::fmt;

/// One parsed bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    operator: Operator,
    target: Target,
    text: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Operator {
    Equal,
    NotEqual,
    AtMost,
    AtLeast,
    Below,
    Above,
}

#[derive(Clone, Debug, PartialEq)]
enum Target {
    Number(f64),
    /// `between A and B`: the operator is `AtLeast` A, and at most B.
    Band(f64, f64),
    Text(String),
}

/// The operators, longest first so `<=` is not read as `<`.
const OPERATORS: [(&str, Operator); 6] = [
    ("==", Operator::Equal),
    ("!=", Operator::NotEqual),
    ("<=", Operator::AtMost),
    (">=", Operator::AtLeast),
    ("<", Operator::Below),
    (">", Operator::Above),
];

impl Bound {
    /// Parses `"<= 3000"`; the error says what is allowed.
    pub fn parse(text: &str) -> Result<Bound, String> {
        let trimmed = text.trim();
        let allowed = "a bound is an operator (==, !=, <=, >=, <, >) and a number, e.g. \"<= 3000\", == / != and \
                       a word, e.g. \"== held\", or a band, e.g. \"between 0.959 and 0.989\"";
        if let Some(band) = trimmed.strip_prefix("between ") {
            let numbers = band.split_once(" and ").map(|(a, b)| (a.trim().parse::<f64>(), b.trim().parse::<f64>()));
            return match numbers {
                Some((Ok(low), Ok(high))) if low.is_finite() && high.is_finite() && low <= high => Ok(Bound {
                    operator: Operator::AtLeast,
                    target: Target::Band(low, high),
                    text: trimmed.to_string(),
                }),
                _ => Err(format!("{text:?}: a band is \"between A and B\" with numbers A <= B; {allowed}")),
            };
        }
        let (operator, rest) = OPERATORS
            .iter()
            .find_map(|(symbol, operator)| trimmed.strip_prefix(symbol).map(|rest| (*operator, rest.trim())))
            .ok_or_else(|| format!("{text:?}: {allowed}"))?;
        if rest.is_empty() {
            return Err(format!("{text:?}: no value after the operator; {allowed}"));
        }
        let target = match rest.parse::<f64>() {
            Ok(number) if number.is_finite() => Target::Number(number),
            _ if matches!(operator, Operator::Equal | Operator::NotEqual) => Target::Text(rest.to_string()),
            _ => return Err(format!("{text:?}: {rest:?} is not a finite number; {allowed}")),
        };
        Ok(Bound { operator, target, text: trimmed.to_string() })
    }

    /// Whether `value` (a figure of summary.json) meets the bound; an error
    /// when the figure is of a kind the bound cannot compare.
    pub fn holds(&self, value: &Value) -> Result<bool, String> {
        let ordering = match (&self.target, value) {
            (Target::Band(low, high), Value::Number(number)) => {
                let number = number.as_f64().unwrap_or(f64::NAN);
                return Ok(*low <= number && number <= *high);
            }
            (Target::Number(target), Value::Number(number)) => {
                let number = number.as_f64().unwrap_or(f64::NAN);
                number.partial_cmp(target)
            }
            (Target::Text(target), Value::String(text)) => Some(text.as_str().cmp(target.as_str())),
            (Target::Text(target), Value::Bool(flag)) => Some(flag.to_string().as_str().cmp(target.as_str())),
            _ => return Err(format!("the figure is {value}, which `{}` cannot compare", self.text)),
        };
        let Some(ordering) = ordering else {
            return Ok(false);
        };
        use std::cmp::Ordering::*;
        Ok(match self.operator {
            Operator::Equal => ordering == Equal,
            Operator::NotEqual => ordering != Equal,
            Operator::AtMost => ordering != Greater,
            Operator::AtLeast => ordering != Less,
            Operator::Below => ordering == Less,
            Operator::Above => ordering == Greater,
        })
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numeric_bounds_compare_with_each_operator() {
        let holds = |bound: &str, value: Value| Bound::parse(bound).expect("valid").holds(&value).expect("comparable");
        assert!(holds("== 0", json!(0)));
        assert!(!holds("== 0", json!(1)));
        assert!(holds("<= 3000", json!(3000)));
        assert!(!holds("< 3000", json!(3000)));
        assert!(holds(">= 0.999", json!(1.0)));
        assert!(!holds(">= 0.999", json!(0.99)));
        assert!(holds("> 0", json!(2)));
        assert!(holds("!= 0", json!(2)));
        assert!(holds("== held", json!("held")));
        assert!(!holds("== held", json!("violated: x")));
        assert!(holds("between 0.959 and 0.989", json!(0.974)));
        assert!(holds("between 0.959 and 0.989", json!(0.989)));
        assert!(!holds("between 0.959 and 0.989", json!(0.95)));
        assert!(!holds("between 0.959 and 0.989", json!(0.99)));
    }

    #[test]
    fn a_bad_bound_says_what_is_allowed() {
        for bad in ["0", "<=", "<= lots", "~ 3", "", "between 2 and 1", "between 1", "between x and 2"] {
            let error = Bound::parse(bad).expect_err(bad);
            assert!(error.contains("operator"), "{bad}: {error}");
        }
        let error = Bound::parse("<= 1").expect("valid").holds(&json!("held")).expect_err("text vs number");
        assert!(error.contains("cannot compare"), "{error}");
    }
}
