//! ely-backup and ely-restore, run as binaries between embedded stores and the Weaviate test
//! server: round trips compared object by object and bit by bit, conflict modes, partial
//! restores, schema changes, vector checks, damaged input, faults, kills and resume.

mod util;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use ely_store::{open, Location, Object, OpenOptions, Store, Tenant, Vector};
use fake_weaviate::{Config, Fault, Route, Server};
use serde_json::{json, Value};
use util::{Rng, Workdir};

fn embedded(path: &Path) -> Box<dyn Store> {
    open(
        &Location::Embedded(path.to_owned()),
        &OpenOptions::default(),
    )
    .expect("open store")
}

fn client(server: &Server) -> Box<dyn Store> {
    open(&Location::Weaviate(server.url()), &OpenOptions::default()).expect("client")
}

fn random_vector(rng: &mut Rng, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|i| match i % 17 {
            0 => -0.0,
            1 => f32::from_bits(1 + rng.below(1000) as u32), // subnormal
            2 => f32::MAX / (2.0 + rng.unit()),
            _ => rng.f32(),
        })
        .collect()
}

fn obj(class: &str, id: String, props: Value) -> Object {
    Object {
        class: class.to_owned(),
        id,
        properties: match props {
            Value::Object(m) => m,
            _ => Default::default(),
        },
        ..Object::default()
    }
}

/// Fills a store with collections covering every data type, named vectors, multi-vectors,
/// the legacy vector, tenants and cross-references.
fn fixture(store: &dyn Store, seed: u64) {
    let mut rng = Rng(seed);
    store
        .create_class(
            &json!({"class": "Author", "vectorizer": "none", "properties": [
            {"name": "name", "dataType": ["text"]}]}),
        )
        .expect("Author");
    store
        .create_class(&json!({"class": "Article", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "big", "dataType": ["int"]},
            {"name": "ints", "dataType": ["int[]"]},
            {"name": "score", "dataType": ["number"]},
            {"name": "nums", "dataType": ["number[]"]},
            {"name": "flag", "dataType": ["boolean"]},
            {"name": "flags", "dataType": ["boolean[]"]},
            {"name": "when", "dataType": ["date"]},
            {"name": "whens", "dataType": ["date[]"]},
            {"name": "other", "dataType": ["uuid"]},
            {"name": "others", "dataType": ["uuid[]"]},
            {"name": "place", "dataType": ["geoCoordinates"]},
            {"name": "data", "dataType": ["blob"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "source", "dataType": ["text"]},
                {"name": "depth", "dataType": ["int"]}]},
            {"name": "writtenBy", "dataType": ["Author"]}
        ], "vectorConfig": {
            "body": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"},
            "colbert": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                        "vectorIndexConfig": {"multivector": {"enabled": true}}}
        }}))
        .expect("Article");
    store
        .create_class(
            &json!({"class": "Legacy", "vectorizer": "none", "properties": [
            {"name": "n", "dataType": ["int"]}]}),
        )
        .expect("Legacy");
    store
        .create_class(&json!({"class": "Docs", "vectorizer": "none",
            "multiTenancyConfig": {"enabled": true},
            "properties": [{"name": "body", "dataType": ["text"]}]}))
        .expect("Docs");
    store
        .create_tenants(
            "Docs",
            &[
                Tenant::new("acme"),
                Tenant::new("globex"),
                Tenant::new("initech"),
            ],
        )
        .expect("tenants");

    let authors: Vec<String> = (0..5).map(|_| rng.uuid()).collect();
    let mut objects: Vec<Object> = authors
        .iter()
        .enumerate()
        .map(|(i, id)| {
            obj(
                "Author",
                id.clone(),
                json!({"name": format!("author {i} ✓")}),
            )
        })
        .collect();
    for i in 0..230 {
        let mut vectors = BTreeMap::new();
        vectors.insert(
            "body".to_owned(),
            Vector::Single(random_vector(&mut rng, 24)),
        );
        vectors.insert(
            "colbert".to_owned(),
            Vector::Multi((0..3).map(|_| random_vector(&mut rng, 8)).collect()),
        );
        let author = &authors[i % authors.len()];
        let mut o = obj(
            "Article",
            rng.uuid(),
            json!({
                "title": format!("{} «{i}»", rng.text(4)),
                "tags": ["a", "ß", "🎉"],
                "big": 9007199254740993i64 + i as i64,
                "ints": [9223372036854775807i64, -9223372036854775808i64],
                "score": i as f64 / 7.0,
                "nums": [1.5, 1e300, 5e-324],
                "flag": i % 2 == 0,
                "flags": [true, false],
                "when": format!("2024-01-{:02}T03:04:05Z", 1 + i % 28),
                "whens": ["2024-02-29T23:59:59.123+02:00"],
                "other": rng.uuid(),
                "others": [rng.uuid(), rng.uuid()],
                "place": {"latitude": 52.375, "longitude": 4.875},
                "data": "aGVsbG8gd29ybGQ=",
                "meta": {"source": "git", "depth": i},
                "writtenBy": [{"beacon": format!("weaviate://localhost/Author/{author}")}]
            }),
        );
        o.vectors = vectors;
        objects.push(o);
    }
    for i in 0..150 {
        let mut o = obj("Legacy", rng.uuid(), json!({"n": i}));
        o.vector = Some(random_vector(&mut rng, 16));
        objects.push(o);
    }
    // Authors are written first: their references must resolve.
    for chunk in objects.chunks(100) {
        for outcome in store.upsert(chunk).expect("upsert") {
            assert_eq!(outcome, ely_store::Outcome::Written);
        }
    }
    for (t, n) in [("acme", 40), ("globex", 3), ("initech", 0)] {
        let docs: Vec<Object> = (0..n)
            .map(|i| {
                let mut o = obj("Docs", rng.uuid(), json!({"body": format!("{t} {i}")}));
                o.tenant = Some(t.to_owned());
                o.vector = Some(random_vector(&mut rng, 4));
                o
            })
            .collect();
        for outcome in store.upsert(&docs).expect("upsert docs") {
            assert_eq!(outcome, ely_store::Outcome::Written);
        }
    }
}

fn scan_all(store: &dyn Store, class: &str, tenant: Option<&str>) -> Vec<Object> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .scan(class, tenant, after.as_deref(), 97, true)
            .expect("scan");
        if page.is_empty() {
            return all;
        }
        after = page.last().map(|o| o.id.clone());
        all.extend(page);
    }
}

/// An object's vectors as bits: the legacy vector, and each named vector's rows.
type VectorBits = (Option<Vec<u32>>, BTreeMap<String, Vec<Vec<u32>>>);

fn bits(o: &Object) -> VectorBits {
    let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    (
        o.vector.as_deref().map(b),
        o.vectors
            .iter()
            .map(|(k, v)| {
                let rows = match v {
                    Vector::Single(v) => vec![b(v)],
                    Vector::Multi(m) => m.iter().map(|r| b(r)).collect(),
                };
                (k.clone(), rows)
            })
            .collect(),
    )
}

/// Every object of `class` (per tenant) in `a` is in `b` with the same properties and the
/// same vector bits, and nothing else is.
#[track_caller]
fn assert_same(a: &dyn Store, b: &dyn Store, class: &str, b_class: &str) {
    let tenants: Vec<Option<String>> = match a.tenants(class) {
        Ok(ts) if !ts.is_empty() => ts.into_iter().map(|t| Some(t.name)).collect(),
        _ => vec![None],
    };
    for t in tenants {
        let x = scan_all(a, class, t.as_deref());
        let y = scan_all(b, b_class, t.as_deref());
        assert_eq!(x.len(), y.len(), "{class} tenant {t:?}: object counts");
        for (p, q) in x.iter().zip(&y) {
            assert_eq!(p.id, q.id);
            assert_eq!(p.properties, q.properties, "{class} {}", p.id);
            assert_eq!(bits(p), bits(q), "{class} {} vectors", p.id);
        }
    }
}

fn lines(out: &[u8]) -> Vec<Value> {
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("JSON line"))
        .collect()
}

