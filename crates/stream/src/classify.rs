//! Tells what one line is (blank, object, control line, or bad, with the reason), parsing it
//! fully with simd-json on buffers that each worker thread reuses from line to line.

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value as TapeValue};

use crate::format::{Control, FORMAT_VERSION};

/// What a line turned out to be.
#[derive(Debug)]
pub enum Kind {
    Blank,
    /// An object line; `class` is its `"class"` when it has one.
    Object {
        class: Option<Box<str>>,
    },
    Control(Box<Control>),
    Bad(String),
}

/// Per-thread parsing state. simd-json is built with approximate number parsing: the numbers
/// it parses are used only to check that vector values fit float32 (anything written out is
/// taken from the line's own text), so exact rounding there buys nothing and costs a third of
/// the parse time.: simd-json's buffers, a copy of the line (simd-json writes into
/// its input), and the tape, all kept between lines.
pub struct Classifier {
    buffers: simd_json::Buffers,
    scratch: Vec<u8>,
    tape: Option<Tape<'static>>,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier {
            buffers: simd_json::Buffers::new(64 * 1024),
            scratch: Vec::new(),
            tape: None,
        }
    }
}

impl Classifier {
    /// Classifies `line` (without its line ending).
    pub fn classify(&mut self, line: &[u8]) -> Kind {
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Kind::Blank;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(line);
        let mut tape = self.tape.take().unwrap_or_else(|| Tape::null().reset());
        let kind = match simd_json::fill_tape(&mut self.scratch, &mut self.buffers, &mut tape) {
            Ok(()) if has_control_bytes(line) => match control_byte_error(line) {
                Some(reason) => Kind::Bad(reason),
                None => inspect(tape.as_value(), line),
            },
            Ok(()) => inspect(tape.as_value(), line),
            Err(e) => match wide_numbers(line) {
                // Valid JSON whose numbers simd-json cannot hold (integers past 2^64, say):
                // the same line with those numbers written as floats is checked instead.
                Some(mut rewritten) => {
                    let mut wide = Tape::null().reset();
                    match simd_json::fill_tape(&mut rewritten, &mut self.buffers, &mut wide) {
                        Ok(()) => inspect(wide.as_value(), line),
                        Err(_) => Kind::Bad(json_error(line, &e)),
                    }
                }
                None => Kind::Bad(json_error(line, &e)),
            },
        };
        if line.len() > KEEP_BUFFERS_UP_TO {
            // One huge line must not pin several times its size for the rest of the run.
            *self = Classifier::default();
        } else {
            self.tape = Some(tape.reset());
        }
        kind
    }
}

/// Lines up to this size leave their buffers in place for the next line.
const KEEP_BUFFERS_UP_TO: usize = 4 << 20;

/// True when the line holds a byte below 0x20. Written to vectorize: it runs on every line.
fn has_control_bytes(line: &[u8]) -> bool {
    line.chunks(64)
        .any(|c| c.iter().fold(false, |acc, &b| acc | (b < 0x20)))
}

/// simd-json lets a NUL byte after a value, and raw control characters inside strings, pass;
/// Weaviate's decoder (Go's encoding/json) rejects both, and so must we. Outside strings
/// only tab and carriage return are whitespace (a line holds no newline).
fn control_byte_error(line: &[u8]) -> Option<String> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in line.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                0..=0x1f => {
                    return Some(format!(
                    "invalid JSON: unescaped control character 0x{b:02x} in a string at column {}",
                    i + 1
                ))
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'\t' | b'\r' => {}
                0..=0x1f => {
                    return Some(format!(
                        "invalid JSON: control character 0x{b:02x} at column {}",
                        i + 1
                    ))
                }
                _ => {}
            }
        }
    }
    None
}

/// When serde_json reads a line simd-json refused, the refusal was about a number's size, not
/// the syntax: returns the line re-serialized, with such numbers as floats. Rare, so slow.
fn wide_numbers(line: &[u8]) -> Option<Vec<u8>> {
    let mut value: serde_json::Value = serde_json::from_slice(line).ok()?;
    // simd-json also refuses float64 subnormals (5e-324); as zeros they check the same way
    // (a float32 vector element that small is zero too).
    fn flush_subnormals(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n)
                if n.as_f64()
                    .is_some_and(|x| x != 0.0 && x.abs() < f64::MIN_POSITIVE) =>
            {
                *n = serde_json::Number::from(0);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(flush_subnormals),
            serde_json::Value::Object(m) => m.values_mut().for_each(flush_subnormals),
            _ => {}
        }
    }
    flush_subnormals(&mut value);
    serde_json::to_vec(&value).ok()
}

/// simd-json validates UTF-8 and syntax in one pass; when it fails, the reason is worked out
/// here: UTF-8 first, then serde_json, which words syntax errors better ("expected `,` or
/// `}` at column 12"). Bad lines are rare, so this costs nothing on the fast path.
fn json_error(line: &[u8], e: &simd_json::Error) -> String {
    if let Err(e) = std::str::from_utf8(line) {
        return format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1);
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Err(se) => format!(
            "invalid JSON: {}",
            se.to_string().replace(" at line 1 column", " at column")
        ),
        Ok(_) => format!("invalid JSON: {e}"),
    }
}

