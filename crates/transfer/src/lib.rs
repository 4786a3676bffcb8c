//! Moving objects between stores and streams: [`backup`] reads collections out of a store
//! into an ely stream; [`restore`] writes an ely stream (or a plain object stream) into a
//! store, whole or in part, through the [`sink`], the one write path every source of objects
//! uses (batches, workers, results in input order, checkpoints, dead letters, conflicts).
//! A [`selection`] says which objects and properties are taken; [`expr`] is its `--where`
//! language; [`migrate`] converts values to a target's property types.

pub mod backup;
pub mod expr;
pub mod migrate;
pub mod restore;
pub mod selection;
pub mod sink;
