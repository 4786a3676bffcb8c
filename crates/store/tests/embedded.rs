//! What only the embedded store has: its file (mode 0600, schema version, migrations), its
//! on-disk vector layout, and auto-schema turned off.

use ely_store::embedded::Embedded;
use ely_store::{Object, Outcome, Store};
use serde_json::json;

fn object(class: &str, id: &str, vector: Option<Vec<f32>>) -> Object {
    Object {
        class: class.into(),
        id: id.into(),
        vector,
        ..Object::default()
    }
}

const ID: &str = "6b29fc40-ca47-1067-b31d-00dd010662da";

#[test]
fn the_file_is_private_versioned_and_kept_across_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/folder/store.db");
    let store = Embedded::open(&path).expect("open");
    let v = vec![1.5f32, -0.0, f32::from_bits(1)];
    assert_eq!(
        store
            .upsert(&[object("Code", ID, Some(v.clone()))])
            .expect("upsert"),
        [Outcome::Written]
    );
    #[cfg(unix)]
    for name in ["store.db", "store.db-wal", "store.db-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let p = path.with_file_name(name);
        if let Ok(meta) = std::fs::metadata(&p) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        }
    }
    drop(store);
    // Vectors are little-endian float32 blobs, and the schema version is recorded.
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    let blob: Vec<u8> = conn
        .query_row("SELECT vector FROM objects", [], |r| r.get(0))
        .expect("row");
    let want: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(blob, want);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 1);
    // Reopened, the object is there, bit for bit.
    let store = Embedded::open(&path).expect("reopen");
    let got = store
        .get("Code", None, ID, true)
        .expect("get")
        .expect("present");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(got.vector.as_deref().unwrap_or_default()), bits(&v));
    drop(store);
    // A store written by a newer ely is refused, not misread.
    conn.pragma_update(None, "user_version", 99)
        .expect("set version");
    let err = Embedded::open(&path).err().expect("refused");
    assert!(err.message.contains("upgrade ely"), "{err}");
}

#[test]
fn without_auto_schema_unknown_collections_and_properties_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Embedded::open(&dir.path().join("s.db"))
        .expect("open")
        .with_auto_schema(false);
    let out = store.upsert(&[object("Code", ID, None)]).expect("upsert");
    assert_eq!(
        out,
        [Outcome::Rejected(
            "class 'Code' not present in schema".into()
        )]
    );
    store
        .create_class(
            &json!({"class": "Code", "properties": [{"name": "path", "dataType": ["text"]}]}),
        )
        .expect("class");
    let mut o = object("Code", ID, None);
    o.properties = json!({"size": 3}).as_object().cloned().unwrap_or_default();
    match &store.upsert(&[o]).expect("upsert")[0] {
        Outcome::Rejected(m) => assert!(m.starts_with("no such prop with name 'size'"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.count("Code", None).expect("count"), 0);
}

#[test]
fn auto_schema_adds_collections_and_properties_with_inferred_types() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Embedded::open(&dir.path().join("s.db")).expect("open");
    let mut o = object("code", ID, Some(vec![1.0]));
    o.properties = json!({"Path": "a.rs", "size": 3, "when": "2024-01-02T03:04:05Z"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    assert_eq!(store.upsert(&[o]).expect("upsert"), [Outcome::Written]);
    let def = store.class("Code").expect("class").expect("created");
    let types: Vec<(String, String)> = def["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").into(),
                p["dataType"][0].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("path".into(), "text".into()),
            ("size".into(), "number".into()),
            ("when".into(), "date".into())
        ]
    );
}
