//! ely-ingest: keeps a collection in step with git repositories. Change records (mgit's real
//! output, the designed three-tier records, plain path lists) and git itself (`--git DIR`:
//! what was committed since the last run) become one object per chunk of each file, written
//! and deleted through the sink that ely-restore uses, with one result line per change.
//!
//! - [`change`]: reading the records (C-quoted paths, renames, content tiers, noise);
//! - [`git`]: repositories, diffs, tracked files and blobs from git;
//! - [`repos`]: repository folders, and reading files only where the user allows;
//! - [`filter`]: globs, default excludes, sizes, binary content;
//! - [`chunk`]: chunks on line boundaries; [`model`]: properties, ids, languages;
//! - [`state`]: the commits remembered between runs;
//! - [`run`]: the run itself.

pub mod change;
pub mod chunk;
pub mod filter;
pub mod git;
pub mod model;
pub mod repos;
mod run;
pub mod state;

pub use run::{ingest, Finished, IngestOptions, Totals};
