//! The records ely binaries print and keep besides the stream itself, typed, so that every
//! binary writes them one way and a reader (a script, ely-catalog) can rely on their shape:
//!
//! - [`Manifest`]: what ely-backup wrote to a file (`{"ely":"manifest",...}` on stdout);
//! - [`Checkpoint`]: how far a resumable run got (the `--checkpoint` file);
//! - [`CollectionReport`], [`BatchResult`], [`ObjectResult`]: the result lines of a write
//!   (ely-restore, and every binary built on the same sink);
//! - [`Verification`]: what `ely-convert --check` (through [`crate::verify`]) says of a stream;
//! - [`Rejected`]: one record of a dead-letter file (a line set aside, and why).
//!
//! Records with an `"ely"` key implement [`Record`]: [`Record::to_line`] writes the key first,
//! [`Record::from_line`] refuses a line of another kind. docs/FORMAT.md and docs/BACKUP.md
//! describe each in prose.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::format::control_line;

/// A record written as one line `{"ely": KIND, ...}`.
pub trait Record: Serialize + DeserializeOwned {
    /// The value of its `"ely"` key.
    const KIND: &'static str;

    /// The record as one JSON line (without the line ending), `"ely"` first.
    fn to_line(&self) -> Vec<u8> {
        control_line(Self::KIND, self)
    }

    /// Reads a record of this kind; an error says what is wrong with the line.
    fn from_line(line: &[u8]) -> Result<Self, String> {
        let mut map: Map<String, Value> =
            serde_json::from_slice(line).map_err(|e| e.to_string())?;
        match map.remove("ely") {
            Some(Value::String(k)) if k == Self::KIND => {}
            Some(Value::String(k)) => {
                return Err(format!("it is a \"{k}\" record, not a {}", Self::KIND))
            }
            Some(_) => return Err(format!("its \"ely\" key is not a {}", Self::KIND)),
            None => return Err(format!("it has no \"ely\": \"{}\" key", Self::KIND)),
        }
        serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())
    }
}

/// What ely-backup wrote to a file: printed on stdout once the file is complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The file's absolute path.
    pub file: String,
    /// `jsonl` (an ely stream).
    pub format: String,
    /// `none`, `zstd`, `gzip` or `lz4`.
    pub compression: String,
    pub collections: Vec<ManifestCollection>,
    /// Objects in the file, over every collection.
    pub objects: u64,
    /// The file's size.
    pub bytes: u64,
    /// Hash of the file's bytes as written (after compression).
    pub hash: String,
    /// The algorithm of `hash`.
    pub algorithm: String,
    /// Headers and trailers only.
    pub schema_only: bool,
    /// Only part of the collections was written (`--tenant`, `--properties`, `--where`).
    pub filtered: bool,
    /// When the backup started and finished, RFC 3339.
    pub started: String,
    pub finished: String,
    /// The store it came from, without credentials.
    pub source: String,
    pub ely_version: String,
}

impl Record for Manifest {
    const KIND: &'static str = "manifest";
}

/// One collection of a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestCollection {
    pub name: String,
    pub objects: u64,
    /// Tenants written (0 for a collection without multi-tenancy).
    pub tenants: usize,
}

/// How far a resumable run got: every object line up to `line` was acknowledged (written,
/// unchanged, skipped, rejected into the dead-letter file, or left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The input's name, for messages.
    pub input: String,
    /// A hash of the input's first line, to refuse resuming another input.
    pub first_line: String,
    pub line: u64,
    /// The chain hash of the input's lines up to `line`: a resumed input must match it.
    #[serde(default)]
    pub chain: u64,
    /// The dead-letter file's length at that point; a resumed run cuts it back to this.
    #[serde(default)]
    pub dead_letter_bytes: u64,
    /// When it was written, RFC 3339.
    pub updated: String,
}

impl Record for Checkpoint {
    const KIND: &'static str = "checkpoint";
}

/// A collection made ready for writing: printed before its first result line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionReport {
    /// The target collection.
    pub collection: String,
    /// The stream's name for it, when it was renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `exists`, `create` or `auto-schema`.
    pub action: String,
    /// Properties added to an existing collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_properties: Vec<String>,
    /// Tenants created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
}

