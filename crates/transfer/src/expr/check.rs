//! Checking a parsed expression against a Weaviate class definition before any object is
//! read, so that a misspelt property or a value of the wrong type is an error up front rather
//! than an expression that silently matches nothing: property names (nested ones through
//! `nestedProperties`), and each literal against its property's `dataType`.

use ely_store::names::property_name;
use serde_json::Value;

use super::{Cmp, Lit, Node, Segment, Target};

/// Checks the tree against `class` (see `Expr::check` for what is an error).
pub(super) fn check(root: &Node, class: &Value) -> Result<(), String> {
    let empty = Vec::new();
    let props = class
        .get("properties")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let class_name = class.get("class").and_then(Value::as_str).unwrap_or("");
    check_node(root, props, class_name)
}

fn check_node(n: &Node, props: &[Value], class: &str) -> Result<(), String> {
    match n {
        Node::Or(v) | Node::And(v) => v.iter().try_for_each(|c| check_node(c, props, class)),
        Node::Not(c) => check_node(c, props, class),
        Node::Cmp(c) => match &c.target {
            Target::Id => Ok(()),
            Target::Path { segments, text } => check_cmp(c, segments, text, props, class),
        },
    }
}

fn prop_name(p: &Value) -> &str {
    p.get("name").and_then(Value::as_str).unwrap_or("")
}

