//! ely-catalog's library: a catalog of every backup ely wrote (one SQLite file), which
//! answers what backups exist, whether they are intact, and which a retention policy keeps;
//! and backup plans that cron runs, with alerts. The binary (`crates/core/catalog.rs`)
//! parses arguments and prints; everything it does is here:
//!
//! - [`db`]: the catalog file, its backups, plans and runs;
//! - [`inspect`]: what a file ely wrote holds (its manifest, read back from it);
//! - [`verify`]: quick, deep and sampled verification;
//! - [`policy`]: retention with restic's semantics; [`cleanup`] applies it;
//! - [`plan`]: backup plans and their runs (cron entries through `ely-schedule`).
//!
//! docs/CATALOG.md describes it for users.

pub mod cleanup;
pub mod db;
pub mod inspect;
pub mod plan;
pub mod policy;
pub mod verify;

pub use db::{catalog_path, Backup, Catalog, Check, Filter, Status};
