//! The ely stream: the JSONL format every ely binary speaks, and the code that reads and
//! writes it.
//!
//! A stream is one JSON object per line: object lines in Weaviate's REST object shape, and
//! control lines (a collection's header and trailer) under the reserved key `"ely"`. The
//! whole stream may be compressed with zstd, gzip or lz4, detected from its first bytes.
//! [`read_stream`] reads any of them in parallel, in order, verifying trailers;
//! [`StreamWriter`] writes them, atomically when to a file. docs/FORMAT.md describes the
//! format in full.
//!
//! Around the stream: [`Source`], where objects come from ([`Jsonl`] is the stream as one);
//! [`verify`], a whole stream checked; the typed records the binaries print and keep
//! ([`Manifest`], [`Checkpoint`], result lines, [`Verification`]); [`DeadLetter`], where
//! rejected lines go.

pub mod atomic;
pub mod classify;
pub mod compression;
pub mod dead_letter;
pub mod error;
pub mod format;
pub mod normalize;
pub mod read;
pub mod records;
pub mod source;
pub mod verify;
pub mod write;

pub use compression::Compression;
pub use dead_letter::DeadLetter;
pub use error::{ErrorKind, StreamError};
pub use format::{Control, Header, SectionHash, Trailer, FORMAT_VERSION, HASH_ALGORITHM};
pub use read::{read_stream, Counters, Event, Input, ReadOptions, SectionSummary, Summary};
pub use records::{
    BatchResult, Checkpoint, CollectionReport, Manifest, ManifestCollection, ObjectResult, Record,
    Reject, Rejected, Verification, VerifiedCollection,
};
pub use source::{Jsonl, Source};
pub use verify::{verify, Verified};
pub use write::{StreamOut, StreamWriter, WriteOptions, Written};
