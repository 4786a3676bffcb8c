//! Exact float32 readings of a request body's numbers.
//!
//! serde_json (without `arbitrary_precision`, which would change every crate in the
//! workspace) only hands out f64, and rounding a decimal to f64 and then to f32 is not always
//! the f32 nearest to the decimal: `7.038531e-26`, the shortest form of a float32, comes back
//! one unit off. Weaviate parses vectors straight to float32, and vectors must survive a round
//! trip bit for bit, so before handling a body we scan its number literals, and for the few
//! whose double rounding goes wrong remember the right float32 under the f64 serde_json gave.

use serde_json::Value;
use std::collections::HashMap;

#[derive(Default)]
pub struct FloatFixups {
    exact: HashMap<u64, f32>,
}

impl FloatFixups {
    /// Scans every number literal outside strings in a JSON text.
    pub fn scan(body: &[u8]) -> FloatFixups {
        let mut fixups = FloatFixups::default();
        fixups.add(body);
        fixups
    }

    /// Adds the number literals of another JSON text (a part of a body).
    pub fn add(&mut self, body: &[u8]) {
        let exact = &mut self.exact;
        let mut i = 0;
        while i < body.len() {
            match body[i] {
                b'"' => {
                    i += 1;
                    while i < body.len() && body[i] != b'"' {
                        i += if body[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    while i < body.len()
                        && matches!(body[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        i += 1;
                    }
                    if let Ok(token) = std::str::from_utf8(&body[start..i]) {
                        remember(exact, token);
                    }
                }
                _ => i += 1,
            }
        }
    }

    /// A JSON number as the float32 nearest to its literal, or `None` when it is not a number
    /// or is out of float32 range (which Go's decoder rejects).
    pub fn f32(&self, v: &Value) -> Option<f32> {
        let d = v.as_f64()?;
        if let Some(&f) = self.exact.get(&d.to_bits()) {
            return Some(f);
        }
        let f = d as f32;
        f.is_finite().then_some(f)
    }
}

fn remember(exact: &mut HashMap<u64, f32>, token: &str) {
    let Ok(f) = token.parse::<f32>() else {
        return;
    };
    if !f.is_finite() {
        return;
    }
    // Short plain literals (at most 15 significant digits, no exponent) are read by serde_json
    // with one correctly rounded operation, so std's f64 is serde_json's: a cheap check that
    // spares the common case a second parse.
    if token.len() <= 16 && !token.contains(['e', 'E']) {
        if let Ok(d) = token.parse::<f64>() {
            if (d as f32).to_bits() == f.to_bits() {
                return;
            }
        }
    }
    if let Ok(d) = serde_json::from_str::<f64>(token) {
        if (d as f32).to_bits() != f.to_bits() {
            exact.insert(d.to_bits(), f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_rounding_is_corrected() {
        let body = br#"{"s":"7.038531e-26 \" 1","vector":[7.038531e-26,-7.038531e-26,0.1,1]}"#;
        let fixups = FloatFixups::scan(body);
        let v: Value = serde_json::from_slice(body).unwrap();
        let got: Vec<u32> = v["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| fixups.f32(x).unwrap().to_bits())
            .collect();
        let want: Vec<u32> = [7.038531e-26_f32, -7.038531e-26, 0.1, 1.0]
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(got, want);
        assert_ne!((7.038531e-26_f64 as f32).to_bits(), want[0]);
        assert_eq!(fixups.f32(&serde_json::json!(1e39)), None);
    }
}
