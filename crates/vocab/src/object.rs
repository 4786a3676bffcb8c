//! The object: Weaviate's REST object shape, with vectors read straight from their decimal
//! text into float32 (never through f64, which could round a value differently) and written
//! in shortest float32 form, so that no vector bit changes on the way through.

use std::collections::BTreeMap;
use std::io::Write;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::float::write_f32s;
use crate::json::{ObjectLine, Reader};

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
    let mut p = Reader::new(text.as_bytes(), 0);
    let vector = p.vector()?;
    if !p.at_end() {
        return Err("unexpected text after the vector".into());
    }
    Ok(vector)
}

impl Object {
    /// Reads one object line of the stream in one pass (see [`Reader::object_line`]): `None`
    /// when it is not a valid object line, or is one this reader leaves to serde_json.
    pub fn from_line(line: &[u8]) -> Option<ObjectLine> {
        std::str::from_utf8(line).ok()?;
        let mut p = Reader::new(line, 0);
        let o = p.object_line()?;
        p.at_end().then_some(o)
    }

    /// Reads one object line: in one pass when it can, else by serde_json, whose error then
    /// says why the line is not an object.
    pub fn read_line(line: &[u8]) -> Result<ObjectLine, String> {
        match Object::from_line(line) {
            Some(read) => Ok(read),
            None => Object::from_serde(line),
        }
    }

    /// Reads one object line by serde_json (no vector text is kept).
    pub fn from_serde(line: &[u8]) -> Result<ObjectLine, String> {
        serde_json::from_slice::<Object>(line)
            .map(|object| ObjectLine {
                object,
                ..ObjectLine::default()
            })
            .map_err(|e| e.to_string())
    }

    /// Appends the object as one line of the ely stream (without the line ending): Weaviate's
    /// REST object shape, members in a fixed order, vectors in shortest float32 form.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        // An object without a class (a plain line of a section) keeps none.
        if self.class.is_empty() {
            out.extend_from_slice(b"{\"id\":");
        } else {
            out.extend_from_slice(b"{\"class\":");
            json(out, &self.class);
            out.extend_from_slice(b",\"id\":");
        }
        json(out, &self.id);
        if let Some(t) = &self.tenant {
            out.extend_from_slice(b",\"tenant\":");
            json(out, t);
        }
        out.extend_from_slice(b",\"properties\":");
        json(out, &self.properties);
        if let Some(v) = &self.vector {
            out.extend_from_slice(b",\"vector\":");
            write_f32s(out, v);
        }
        if !self.vectors.is_empty() {
            out.extend_from_slice(b",\"vectors\":{");
            for (i, (name, v)) in self.vectors.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json(out, name);
                out.push(b':');
                match v {
                    Vector::Single(v) => write_f32s(out, v),
                    Vector::Multi(rows) => {
                        out.push(b'[');
                        for (j, row) in rows.iter().enumerate() {
                            if j > 0 {
                                out.push(b',');
                            }
                            write_f32s(out, row);
                        }
                        out.push(b']');
                    }
                }
            }
            out.push(b'}');
        }
        // Writing into a Vec cannot fail.
        if let Some(t) = self.creation_time_unix {
            let _ = write!(out, ",\"creationTimeUnix\":{t}");
        }
        if let Some(t) = self.last_update_time_unix {
            let _ = write!(out, ",\"lastUpdateTimeUnix\":{t}");
        }
        out.push(b'}');
    }
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing strings and maps of JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::canonical_id;

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
    fn objects_write_as_they_read() {
        let line = r#"{"class":"A","id":"6b29fc40-ca47-1067-b31d-00dd010662da","tenant":"t","properties":{"n":9007199254740993,"s":"é\"x"},"vector":[0.1,-0,1e-45,3.4028235e38],"vectors":{"m":[[1,2.5],[3,4]],"s":[3]},"creationTimeUnix":5,"lastUpdateTimeUnix":6}"#;
        let o: Object = serde_json::from_str(line).unwrap();
        let mut out = Vec::new();
        o.write_line(&mut out);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), line);
        let again: Object = serde_json::from_slice(&out).unwrap();
        assert_eq!(again, o);
        assert_eq!(
            again.vector.as_ref().unwrap()[1].to_bits(),
            (-0.0f32).to_bits()
        );
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

    #[test]
    fn lines_read_in_one_pass_as_serde_reads_them() {
        let id = "6b29fc40-ca47-1067-b31d-00dd010662da";
        for line in [
            format!(
                r#"{{"class":"A","id":"{id}","properties":{{"n":9007199254740993,"t":"x\"y","big":18446744073709551616}},"vector":[0.1,-0.0,1e-45],"vectors":{{"m":[[1,2],[3]],"z":null}},"tenant":null,"creationTimeUnix":5,"other":[1,{{"a":"b"}}]}}"#
            ),
            format!(
                r#" {{ "id" : "{}" , "properties" : null , "vector" : [ ] }} "#,
                id.to_uppercase()
            ),
        ] {
            let want: Object = serde_json::from_str(&line).unwrap();
            let got = Object::from_line(line.as_bytes()).expect("read");
            assert_eq!(got.object, want, "{line}");
            assert_eq!(got.has_class, line.contains("\"class\""));
            // The texts of the vectors are where the line has them.
            let text = |r: Option<std::ops::Range<usize>>| r.map(|r| &line[r]);
            assert_eq!(
                text(got.vector_text).map(|t| parse_vector(t).unwrap()),
                want.vector.clone().map(Vector::Single)
            );
            assert_eq!(
                text(got.vectors_text).map(|t| t.starts_with('{') && t.ends_with('}')),
                (!want.vectors.is_empty() && !line.contains("null}")).then_some(true)
            );
        }
        // Lines that are not objects, or that serde_json must judge, are left alone.
        for line in [
            r#"{"class":"A"}"#.to_owned(),
            format!(r#"{{"ely":"header","id":"{id}"}}"#),
            r#"{"id":"not-a-uuid"}"#.to_owned(),
            format!(r#"{{"id":"{id}","id":"{id}"}}"#),
            format!(r#"{{"id":"{id}","vector":[1e39]}}"#),
            format!(r#"{{"id":"{id}","vector":[[1]]}}"#),
            format!(r#"{{"id":"{id}","class":null}}"#),
            format!(r#"{{"id":"{id}","properties":[]}}"#),
            format!(r#"{{"id":"{id}"}} x"#),
            format!("{{\"id\":\"{id}\",\"s\":\"a\u{1}\"}}"),
            format!("{{\"id\":\"{id}\"}}\u{0}"),
            // Members ely does not know are checked as strictly as the rest.
            format!(r#"{{"id":"{id}","additional":{{"x":1e400}}}}"#),
            format!(r#"{{"id":"{id}","other":"\udc00"}}"#),
        ] {
            assert_eq!(Object::from_line(line.as_bytes()), None, "{line}");
        }
        let mut bad_utf8 = format!(r#"{{"id":"{id}","x":"ab"}}"#).into_bytes();
        let at = bad_utf8.len() - 3;
        bad_utf8[at] = 0xff;
        assert_eq!(Object::from_line(&bad_utf8), None);
    }
}