fn type_name(v: &TapeValue<'_, '_>) -> &'static str {
    match v.value_type() {
        ValueType::Null => "null",
        ValueType::Bool => "a boolean",
        ValueType::String => "a string",
        ValueType::Array => "an array",
        ValueType::Object => "an object",
        _ => "a number",
    }
}

fn inspect(root: TapeValue<'_, '_>, line: &[u8]) -> Kind {
    let Some(obj) = root.as_object() else {
        return Kind::Bad(format!(
            "a line must be a JSON object, found {}",
            type_name(&root)
        ));
    };
    if obj.get("ely").is_some() {
        return control(line);
    }
    let mut class = None;
    let mut has_id = false;
    for (key, value) in obj.iter() {
        let problem = match key {
            "id" => {
                has_id = true;
                match value.as_str() {
                    Some(id) if is_uuid(id) => None,
                    Some(id) => Some(format!("\"id\" is not a UUID: {:?}", truncate(id, 60))),
                    None => Some(format!(
                        "\"id\" must be a UUID string, found {}",
                        type_name(&value)
                    )),
                }
            }
            "class" => match value.as_str() {
                Some(c) => {
                    class = Some(c.into());
                    None
                }
                None => Some(format!(
                    "\"class\" must be a string, found {}",
                    type_name(&value)
                )),
            },
            "vector" => check_vector(&value).map(|e| format!("\"vector\" {e}")),
            "vectors" => check_named_vectors(&value),
            "properties" if !value.is_null() && !value.is_object() => Some(format!(
                "\"properties\" must be an object, found {}",
                type_name(&value)
            )),
            "tenant" if !value.is_null() && !value.is_str() => Some(format!(
                "\"tenant\" must be a string, found {}",
                type_name(&value)
            )),
            _ => None,
        };
        if let Some(p) = problem {
            return Kind::Bad(p);
        }
    }
    if !has_id {
        return Kind::Bad("object has no \"id\" (every object line needs its UUID)".into());
    }
    Kind::Object { class }
}

fn control(line: &[u8]) -> Kind {
    match serde_json::from_slice::<Control>(line) {
        Ok(Control::Header(h)) if h.version > FORMAT_VERSION => Kind::Bad(format!(
            "header has format version {}, newer than this ely reads ({FORMAT_VERSION}); upgrade ely",
            h.version
        )),
        Ok(Control::Header(h)) => match header_problem(&h) {
            Some(p) => Kind::Bad(format!("bad header: {p}")),
            None => Kind::Control(Box::new(Control::Header(h))),
        },
        Ok(c) => Kind::Control(Box::new(c)),
        Err(e) => Kind::Bad(format!(
            "bad control line (a line with an \"ely\" key): {}",
            e.to_string().replace(" at line 1 column", " at column")
        )),
    }
}

/// What is wrong with the types of a header's fields, which restores rely on: the class an
/// object, its name a string, its properties objects with a string `name` and a `dataType`
/// of strings, tenants objects with a string `name`.
fn header_problem(h: &crate::format::Header) -> Option<String> {
    use serde_json::Value;
    if let Some(class) = &h.class {
        let Some(c) = class.as_object() else {
            return Some("\"class\" must be an object".into());
        };
        for key in ["class", "vectorizer", "description"] {
            if c.get(key).is_some_and(|v| !v.is_string()) {
                return Some(format!("\"class\".{key} must be a string"));
            }
        }
        if let Some(props) = c.get("properties") {
            let Some(props) = props.as_array() else {
                return Some("\"class\".properties must be an array".into());
            };
            for (i, p) in props.iter().enumerate() {
                let name_ok = p.get("name").is_some_and(Value::is_string);
                let types_ok = p
                    .get("dataType")
                    .and_then(Value::as_array)
                    .is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_string));
                if !name_ok || !types_ok {
                    return Some(format!(
                        "property {i} of \"class\" needs a string \"name\" and a \"dataType\" of strings"
                    ));
                }
            }
        }
    }
    for (i, t) in h.tenants.iter().flatten().enumerate() {
        if !t.get("name").is_some_and(Value::is_string) {
            return Some(format!("tenant {i} needs a string \"name\""));
        }
    }
    None
}

/// `null`, or an array of numbers that fit float32.
fn check_vector(v: &TapeValue<'_, '_>) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let Some(arr) = v.as_array() else {
        return Some(format!(
            "must be an array of numbers, found {}",
            type_name(v)
        ));
    };
    for (i, x) in arr.iter().enumerate() {
        match x.cast_f64() {
            Some(f) if (f as f32).is_finite() => {}
            Some(f) => return Some(format!("element {i} ({f}) is outside the float32 range")),
            None => {
                return Some(format!(
                    "element {i} must be a number, found {}",
                    type_name(&x)
                ))
            }
        }
    }
    None
}

