//! A stored vector: one list of float32 numbers, or a multi-vector (a list of such lists),
//! as objects carry them under their named vectors. The state stores them, and the batch
//! reader and writers in `json` read and print them without `Value` trees.

use crate::util::f32s_json;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Vector {
    Single(Vec<f32>),
    Multi(Vec<Vec<f32>>),
}

impl Vector {
    pub fn to_json(&self) -> Value {
        match self {
            Vector::Single(v) => f32s_json(v),
            Vector::Multi(vs) => Value::Array(vs.iter().map(|v| f32s_json(v)).collect()),
        }
    }

    /// The length the index dimension check compares: the width of each row of a multi-vector.
    pub fn dims(&self) -> usize {
        match self {
            Vector::Single(v) => v.len(),
            Vector::Multi(vs) => vs.first().map_or(0, Vec::len),
        }
    }
}
