//! The control lines of the ely stream (header, trailer, rejected record) and the section hash.
//!
//! Control lines carry the reserved top-level key `"ely"`, which no Weaviate object has, so a
//! reader can never mistake one for an object. docs/FORMAT.md is the prose version of this file.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// The version of the stream format this code writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The only hash algorithm writers use today; readers refuse to verify against any other.
pub const HASH_ALGORITHM: &str = "xxh3-128";

/// Opens a collection's section: what the collection is and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version; a reader refuses a version newer than [`FORMAT_VERSION`].
    pub version: u32,
    /// The collection (Weaviate class) name.
    pub collection: String,
    /// The class definition as Weaviate returns it, server-only fields stripped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Value>,
    /// Tenants of a multi-tenant collection, as Weaviate lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<Vec<Value>>,
    /// Where the data came from: a store URL without credentials, a path, a tool name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When the section was written, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// Closes a section: how many object lines it held and a hash of their bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trailer {
    /// The collection named by the section's header; absent for a headerless section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Number of object lines in the section.
    pub objects: u64,
    /// Lowercase hex digest of the section's object lines, see [`SectionHash`].
    pub hash: String,
    /// The algorithm of `hash`, e.g. `xxh3-128`.
    pub algorithm: String,
}

/// A control line as read from a stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "ely", rename_all = "lowercase")]
pub enum Control {
    Header(Header),
    Trailer(Trailer),
}

/// A record of the dead-letter file: one line that could not be used, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rejected<'a> {
    /// Always `"rejected"`.
    pub ely: &'a str,
    /// The input's name (`-` for stdin).
    pub input: &'a str,
    /// 1-based line number in the decompressed input.
    pub line: u64,
    /// Why the line was rejected.
    pub reason: &'a str,
    /// The line itself, when it is valid UTF-8 and no longer than the line limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a str>,
    /// The line, base64-encoded, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// The line's length in bytes, when only its start is kept (too-long lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// The hash a trailer carries: xxh3-128 over each object line's bytes (without its line
/// ending, so CRLF input verifies the same) followed by one `\n`, in stream order.
#[derive(Clone)]
pub struct SectionHash {
    state: Xxh3,
    objects: u64,
}

impl Default for SectionHash {
    fn default() -> Self {
        SectionHash {
            state: Xxh3::new(),
            objects: 0,
        }
    }
}

impl SectionHash {
    /// Adds one object line (without its line ending).
    pub fn add(&mut self, line: &[u8]) {
        self.state.update(line);
        self.state.update(b"\n");
        self.objects += 1;
    }

    /// Adds a piece of a line too long to hold at once; [`SectionHash::end_line`] ends it.
    pub fn add_part(&mut self, piece: &[u8]) {
        self.state.update(piece);
    }

    /// Ends a line given in pieces.
    pub fn end_line(&mut self) {
        self.state.update(b"\n");
        self.objects += 1;
    }

    pub fn objects(&self) -> u64 {
        self.objects
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.state.digest128())
    }

    /// The trailer that closes this section.
    pub fn trailer(&self, collection: Option<&str>) -> Trailer {
        Trailer {
            collection: collection.map(str::to_owned),
            objects: self.objects,
            hash: self.hex(),
            algorithm: HASH_ALGORITHM.to_owned(),
        }
    }
}

/// Serializes a control line (header or trailer) with its `"ely"` key first.
pub fn control_line<T: Serialize>(kind: &str, body: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"{\"ely\":");
    // A kind is a fixed ASCII word; serde_json quotes it.
    serde_json::to_writer(&mut out, kind).expect("writing to a Vec cannot fail");
    let body = serde_json::to_vec(body).expect("control lines serialize");
    if body.len() > 2 {
        out.push(b',');
        out.extend_from_slice(&body[1..]);
    } else {
        out.push(b'}');
    }
    out
}

/// Weaviate upper-cases the first letter of class names; two names address the same class
/// when they agree after that.
pub fn same_collection(a: &str, b: &str) -> bool {
    let mut x = a.chars();
    let mut y = b.chars();
    match (x.next(), y.next()) {
        (Some(p), Some(q)) => p.to_uppercase().eq(q.to_uppercase()) && x.as_str() == y.as_str(),
        (None, None) => true,
        _ => false,
    }
}

/// Writes `x` in the shortest decimal form that reads back to the same float32 (`1` rather
/// than `1.0`); vectors are always written through here, never through f64 text.
pub fn write_f32(out: &mut Vec<u8>, x: f32) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x);
    let s = s.strip_suffix(".0").unwrap_or(s);
    out.extend_from_slice(s.as_bytes());
}

/// Formats `base64` with the standard padded alphabet (for non-UTF-8 lines in dead letters).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= c.len() {
                s.push(ABC[(n >> shift) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_lines_start_with_the_reserved_key() {
        let t = SectionHash::default().trailer(Some("Code"));
        let line = control_line("trailer", &t);
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.starts_with(r#"{"ely":"trailer","collection":"Code","objects":0,"#),
            "{text}"
        );
        let back: Control = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Control::Trailer(t));
    }

    #[test]
    fn hash_ignores_how_lines_were_split_but_not_their_bytes() {
        let mut a = SectionHash::default();
        a.add(b"{\"id\":1}");
        a.add(b"{\"id\":2}");
        let mut b = SectionHash::default();
        b.add(b"{\"id\":1}");
        b.add(b"{\"id\":3}");
        assert_ne!(a.hex(), b.hex());
        assert_eq!(a.hex().len(), 32);
    }

    #[test]
    fn f32_shortest_forms() {
        let cases: [(f32, &str); 6] = [
            (1.0, "1"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e-7, "1e-7"),
            (f32::MAX, "3.4028235e38"),
            (1.5, "1.5"),
        ];
        for (x, want) in cases {
            let mut out = Vec::new();
            write_f32(&mut out, x);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want);
            assert_eq!(want.parse::<f32>().unwrap().to_bits(), x.to_bits());
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn collection_names_compare_like_weaviate() {
        assert!(same_collection("code", "Code"));
        assert!(!same_collection("CODE", "Code"));
        assert!(!same_collection("Code", "Codes"));
    }
}
