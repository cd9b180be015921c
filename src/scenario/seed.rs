//! Master seeds over the whole u64 range.
//!
//! TOML integers are signed 64-bit, so a seed of 2^63 or more cannot be
//! written as a TOML integer even though `--seed` accepts it. A scenario may
//! therefore give the seed as an integer or as a string in decimal or `0x`
//! hexadecimal; `--seed` accepts the same forms, so every seed a run reports
//! can be pasted back into either place.

use serde::{Deserializer, Serializer};
use std::fmt;

/// What a seed may be, for error messages.
pub const SEED_FORMS: &str =
    "an integer 0..=18446744073709551615, given as a TOML integer (up to 2^63 - 1) or as a string in decimal or \
     0x hexadecimal, e.g. \"18446744073709551615\" or \"0xffffffffffffffff\"";

/// Parses a seed written in decimal or `0x` hexadecimal.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let parsed = match trimmed.strip_prefix("0x").or_else(|| trimmed.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => trimmed.replace('_', "").parse::<u64>(),
    };
    parsed.map_err(|_| format!("invalid seed {text:?}: must be {SEED_FORMS}"))
}

/// Reads `seed` from a TOML integer or string (see the module doc).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    deserializer.deserialize_any(SeedVisitor)
}

/// Writes a seed as an integer when TOML can hold it, else as a decimal string.
pub fn serialize<S: Serializer>(seed: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    match i64::try_from(*seed) {
        Ok(small) => serializer.serialize_i64(small),
        Err(_) => serializer.serialize_str(&seed.to_string()),
    }
}

struct SeedVisitor;

impl serde::de::Visitor<'_> for SeedVisitor {
    type Value = u64;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str(SEED_FORMS)
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<u64, E> {
        u64::try_from(value).map_err(|_| E::custom(format!("seed {value} is negative; a seed is {SEED_FORMS}")))
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<u64, E> {
        Ok(value)
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<u64, E> {
        parse_seed(value).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex_cover_the_whole_range() {
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_seed("0xFFFFFFFFFFFFFFFF"), Ok(u64::MAX));
        assert_eq!(parse_seed("0x8000_0000_0000_0000"), Ok(1 << 63));
        assert_eq!(parse_seed("7"), Ok(7));
    }

    #[test]
    fn out_of_range_and_garbage_say_what_is_allowed() {
        for bad in ["18446744073709551616", "-1", "0x1_0000_0000_0000_0000", "seven", ""] {
            let error = parse_seed(bad).unwrap_err();
            assert!(error.contains("0x hexadecimal"), "{bad}: {error}");
        }
    }
}
