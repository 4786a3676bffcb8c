//! Backup and restore: reading collections out of a store into an ely stream, and writing an
//! ely stream (or a plain object stream) into a store, whole or in part.

pub mod backup;
pub mod expr;
pub mod migrate;
pub mod restore;
