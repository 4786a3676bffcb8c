//! Object lines: an [`Object`] written as one line of the ely stream, in Weaviate's REST
//! object shape, with vectors in shortest float32 form (never through f64 text).

use std::io::Write;

use ely_store::{Object, Vector};
use ely_stream::format::write_f32;

/// Appends `obj` as one JSON line (without the line ending) to `out`.
pub fn write_object(obj: &Object, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"class\":");
    json(out, &obj.class);
    out.extend_from_slice(b",\"id\":");
    json(out, &obj.id);
    if let Some(t) = &obj.tenant {
        out.extend_from_slice(b",\"tenant\":");
        json(out, t);
    }
    out.extend_from_slice(b",\"properties\":");
    json(out, &obj.properties);
    if let Some(v) = &obj.vector {
        out.extend_from_slice(b",\"vector\":");
        floats(out, v);
    }
    if !obj.vectors.is_empty() {
        out.extend_from_slice(b",\"vectors\":{");
        for (i, (name, v)) in obj.vectors.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json(out, name);
            out.push(b':');
            match v {
                Vector::Single(v) => floats(out, v),
                Vector::Multi(rows) => {
                    out.push(b'[');
                    for (j, row) in rows.iter().enumerate() {
                        if j > 0 {
                            out.push(b',');
                        }
                        floats(out, row);
                    }
                    out.push(b']');
                }
            }
        }
        out.push(b'}');
    }
    // Writing into a Vec cannot fail.
    if let Some(t) = obj.creation_time_unix {
        let _ = write!(out, ",\"creationTimeUnix\":{t}");
    }
    if let Some(t) = obj.last_update_time_unix {
        let _ = write!(out, ",\"lastUpdateTimeUnix\":{t}");
    }
    out.push(b'}');
}

fn json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing strings and maps of JSON values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn floats(out: &mut Vec<u8>, v: &[f32]) {
    out.push(b'[');
    for (i, &x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_f32(out, x);
    }
    out.push(b']');
}

/// The UUID just before `id` (canonical form) in ascending order, for an inclusive cursor
/// start; `None` for the all-zero UUID, before which there is nothing.
pub fn uuid_before(id: &str) -> Option<String> {
    let mut b: Vec<u8> = id.bytes().collect();
    for i in (0..b.len()).rev() {
        match b[i] {
            b'-' => continue,
            b'0' => b[i] = b'f',
            b'a' => {
                b[i] = b'9';
                return String::from_utf8(b).ok();
            }
            c => {
                b[i] = c - 1;
                return String::from_utf8(b).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_write_as_they_read() {
        let line = r#"{"class":"A","id":"6b29fc40-ca47-1067-b31d-00dd010662da","tenant":"t","properties":{"n":9007199254740993,"s":"é\"x"},"vector":[0.1,-0,1e-45,3.4028235e38],"vectors":{"m":[[1,2.5],[3,4]],"s":[3]},"creationTimeUnix":5,"lastUpdateTimeUnix":6}"#;
        let o: Object = serde_json::from_str(line).unwrap();
        let mut out = Vec::new();
        write_object(&o, &mut out);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), line);
        let again: Object = serde_json::from_slice(&out).unwrap();
        assert_eq!(again, o);
        assert_eq!(
            again.vector.as_ref().unwrap()[1].to_bits(),
            (-0.0f32).to_bits()
        );
    }

    #[test]
    fn uuid_before_steps_back_one() {
        let id = "6b29fc40-ca47-1067-b31d-00dd010662a0";
        assert_eq!(
            uuid_before(id).unwrap(),
            "6b29fc40-ca47-1067-b31d-00dd0106629f"
        );
        assert_eq!(
            uuid_before("00000000-0000-0000-0000-000000000100").unwrap(),
            "00000000-0000-0000-0000-0000000000ff"
        );
        assert_eq!(uuid_before("00000000-0000-0000-0000-000000000000"), None);
    }
}
