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
    assert_eq!(version, 3);
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
fn a_store_of_schema_version_2_is_migrated_with_its_objects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let store = Embedded::open(&path).expect("open");
    let v = vec![0.25f32, -1.0];
    store
        .upsert(&[object("Code", ID, Some(v.clone()))])
        .expect("upsert");
    drop(store);
    // The file as version 2 kept objects: a WITHOUT ROWID table keyed by (class, tenant, id).
    let conn = rusqlite::Connection::open(&path).expect("sqlite");
    conn.execute_batch(
        "DROP INDEX objects_key;
         ALTER TABLE objects RENAME TO objects_v3;
         CREATE TABLE objects (
             class TEXT NOT NULL, tenant TEXT NOT NULL, id BLOB NOT NULL,
             properties TEXT NOT NULL, vector BLOB, vectors BLOB,
             created INTEGER NOT NULL, updated INTEGER NOT NULL,
             PRIMARY KEY (class, tenant, id)
         ) WITHOUT ROWID;
         INSERT INTO objects SELECT class, tenant, id, properties, vector, vectors, created, updated
             FROM objects_v3;
         DROP TABLE objects_v3;
         PRAGMA user_version = 2;",
    )
    .expect("version 2 layout");
    drop(conn);
    let store = Embedded::open(&path).expect("migrated");
    let got = store
        .get("Code", None, ID, true)
        .expect("get")
        .expect("kept");
    assert_eq!(got.vector.as_deref(), Some(&v[..]));
    assert_eq!(store.count("Code", None).expect("count"), 1);
    // And the key is still unique: writing the object again replaces it.
    store.upsert(&[object("Code", ID, None)]).expect("upsert");
    assert_eq!(store.count("Code", None).expect("count"), 1);
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

/// Several processes that open one new store at the same moment and write to it and read it
/// all succeed: no "database is locked".
#[test]
fn processes_opening_and_writing_one_new_store_at_once_all_succeed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shared.db");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..4)
        .map(|i| {
            std::process::Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "child_process_writer",
                    "--test-threads=1",
                ])
                .env("ELY_TEST_SHARED_STORE", &path)
                .env("ELY_TEST_WRITER", i.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a writer")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("writer");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let store = Embedded::open(&path).expect("open");
    assert_eq!(store.count("Shared", None).expect("count"), 4 * 5 * 40);
}

/// One of the processes above; it does nothing unless started by that test.
#[test]
#[ignore = "started by processes_opening_and_writing_one_new_store_at_once_all_succeed"]
fn child_process_writer() {
    let path = std::env::var("ELY_TEST_SHARED_STORE").expect("started by the parent test");
    let writer: u64 = std::env::var("ELY_TEST_WRITER")
        .ok()
        .and_then(|w| w.parse().ok())
        .expect("writer number");
    let store = Embedded::open(std::path::Path::new(&path)).expect("open a shared new store");
    let mut rng = ely_bench::Rng(1000 + writer);
    for _ in 0..5 {
        let batch: Vec<Object> = (0..40)
            .map(|_| Object {
                properties: json!({"w": writer})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                ..object("Shared", &rng.uuid(), Some(vec![rng.f32(), rng.f32()]))
            })
            .collect();
        let out = store.upsert(&batch).expect("upsert");
        assert!(out.iter().all(|o| *o == Outcome::Written), "{out:?}");
        let page = store.scan("Shared", None, None, 1000, true).expect("scan");
        assert!(page.len() >= 40);
    }
}
