//! The filters a store can delete by: a property equal to a value, or an id in a set. Weaviate
//! gets them as a `where` filter (CONTRACT.md 6.3); the embedded store evaluates them itself.

use serde_json::{json, Map, Value};

use crate::names::property_name;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// A top-level property equal to a value (a string, number or boolean), compared exactly.
    Equal { property: String, value: Value },
    /// The id is one of these.
    IdIn(Vec<String>),
}

impl Filter {
    /// The filter as Weaviate's `WhereFilter`.
    pub fn to_where(&self) -> Value {
        match self {
            Filter::Equal { property, value } => {
                let key = match value {
                    Value::Bool(_) => "valueBoolean",
                    Value::Number(n) if n.is_i64() || n.is_u64() => "valueInt",
                    Value::Number(_) => "valueNumber",
                    _ => "valueText",
                };
                json!({"path": [property_name(property)], "operator": "Equal", key: value})
            }
            Filter::IdIn(ids) => {
                json!({"path": ["id"], "operator": "ContainsAny", "valueTextArray": ids})
            }
        }
    }

    /// Whether an object with this (canonical) id and these properties matches.
    pub fn matches(&self, id: &str, properties: &Map<String, Value>) -> bool {
        match self {
            Filter::Equal { property, value } => properties
                .get(&property_name(property))
                .is_some_and(|v| same_value(v, value)),
            Filter::IdIn(ids) => ids
                .iter()
                .any(|i| crate::canonical_id(i).as_deref() == Some(id)),
        }
    }
}

/// Numbers compare by value (`1` equals `1.0`), everything else exactly.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}
