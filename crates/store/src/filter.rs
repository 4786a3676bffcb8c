//! The filters a store can delete by: a property equal to a value, or an id in a set. Weaviate
//! gets them as a `where` filter (CONTRACT.md 6.3); the embedded store evaluates them itself.

use serde_json::{json, Map, Value};

use crate::names::property_name;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// A top-level property equal to a value (a string, number or boolean); `id` is the
    /// object's id. Text is compared whole; Weaviate compares tokens of text properties
    /// with `word` tokenization, so filter on properties with `field` tokenization.
    Equal { property: String, value: Value },
    /// The id is one of these.
    IdIn(Vec<String>),
}

impl Filter {
    /// The filter as Weaviate's `WhereFilter`, for the collection `class` defines: the value
    /// key follows the property's data type (`valueInt` for `int`, `valueNumber` for
    /// `number`, `valueDate` for `date`, ...), and `id` means the object's id.
    pub fn to_where(&self, class: Option<&Value>) -> Value {
        match self {
            Filter::Equal { property, value } if is_id(property) => {
                let id = value.as_str().unwrap_or_default().to_owned();
                Filter::IdIn(vec![id]).to_where(class)
            }
            Filter::Equal { property, value } => {
                let name = property_name(property);
                let data_type = class
                    .and_then(|c| c.get("properties"))
                    .and_then(Value::as_array)
                    .and_then(|ps| ps.iter().find(|p| p["name"].as_str() == Some(&name)))
                    .and_then(|p| p["dataType"][0].as_str())
                    .map(|t| t.trim_end_matches("[]"));
                let key = match (data_type, value) {
                    (Some("int"), _) => "valueInt",
                    (Some("number"), _) => "valueNumber",
                    (Some("boolean"), _) => "valueBoolean",
                    (Some("date"), _) => "valueDate",
                    (Some(_), _) => "valueText",
                    (None, Value::Bool(_)) => "valueBoolean",
                    (None, Value::Number(n)) if n.is_i64() || n.is_u64() => "valueInt",
                    (None, Value::Number(_)) => "valueNumber",
                    (None, _) => "valueText",
                };
                json!({"path": [name], "operator": "Equal", key: value})
            }
            Filter::IdIn(ids) => {
                json!({"path": ["id"], "operator": "ContainsAny", "valueTextArray": ids})
            }
        }
    }

    /// Whether an object with this (canonical) id and these properties matches. An array
    /// property matches when any element does, as in Weaviate.
    pub fn matches(&self, id: &str, properties: &Map<String, Value>) -> bool {
        match self {
            Filter::Equal { property, value } if is_id(property) => {
                value.as_str().and_then(crate::canonical_id).as_deref() == Some(id)
            }
            Filter::Equal { property, value } => match properties.get(&property_name(property)) {
                Some(Value::Array(items)) => items.iter().any(|v| same_value(v, value)),
                Some(v) => same_value(v, value),
                None => false,
            },
            Filter::IdIn(ids) => ids
                .iter()
                .any(|i| crate::canonical_id(i).as_deref() == Some(id)),
        }
    }
}

fn is_id(property: &str) -> bool {
    matches!(property, "id" | "_id")
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
