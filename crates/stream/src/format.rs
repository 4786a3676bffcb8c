//! The control lines of the ely stream (header and trailer) and the section hash.
//!
//! Control lines carry the reserved top-level key `"ely"`, which no Weaviate object has, so a
//! reader can never mistake one for an object. docs/FORMAT.md is the prose version of this file.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

/// The version of the stream format this code writes, and the newest it reads. Version 2
/// covers each section's header line by its trailer's hash; version 1 (still read) covers
/// the object lines only.
pub const FORMAT_VERSION: u32 = 2;

/// The first format version whose trailer hash covers the header line.
pub const HEADER_HASHED_SINCE: u32 = 2;

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
    /// The hash of a section opened by header `line` of format `version`: from version 2 on
    /// it starts with the header's bytes (and a `\n`), so that a damaged header fails the
    /// trailer's check like a damaged object line; the count stays that of object lines.
    pub fn for_header(version: u32, line: &[u8]) -> SectionHash {
        let mut h = SectionHash::default();
        if version >= HEADER_HASHED_SINCE {
            h.state.update(line);
            h.state.update(b"\n");
        }
        h
    }

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

pub use ely_vocab::base64;
pub use ely_vocab::float::write_f32;

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
    fn collection_names_compare_like_weaviate() {
        assert!(same_collection("code", "Code"));
        assert!(!same_collection("CODE", "Code"));
        assert!(!same_collection("Code", "Codes"));
    }
}
