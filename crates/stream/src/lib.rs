//! The ely stream: the JSONL format every ely binary speaks, and the code that reads and
//! writes it.
//!
//! A stream is one JSON object per line: object lines in Weaviate's REST object shape, and
//! control lines (a collection's header and trailer) under the reserved key `"ely"`. The
//! whole stream may be compressed with zstd, gzip or lz4, detected from its first bytes.
//! [`read_stream`] reads any of them in parallel, in order, verifying trailers;
//! [`StreamWriter`] writes them, atomically when to a file. docs/FORMAT.md describes the
//! format in full.

pub mod atomic;
pub mod classify;
pub mod compression;
pub mod dead_letter;
pub mod error;
pub mod format;
pub mod normalize;
pub mod read;
pub mod write;

pub use compression::Compression;
pub use dead_letter::DeadLetter;
pub use error::{ErrorKind, StreamError};
pub use format::{Control, Header, SectionHash, Trailer, FORMAT_VERSION, HASH_ALGORITHM};
pub use read::{read_stream, Counters, Event, Input, ReadOptions, SectionSummary, Summary};
pub use write::{StreamWriter, WriteOptions, Written};
