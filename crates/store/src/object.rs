//! The object: Weaviate's REST object shape, with vectors read straight from their decimal
//! text into float32 (never through f64, which could round a value differently) and written
//! in shortest float32 form, so that no vector bit changes on the way through.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One object, as Weaviate's REST API carries it (CONTRACT.md 5.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub properties: Map<String, Value>,
    /// The legacy single vector; an empty one is no vector, as in Weaviate.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "legacy_vector"
    )]
    pub vector: Option<Vec<f32>>,
    /// Named vectors, each a vector or a multi-vector.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "named_vectors"
    )]
    pub vectors: BTreeMap<String, Vector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time_unix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time_unix: Option<i64>,
}

/// A named vector: one float32 vector, or several (a multi-vector, ColBERT style).
#[derive(Debug, Clone, PartialEq)]
pub enum Vector {
    Single(Vec<f32>),
    Multi(Vec<Vec<f32>>),
}

impl Object {
    /// The object without vectors, as a store returns it when vectors were not asked for.
    pub fn without_vectors(mut self) -> Object {
        self.vector = None;
        self.vectors.clear();
        self
    }
}

impl Serialize for Vector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Vector::Single(v) => v.serialize(s),
            Vector::Multi(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Vector, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        parse_vector(raw.get()).map_err(D::Error::custom)
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

fn legacy_vector<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
    match Option::<Vector>::deserialize(d)? {
        None => Ok(None),
        Some(Vector::Single(v)) if v.is_empty() => Ok(None),
        Some(Vector::Single(v)) => Ok(Some(v)),
        Some(Vector::Multi(_)) => Err(D::Error::custom(
            "\"vector\" must be an array of numbers, not of arrays",
        )),
    }
}

fn named_vectors<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vector>, D::Error> {
    let map = Option::<BTreeMap<String, Option<Vector>>>::deserialize(d)?.unwrap_or_default();
    // `null` means "not provided" (CONTRACT.md 5.1).
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// Reads a vector (`[1, 0.5]`) or a multi-vector (`[[1, 0.5], [2, 3]]`) from JSON text,
/// each number parsed directly as float32. Values outside float32's range are errors.
pub fn parse_vector(text: &str) -> Result<Vector, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    let open = p.i;
    p.expect(b'[')?;
    p.ws();
    let vector = if p.peek() == Some(b'[') {
        let mut rows = Vec::new();
        loop {
            rows.push(p.row()?);
            if !p.comma_or_end()? {
                break;
            }
            p.ws();
        }
        Vector::Multi(rows)
    } else {
        p.i = open;
        Vector::Single(p.row()?)
    };
    p.ws();
    if p.i != p.s.len() {
        return Err("unexpected text after the vector".into());
    }
    Ok(vector)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "a vector must be an array of numbers (expected '{}' at byte {})",
                c as char,
                self.i + 1
            ))
        }
    }

    /// After an element: true when a comma follows, false at the closing bracket.
    fn comma_or_end(&mut self) -> Result<bool, String> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(format!(
                "a vector must be an array of numbers (unexpected byte {})",
                self.i + 1
            )),
        }
    }

    /// `[n, n, ...]` of float32 values.
    fn row(&mut self) -> Result<Vec<f32>, String> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(out);
        }
        loop {
            self.ws();
            let start = self.i;
            while matches!(
                self.peek(),
                Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            ) {
                self.i += 1;
            }
            let token = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            if !is_json_number(token) {
                return Err(format!(
                    "element {} of a vector must be a number",
                    out.len()
                ));
            }
            match token.parse::<f32>() {
                Ok(x) if x.is_finite() => out.push(x),
                _ => {
                    return Err(format!(
                        "element {} of a vector ({token}) is outside the float32 range",
                        out.len()
                    ))
                }
            }
            if !self.comma_or_end()? {
                return Ok(out);
            }
        }
    }
}

/// JSON's number grammar, which is stricter than Rust's float parser (no `+1`, `.5`, `1.`).
fn is_json_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The lowercase hyphenated form of a UUID given with or without hyphens, in either case.
pub fn canonical_id(id: &str) -> Option<String> {
    let hex: Vec<u8> = match id.len() {
        36 => {
            let b = id.as_bytes();
            if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                return None;
            }
            id.bytes().filter(|&c| c != b'-').collect()
        }
        32 => id.bytes().collect(),
        _ => return None,
    };
    if hex.len() != 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let hex = String::from_utf8(hex).ok()?.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_parse_straight_to_f32() {
        // 1.00000005960464477539 lies exactly between two float32 values; through f64 it
        // would round once to f64 and again to f32.
        let v = parse_vector("[1.0000000596046448, -0.0, 1e-45, 3.4028235e38, 0]").unwrap();
        let Vector::Single(v) = v else { panic!() };
        assert_eq!(v[0], 1.0 + f32::EPSILON);
        assert_eq!("1.0000000596046448".parse::<f64>().unwrap() as f32, 1.0);
        assert_eq!(v[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(v[2].to_bits(), 1);
        assert_eq!(v[3], f32::MAX);
        assert!(
            matches!(parse_vector("[[1,2],[3]]"), Ok(Vector::Multi(m)) if m == vec![vec![1.0, 2.0], vec![3.0]])
        );
        assert!(matches!(parse_vector(" [ ] "), Ok(Vector::Single(v)) if v.is_empty()));
        for bad in [
            "[1e39]", "[\"a\"]", "[1,]", "[.5]", "[+1]", "[1] x", "{}", "[[1],2]",
        ] {
            assert!(parse_vector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn objects_round_trip_through_json() {
        let line = r#"{"class":"A","id":"6B29FC40CA471067B31D00DD010662DA","properties":{"n":9007199254740993,"x":null},"vector":[0.1,-0.0],"vectors":{"m":[[1,2]],"s":[3],"z":null},"creationTimeUnix":5,"result":{}}"#;
        let o: Object = serde_json::from_str(line).unwrap();
        assert_eq!(o.properties["n"].as_u64(), Some(9007199254740993));
        assert_eq!(o.vectors.len(), 2);
        let again: Object = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(again, o);
        assert_eq!(
            canonical_id(&o.id).as_deref(),
            Some("6b29fc40-ca47-1067-b31d-00dd010662da")
        );
        assert_eq!(canonical_id("6b29fc40-ca47-1067-b31d00-dd010662da"), None);
    }
}