fn data_type(p: &Value) -> &str {
    p.get("dataType")
        .and_then(|d| d.get(0))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn names_of(props: &[Value]) -> String {
    let names: Vec<&str> = props.iter().map(prop_name).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn check_cmp(
    c: &Cmp,
    segments: &[Segment],
    text: &str,
    props: &[Value],
    class: &str,
) -> Result<(), String> {
    let mut list = props;
    let mut def: Option<&Value> = None;
    for (i, seg) in segments.iter().enumerate() {
        let Some(p) = list
            .iter()
            .find(|p| property_name(prop_name(p)) == seg.name)
        else {
            return Err(if i == 0 {
                let of = if class.is_empty() {
                    "the class".to_string()
                } else {
                    format!("class {class}")
                };
                format!(
                    "unknown property '{text}'; {of} has these properties: {}",
                    names_of(list)
                )
            } else {
                let parent = segments[..i]
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(".");
                format!(
                    "unknown property '{text}': '{parent}' has these nested properties: {}",
                    names_of(list)
                )
            });
        };
        def = Some(p);
        if i + 1 < segments.len() {
            let dt = data_type(p);
            if dt != "object" && dt != "object[]" {
                return Err(format!(
                    "property '{}' is {dt}, which has no nested properties, so '{text}' names nothing",
                    prop_name(p)
                ));
            }
            match p.get("nestedProperties").and_then(Value::as_array) {
                Some(n) => list = n,
                // The definition does not say what the object holds: nothing more to check.
                None => return Ok(()),
            }
        }
    }
    let Some(def) = def else {
        return Ok(());
    };
    if let Lit::Null = c.value {
        return Ok(());
    }
    let dt = data_type(def);
    let base = dt.trim_end_matches("[]");
    let wrong = |what: &str| {
        Err(format!(
            "property '{text}' is {dt}: compare it with {what}, not {}",
            c.raw
        ))
    };
    match base {
        "text" | "string" | "uuid" | "blob" => match c.value {
            Lit::Str(_) | Lit::Pattern(_) => Ok(()),
            _ => wrong("a quoted string"),
        },
        "date" => match &c.value {
            Lit::Str(s) if s.date.is_some() => Ok(()),
            Lit::Pattern(_) => Ok(()),
            _ => Err(format!(
                "property '{text}' is {dt}: {} is not a date; write one as \"2024-01-02T03:04:05Z\" (any offset) or \"2024-01-02\" (midnight UTC)",
                c.raw
            )),
        },
        "int" | "number" => match c.value {
            Lit::Num(_) => Ok(()),
            Lit::Pattern(_) => Err(format!(
                "property '{text}' is {dt}: like matches text; compare numbers with =, !=, <, <=, >, >="
            )),
            _ => wrong("a number"),
        },
        "boolean" => match c.value {
            Lit::Bool(_) if c.op.is_ordering() => Err(format!(
                "property '{text}' is {dt}: booleans are compared only with = and !="
            )),
            Lit::Bool(_) => Ok(()),
            _ => wrong("true or false"),
        },
        "object" => Err(format!(
            "property '{text}' is {dt}: compare one of its nested properties, such as {text}.{}",
            def.get("nestedProperties")
                .and_then(Value::as_array)
                .and_then(|n| n.first())
                .map(prop_name)
                .unwrap_or("name")
        )),
        _ => Err(format!(
            "property '{text}' is {dt}, which ely cannot compare with a value; only text, uuid, blob, int, number, boolean and date properties can be (any property can be tested with = null and != null)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;
    use serde_json::json;

    #[test]
    fn check_against_a_class() {
        let class = json!({"class": "Article", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "score", "dataType": ["number[]"]},
            {"name": "done", "dataType": ["boolean"]},
            {"name": "created", "dataType": ["date"]},
            {"name": "ref", "dataType": ["uuid"]},
            {"name": "loc", "dataType": ["geoCoordinates"]},
            {"name": "author", "dataType": ["Author"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "lang", "dataType": ["text"]},
                {"name": "inner", "dataType": ["object"], "nestedProperties": [{"name": "n", "dataType": ["int"]}]}
            ]}
        ]});
        let ok = |s: &str| Expr::parse(s).unwrap().check(&class);
        for good in [
            "title = 'x' and year >= 2020",
            "Title like 'a*'",
            "score > 1.5",
            "done = true",
            "done != false",
            "created >= '2024-01-01'",
            "created < '2024-01-01T00:00:00+02:00'",
            "created like '2024*'",
            "ref = '6b29fc40-ca47-1067-b31d-00dd010662da'",
            "meta.lang = 'en'",
            "meta.inner.n > 1",
            "loc = null",
            "author != null",
            "id = '6b29fc40-ca47-1067-b31d-00dd010662da'",
            "year = null",
        ] {
            assert_eq!(ok(good), Ok(()), "{good}");
        }
        let e = ok("titel = 'x'").unwrap_err();
        assert!(e.contains("unknown property 'titel'"), "{e}");
        assert!(
            e.contains("class Article has these properties: title, year, score"),
            "{e}"
        );
        assert!(ok("meta.langs = 'x'")
            .unwrap_err()
            .contains("'meta' has these nested properties: lang, inner"));
        assert!(ok("title.x = 1")
            .unwrap_err()
            .contains("'title' is text, which has no nested properties"));
        assert!(ok("created > 'yesterday'")
            .unwrap_err()
            .contains("is not a date"));
        assert!(ok("created > 3").unwrap_err().contains("is not a date"));
        assert!(ok("year = '2020'")
            .unwrap_err()
            .contains("compare it with a number, not '2020'"));
        assert!(ok("year like '2*'")
            .unwrap_err()
            .contains("like matches text"));
        assert!(ok("title = 3").unwrap_err().contains("a quoted string"));
        assert!(ok("done < true")
            .unwrap_err()
            .contains("only with = and !="));
        assert!(ok("done = 1").unwrap_err().contains("true or false"));
        assert!(ok("loc = 1").unwrap_err().contains("cannot compare"));
        assert!(ok("author = 'x'").unwrap_err().contains("cannot compare"));
        assert!(ok("meta = 'x'").unwrap_err().contains("such as meta.lang"));
        assert!(Expr::parse("a = 1")
            .unwrap()
            .check(&json!({"class": "E"}))
            .unwrap_err()
            .contains("none"));
    }
}