/// Sums a key over the result lines.
fn total(out: &[u8], key: &str) -> u64 {
    lines(out)
        .iter()
        .filter(|v| v.get("batch").is_some() && v.get("pass").is_none())
        .map(|v| v[key].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn embedded_round_trip_is_exact_and_a_repeat_writes_nothing() {
    let w = Workdir::new();
    let src_path = w.path("src.db");
    fixture(&*embedded(&src_path), 1);
    let src = src_path.to_str().unwrap();
    let run = w.run(
        "ely-backup",
        &["--store", src, "--all", "-o", "all.jsonl.zst", "--stats"],
        b"",
    );
    run.ok();
    let manifest = &lines(run.stdout())[0];
    assert_eq!(manifest["ely"], "manifest");
    assert_eq!(manifest["compression"], "zstd");
    assert_eq!(manifest["objects"], 5 + 230 + 150 + 43);
    assert_eq!(manifest["source"], src);
    let counts: BTreeMap<String, u64> = manifest["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["objects"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts["Docs"], 43);
    assert_eq!(
        manifest["bytes"].as_u64().unwrap(),
        std::fs::metadata(w.path("all.jsonl.zst")).unwrap().len()
    );
    // The stream verifies.
    w.run("ely-convert", &["--check", "-i", "all.jsonl.zst"], b"")
        .ok();

    let run = w.run(
        "ely-restore",
        &["--store", "dst.db", "-i", "all.jsonl.zst"],
        b"",
    );
    run.ok();
    assert_eq!(total(run.stdout(), "written"), 428);
    // Articles reference authors: they are written again with their references at the end.
    let references: u64 = lines(run.stdout())
        .iter()
        .filter(|v| v["pass"] == "references")
        .map(|v| v["written"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(references, 230);
    let (a, b) = (embedded(&src_path), embedded(&w.path("dst.db")));
    for c in ["Author", "Article", "Legacy", "Docs"] {
        assert_same(&*a, &*b, c, c);
    }
    assert_eq!(
        b.class("Article").unwrap().unwrap()["properties"],
        a.class("Article").unwrap().unwrap()["properties"]
    );
    assert_eq!(b.tenants("Docs").unwrap().len(), 3);

    // The same restore again with --only-changed writes nothing.
    let run = w.run(
        "ely-restore",
        &["--store", "dst.db", "-i", "all.jsonl.zst", "--only-changed"],
        b"",
    );
    run.ok();
    assert_eq!(
        total(run.stdout(), "written"),
        0,
        "{}",
        String::from_utf8_lossy(run.stdout())
    );
    assert_eq!(total(run.stdout(), "unchanged"), 428);
}

#[test]
fn round_trips_through_the_weaviate_client() {
    let w = Workdir::new();
    let src_path = w.path("src.db");
    fixture(&*embedded(&src_path), 2);
    let server = Server::start(Config::default()).expect("server");
    let url = server.url();
    // Embedded to Weaviate, through a pipe.
    let backup = w.run(
        "ely-backup",
        &["--store", src_path.to_str().unwrap(), "--all"],
        b"",
    );
    backup.ok();
    let run = w.run("ely-restore", &["--store", &url], backup.stdout());
    run.ok();
    let (a, remote) = (embedded(&src_path), client(&server));
    for c in ["Author", "Article", "Legacy", "Docs"] {
        assert_same(&*a, &*remote, c, c);
    }
    // Weaviate back to another embedded store.
    let backup = w.run("ely-backup", &["--store", &url, "--all"], b"");
    backup.ok();
    w.run("ely-restore", &["--store", "back.db"], backup.stdout())
        .ok();
    let back = embedded(&w.path("back.db"));
    for c in ["Author", "Article", "Legacy", "Docs"] {
        assert_same(&*a, &*back, c, c);
    }
}

/// A small collection with a legacy vector, for the option tests.
fn small(store: &dyn Store, n: usize, seed: u64) -> Vec<Object> {
    let mut rng = Rng(seed);
    store
        .create_class(
            &json!({"class": "Note", "vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "lang", "dataType": ["text"]}]}),
        )
        .expect("Note");
    let mut objects: Vec<Object> = (0..n)
        .map(|i| {
            let mut o = obj(
                "Note",
                rng.uuid(),
                json!({"title": format!("note {i}"), "year": 2000 + i as i64, "lang": if i % 3 == 0 { "en" } else { "de" }}),
            );
            o.vector = Some(random_vector(&mut rng, 8));
            o
        })
        .collect();
    store.upsert(&objects).expect("upsert");
    objects.sort_by(|a, b| a.id.cmp(&b.id));
    objects
}

fn backup_file(w: &Workdir, store: &Path, name: &str) {
    w.run(
        "ely-backup",
        &[
            "--store",
            store.to_str().unwrap(),
            "--collection",
            "Note",
            "-o",
            name,
        ],
        b"",
    )
    .ok();
}

#[test]
fn conflict_modes_do_what_they_say() {
    let w = Workdir::new();
    let src = w.path("src.db");
    let objects = small(&*embedded(&src), 30, 3);
    backup_file(&w, &src, "note.jsonl");
    let dst = w.path("dst.db");
    let target = embedded(&dst);
    // The target holds the first 10 objects, changed.
    target
        .create_class(
            &json!({"class": "Note", "vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "year", "dataType": ["int"]},
            {"name": "extra", "dataType": ["text"]}]}),
        )
        .unwrap();
    let changed: Vec<Object> = objects[..10]
        .iter()
        .map(|o| {
            let mut c = obj(
                "Note",
                o.id.clone(),
                json!({"title": "changed", "extra": "kept"}),
            );
            c.vector = Some(vec![9.0; 8]);
            c
        })
        .collect();
    target.upsert(&changed).unwrap();
    let d = dst.to_str().unwrap();

    // fail: stops before touching an existing object.
    let run = w.run(
        "ely-restore",
        &["--store", d, "-i", "note.jsonl", "--on-conflict", "fail"],
        b"",
    );
    run.expect_code(2).expect_stderr("already exists");
    for o in &objects[..10] {
        let got = target.get("Note", None, &o.id, true).unwrap().unwrap();
        assert_eq!(got.properties["title"], "changed");
    }
    // skip: existing objects stay as they are, the others arrive.
    let run = w.run(
        "ely-restore",
        &["--store", d, "-i", "note.jsonl", "--on-conflict", "skip"],
        b"",
    );
    run.ok();
    assert_eq!(total(run.stdout(), "skipped"), 10);
    assert_eq!(target.count("Note", None).unwrap(), 30);
    for o in &objects[..10] {
        let got = target.get("Note", None, &o.id, true).unwrap().unwrap();
        assert_eq!(got.properties["title"], "changed");
    }
    // merge: the stream's properties and vector win, other properties stay.
    let run = w.run(
        "ely-restore",
        &["--store", d, "-i", "note.jsonl", "--on-conflict", "merge"],
        b"",
    );
    run.ok();
    for o in &objects[..10] {
        let got = target.get("Note", None, &o.id, true).unwrap().unwrap();
        assert_eq!(got.properties["title"], o.properties["title"]);
        assert_eq!(got.properties["extra"], "kept");
        assert_eq!(bits(&got).0, bits(o).0);
    }
    // overwrite (the default) replaces them whole.
    target.upsert(&changed).unwrap();
    let run = w.run(
        "ely-restore",
        &["--store", d, "-i", "note.jsonl", "--only-changed"],
        b"",
    );
    run.ok();
    assert_eq!(total(run.stdout(), "written"), 10);
    assert_eq!(total(run.stdout(), "unchanged"), 20);
    for o in &objects[..10] {
        let got = target.get("Note", None, &o.id, true).unwrap().unwrap();
        assert_eq!(got.properties, o.properties);
        assert_eq!(bits(&got), bits(o));
    }
    // Objects out of UUID order (no cursor merge): existence is checked batch by batch.
    let text = String::from_utf8(w.read("note.jsonl")).unwrap();
    let mut plain: Vec<&str> = text.lines().filter(|l| !l.contains("\"ely\"")).collect();
    plain.reverse();
    let shuffled = plain.join("\n") + "\n";
    let run = w.run(
        "ely-restore",
        &[
            "--store",
            d,
            "--only-changed",
            "--on-conflict",
            "merge",
            "--batch-size",
            "7",
        ],
        shuffled.as_bytes(),
    );
    run.ok();
    assert_eq!(total(run.stdout(), "unchanged"), 30);
    target.upsert(&changed).unwrap();
    let run = w.run(
        "ely-restore",
        &["--store", d, "--on-conflict", "skip"],
        shuffled.as_bytes(),
    );
    run.ok();
    assert_eq!(total(run.stdout(), "skipped"), 30);
    let run = w.run(
        "ely-restore",
        &["--store", d, "--only-changed"],
        shuffled.as_bytes(),
    );
    run.ok();
    assert_eq!(total(run.stdout(), "written"), 10);
}

#[test]
fn partial_restores_and_renames() {
    let w = Workdir::new();
    let src = w.path("src.db");
    let objects = small(&*embedded(&src), 40, 4);
    backup_file(&w, &src, "note.jsonl.gz");
    let d = w.path("dst.db");
    let ds = d.to_str().unwrap();
    let target = || embedded(&d);

    // --objects and --objects-from
    let ids = format!("{},{}", objects[3].id, objects[7].id.to_uppercase());
    w.run(
        "ely-restore",
        &[
            "--store",
            ds,
            "-i",
            "note.jsonl.gz",
            "--collection",
            "One",
            "--objects",
            &ids,
        ],
        b"",
    )
    .ok();
    assert_eq!(target().count("One", None).unwrap(), 2);
    let list = format!("{}\n{{\"id\":\"{}\"}}\n", objects[1].id, objects[2].id);
    w.write("ids.txt", list.as_bytes());
    w.run(
        "ely-restore",
        &[
            "--store",
            ds,
            "-i",
            "note.jsonl.gz",
            "--collection",
            "Two",
            "--objects-from",
            "ids.txt",
        ],
        b"",
    )
    .ok();
    assert_eq!(target().count("Two", None).unwrap(), 2);
    // --where and --properties and --map-property
    w.run(
        "ely-restore",
        &[
            "--store",
            ds,
            "-i",
            "note.jsonl.gz",
            "--rename",
            "Note=Three",
            "--where",
            "lang = 'en' and year >= 2010",
            "--properties",
            "title,year",
            "--map-property",
            "title=heading",
        ],
        b"",
    )
    .ok();
    let got = scan_all(&*target(), "Three", None);
    let want: Vec<&Object> = objects
        .iter()
        .filter(|o| o.properties["lang"] == "en" && o.properties["year"].as_i64().unwrap() >= 2010)
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, o) in got.iter().zip(&want) {
        assert_eq!(g.properties.get("heading"), o.properties.get("title"));
        assert_eq!(g.properties.get("year"), o.properties.get("year"));
        assert!(!g.properties.contains_key("lang") && !g.properties.contains_key("title"));
        assert_eq!(bits(g), bits(o));
    }
}

#[test]
fn tenants_restore_whole_or_one_by_one() {
    let w = Workdir::new();
    let src = w.path("src.db");
    fixture(&*embedded(&src), 5);
    let s = src.to_str().unwrap();
    let run = w.run(
        "ely-backup",
        &["--store", s, "--collection", "Docs", "--tenant", "acme"],
        b"",
    );
    run.ok();
    let header = &lines(run.stdout())[0];
    assert_eq!(header["tenants"].as_array().unwrap().len(), 1);
    w.run(
        "ely-backup",
        &["--store", s, "--collection", "Docs", "-o", "docs.jsonl"],
        b"",
    )
    .ok();
    w.run(
        "ely-restore",
        &[
            "--store",
            "dst.db",
            "-i",
            "docs.jsonl",
            "--tenant",
            "globex",
        ],
        b"",
    )
    .ok();
    let d = embedded(&w.path("dst.db"));
    assert_eq!(d.count("Docs", Some("globex")).unwrap(), 3);
    let tenants: Vec<String> = d
        .tenants("Docs")
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(tenants, ["globex"]);
    // Unknown tenant or collection: a clear error before anything is written.
    w.run(
        "ely-backup",
        &["--store", s, "--collection", "Docs", "--tenant", "nope"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("no tenant nope");
    w.run("ely-backup", &["--store", s, "--collection", "Nope"], b"")
        .expect_code(2)
        .expect_stderr("no collection Nope");
}

#[test]
fn schema_changes_convert_what_loses_nothing() {
    let w = Workdir::new();
    let stream = concat!(
        r#"{"ely":"header","version":1,"collection":"Item","class":{"class":"Item","vectorizer":"none","properties":[{"name":"n","dataType":["number"]},{"name":"tags","dataType":["text"]},{"name":"added","dataType":["text"]}]}}"#,
        "\n",
        r#"{"class":"Item","id":"00000000-0000-0000-0000-000000000001","properties":{"n":3.0,"tags":"one","added":"x"}}"#,
        "\n",
        r#"{"class":"Item","id":"00000000-0000-0000-0000-000000000002","properties":{"n":4.5,"tags":"two"}}"#,
        "\n",
    );
    // Without a trailer the stream is truncated; write it through ely-convert to add one.
    let d = w.path("dst.db");
    let target = embedded(&d);
    target
        .create_class(
            &json!({"class": "Item", "vectorizer": "none", "properties": [
            {"name": "n", "dataType": ["int"]},
            {"name": "tags", "dataType": ["text[]"]}]}),
        )
        .unwrap();
    drop(target);
    let fixed = w.run("ely-convert", &["--no-verify"], stream.as_bytes());
    fixed.ok();
    w.write("item.jsonl", fixed.stdout());
    let run = w.run(
        "ely-restore",
        &["--store", d.to_str().unwrap(), "-i", "item.jsonl"],
        b"",
    );
    run.expect_code(1)
        .expect_stderr("item.jsonl.rejected.jsonl");
    let target = embedded(&d);
    let one = target
        .get("Item", None, "00000000-0000-0000-0000-000000000001", false)
        .unwrap()
        .unwrap();
    assert_eq!(one.properties["n"], json!(3));
    assert_eq!(one.properties["tags"], json!(["one"]));
    assert_eq!(one.properties["added"], json!("x"));
    assert!(target
        .get("Item", None, "00000000-0000-0000-0000-000000000002", false)
        .unwrap()
        .is_none());
    let dead = lines(&w.read("item.jsonl.rejected.jsonl"));
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["line"], 3);
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("--lossy"),
        "{}",
        dead[0]
    );
    // --lossy converts it; the dead-letter file is read back as it is.
    drop(target);
    w.run(
        "ely-restore",
        &[
            "--store",
            d.to_str().unwrap(),
            "-i",
            "item.jsonl.rejected.jsonl",
            "--lossy",
            "--dead-letter",
            "again.jsonl",
        ],
        b"",
    )
    .ok();
    let target = embedded(&d);
    let two = target
        .get("Item", None, "00000000-0000-0000-0000-000000000002", false)
        .unwrap()
        .unwrap();
    assert!(two.properties["n"].is_i64());
}

#[test]
fn vector_lengths_are_checked() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 5, 6);
    backup_file(&w, &src, "note.jsonl");
    let d = w.path("dst.db");
    let target = embedded(&d);
    target
        .create_class(&json!({"class": "Note", "vectorizer": "none"}))
        .unwrap();
    let mut o = obj(
        "Note",
        "00000000-0000-0000-0000-0000000000aa".into(),
        json!({}),
    );
    o.vector = Some(vec![1.0; 3]);
    target.upsert(&[o]).unwrap();
    drop(target);
    let ds = d.to_str().unwrap();
    w.run("ely-restore", &["--store", ds, "-i", "note.jsonl"], b"")
        .expect_code(2)
        .expect_stderr("has 8 dimensions in the stream");
    assert_eq!(embedded(&d).count("Note", None).unwrap(), 1);
    w.run(
        "ely-restore",
        &["--store", ds, "-i", "note.jsonl", "--skip-vectors"],
        b"",
    )
    .ok();
    assert_eq!(embedded(&d).count("Note", None).unwrap(), 6);
    // Inside a stream, a vector whose length differs from the first one's is rejected.
    let plain = concat!(
        r#"{"class":"Mixed","id":"00000000-0000-0000-0000-000000000001","properties":{},"vector":[1,2]}"#,
        "\n",
        r#"{"class":"Mixed","id":"00000000-0000-0000-0000-000000000002","properties":{},"vector":[1,2,3]}"#,
        "\n",
    );
    let run = w.run(
        "ely-restore",
        &["--store", ds, "--results", "objects"],
        plain.as_bytes(),
    );
    run.expect_code(1);
    let results = lines(run.stdout());
    let statuses: Vec<&str> = results
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert_eq!(statuses, ["written", "rejected"]);
}

#[test]
fn truncated_and_corrupt_input_ends_with_exit_4_after_writing_what_came_before() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 250, 7);
    backup_file(&w, &src, "note.jsonl");
    let full = w.read("note.jsonl");
    let text = String::from_utf8(full.clone()).unwrap();
    let keep: Vec<&str> = text.lines().take(201).collect(); // header + 200 objects
    let cut = keep.join("\n") + "\n";
    // On stdin, which cannot be read twice, what comes before the damage is written.
    let run = w.run("ely-restore", &["--store", "a.db"], cut.as_bytes());
    run.expect_code(4).expect_stderr("truncated");
    assert_eq!(embedded(&w.path("a.db")).count("Note", None).unwrap(), 200);
    // A changed byte in an object line: the trailer's hash disagrees.
    let corrupt = text.replacen("note 1", "note X", 1);
    w.run("ely-restore", &["--store", "b.db"], corrupt.as_bytes())
        .expect_code(4);
    assert_eq!(embedded(&w.path("b.db")).count("Note", None).unwrap(), 250);
}

#[test]
fn nothing_of_a_damaged_backup_file_reaches_the_store() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 250, 7);
    backup_file(&w, &src, "note.jsonl");
    let text = String::from_utf8(w.read("note.jsonl")).unwrap();
    let keep: Vec<&str> = text.lines().take(201).collect();
    w.write("cut.jsonl", (keep.join("\n") + "\n").as_bytes());
    w.write("bad.jsonl", text.replacen("note 1", "note X", 1).as_bytes());
    // A file is verified before anything is written: exit 4, and no collection, no object.
    for (file, says) in [("cut.jsonl", "truncated"), ("bad.jsonl", "corrupt")] {
        w.run("ely-restore", &["--store", "a.db", "-i", file], b"")
            .expect_code(4)
            .expect_stderr("verifying the input before writing anything")
            .expect_stderr(says);
        assert_eq!(
            embedded(&w.path("a.db")).class("Note").unwrap(),
            None,
            "{file}"
        );
    }
    // A damaged first header no longer reads as a header: the file looks like plain object
    // lines until its trailer, and is still verified whole first.
    w.write(
        "key.jsonl",
        text.replacen("{\"ely\":\"header\"", "{\"elz\":\"header\"", 1)
            .as_bytes(),
    );
    w.run("ely-restore", &["--store", "a.db", "-i", "key.jsonl"], b"")
        .expect_code(4)
        .expect_stderr("verifying the input before writing anything")
        .expect_stderr("whose header (line 1) is damaged");
    assert!(embedded(&w.path("a.db")).collections().unwrap().is_empty());
    // --no-verify-first writes what comes before the damage, as on stdin.
    w.run(
        "ely-restore",
        &["--store", "b.db", "-i", "cut.jsonl", "--no-verify-first"],
        b"",
    )
    .expect_code(4);
    assert_eq!(embedded(&w.path("b.db")).count("Note", None).unwrap(), 200);
    // A pipe given as -i (/dev/stdin, a FIFO) cannot be read twice: it is restored as it is
    // read, every object of a good stream written.
    for (store, how) in [("c.db", "/dev/stdin"), ("d.db", "fifo")] {
        let input = if how == "fifo" {
            let fifo = w.path("note.fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.is_ok_and(|s| s.success()), "mkfifo makes a FIFO");
            let text = text.clone();
            std::thread::spawn(move || std::fs::write(fifo, text));
            "note.fifo"
        } else {
            how
        };
        let mut child = w
            .command("ely-restore")
            .args(["--store", store, "-i", input])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if how == "/dev/stdin" {
            use std::io::Write;
            stdin.write_all(text.as_bytes()).unwrap();
        }
        drop(stdin);
        assert!(child.wait().unwrap().success(), "{how}");
        assert_eq!(
            embedded(&w.path(store)).count("Note", None).unwrap(),
            250,
            "{how}"
        );
    }
}