impl Record for CollectionReport {
    const KIND: &'static str = "collection";
}

/// What happened to one batch of objects (the default result line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    pub collection: String,
    /// The batch's number, from 0, in input order (the references pass counts again).
    pub batch: u64,
    /// The input lines of its first and last objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_line: Option<u64>,
    pub objects: u64,
    pub written: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// The rejected objects, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejects: Vec<Reject>,
    /// `references` for the second pass, which writes objects again with their references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Set on a dry run: nothing was written.
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

/// One rejected object of a [`BatchResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reject {
    pub line: u64,
    pub id: String,
    pub reason: String,
}

/// What happened to one object (`--results objects`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectResult {
    pub collection: String,
    pub line: u64,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// `written`, `unchanged`, `skipped` or `rejected`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub dry_run: bool,
}

/// What a verification found: one line, `ely-convert --check`'s output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// The input's name (`<stdin>` for stdin).
    pub input: String,
    /// The compression found, when the input could be read at all.
    pub compression: Option<String>,
    /// True only when every collection ended with a trailer that matched.
    pub verified: bool,
    pub collections: Vec<VerifiedCollection>,
    pub objects: u64,
    pub lines: u64,
    pub bad_lines: u64,
    /// Bytes after decompression.
    pub bytes: u64,
    /// Bytes as read.
    pub compressed_bytes: u64,
    /// Why verification failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One section of a [`Verification`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedCollection {
    /// The header's collection; `None` for objects without a header.
    pub collection: Option<String>,
    pub objects: u64,
    pub verified: bool,
    /// What the verification proved, when it passed: `header and objects` (format version
    /// 2: the trailer's hash covers the header line too) or `objects` (version 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

/// A line that could not be used, and why: one record of the dead-letter file, which
/// ely-restore reads back as the line it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejected {
    /// The input's name (`-` for stdin).
    #[serde(default)]
    pub input: String,
    /// 1-based line number in the decompressed input.
    #[serde(default)]
    pub line: u64,
    /// Why the line was rejected.
    #[serde(default)]
    pub reason: String,
    /// The line itself, when it is valid UTF-8 and no longer than the line limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The line, base64-encoded, when it is not valid UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// The line's length in bytes, when only its start is kept (too-long lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl Record for Rejected {
    const KIND: &'static str = "rejected";
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_write_their_kind_first_and_refuse_other_kinds() {
        let cp = Checkpoint {
            input: "in.jsonl".into(),
            first_line: "ab".into(),
            line: 7,
            chain: 9,
            dead_letter_bytes: 0,
            updated: "2026-01-01T00:00:00.000Z".into(),
        };
        let line = cp.to_line();
        assert_eq!(
            String::from_utf8(line.clone()).unwrap(),
            r#"{"ely":"checkpoint","input":"in.jsonl","first_line":"ab","line":7,"chain":9,"dead_letter_bytes":0,"updated":"2026-01-01T00:00:00.000Z"}"#
        );
        assert_eq!(Checkpoint::from_line(&line), Ok(cp));
        let err = Manifest::from_line(&line).unwrap_err();
        assert!(err.contains("not a manifest"), "{err}");
        assert!(Checkpoint::from_line(b"{}")
            .unwrap_err()
            .contains("no \"ely\""));
        assert!(Checkpoint::from_line(b"[").is_err());
    }

    #[test]
    fn optional_members_are_left_out() {
        let r = BatchResult {
            collection: "A".into(),
            batch: 0,
            first_line: Some(1),
            last_line: Some(2),
            objects: 2,
            written: 2,
            unchanged: 0,
            skipped: 0,
            rejected: 0,
            rejects: Vec::new(),
            pass: None,
            dry_run: false,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"collection":"A","batch":0,"first_line":1,"last_line":2,"objects":2,"written":2,"unchanged":0,"skipped":0,"rejected":0}"#
        );
        let c = CollectionReport {
            collection: "B".into(),
            from: Some("A".into()),
            action: "create".into(),
            add_properties: Vec::new(),
            tenants: vec!["t".into()],
        };
        assert_eq!(
            String::from_utf8(c.to_line()).unwrap(),
            r#"{"ely":"collection","collection":"B","from":"A","action":"create","tenants":["t"]}"#
        );
    }
}
