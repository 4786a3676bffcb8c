//! A selection: which objects and which of their properties a backup or a restore takes
//! (`--tenant`, `--properties`, `--where`, and for a restore `--objects`). One type, checked
//! against a collection and applied to its objects the same way by both, so that a typo is
//! the same error in ely-backup and in ely-restore.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use ely_store::names::same_property;
use ely_store::schema::{is_multi_tenant, property_names};
use ely_store::{canonical_id, Object};
use serde_json::{Map, Value};

use crate::expr::Expr;

/// Which objects, and which of their properties.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these object ids (canonical form).
    pub objects: Option<HashSet<String>>,
    /// Only these tenants of multi-tenant collections (every tenant when empty).
    pub tenants: Vec<String>,
    /// Only these properties (every property when `None`), as the input names them.
    pub properties: Option<Vec<String>>,
    /// Only objects matching this (property names and values as the input has them).
    pub filter: Option<Expr>,
}

impl Selection {
    /// Whether it leaves out any object or property.
    pub fn is_partial(&self) -> bool {
        self.objects.is_some()
            || !self.tenants.is_empty()
            || self.properties.is_some()
            || self.filter.is_some()
    }

    /// Checks the selection against collection `name` (its class definition), before anything
    /// is read or written: every property it names exists, `--where` fits the properties'
    /// types, and every tenant it names is one of `tenants` (the collection's, when known).
    /// `--tenant` on a collection without multi-tenancy is an error when the collection was
    /// `named`; otherwise (every collection of a store or a stream) the collection is taken
    /// whole.
    pub fn check(
        &self,
        name: &str,
        class: &Value,
        tenants: Option<&[String]>,
        named: bool,
    ) -> anyhow::Result<()> {
        if let Some(f) = &self.filter {
            f.check(class)
                .map_err(|e| anyhow!("--where on collection {name}: {e}"))?;
        }
        if let Some(keep) = &self.properties {
            let names = property_names(class);
            for k in keep {
                if !names.iter().any(|n| same_property(n, k)) {
                    bail!(
                        "collection {name}: --properties names {k}, which it does not have (it has: {})",
                        names.join(", ")
                    );
                }
            }
        }
        if self.tenants.is_empty() {
            return Ok(());
        }
        if !is_multi_tenant(class) {
            if named {
                bail!("collection {name} is not multi-tenant; --tenant does not apply to it");
            }
            return Ok(());
        }
        if let Some(known) = tenants {
            for t in &self.tenants {
                if !known.iter().any(|k| k == t) {
                    bail!(
                        "collection {name} has no tenant {t} (it has: {})",
                        known.join(", ")
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether tenant `t` is selected.
    pub fn tenant(&self, t: &str) -> bool {
        self.tenants.is_empty() || self.tenants.iter().any(|x| x == t)
    }

    /// Whether `obj` is selected: its id, its tenant (objects without one belong to a
    /// collection without multi-tenancy, which `--tenant` leaves whole), the filter.
    pub fn selects(&self, obj: &Object) -> bool {
        if let Some(ids) = &self.objects {
            if !ids.contains(&obj.id) {
                return false;
            }
        }
        if let Some(t) = &obj.tenant {
            if !self.tenant(t) {
                return false;
            }
        }
        match &self.filter {
            Some(f) => f.matches(&obj.id, &obj.properties),
            None => true,
        }
    }

    /// Drops the properties the selection leaves out, from an object's properties.
    pub fn trim(&self, properties: &mut Map<String, Value>) {
        if let Some(keep) = &self.properties {
            properties.retain(|k, _| keep.iter().any(|x| same_property(x, k)));
        }
    }

    /// Drops the properties the selection leaves out, from a class definition.
    pub fn trim_class(&self, class: &mut Value) {
        if let Some(keep) = &self.properties {
            if let Some(props) = class.get_mut("properties").and_then(Value::as_array_mut) {
                props.retain(|p| {
                    p.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| keep.iter().any(|k| same_property(k, n)))
                });
            }
        }
    }
}

/// The canonical ids of `--objects ID,ID`.
pub fn parse_ids(ids: &[String]) -> Result<HashSet<String>, String> {
    ids.iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(|id| canonical_id(id).ok_or_else(|| format!("{id:?} is not a UUID")))
        .collect()
}

/// Reads `--objects-from FILE`: one UUID per line, or JSONL records with an `"id"` (result
/// lines, dead-letter records, object lines).
pub fn read_id_file(path: &Path) -> anyhow::Result<HashSet<String>> {
    let f =
        std::fs::File::open(path).with_context(|| format!("--objects-from {}", path.display()))?;
    let mut ids = HashSet::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("--objects-from {}", path.display()))?;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let id = if t.starts_with('{') {
            let v: Value = serde_json::from_str(t)
                .map_err(|e| anyhow!("{}: line {}: {e}", path.display(), n + 1))?;
            match (
                v.get("id").and_then(Value::as_str),
                v.get("raw").and_then(Value::as_str),
            ) {
                (Some(id), _) => id.to_owned(),
                (None, Some(raw)) => serde_json::from_str::<Value>(raw)
                    .ok()
                    .and_then(|o| o.get("id").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_default(),
                _ => String::new(),
            }
        } else {
            t.to_owned()
        };
        let id = canonical_id(&id)
            .ok_or_else(|| anyhow!("{}: line {}: {id:?} is not a UUID", path.display(), n + 1))?;
        ids.insert(id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class() -> Value {
        json!({"class": "Doc", "multiTenancyConfig": {"enabled": true}, "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "year", "dataType": ["int"]},
        ]})
    }

    #[test]
    fn typos_are_errors_that_name_what_there_is() {
        let tenants = ["acme".to_owned(), "globex".to_owned()];
        let s = Selection {
            properties: Some(vec!["Title".into(), "yeer".into()]),
            ..Selection::default()
        };
        let e = s
            .check("Doc", &class(), None, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--properties names yeer") && e.contains("title, year"),
            "{e}"
        );
        let s = Selection {
            filter: Some("yeer > 2".parse().unwrap()),
            ..Selection::default()
        };
        let e = s
            .check("Doc", &class(), None, true)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--where on collection Doc"), "{e}");
        let s = Selection {
            tenants: vec!["nope".into()],
            ..Selection::default()
        };
        let e = s
            .check("Doc", &class(), Some(&tenants), true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has no tenant nope (it has: acme, globex)"),
            "{e}"
        );
        let plain = json!({"class": "Note"});
        assert!(s.check("Note", &plain, None, true).is_err());
        assert!(s.check("Note", &plain, None, false).is_ok());
        let ok = Selection {
            tenants: vec!["acme".into()],
            properties: Some(vec!["title".into()]),
            filter: Some("year >= 2020".parse().unwrap()),
            objects: None,
        };
        assert!(ok.check("Doc", &class(), Some(&tenants), true).is_ok());
    }

    #[test]
    fn objects_and_properties_are_chosen_alike() {
        let s = Selection {
            tenants: vec!["acme".into()],
            properties: Some(vec!["Title".into()]),
            filter: Some("year >= 2020".parse().unwrap()),
            objects: None,
        };
        let obj = |tenant: Option<&str>, year: i64| Object {
            id: "6b29fc40-ca47-1067-b31d-00dd010662da".into(),
            tenant: tenant.map(str::to_owned),
            properties: json!({"title": "t", "year": year})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..Object::default()
        };
        assert!(s.selects(&obj(Some("acme"), 2021)));
        assert!(!s.selects(&obj(Some("globex"), 2021)));
        assert!(!s.selects(&obj(Some("acme"), 2019)));
        assert!(s.selects(&obj(None, 2021)));
        let mut o = obj(None, 2021);
        s.trim(&mut o.properties);
        assert_eq!(o.properties.keys().collect::<Vec<_>>(), ["title"]);
        let mut c = class();
        s.trim_class(&mut c);
        assert_eq!(property_names(&c), ["title"]);
        assert_eq!(
            parse_ids(&["6B29FC40CA471067B31D00DD010662DA".into(), " ".into()]),
            Ok(HashSet::from([
                "6b29fc40-ca47-1067-b31d-00dd010662da".to_owned()
            ]))
        );
        assert!(parse_ids(&["x".into()]).is_err());
    }
}