/// `null`, or an object whose values are vectors or multi-vectors (arrays of vectors).
fn check_named_vectors(v: &TapeValue<'_, '_>) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let Some(map) = v.as_object() else {
        return Some(format!(
            "\"vectors\" must be an object, found {}",
            type_name(v)
        ));
    };
    for (name, vec) in map.iter() {
        let multi = vec
            .as_array()
            .and_then(|a| a.get(0))
            .is_some_and(|first| first.is_array());
        let problem = if multi {
            vec.as_array()
                .into_iter()
                .flat_map(|a| a.iter())
                .enumerate()
                .find_map(|(i, inner)| check_vector(&inner).map(|e| format!("[{i}] {e}")))
        } else {
            check_vector(&vec)
        };
        if let Some(p) = problem {
            return Some(format!("\"vectors\".{name:?} {p}"));
        }
    }
    None
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub use ely_vocab::id::is_uuid;

#[cfg(test)]
mod tests {
    use super::*;

    fn bad(line: &str) -> String {
        match Classifier::default().classify(line.as_bytes()) {
            Kind::Bad(r) => r,
            k => panic!("{line} classified as {k:?}"),
        }
    }

    #[test]
    fn objects_and_blank_lines() {
        let mut c = Classifier::default();
        let ok = r#"{"class":"Code","id":"6B29FC40-CA47-1067-B31D-00DD010662DA","vector":[1,-0.0,3e-40],"vectors":{"a":[1],"m":[[1,2],[3,4]],"e":[]}}"#;
        assert!(
            matches!(c.classify(ok.as_bytes()), Kind::Object { class: Some(ref s) } if &**s == "Code")
        );
        assert!(matches!(c.classify(b"  \t "), Kind::Blank));
        assert!(matches!(c.classify(b""), Kind::Blank));
    }

    #[test]
    fn reasons_name_the_problem() {
        assert!(bad(r#"{"id": "6b29fc40-ca47-1067-b31d-00dd010662da""#).starts_with("invalid JSON"));
        assert!(bad(r#"{"class":"A"}"#).contains("no \"id\""));
        assert!(bad(r#"{"id":"nope"}"#).contains("not a UUID"));
        assert!(bad(r#"[1,2]"#).contains("found an array"));
        let v = bad(r#"{"id":"6b29fc40-ca47-1067-b31d-00dd010662da","vector":[1,"x"]}"#);
        assert!(v.contains("element 1 must be a number"), "{v}");
        let v = bad(r#"{"id":"6b29fc40-ca47-1067-b31d-00dd010662da","vector":[1e39]}"#);
        assert!(v.contains("float32 range"), "{v}");
        let v = bad(r#"{"id":"6b29fc40-ca47-1067-b31d-00dd010662da","vectors":{"m":[[1],["a"]]}}"#);
        assert!(v.contains("\"m\" [1] element 0"), "{v}");
        assert!(bad(r#"{"ely":"party"}"#).contains("bad control line"));
        assert!(bad(r#"{"ely":"header","version":99,"collection":"A"}"#).contains("upgrade ely"));
        assert!(Classifier::default().classify(b"\xff{}").is_bad_utf8());
        let id = "\"id\":\"6b29fc40-ca47-1067-b31d-00dd010662da\"";
        assert!(bad(&format!("{{{id},\"n\":1\u{0}}}")).contains("control character 0x00 at column"));
        assert!(bad(&format!("{{{id},\"s\":\"a\u{1}\"}}")).contains("control character"));
        assert!(bad(&format!("{{{id},\"s\":\"a\tb\"}}")).contains("control character"));
        let mut c = Classifier::default();
        let tabbed = format!("{{\t{id},\r\"s\":\"\\\"\\t\"}}");
        assert!(
            matches!(c.classify(tabbed.as_bytes()), Kind::Object { .. }),
            "{tabbed}"
        );
    }

    #[test]
    fn integers_wider_than_64_bits_are_valid_json() {
        let id = "\"id\":\"6b29fc40-ca47-1067-b31d-00dd010662da\"";
        let mut c = Classifier::default();
        for props in [
            r#"{"n":18446744073709551616}"#,
            r#"{"n":-99999999999999999999999,"m":[1e308,123456789012345678901234567890]}"#,
            r#"{"tiny":[5e-324,-4.9406564584124654e-324,1e-320,2.2250738585072014e-308]}"#,
        ] {
            let line = format!("{{{id},\"properties\":{props},\"vector\":[99999999999999999999]}}");
            assert!(
                matches!(c.classify(line.as_bytes()), Kind::Object { .. }),
                "{line}"
            );
        }
        let v = bad(&format!("{{{id},\"vector\":[1e39999]}}"));
        assert!(v.starts_with("invalid JSON"), "{v}");
        let v = bad(&format!(
            "{{{id},\"vector\":[123456789012345678901234567890123456789012]}}"
        ));
        assert!(v.contains("float32 range"), "{v}");
    }

    impl Kind {
        fn is_bad_utf8(&self) -> bool {
            matches!(self, Kind::Bad(r) if r.starts_with("invalid UTF-8"))
        }
    }
}