#[test]
fn renames_that_match_nothing_and_one_name_for_many_collections_fail_before_writing() {
    let w = Workdir::new();
    let src = w.path("src.db");
    fixture(&*embedded(&src), 4);
    let s = src.to_str().unwrap();
    w.run(
        "ely-backup",
        &["--store", s, "--all", "-o", "all.jsonl"],
        b"",
    )
    .ok();
    w.run(
        "ely-restore",
        &[
            "--store",
            "a.db",
            "-i",
            "all.jsonl",
            "--rename",
            "Artcle=Copy",
        ],
        b"",
    )
    .expect_code(2)
    .expect_stderr("--rename Artcle=Copy: the stream has no collection Artcle (it has: ");
    w.run(
        "ely-restore",
        &["--store", "a.db", "-i", "all.jsonl", "--collection", "One"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("--collection One renames a one-collection stream");
    assert!(embedded(&w.path("a.db")).collections().unwrap().is_empty());
    // On stdin the stream's collections are known only at its end: still an error.
    let all = w.read("all.jsonl");
    w.run(
        "ely-restore",
        &["--store", "b.db", "--rename", "Artcle=Copy"],
        &all,
    )
    .expect_code(2)
    .expect_stderr("the stream has no collection Artcle");
}

#[test]
fn a_restore_under_faults_loses_nothing_and_rejections_are_kept() {
    let w = Workdir::new();
    let src = w.path("src.db");
    let objects = small(&*embedded(&src), 1000, 8);
    backup_file(&w, &src, "note.jsonl");
    let server = Server::start(Config::default()).expect("server");
    server.fail_after(Route::Batch, 1, 2, Fault::Status(503));
    server.fail_after(Route::Batch, 4, 1, Fault::DropConnection);
    server.fail_after(
        Route::Batch,
        6,
        1,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
    );
    server.fail_after(Route::Batch, 8, 1, Fault::Hangup);
    let rejected: Vec<String> = objects[500..503].iter().map(|o| o.id.clone()).collect();
    server.reject_objects(rejected.clone(), "simulated rejection");
    let run = w.run(
        "ely-restore",
        &["--store", &server.url(), "-i", "note.jsonl", "--stats"],
        b"",
    );
    run.expect_code(1).expect_stderr("3 object(s) rejected");
    assert!(server.requests(Route::Batch) >= 15, "retries happened");
    assert_eq!(server.object_count("Note", None), 997);
    let dead = lines(&w.read("note.jsonl.rejected.jsonl"));
    assert_eq!(dead.len(), 3);
    assert!(dead.iter().all(|d| d["reason"]
        .as_str()
        .unwrap()
        .contains("simulated rejection")));
    // Fed back in as it is, once the cause is gone.
    server.clear_faults();
    w.run(
        "ely-restore",
        &["--store", &server.url(), "-i", "note.jsonl.rejected.jsonl"],
        b"",
    )
    .ok();
    let remote = client(&server);
    assert_same(&*embedded(&src), &*remote, "Note", "Note");
}

#[test]
fn a_killed_restore_resumes_from_its_checkpoint() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 3000, 9);
    backup_file(&w, &src, "note.jsonl");
    let server = Server::start(Config::default()).expect("server");
    server.delay(Route::Batch, std::time::Duration::from_millis(40));
    let url = server.url();
    let args = [
        "--store",
        url.as_str(),
        "-i",
        "note.jsonl",
        "--checkpoint",
        "cp.json",
        "--workers",
        "2",
    ];
    let mut child = w
        .command("ely-restore")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Kill it half-way.
    let started = std::time::Instant::now();
    while (server.object_count("Note", None) < 1200 || !w.path("cp.json").exists())
        && started.elapsed().as_secs() < 60
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    let cp: Value = serde_json::from_slice(&w.read("cp.json")).expect("checkpoint");
    let line = cp["line"].as_u64().unwrap();
    assert!(line > 0 && line < 3001, "checkpoint at line {line}");
    let before = server.requests(Route::Batch);
    server.delay(Route::Batch, std::time::Duration::ZERO);
    let run = w.run("ely-restore", &[&args[..], &["--stats"]].concat(), b"");
    run.ok();
    // It continued: fewer batches than a full run needs, and the checkpoint is gone.
    let again = server.requests(Route::Batch) - before;
    assert!(again < 30, "{again} batch requests after resuming");
    assert!(!w.path("cp.json").exists());
    assert_same(&*embedded(&src), &*client(&server), "Note", "Note");
}

