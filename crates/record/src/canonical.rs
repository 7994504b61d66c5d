//! RFC 8785 (JSON Canonicalization Scheme) for `serde_json::Value`.
//!
//! The record hashes the exact bytes it stores, so those bytes must be one fixed
//! function of the event: object members sorted by their UTF-16 code units, no
//! insignificant whitespace, strings escaped the way ECMAScript's `JSON.stringify`
//! escapes them, numbers in ECMAScript's shortest form. Thirty lines of our own beat a
//! dependency here, and the UTF-16 ordering (a known trap: code points and UTF-16 code
//! units order supplementary characters differently) is tested below.
//!
//! The hook writes integers only. Integers within ±2^53 print exactly; larger ones and
//! floats go through the ECMAScript number formatting the RFC prescribes.

use serde_json::{Number, Value};
use std::fmt::Write as _;

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// NaN and infinities have no JSON representation.
    #[error("a number is not finite")]
    NotFinite,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("the value nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// The RFC 8785 canonical bytes of `value`.
pub fn to_vec(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value, 0)?;
    Ok(out.into_bytes())
}

fn write_value(out: &mut String, value: &Value, depth: usize) -> Result<(), CanonicalError> {
    if depth > MAX_DEPTH {
        return Err(CanonicalError::TooDeep);
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // RFC 8785 §3.2.3: sort by UTF-16 code units, not by UTF-8 bytes.
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (k, (key, item)) in members.into_iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

const EXACT_LIMIT: u64 = 1 << 53;

fn write_number(out: &mut String, n: &Number) -> Result<(), CanonicalError> {
    if let Some(u) = n.as_u64() {
        if u <= EXACT_LIMIT {
            let _ = write!(out, "{u}");
            return Ok(());
        }
    } else if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= EXACT_LIMIT
    {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    let f = n.as_f64().ok_or(CanonicalError::NotFinite)?;
    write_f64(out, f)
}

/// ECMAScript `Number.prototype.toString` for finite doubles (ECMA-262 §6.1.6.1.20).
fn write_f64(out: &mut String, f: f64) -> Result<(), CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NotFinite);
    }
    if f == 0.0 {
        out.push('0'); // -0 prints as 0 too
        return Ok(());
    }
    // Rust's `{:e}` yields the shortest round-trip digits, e.g. "1.5e22", "-1e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let n = exp + 1; // position of the decimal point relative to the digits
    out.push_str(sign);
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(usize::try_from(n).unwrap_or(0).min(digits.len()));
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let mut chars = digits.chars();
        if let Some(first) = chars.next() {
            out.push(first);
        }
        let rest: String = chars.collect();
        if !rest.is_empty() {
            out.push('.');
            out.push_str(&rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { "+" } else { "-" }, e.abs());
    }
    Ok(())
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (pos, c) in s.char_indices() {
        let escape = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\u{8}' => Some("\\b"),
            '\t' => Some("\\t"),
            '\n' => Some("\\n"),
            '\u{c}' => Some("\\f"),
            '\r' => Some("\\r"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(s.get(start..pos).unwrap_or_default());
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        start = pos + c.len_utf8();
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(v: &Value) -> String {
        String::from_utf8(to_vec(v).unwrap()).unwrap()
    }

    #[test]
    fn members_sort_by_utf16_code_units_not_code_points() {
        // U+1F602 is D83D DE02 in UTF-16, which sorts before U+FB33; by code point it
        // would sort after.
        let v = json!({"\u{fb33}": 1, "\u{1f602}": 2, "a": 3, "": 4});
        assert_eq!(canon(&v), "{\"\":4,\"a\":3,\"\u{1f602}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn rfc8785_section_3_2_2_string_example() {
        let v = json!(["\u{20ac}$\u{f}\nA'B\"\\\\\"/"]);
        assert_eq!(canon(&v), "[\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"]");
    }

    #[test]
    fn rfc8785_numbers_use_ecmascript_form() {
        let cases: [(f64, &str); 10] = [
            (1e30, "1e+30"),
            (4.5, "4.5"),
            (0.002, "0.002"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (-0.0, "0"),
            (333333333.3333333, "333333333.3333333"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (-1.5e-9, "-1.5e-9"),
        ];
        for (f, want) in cases {
            assert_eq!(canon(&json!(f)), want, "{f}");
        }
        assert_eq!(canon(&json!(9007199254740993u64)), "9007199254740992");
        assert_eq!(canon(&json!(-42)), "-42");
    }

    #[test]
    fn nested_values_have_no_whitespace() {
        let v = json!({"b": [1, {"d": null, "c": true}], "a": "x"});
        assert_eq!(canon(&v), r#"{"a":"x","b":[1,{"c":true,"d":null}]}"#);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut v = json!(1);
        for _ in 0..200 {
            v = json!([v]);
        }
        assert_eq!(to_vec(&v), Err(CanonicalError::TooDeep));
    }
}