#[test]
fn plain_object_streams_restore_by_auto_schema_and_dry_runs_write_nothing() {
    let w = Workdir::new();
    let plain = concat!(
        r#"{"class":"loose","id":"00000000-0000-0000-0000-000000000001","properties":{"title":"a","n":1},"vector":[0.5,1]}"#,
        "\n",
        r#"{"class":"loose","id":"00000000-0000-0000-0000-000000000002","properties":{"title":"b","n":2},"vector":[0.25,2]}"#,
        "\n",
    );
    let run = w.run(
        "ely-restore",
        &["--store", "p.db", "--dry-run"],
        plain.as_bytes(),
    );
    run.ok();
    assert!(embedded(&w.path("p.db")).class("Loose").unwrap().is_none());
    w.run("ely-restore", &["--store", "p.db"], plain.as_bytes())
        .ok();
    let s = embedded(&w.path("p.db"));
    assert_eq!(s.count("Loose", None).unwrap(), 2);
    let server = Server::start(Config::default()).expect("server");
    w.run("ely-restore", &["--store", &server.url()], plain.as_bytes())
        .ok();
    assert_eq!(server.object_count("Loose", None), 2);
    assert_same(&*s, &*client(&server), "Loose", "Loose");
}

#[test]
fn backup_options_shape_the_stream() {
    let w = Workdir::new();
    let src = w.path("src.db");
    let objects = small(&*embedded(&src), 30, 10);
    let s = src.to_str().unwrap();
    let run = w.run("ely-backup", &["--store", s, "--all", "--schema-only"], b"");
    run.ok();
    let l = lines(run.stdout());
    assert_eq!(l.len(), 2);
    assert_eq!(l[1]["objects"], 0);
    let run = w.run(
        "ely-backup",
        &[
            "--store",
            s,
            "-c",
            "note",
            "--where",
            "year < 2010 or lang = \"en\"",
            "--properties",
            "title",
        ],
        b"",
    );
    run.ok();
    let l = lines(run.stdout());
    let want = objects
        .iter()
        .filter(|o| o.properties["year"].as_i64().unwrap() < 2010 || o.properties["lang"] == "en")
        .count();
    assert_eq!(l.len(), want + 2);
    assert_eq!(l[0]["class"]["properties"].as_array().unwrap().len(), 1);
    assert!(l[1..=want]
        .iter()
        .all(|o| o["properties"].as_object().unwrap().len() == 1));
    // Objects come in ascending UUID order.
    let ids: Vec<&str> = l[1..=want]
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    w.run(
        "ely-backup",
        &["--store", s, "-c", "Note", "--where", "year >"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("--where");
}

#[test]
fn renames_carry_references_and_replication_is_checked() {
    let w = Workdir::new();
    let src = w.path("src.db");
    fixture(&*embedded(&src), 11);
    w.run(
        "ely-backup",
        &[
            "--store",
            src.to_str().unwrap(),
            "-c",
            "Author",
            "-c",
            "Article",
            "-o",
            "refs.jsonl",
        ],
        b"",
    )
    .ok();
    let server = Server::start(Config::default()).expect("server");
    let url = server.url();
    // --collection renames only one-collection streams.
    w.run(
        "ely-restore",
        &["--store", &url, "-i", "refs.jsonl", "--collection", "X"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("--rename OLD=NEW");
    // Renamed authors: the articles' references follow them.
    w.run(
        "ely-restore",
        &[
            "--store",
            &url,
            "-i",
            "refs.jsonl",
            "--rename",
            "Author=Writer",
            "--rename",
            "Article=Post",
        ],
        b"",
    )
    .ok();
    let remote = client(&server);
    let posts = scan_all(&*remote, "Post", None);
    assert_eq!(posts.len(), 230);
    let beacon = posts[0].properties["writtenBy"][0]["beacon"]
        .as_str()
        .unwrap();
    assert!(
        beacon.starts_with("weaviate://localhost/Writer/"),
        "{beacon}"
    );
    let def = remote.class("Post").unwrap().unwrap();
    let written_by = def["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "writtenBy")
        .expect("reference property");
    assert_eq!(written_by["dataType"], json!(["Writer"]));
    // A replication factor the target cannot meet: a clear error, then --replication-factor.
    let stream = concat!(
        r#"{"ely":"header","version":1,"collection":"Rep","class":{"class":"Rep","vectorizer":"none","replicationConfig":{"factor":3}}}"#,
        "\n",
        r#"{"class":"Rep","id":"00000000-0000-0000-0000-000000000001","properties":{"a":"b"}}"#,
        "\n",
    );
    let fixed = w.run("ely-convert", &["--no-verify"], stream.as_bytes());
    w.write("rep.jsonl", fixed.stdout());
    w.run("ely-restore", &["--store", &url, "-i", "rep.jsonl"], b"")
        .expect_code(2)
        .expect_stderr("--replication-factor");
    w.run(
        "ely-restore",
        &[
            "--store",
            &url,
            "-i",
            "rep.jsonl",
            "--replication-factor",
            "1",
        ],
        b"",
    )
    .ok();
    assert_eq!(server.object_count("Rep", None), 1);
}

#[test]
fn dry_runs_report_conflicts_and_write_nothing() {
    let w = Workdir::new();
    let src = w.path("src.db");
    let objects = small(&*embedded(&src), 20, 12);
    backup_file(&w, &src, "note.jsonl");
    let d = w.path("dst.db");
    let target = embedded(&d);
    target
        .create_class(
            &json!({"class": "Note", "vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]}]}),
        )
        .unwrap();
    let titles_only: Vec<Object> = objects[..5]
        .iter()
        .map(|o| {
            obj(
                "Note",
                o.id.clone(),
                json!({"title": o.properties["title"]}),
            )
        })
        .collect();
    target.upsert(&titles_only).unwrap();
    drop(target);
    let ds = d.to_str().unwrap();
    let run = w.run(
        "ely-restore",
        &[
            "--store",
            ds,
            "-i",
            "note.jsonl",
            "--dry-run",
            "--on-conflict",
            "skip",
            "--checkpoint",
            "cp",
        ],
        b"",
    );
    run.ok();
    let l = lines(run.stdout());
    assert_eq!(l[0]["add_properties"], json!(["year", "lang"]));
    assert_eq!(total(run.stdout(), "skipped"), 5);
    assert_eq!(total(run.stdout(), "written"), 15);
    assert!(l[1]["dry_run"].as_bool().unwrap());
    let target = embedded(&d);
    assert_eq!(target.count("Note", None).unwrap(), 5);
    assert_eq!(
        target.class("Note").unwrap().unwrap()["properties"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(!w.path("cp").exists());
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let w = Workdir::new();
    for bin in ["ely-backup", "ely-restore"] {
        let run = w.run(bin, &["--help"], b"");
        run.ok();
        let text = String::from_utf8_lossy(run.stdout()).into_owned();
        assert!(
            text.contains("Examples:") && text.contains("Exit codes:"),
            "{text}"
        );
    }
    w.run("ely-restore", &["--on-conflict", "maybe"], b"")
        .expect_code(2)
        .expect_stderr("ely-restore: error:");
}

/// Plain object lines of class `class`: `(id number, title)` pairs.
fn plain_lines(class: &str, items: &[(u32, String)]) -> String {
    items
        .iter()
        .map(|(n, t)| {
            format!(
                "{{\"class\":\"{class}\",\"id\":\"00000000-0000-0000-0000-{n:012}\",\"properties\":{{\"title\":{}}}}}\n",
                json!(t)
            )
        })
        .collect()
}

#[test]
fn the_last_copy_of_a_repeated_object_wins_whatever_the_workers_do() {
    let w = Workdir::new();
    let mut items = Vec::new();
    for round in 0..4 {
        for n in 0..150u32 {
            if round == 0 || n % (round + 1) == 0 {
                items.push((n, format!("round {round}")));
            }
        }
    }
    let mut last = BTreeMap::new();
    for (n, t) in &items {
        last.insert(*n, t.clone());
    }
    let input = plain_lines("Dup", &items);
    let server = Server::start(Config::default()).expect("server");
    server.delay(Route::Batch, std::time::Duration::from_millis(3));
    for store in [w.path("d.db").to_str().unwrap().to_owned(), server.url()] {
        w.run(
            "ely-restore",
            &["--store", &store, "--batch-size", "10", "--workers", "8"],
            input.as_bytes(),
        )
        .ok();
    }
    for s in [embedded(&w.path("d.db")), client(&server)] {
        for o in scan_all(&*s, "Dup", None) {
            let n: u32 = o.id[24..].parse().unwrap();
            assert_eq!(o.properties["title"], json!(last[&n]), "object {n}");
        }
    }
}

#[test]
fn failures_never_leave_a_checkpoint_that_claims_too_much() {
    let w = Workdir::new();
    let items: Vec<(u32, String)> = (1..=40).map(|n| (n, format!("t{n}"))).collect();
    w.write("in.jsonl", plain_lines("Cp", &items).as_bytes());
    // An unreachable store: exit 3, and the checkpoint claims nothing.
    let run = w.run(
        "ely-restore",
        &[
            "--store",
            "http://127.0.0.1:9",
            "--retries",
            "0",
            "-i",
            "in.jsonl",
            "--checkpoint",
            "cp",
        ],
        b"",
    );
    run.expect_code(3);
    if w.path("cp").exists() {
        let cp: Value = serde_json::from_slice(&w.read("cp")).unwrap();
        assert_eq!(cp["line"], 0, "{cp}");
    }
    w.run(
        "ely-restore",
        &["--store", "a.db", "-i", "in.jsonl", "--checkpoint", "cp"],
        b"",
    )
    .ok();
    assert_eq!(embedded(&w.path("a.db")).count("Cp", None).unwrap(), 40);
    // A run that stops part-way (an existing object and --on-conflict fail) leaves a
    // checkpoint; it is refused for another input whose first line is the same.
    let b = embedded(&w.path("b.db"));
    b.upsert(&[obj(
        "Cp",
        "00000000-0000-0000-0000-000000000025".into(),
        json!({"title": "x"}),
    )])
    .unwrap();
    drop(b);
    let args = [
        "--store",
        "b.db",
        "--on-conflict",
        "fail",
        "--batch-size",
        "5",
        "--workers",
        "1",
        "--checkpoint",
        "cp3",
    ];
    w.run(
        "ely-restore",
        &[&args[..], &["-i", "in.jsonl"]].concat(),
        b"",
    )
    .expect_code(2)
    .expect_stderr("already exists");
    let cp: Value = serde_json::from_slice(&w.read("cp3")).unwrap();
    assert_eq!(cp["line"], 20, "{cp}");
    let mut other = items.clone();
    other[10].1 = "changed".into();
    w.write("other.jsonl", plain_lines("Cp", &other).as_bytes());
    w.run(
        "ely-restore",
        &[&args[..], &["-i", "other.jsonl"]].concat(),
        b"",
    )
    .expect_code(2)
    .expect_stderr("does not match this input");
    // The same input is accepted and resumes (meeting the existing object again).
    w.run(
        "ely-restore",
        &[&args[..], &["-i", "in.jsonl"]].concat(),
        b"",
    )
    .expect_code(2)
    .expect_stderr("already exists");
}

#[test]
fn references_are_written_for_what_came_before_a_cut_and_follow_collection() {
    let w = Workdir::new();
    // P objects point at the next one; a one-collection stream restored under another name.
    let mut text = String::new();
    text.push_str(r#"{"ely":"header","version":1,"collection":"P","class":{"class":"P","vectorizer":"none","properties":[{"name":"n","dataType":["int"]},{"name":"next","dataType":["P"]}]}}"#);
    text.push('\n');
    for n in 1..=30u32 {
        text.push_str(&format!(
            "{{\"class\":\"P\",\"id\":\"00000000-0000-0000-0000-{n:012}\",\"properties\":{{\"n\":{n},\"next\":[{{\"beacon\":\"weaviate://localhost/P/00000000-0000-0000-0000-{:012}\"}}]}}}}\n",
            n % 30 + 1
        ));
    }
    let whole = w.run("ely-convert", &["--no-verify"], text.as_bytes());
    w.write("p.jsonl", whole.stdout());
    let run = w.run(
        "ely-restore",
        &["--store", "c.db", "-i", "p.jsonl", "--collection", "P2"],
        b"",
    );
    run.ok();
    let s = embedded(&w.path("c.db"));
    let all = scan_all(&*s, "P2", None);
    assert_eq!(all.len(), 30);
    for o in &all {
        let beacon = o.properties["next"][0]["beacon"].as_str().unwrap();
        assert!(beacon.starts_with("weaviate://localhost/P2/"), "{beacon}");
    }
    // Cut after 20 objects (no trailer): exit 4, and the 20 objects have their references.
    let cut: Vec<&str> = text.lines().take(21).collect();
    let cut = cut.join("\n") + "\n";
    // Objects 1..=19 point at objects that exist; 20 points at 21, which never came.
    let run = w.run(
        "ely-restore",
        &["--store", "d.db", "--dead-letter", "dl.jsonl"],
        cut.as_bytes(),
    );
    run.expect_code(4).expect_stderr("truncated");
    let s = embedded(&w.path("d.db"));
    let all = scan_all(&*s, "P", None);
    assert_eq!(all.len(), 20);
    let with_refs = all
        .iter()
        .filter(|o| o.properties.contains_key("next"))
        .count();
    assert_eq!(with_refs, 19);
    let dead = lines(&w.read("dl.jsonl"));
    assert_eq!(dead.len(), 1);
}

#[test]
fn a_reader_that_goes_away_does_not_stop_the_restore() {
    let w = Workdir::new();
    let items: Vec<(u32, String)> = (1..=3000).map(|n| (n, format!("t{n}"))).collect();
    w.write("in.jsonl", plain_lines("Pipe", &items).as_bytes());
    let mut child = w
        .command("ely-restore")
        .args([
            "--store",
            "p.db",
            "-i",
            "in.jsonl",
            "--batch-size",
            "10",
            "--workers",
            "1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    use std::io::Read;
    out.read_exact(&mut first).expect("a result line");
    drop(out);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(embedded(&w.path("p.db")).count("Pipe", None).unwrap(), 3000);
}

#[test]
fn restore_checks_its_selection_as_backup_does_before_anything_changes() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 12, 9);
    backup_file(&w, &src, "note.jsonl");
    let dst = w.path("dst.db");
    let ds = dst.to_str().unwrap();
    let s = src.to_str().unwrap();
    // The same typos are the same errors in both binaries, and the restore creates nothing.
    for (flag, value, says) in [
        (
            "--properties",
            "titel",
            "--properties names titel, which it does not have (it has: title, year, lang)",
        ),
        ("--where", "yeer >= 2010", "--where on collection Note"),
        ("--tenant", "acme", "collection Note is not multi-tenant"),
    ] {
        w.run(
            "ely-backup",
            &["--store", s, "-c", "Note", flag, value],
            b"",
        )
        .expect_code(2)
        .expect_stderr(says);
        w.run(
            "ely-restore",
            &[
                "--store",
                ds,
                "-i",
                "note.jsonl",
                "--collection",
                "Copy",
                flag,
                value,
            ],
            b"",
        )
        .expect_code(2)
        .expect_stderr(says);
        assert_eq!(
            embedded(&dst).class("Copy").unwrap(),
            None,
            "{flag} {value}"
        );
    }
    // A bad expression is a usage error naming the flag, in both.
    for bin in ["ely-backup", "ely-restore"] {
        w.run(bin, &["--store", s, "-c", "Note", "--where", "year >"], b"")
            .expect_code(2)
            .expect_stderr("--where");
    }
    // What is right passes in both, and selects the same objects.
    let run = w.run(
        "ely-backup",
        &[
            "--store",
            s,
            "-c",
            "Note",
            "--where",
            "year >= 2005",
            "--properties",
            "Title",
        ],
        b"",
    );
    run.ok();
    let backed_up = lines(run.stdout()).len() - 2;
    let run = w.run(
        "ely-restore",
        &[
            "--store",
            ds,
            "-i",
            "note.jsonl",
            "--collection",
            "Copy",
            "--where",
            "year >= 2005",
            "--properties",
            "Title",
        ],
        b"",
    );
    run.ok();
    assert_eq!(total(run.stdout(), "written") as usize, backed_up);
    let copy = scan_all(&*embedded(&dst), "Copy", None);
    assert_eq!(copy.len(), 7);
    assert!(copy
        .iter()
        .all(|o| o.properties.keys().collect::<Vec<_>>() == ["title"]));
}

#[test]
fn vectors_reach_weaviate_as_their_text_says_whatever_form_it_has() {
    // Vector text in other forms than the shortest float32 one (float64 digits, exponents,
    // -0, integers, a value halfway between two float32s, blanks) is sent to Weaviate as it
    // is, and Weaviate stores what ely read from it; objects whose vectors change on the way
    // (a merge, --skip-vectors) are written number by number.
    let w = Workdir::new();
    let server = Server::start(Config::default()).expect("server");
    let url = server.url();
    let remote = client(&server);
    remote
        .create_class(&json!({"class": "Named", "vectorConfig": {
            "named": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"},
            "multi": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                      "vectorIndexConfig": {"multivector": {"enabled": true}}}
        }}))
        .expect("Named");
    let texts = [
        "[0.10000000149011612, 1.0000000596046448e0, -0.0, 1E2, 16777217, 3.4028235e38]",
        "[ 1.00000005960464477539 ,1e-45,-1.401298464324817e-45,0.3333333333333333,7,-8 ]",
    ];
    let ids = [
        "6b29fc40-ca47-1067-b31d-00dd010662da",
        "6b29fc40-ca47-1067-b31d-00dd010662db",
    ];
    let mut input = String::new();
    for (id, v) in ids.iter().zip(texts) {
        input.push_str(&format!(
            r#"{{"class":"Text","id":"{id}","properties":{{"n":1}},"vector":{v}}}"#
        ));
        input.push('\n');
        input.push_str(&format!(
            r#"{{"class":"Named","id":"{id}","properties":{{"n":1}},"vectors":{{"named":{v},"multi":[{v},{v}]}}}}"#
        ));
        input.push('\n');
    }
    w.run("ely-restore", &["--store", &url], input.as_bytes())
        .ok();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (id, text) in ids.iter().zip(texts) {
        let want = match ely_store::parse_vector(text).unwrap() {
            Vector::Single(v) => v,
            Vector::Multi(_) => unreachable!(),
        };
        let got = remote.get("Text", None, id, true).unwrap().expect("stored");
        assert_eq!(bits(got.vector.as_ref().unwrap()), bits(&want), "{text}");
        let got = remote
            .get("Named", None, id, true)
            .unwrap()
            .expect("stored");
        match (&got.vectors["named"], &got.vectors["multi"]) {
            (Vector::Single(n), Vector::Multi(m)) => {
                assert_eq!(bits(n), bits(&want), "{text}");
                assert_eq!(m.len(), 2);
                assert!(m.iter().all(|row| bits(row) == bits(&want)), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
    // A merge keeps the target's vector where the input has none, and --skip-vectors sends
    // none of the line's.
    let merge = format!(
        r#"{{"class":"Text","id":"{}","properties":{{"m":2}}}}"#,
        ids[0]
    );
    w.run(
        "ely-restore",
        &["--store", &url, "--on-conflict", "merge"],
        merge.as_bytes(),
    )
    .ok();
    let got = remote
        .get("Text", None, ids[0], true)
        .unwrap()
        .expect("stored");
    assert_eq!(got.properties["m"], 2);
    assert_eq!(got.vector.as_ref().map(|v| v.len()), Some(6));
    let first_text: String = input.lines().next().unwrap_or_default().to_owned();
    w.run(
        "ely-restore",
        &["--store", &url, "--collection", "Bare", "--skip-vectors"],
        first_text.as_bytes(),
    )
    .ok();
    let bare = remote
        .get("Bare", None, ids[0], true)
        .unwrap()
        .expect("stored");
    assert!(bare.vector.is_none() && bare.vectors.is_empty());
}

#[test]
fn a_resumed_restore_keeps_its_checkpoint_on_empty_input_and_cuts_the_dead_letter_file() {
    let w = Workdir::new();
    let lines: Vec<String> = (0..5)
        .map(|i| {
            format!(r#"{{"class":"Cut","id":"6b29fc40-ca47-1067-b31d-00dd010662d{i}","properties":{{"n":{i}}}}}"#)
        })
        .collect();
    let input = lines.join("\n") + "\n";
    w.write("in.jsonl", input.as_bytes());
    let kept = "{\"ely\":\"rejected\",\"input\":\"in.jsonl\",\"line\":1,\"reason\":\"kept\"}\n";
    let checkpoint = json!({
        "ely": "checkpoint",
        "input": "in.jsonl",
        "first_line": ely_transfer::sink::first_line_hash(lines[0].as_bytes()),
        "line": 2,
        "chain": 0,
        "dead_letter_bytes": kept.len(),
        "updated": "2026-01-01T00:00:00.000Z",
    });
    w.write("cp.json", format!("{checkpoint}\n").as_bytes());
    // An empty input is not the input the checkpoint vouches for: the checkpoint stays.
    w.run(
        "ely-restore",
        &[
            "--store",
            "s.db",
            "--checkpoint",
            "cp.json",
            "--collection",
            "Cut",
        ],
        b"",
    )
    .expect_code(2)
    .expect_stderr("checkpoint cp.json is at line 2, but <stdin> has only 0 lines");
    assert!(w.path("cp.json").exists());
    // A killed run had written a record after the checkpoint (and half of another): the
    // resumed run, which rejects nothing, cuts the file back to what the checkpoint vouches
    // for.
    w.write(
        "dead.jsonl",
        format!("{kept}{{\"ely\":\"rejected\",\"line\":3}}\n{{\"ely\":\"rej").as_bytes(),
    );
    w.run(
        "ely-restore",
        &[
            "--store",
            "s.db",
            "-i",
            "in.jsonl",
            "--checkpoint",
            "cp.json",
            "--dead-letter",
            "dead.jsonl",
        ],
        b"",
    )
    .ok();
    assert_eq!(String::from_utf8(w.read("dead.jsonl")).unwrap(), kept);
    assert!(!w.path("cp.json").exists());
    assert_eq!(embedded(&w.path("s.db")).count("Cut", None).unwrap(), 3);
}

#[test]
fn a_damaged_header_is_a_corrupt_stream_not_a_rejected_line() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 30, 5);
    backup_file(&w, &src, "note.jsonl");
    let text = String::from_utf8(w.read("note.jsonl")).unwrap();
    let header = text.lines().next().unwrap().to_owned();
    // One flipped byte that breaks the header's JSON, and one that breaks its "ely" key.
    let broken_json = text.replacen(&header, &header.replacen("\"int\"", "\"int", 1), 1);
    let broken_key = text.replacen("{\"ely\":\"header\"", "{\"elz\":\"header\"", 1);
    for (name, damaged, says) in [
        ("json", &broken_json, "a collection's header is damaged"),
        ("key", &broken_key, "whose header (line 1) is damaged"),
    ] {
        // On stdin (nothing verified first), nothing of the section is accepted quietly:
        // exit 4, not 1.
        let run = w.run("ely-restore", &["--store", "a.db"], damaged.as_bytes());
        run.expect_code(4).expect_stderr(says);
        let check = w.run(
            "ely-convert",
            &["--check", "--skip-bad", "--dead-letter", "bad.jsonl"],
            damaged.as_bytes(),
        );
        check.expect_code(4);
        assert!(
            String::from_utf8_lossy(check.stdout()).contains(r#""verified":false"#),
            "{name}"
        );
    }
    // A header of a newer format is still refused as such (exit 2), not called damaged.
    let current = format!("\"version\":{}", ely_stream::FORMAT_VERSION);
    assert!(text.contains(&current));
    let newer = text.replacen(&current, "\"version\":99", 1);
    w.run("ely-convert", &["--check"], newer.as_bytes())
        .expect_code(2)
        .expect_stderr("upgrade ely");
}

#[test]
fn what_a_resumed_restore_rejects_does_not_depend_on_where_it_resumed() {
    let w = Workdir::new();
    let vector = |n: usize| format!("[{}]", vec!["0.5"; n].join(","));
    let lines: Vec<String> = (0..8)
        .map(|i| {
            let dims = if i == 5 { 7 } else { 8 };
            format!(
                r#"{{"class":"Dim","id":"00000000-0000-4000-8000-00000000000{i}","properties":{{"n":{i}}},"vector":{}}}"#,
                vector(dims)
            )
        })
        .collect();
    let input = lines.join("\n") + "\n";
    w.write("in.jsonl", input.as_bytes());
    // A run that wrote lines 1 to 5 and left a checkpoint there (line 6, whose vector is
    // shorter than the others', comes next).
    w.write("first.jsonl", (lines[..5].join("\n") + "\n").as_bytes());
    w.run(
        "ely-restore",
        &["--store", "s.db", "-i", "first.jsonl"],
        b"",
    )
    .ok();
    let checkpoint = json!({
        "ely": "checkpoint", "input": "in.jsonl",
        "first_line": ely_transfer::sink::first_line_hash(lines[0].as_bytes()),
        "line": 5, "chain": 0, "dead_letter_bytes": 0,
        "updated": "2026-01-01T00:00:00.000Z",
    });
    w.write("cp.json", format!("{checkpoint}\n").as_bytes());
    // Resumed, line 6 is rejected as a run from the start rejects it, and the rest is
    // written: the run is not stuck on the target's vector length.
    let run = w.run(
        "ely-restore",
        &[
            "--store",
            "s.db",
            "-i",
            "in.jsonl",
            "--checkpoint",
            "cp.json",
        ],
        b"",
    );
    run.expect_code(1);
    assert_eq!(total(run.stdout(), "rejected"), 1);
    assert!(String::from_utf8_lossy(run.stdout()).contains("has 7 dimensions, but earlier objects"));
    assert_eq!(embedded(&w.path("s.db")).count("Dim", None).unwrap(), 7);
    // From the start, the same line is rejected the same way.
    let run = w.run("ely-restore", &["--store", "t.db", "-i", "in.jsonl"], b"");
    run.expect_code(1);
    assert_eq!(total(run.stdout(), "rejected"), 1);
}

#[test]
fn a_restore_stopped_by_a_check_leaves_the_target_schema_as_it_was() {
    let w = Workdir::new();
    let src = w.path("src.db");
    small(&*embedded(&src), 10, 3);
    backup_file(&w, &src, "note.jsonl");
    // The target has Note with fewer properties and vectors of another length.
    let dst = w.path("dst.db");
    let target = embedded(&dst);
    target
        .create_class(
            &json!({"class": "Note", "vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]}]}),
        )
        .unwrap();
    let mut o = obj(
        "Note",
        "00000000-0000-4000-8000-000000000001".into(),
        json!({"title": "there"}),
    );
    o.vector = Some(vec![0.5; 4]);
    target.upsert(&[o]).unwrap();
    drop(target);
    w.run(
        "ely-restore",
        &["--store", dst.to_str().unwrap(), "-i", "note.jsonl"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("the target's objects have 4");
    let class = embedded(&dst).class("Note").unwrap().unwrap();
    let names = util::property_names(&class);
    assert_eq!(
        names,
        ["title"],
        "no property was added by a restore that stopped"
    );
    // With matching vectors the same restore adds them.
    w.run(
        "ely-restore",
        &[
            "--store",
            dst.to_str().unwrap(),
            "-i",
            "note.jsonl",
            "--skip-vectors",
        ],
        b"",
    )
    .ok();
    let class = embedded(&dst).class("Note").unwrap().unwrap();
    assert_eq!(class["properties"].as_array().unwrap().len(), 3);
}

#[test]
fn a_multi_tenancy_mismatch_stops_a_plain_stream_before_anything_is_written() {
    let w = Workdir::new();
    let server = Server::start(Config::default()).expect("server");
    let url = server.url();
    let remote = client(&server);
    remote
        .create_class(&json!({"class": "Flat", "vectorizer": "none"}))
        .unwrap();
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "{{\"class\":\"Flat\",\"id\":\"00000000-0000-4000-8000-00000000000{i}\",\"tenant\":\"acme\",\"properties\":{{\"n\":{i}}}}}\n"
            )
        })
        .collect();
    let run = w.run("ely-restore", &["--store", &url], lines.as_bytes());
    run.expect_code(2)
        .expect_stderr("collection Flat is not multi-tenant in the target, but the object at line 1 has tenant acme");
    assert_eq!(server.requests(Route::Batch), 0, "nothing was sent");
    // The other way round: objects without a tenant for a multi-tenant collection.
    remote
        .create_class(&json!({"class": "Many", "vectorizer": "none",
            "multiTenancyConfig": {"enabled": true}}))
        .unwrap();
    let plain = lines
        .replace(",\"tenant\":\"acme\"", "")
        .replace("Flat", "Many");
    w.run("ely-restore", &["--store", &url], plain.as_bytes())
        .expect_code(2)
        .expect_stderr(
            "collection Many is multi-tenant in the target, but the object at line 1 has no tenant",
        );
    assert_eq!(server.requests(Route::Batch), 0, "nothing was sent");
    // Once objects of the collection were written, a later misfit is rejected, not fatal:
    // what was written is not left half-explained by an error.
    let mixed = format!(
        "{}{}",
        lines
            .replace(",\"tenant\":\"acme\"", "")
            .lines()
            .next()
            .unwrap(),
        "\n"
    ) + lines.lines().nth(1).unwrap()
        + "\n";
    w.write("mixed.jsonl", mixed.as_bytes());
    w.run("ely-restore", &["--store", &url, "-i", "mixed.jsonl"], b"")
        .expect_code(1);
    assert_eq!(remote.count("Flat", None).unwrap(), 1);
    let rejected = String::from_utf8(w.read("mixed.jsonl.rejected.jsonl")).unwrap();
    assert!(
        rejected.contains(
            "is not multi-tenant in the target, but the object at line 2 has tenant acme"
        ),
        "{rejected}"
    );
}

#[test]
fn failures_are_quick_and_visible() {
    let w = Workdir::new();
    let server = Server::start(Config::default()).expect("server");
    let url = server.url();
    let line =
        r#"{"class":"Quick","id":"00000000-0000-4000-8000-000000000001","properties":{"n":1}}"#;
    // Each retry says so on stderr, unless --quiet.
    server.fail_next(Route::Batch, 2, Fault::Status(503));
    let run = w.run("ely-restore", &["--store", &url], line.as_bytes());
    run.ok();
    let said = run.stderr();
    assert_eq!(
        said.matches("retrying POST /v1/batch/objects in").count(),
        2,
        "{said}"
    );
    assert!(
        said.contains("after 503 Service Unavailable (attempt 2 of 9)"),
        "{said}"
    );
    server.fail_next(Route::Batch, 1, Fault::Status(503));
    let run = w.run(
        "ely-restore",
        &["--store", &url, "--quiet"],
        line.as_bytes(),
    );
    run.ok();
    assert!(!run.stderr().contains("retrying"), "{}", run.stderr());
    // Nobody listening, or no such host: exit 3 at once, not after minutes of retries.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    for store in [
        format!("http://127.0.0.1:{port}"),
        "http://no-such-host.invalid:8080".to_owned(),
    ] {
        let started = std::time::Instant::now();
        w.run("ely-backup", &["--store", &store, "--all"], b"")
            .expect_code(3)
            .expect_stderr("cannot be reached");
        assert!(
            started.elapsed().as_secs() < 10,
            "{store}: {:?}",
            started.elapsed()
        );
    }
    // A server that stops answering: each attempt times out, and retrying stops at
    // --retry-for.
    let backup_within_1s = |more: &[&str]| {
        let args = [
            &["--store", url.as_str(), "--all", "--timeout", "1s"][..],
            more,
        ]
        .concat();
        w.run("ely-backup", &args, b"")
    };
    server.delay(Route::Schema, std::time::Duration::from_secs(60));
    let started = std::time::Instant::now();
    backup_within_1s(&["--retry-for", "3s"])
        .expect_code(3)
        .expect_stderr("(--retry-for)");
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    server.delay(Route::Schema, std::time::Duration::ZERO);
    // An answer that keeps coming is not cut off by --timeout, however long it takes in all.
    server.fail_next(
        Route::Schema,
        1,
        Fault::Trickle {
            pieces: 4,
            gap: std::time::Duration::from_millis(600),
        },
    );
    let schema_before = server.requests(Route::Schema);
    let started = std::time::Instant::now();
    backup_within_1s(&["--schema-only", "--retries", "0", "-o", "slow.jsonl"]).ok();
    assert!(
        started.elapsed().as_millis() >= 2400,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(Route::Schema), schema_before + 1);
}

#[test]
fn the_embedded_store_refuses_data_types_and_vectorizers_weaviate_does_not_know() {
    let w = Workdir::new();
    // Version 1 streams do not cover their header by the trailer's hash: a flipped bit in a
    // data type or a vectorizer name still reaches the store, which refuses it as Weaviate
    // does, before any object is written.
    let line =
        r#"{"class":"Typed","id":"00000000-0000-4000-8000-000000000001","properties":{"n":1}}"#;
    for (class, says) in [
        (
            r#"{"class":"Typed","vectorizer":"none","properties":[{"name":"n","dataType":["mnt"]}]}"#,
            "invalid dataType: [mnt]",
        ),
        (
            r#"{"class":"Typed","vectorizer":"nonf"}"#,
            "no module with name \"nonf\" present",
        ),
    ] {
        let header =
            format!(r#"{{"ely":"header","version":1,"collection":"Typed","class":{class}}}"#);
        let lines = vec![line.to_owned()];
        let stream = format!(
            "{header}\n{line}\n{}\n",
            util::trailer_line(Some("Typed"), &lines)
        );
        w.run("ely-restore", &["--store", "s.db"], stream.as_bytes())
            .expect_code(2)
            .expect_stderr(says);
        assert_eq!(embedded(&w.path("s.db")).class("Typed").unwrap(), None);
    }
    // What the store made of a plain object (by auto-schema) it backs up in the current
    // format version, whose trailer covers the header, and restores from it.
    w.run(
        "ely-restore",
        &["--store", "s.db"],
        format!("{line}\n").as_bytes(),
    )
    .ok();
    let run = w.run("ely-backup", &["--store", "s.db", "--all"], b"");
    run.ok();
    let backup = String::from_utf8(run.stdout().to_vec()).unwrap();
    let header: Value = serde_json::from_str(backup.lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], ely_stream::FORMAT_VERSION);
    assert_eq!(header["collection"], "Typed");
    w.run("ely-restore", &["--store", "copy.db"], backup.as_bytes())
        .ok();
    assert_eq!(
        embedded(&w.path("copy.db")).count("Typed", None).unwrap(),
        1
    );
}
