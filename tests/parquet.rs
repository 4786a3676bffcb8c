//! Parquet: ely streams to typed Parquet files and back, object for object and byte for byte;
//! restores from Parquet; what DuckDB and pyarrow see in the files; damaged files.

mod util;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use ely_stream::format::control_line;
use ely_stream::{Header, SectionHash};
use ely_vocab::{Object, Vector};
use serde_json::{json, Map, Value};
use util::{Rng, Workdir};

/// What ely-backup writes of `collection` in the embedded store `store`.
fn backed_up(w: &Workdir, store: &str, collection: &str) -> Vec<u8> {
    let run = w.run(
        "ely-backup",
        &["--store", store, "--collection", collection, "--quiet"],
        b"",
    );
    run.ok();
    run.stdout().to_vec()
}

/// The object lines of a stream, by id.
fn by_id(stream: &[u8]) -> BTreeMap<String, Value> {
    String::from_utf8_lossy(stream)
        .lines()
        .filter(|l| !l.starts_with("{\"ely\""))
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["id"].as_str().unwrap_or_default().to_owned(), v)
        })
        .collect()
}

/// `ely-convert -i from -o to`, which must succeed.
fn convert(w: &Workdir, from: &str, to: &str) {
    w.run("ely-convert", &["-i", from, "-o", to], b"").ok();
}

/// A class with a property of every data type Weaviate has.
fn every_type_class(name: &str) -> Value {
    json!({
        "class": name,
        "vectorizer": "none",
        "multiTenancyConfig": {"enabled": true},
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "count", "dataType": ["int"]},
            {"name": "counts", "dataType": ["int[]"]},
            {"name": "score", "dataType": ["number"]},
            {"name": "scores", "dataType": ["number[]"]},
            {"name": "done", "dataType": ["boolean"]},
            {"name": "flags", "dataType": ["boolean[]"]},
            {"name": "when", "dataType": ["date"]},
            {"name": "whens", "dataType": ["date[]"]},
            {"name": "ref", "dataType": ["uuid"]},
            {"name": "refs", "dataType": ["uuid[]"]},
            {"name": "image", "dataType": ["blob"]},
            {"name": "place", "dataType": ["geoCoordinates"]},
            {"name": "phone", "dataType": ["phoneNumber"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "k", "dataType": ["text"]}, {"name": "n", "dataType": ["number"]},
                {"name": "inner", "dataType": ["object"], "nestedProperties": [
                    {"name": "when", "dataType": ["date"]}, {"name": "tags", "dataType": ["text[]"]}]}]},
            {"name": "items", "dataType": ["object[]"], "nestedProperties": [
                {"name": "k", "dataType": ["text"]}]},
            {"name": "author", "dataType": ["Person"]}
        ]
    })
}

/// Floats a round trip must keep bit for bit.
const EDGES: [f32; 8] = [
    0.0,
    -0.0,
    1e-45,
    -1.1754942e-38,
    3.4028235e38,
    -3.4028235e38,
    0.1,
    1.0000001,
];

/// An object of the every-type class; `odd` objects carry what no typed column holds as it
/// is (a number written 1.0, a date with an offset, a property the class does not list, a
/// null, a vector of another length, properties out of order).
fn every_type_object(rng: &mut Rng, class: &str, i: usize, odd: bool) -> Object {
    let mut p = Map::new();
    let v = |x: Value| x;
    p.insert(
        "title".into(),
        v(json!(format!("naïve 日本語 \"{i}\"\n\t{}", rng.text(5)))),
    );
    p.insert("tags".into(), json!(["a", rng.text(2), ""]));
    p.insert("count".into(), json!(i as i64 - 3));
    p.insert("counts".into(), json!([i64::MIN, 0, i64::MAX]));
    p.insert(
        "score".into(),
        if odd {
            json!(1.0)
        } else {
            json!(0.25 + i as f64)
        },
    );
    p.insert("scores".into(), json!([1e-300, -2.5, 7]));
    p.insert("done".into(), json!(i.is_multiple_of(2)));
    p.insert("flags".into(), json!([true, false]));
    p.insert(
        "when".into(),
        if odd {
            json!("2026-04-08T14:42:00+02:00")
        } else {
            json!(format!("2026-04-{:02}T12:42:00.5Z", 1 + i % 28))
        },
    );
    p.insert(
        "whens".into(),
        json!(["1970-01-01T00:00:00Z", "2262-04-11T23:47:16.854775Z"]),
    );
    p.insert("ref".into(), json!(rng.uuid()));
    p.insert("refs".into(), json!([rng.uuid(), rng.uuid()]));
    p.insert("image".into(), json!("aGVsbG8gd29ybGQ="));
    p.insert(
        "place".into(),
        json!({"latitude": 52.3676, "longitude": 4.9041}),
    );
    // Nested objects as Weaviate gives them (keys in name order); odd ones in another order
    // (they keep their JSON in _extra).
    if odd {
        p.insert(
            "phone".into(),
            json!({"input": "020 1234567", "defaultCountry": "NL", "countryCode": 31, "valid": true}),
        );
        p.insert("meta".into(), json!({"n": 1.5, "k": "v"}));
    } else {
        p.insert(
            "phone".into(),
            json!({"countryCode": 31, "defaultCountry": "NL", "input": "020 1234567",
                   "internationalFormatted": "+31 20 123 4567", "national": 201234567,
                   "nationalFormatted": "020 123 4567", "valid": true}),
        );
        p.insert(
            "meta".into(),
            json!({"inner": {"tags": ["x", format!("t{i}")], "when": "2026-01-02T03:04:05Z"},
                   "k": format!("v{i}"), "n": 1.5}),
        );
    }
    p.insert("items".into(), json!([{"k": "a"}, {"k": "b"}]));
    p.insert(
        "author".into(),
        json!([{"beacon": format!("weaviate://localhost/Person/{}", rng.uuid())}]),
    );
    if odd {
        p.insert("unlisted".into(), json!({"deep": [1, 2.5, null]}));
        p.insert("nothing".into(), Value::Null);
        // Out of the class's order.
        let title = p.shift_remove("title").unwrap_or_default();
        p.insert("title".into(), title);
    }
    let dims = if odd { 5 } else { 8 };
    let mut vector: Vec<f32> = (0..dims).map(|_| rng.f32()).collect();
    for (j, e) in EDGES.iter().enumerate().take(dims) {
        if (i + j).is_multiple_of(3) {
            vector[j] = *e;
        }
    }
    let mut vectors = BTreeMap::new();
    vectors.insert(
        "colbert".to_owned(),
        Vector::Multi(vec![vec![rng.f32(), 1e-45], vec![-0.0, rng.f32()]]),
    );
    vectors.insert("title_vec".to_owned(), Vector::Single(vec![rng.f32(); 3]));
    Object {
        class: class.into(),
        id: rng.uuid(),
        tenant: Some(format!("tenant{}", i % 3)),
        properties: p,
        vector: Some(vector),
        vectors,
        creation_time_unix: Some(1_700_000_000_000 + i as i64),
        last_update_time_unix: (!i.is_multiple_of(4)).then_some(1_700_000_000_999),
    }
}

/// A whole stream section of `objects` as ely writes it (format version 2).
fn stream(collection: &str, class: Value, objects: &[Object]) -> Vec<u8> {
    let header = Header {
        version: 2,
        collection: collection.into(),
        class: Some(class),
        tenants: Some({
            let mut names: Vec<&str> = objects.iter().filter_map(|o| o.tenant.as_deref()).collect();
            names.sort_unstable();
            names.dedup();
            names.iter().map(|t| json!({ "name": t })).collect()
        }),
        source: Some("test".into()),
        created: Some("2026-11-28T00:00:00Z".into()),
    };
    let head = control_line("header", &header);
    let mut out = head.clone();
    out.push(b'\n');
    let mut hash = SectionHash::for_header(2, &head);
    for o in objects {
        let mut line = Vec::new();
        o.write_line(&mut line);
        hash.add(&line);
        out.extend_from_slice(&line);
        out.push(b'\n');
    }
    out.extend_from_slice(&control_line("trailer", &hash.trailer(Some(collection))));
    out.push(b'\n');
    out
}

#[test]
fn every_data_type_goes_to_parquet_and_back_byte_for_byte() {
    let w = Workdir::new();
    let mut rng = Rng(7);
    let objects: Vec<Object> = (0..300)
        .map(|i| every_type_object(&mut rng, "Doc", i, i % 7 == 3))
        .collect();
    let original = stream("Doc", every_type_class("Doc"), &objects);
    w.write("doc.jsonl", &original);
    convert(&w, "doc.jsonl", "doc.parquet");
    convert(&w, "doc.parquet", "back.jsonl");
    assert!(w.read("back.jsonl") == original, "the same bytes back");
    // The check reads the Parquet file as a stream and verifies it.
    let check = w.run("ely-convert", &["--check", "-i", "doc.parquet"], b"");
    check.ok();
    let report: Value = serde_json::from_slice(check.stdout()).unwrap();
    assert_eq!(report["objects"], 300, "{report}");
    // Written again from stdout, to a file the same.
    let piped = w.run(
        "ely-convert",
        &["-i", "doc.jsonl", "--format", "parquet"],
        b"",
    );
    piped.ok();
    // Parquet through a pipe is read too (spooled to a temporary file).
    let through_pipe = w.run("ely-convert", &[], piped.stdout());
    through_pipe.ok();
    assert!(through_pipe.stdout() == original, "read from stdin");
    w.write("piped.parquet", piped.stdout());
    convert(&w, "piped.parquet", "back2.jsonl");
    assert!(w.read("back2.jsonl") == original);
}

#[test]
fn a_backup_restores_from_parquet_into_any_store() {
    let w = Workdir::new();
    let mut rng = Rng(11);
    let lines = util::objects(&mut rng, "Note", 500, 32);
    w.write("notes.jsonl", util::section("Note", &lines).as_bytes());
    w.run(
        "ely-restore",
        &["--store", "a.db", "-i", "notes.jsonl", "--quiet"],
        b"",
    )
    .ok();
    let backup = w.run(
        "ely-backup",
        &["--store", "a.db", "--collection", "Note", "--quiet"],
        b"",
    );
    backup.ok();
    w.write("backup.jsonl", backup.stdout());
    convert(&w, "backup.jsonl", "backup.parquet");
    convert(&w, "backup.parquet", "again.jsonl");
    assert!(
        w.read("again.jsonl") == backup.stdout(),
        "ely-backup's output comes back byte for byte"
    );
    w.run(
        "ely-restore",
        &["--store", "b.db", "-i", "backup.parquet", "--quiet"],
        b"",
    )
    .ok();
    let from_b = w.run(
        "ely-backup",
        &["--store", "b.db", "--collection", "Note", "--quiet"],
        b"",
    );
    from_b.ok();
    // The same objects; a store stamps the times of what it is given.
    let objects = |out: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(out)
            .lines()
            .filter(|l| !l.starts_with("{\"ely\""))
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("creationTimeUnix");
                v.as_object_mut().unwrap().remove("lastUpdateTimeUnix");
                v
            })
            .collect()
    };
    assert_eq!(objects(from_b.stdout()), objects(backup.stdout()));
}

#[test]
fn ely_backup_writes_parquet_with_a_manifest_per_file() {
    let w = Workdir::new();
    let mut rng = Rng(13);
    let mut input = util::section("Alpha", &util::objects(&mut rng, "Alpha", 120, 8));
    input.push_str(&util::section(
        "Beta",
        &util::objects(&mut rng, "Beta", 80, 8),
    ));
    w.write("in.jsonl", input.as_bytes());
    w.run(
        "ely-restore",
        &["--store", "s.db", "-i", "in.jsonl", "--quiet"],
        b"",
    )
    .ok();
    let run = w.run(
        "ely-backup",
        &["--store", "s.db", "--all", "-o", "out/"],
        b"",
    );
    run.ok();
    let manifests: Vec<Value> = String::from_utf8_lossy(run.stdout())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(manifests.len(), 2, "one manifest per file");
    for m in &manifests {
        assert_eq!(m["format"], "parquet");
        let file = m["file"].as_str().unwrap();
        assert_eq!(
            std::fs::metadata(file).unwrap().len(),
            m["bytes"].as_u64().unwrap(),
            "{m}"
        );
    }
    assert_eq!(manifests[0]["collections"][0]["objects"], 120);
    // The folder reads back as the stream ely-backup writes as JSONL.
    let jsonl = w.run("ely-backup", &["--store", "s.db", "--all", "--quiet"], b"");
    jsonl.ok();
    let back = w.run("ely-convert", &["-i", "out"], b"");
    back.ok();
    let objects = |b: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(b)
            .lines()
            .filter(|l| !l.starts_with("{\"ely\""))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(objects(back.stdout()), objects(jsonl.stdout()));
    // One file cannot hold two collections.
    w.run(
        "ely-backup",
        &["--store", "s.db", "--all", "-o", "all.parquet"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("-o DIR/");
    assert!(!w.path("all.parquet").exists());
}

#[test]
fn several_collections_go_to_a_folder_and_read_back_as_one_stream() {
    let w = Workdir::new();
    let mut rng = Rng(3);
    let a: Vec<Object> = (0..40)
        .map(|i| every_type_object(&mut rng, "Alpha", i, false))
        .collect();
    let b: Vec<Object> = (0..25)
        .map(|i| every_type_object(&mut rng, "Beta", i, true))
        .collect();
    let mut both = stream("Alpha", every_type_class("Alpha"), &a);
    both.extend(stream("Beta", every_type_class("Beta"), &b));
    w.write("both.jsonl", &both);
    w.run(
        "ely-convert",
        &["-i", "both.jsonl", "-o", "one.parquet"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("-o DIR/");
    assert!(!w.path("one.parquet").exists(), "nothing is left behind");
    w.run("ely-convert", &["-i", "both.jsonl", "-o", "out/"], b"")
        .ok();
    assert!(w.path("out/Alpha.parquet").exists());
    assert!(w.path("out/Beta.parquet").exists());
    w.run("ely-convert", &["-i", "out", "-o", "back.jsonl"], b"")
        .ok();
    assert!(w.read("back.jsonl") == both);
}

#[test]
fn plain_objects_get_columns_from_their_first_objects() {
    let w = Workdir::new();
    let mut rng = Rng(17);
    let lines = util::objects(&mut rng, "Plain", 200, 16);
    let mut input = lines.join("\n");
    input.push('\n');
    // A later object with a property the first ones did not have, and a vector of another
    // length: kept all the same.
    input.push_str(&format!(
        "{{\"class\":\"Plain\",\"id\":\"{}\",\"properties\":{{\"n\":\"text now\",\"extra\":[1,{{\"a\":null}}]}},\"vector\":[0.5,-0]}}\n",
        rng.uuid()
    ));
    w.write("plain.jsonl", input.as_bytes());
    convert(&w, "plain.jsonl", "plain.parquet");
    let back = w.run("ely-convert", &["-i", "plain.parquet", "--plain"], b"");
    back.ok();
    assert_eq!(String::from_utf8_lossy(back.stdout()), input);
}

#[test]
fn damaged_parquet_files_fail_verification_naming_the_file() {
    let w = Workdir::new();
    let mut rng = Rng(5);
    let objects: Vec<Object> = (0..200)
        .map(|i| every_type_object(&mut rng, "Doc", i, i % 5 == 0))
        .collect();
    w.write(
        "doc.jsonl",
        &stream("Doc", every_type_class("Doc"), &objects),
    );
    convert(&w, "doc.jsonl", "doc.parquet");
    let good = w.read("doc.parquet");
    w.write("cut.parquet", &good[..good.len() / 2]);
    w.run("ely-convert", &["-i", "cut.parquet", "-o", "x.jsonl"], b"")
        .expect_code(4)
        .expect_stderr("cut.parquet");
    assert!(!w.path("x.jsonl").exists());
    // One flipped bit anywhere past the magic: never a panic, never a silent success.
    let mut r = Rng(9);
    for k in 0..40 {
        let mut bad = good.clone();
        let at = 4 + r.below(bad.len() as u64 - 12) as usize;
        bad[at] ^= 1 << (k % 8);
        let name = format!("bad{k}.parquet");
        w.write(&name, &bad);
        let run = w.run("ely-convert", &["-i", &name, "-o", "/dev/null"], b"");
        assert!(
            !run.stderr().contains("panicked"),
            "{name}: {}",
            run.stderr()
        );
        if run.code() == 0 {
            // Bytes that do not matter to the objects (padding, statistics) may change.
            continue;
        }
        assert_eq!(run.code(), 4, "{name}: {}", run.stderr());
        assert!(run.stderr().contains(&name), "{}", run.stderr());
    }
    // Restoring a damaged file writes nothing.
    w.run(
        "ely-restore",
        &["--store", "s.db", "-i", "cut.parquet"],
        b"",
    )
    .expect_code(4);
}

/// Python with pyarrow and duckdb, when installed (CI installs them).
fn python_with(modules: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with {modules} is missing in CI; .ci/run installs them"
        );
        eprintln!("skipping: python3 with {modules} is not installed");
    }
    ok
}

#[test]
fn duckdb_and_pyarrow_see_natural_types_and_the_same_values() {
    if !python_with("pyarrow, duckdb") {
        return;
    }
    let w = Workdir::new();
    let mut rng = Rng(21);
    let objects: Vec<Object> = (0..120)
        .map(|i| every_type_object(&mut rng, "Doc", i, false))
        .collect();
    w.write(
        "doc.jsonl",
        &stream("Doc", every_type_class("Doc"), &objects),
    );
    convert(&w, "doc.jsonl", "doc.parquet");
    let script = r#"
import json, sys, pyarrow.parquet as pq, duckdb
t = pq.read_table("doc.parquet")
s = t.schema
out = {
  "rows": t.num_rows,
  "id": str(s.field("id").type),
  "when": str(s.field("when").type),
  "vector": str(s.field("vector").type),
  "place": str(s.field("place").type),
  "tags": str(s.field("tags").type),
  "count": str(s.field("count").type),
  "phone": str(s.field("phone").type),
  "meta": str(s.field("meta").type),
  "items": str(s.field("items").type),
  "nested": t.column("meta")[1].as_py()["inner"]["tags"],
  "first_id": str(t.column("id")[0].as_py()),
  "first_vector": [float(x) for x in t.column("vector")[0].as_py()],
}
con = duckdb.connect()
r = con.execute("SELECT count(*), any_value(typeof(id)), any_value(typeof(\"when\")), any_value(typeof(vector)), sum(\"count\") FROM 'doc.parquet'").fetchone()
out["duck"] = [r[0], r[1], r[2], r[3], int(r[4])]
out["duck_when"] = str(con.execute("SELECT \"when\" FROM 'doc.parquet' LIMIT 1").fetchone()[0])
r = con.execute("SELECT phone.countryCode, meta.inner.\"when\", meta.k, items[2].k FROM 'doc.parquet' LIMIT 1 OFFSET 1").fetchone()
out["duck_nested"] = [r[0], str(r[1]), r[2], r[3]]
print(json.dumps(out))
"#;
    let run = Command::new("python3")
        .args(["-c", script])
        .current_dir(w.path("."))
        .output()
        .expect("python3");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(got["rows"], 120);
    assert_eq!(got["id"], "extension<arrow.uuid>");
    assert_eq!(got["when"], "timestamp[us, tz=UTC]");
    assert!(got["vector"]
        .as_str()
        .unwrap()
        .starts_with("fixed_size_list<element: float"));
    assert!(got["place"]
        .as_str()
        .unwrap()
        .starts_with("struct<latitude: double"));
    assert_eq!(got["tags"], "list<element: string>");
    assert_eq!(got["count"], "int64");
    assert_eq!(
        got["phone"],
        "struct<countryCode: int64, defaultCountry: string, input: string, internationalFormatted: string, national: int64, nationalFormatted: string, valid: bool>"
    );
    assert_eq!(
        got["meta"],
        "struct<inner: struct<tags: list<element: string>, when: timestamp[us, tz=UTC]>, k: string, n: double>"
    );
    assert_eq!(got["items"], "list<element: struct<k: string>>");
    assert_eq!(got["nested"], json!(["x", "t1"]));
    assert_eq!(
        got["duck_nested"],
        json!([31, "2026-01-02 03:04:05+00:00", "v1", "b"])
    );
    assert_eq!(got["first_id"], objects[0].id.as_str());
    let first: Vec<f32> = got["first_vector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let want = objects[0].vector.clone().unwrap();
    assert_eq!(
        first.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        "float32 bit for bit"
    );
    let sum: i64 = objects
        .iter()
        .map(|o| o.properties["count"].as_i64().unwrap())
        .sum();
    assert_eq!(
        got["duck"],
        json!([120, "UUID", "TIMESTAMP WITH TIME ZONE", "FLOAT[]", sum])
    );
    assert!(got["duck_when"]
        .as_str()
        .unwrap()
        .starts_with("2026-04-01 12:42:00.5"));
}

#[test]
fn weaviates_own_parquet_export_restores_into_a_store() {
    if !python_with("pyarrow") {
        return;
    }
    let w = Workdir::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/weaviate_export.py");
    let made = Command::new("python3")
        .args([script, "export"])
        .current_dir(w.path("."))
        .output()
        .expect("python3");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let restore = w.run("ely-restore", &["--store", "s.db", "-i", "export/"], b"");
    restore.ok();
    let expect: Vec<Value> = serde_json::from_slice(&w.read("expect.json")).unwrap();
    let mut got = by_id(&backed_up(&w, "s.db", "Article"));
    got.extend(by_id(&backed_up(&w, "s.db", "Doc")));
    assert_eq!(got.len(), expect.len(), "every object restored");
    let bits = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| (x.as_f64().unwrap() as f32).to_bits())
            .collect()
    };
    for e in &expect {
        let o = &got[e["id"].as_str().unwrap()];
        assert_eq!(o["class"], e["collection"]);
        assert_eq!(o["properties"]["title"], e["properties"]["title"]);
        assert_eq!(o["tenant"], e["tenant"], "{o}");
        let v = if o["vector"].is_null() {
            &o["vectors"]["body"]
        } else {
            &o["vector"]
        };
        assert_eq!(bits(v), bits(&e["vector"]), "vectors bit for bit");
    }
}

#[test]
fn parquet_duckdb_made_from_a_stream_restores_when_its_doubles_are_allowed_to_round() {
    if !python_with("duckdb") {
        return;
    }
    let w = Workdir::new();
    let mut rng = Rng(29);
    let lines = util::objects(&mut rng, "Note", 150, 16);
    w.write("plain.jsonl", (lines.join("\n") + "\n").as_bytes());
    let made = Command::new("python3")
        .args([
            "-c",
            "import duckdb; duckdb.sql(\"COPY (SELECT * FROM read_json('plain.jsonl')) TO 'notes.parquet' (FORMAT parquet)\")",
        ])
        .current_dir(w.path("."))
        .output()
        .expect("python3");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // DuckDB reads vectors as doubles: taken as they are, most would change.
    w.run(
        "ely-restore",
        &["--store", "s.db", "-i", "notes.parquet", "--quiet"],
        b"",
    )
    .expect_code(1)
    .expect_stderr("rejected");
    w.run(
        "ely-restore",
        &[
            "--store",
            "s.db",
            "-i",
            "notes.parquet",
            "--lossy",
            "--collection",
            "Back",
            "--quiet",
        ],
        b"",
    )
    .ok();
    let got = by_id(&backed_up(&w, "s.db", "Back"));
    assert_eq!(got.len(), 150);
    for l in &lines {
        let want: Value = serde_json::from_str(l).unwrap();
        let o = &got[want["id"].as_str().unwrap()];
        assert_eq!(o["properties"], want["properties"]);
        // Shortest float32 text read as a double rounds back to the same float32 (DuckDB
        // itself reads `-0` as 0, so zeros compare by value).
        let floats = |v: &Value| -> Vec<f32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        };
        assert_eq!(
            floats(&o["vector"]),
            floats(&want["vector"]),
            "{}",
            want["id"]
        );
    }
}

#[test]
fn parts_and_tenant_partitions_read_back_as_one_collection() {
    let w = Workdir::new();
    let mut rng = Rng(31);
    let objects: Vec<Object> = (0..240)
        .map(|i| every_type_object(&mut rng, "Doc", i, false))
        .collect();
    let original = stream("Doc", every_type_class("Doc"), &objects);
    w.write("doc.jsonl", &original);
    // Numbered parts of at most 100 objects, read back as the same stream.
    w.run(
        "ely-convert",
        &["-i", "doc.jsonl", "-o", "parts/", "--split-rows", "100"],
        b"",
    )
    .ok();
    for n in 0..3 {
        assert!(w.path(&format!("parts/Doc/part-{n:05}.parquet")).exists());
    }
    convert(&w, "parts", "back.jsonl");
    assert!(w.read("back.jsonl") == original);
    w.run(
        "ely-convert",
        &[
            "-i",
            "doc.jsonl",
            "-o",
            "one.parquet",
            "--split-rows",
            "100",
        ],
        b"",
    )
    .expect_code(2)
    .expect_stderr("-o DIR/");
    // A backup partitioned by tenant: Hive-style folders, restored as one collection.
    let tenanted: Vec<Object> = (0..240)
        .map(|i| Object {
            class: "Doc".into(),
            id: rng.uuid(),
            tenant: Some(format!("tenant{}", i % 3)),
            properties: json!({"title": rng.text(4), "n": i})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            vector: Some((0..8).map(|_| rng.f32()).collect()),
            ..Object::default()
        })
        .collect();
    let class = json!({"class": "Doc", "vectorizer": "none", "multiTenancyConfig": {"enabled": true},
        "properties": [{"name": "title", "dataType": ["text"]}, {"name": "n", "dataType": ["int"]}]});
    w.write("tenants.jsonl", &stream("Doc", class, &tenanted));
    w.run(
        "ely-restore",
        &["--store", "a.db", "-i", "tenants.jsonl", "--quiet"],
        b"",
    )
    .ok();
    let run = w.run(
        "ely-backup",
        &[
            "--store",
            "a.db",
            "--collection",
            "Doc",
            "-o",
            "hive/",
            "--partition-by",
            "tenant",
        ],
        b"",
    );
    run.ok();
    let manifests: Vec<Value> = String::from_utf8_lossy(run.stdout())
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(manifests.len(), 3, "a manifest per file");
    for m in &manifests {
        assert_eq!(m["objects"], 80, "each part counts its own objects: {m}");
    }
    for t in ["tenant0", "tenant1", "tenant2"] {
        assert!(w.path(&format!("hive/Doc/tenant={t}")).is_dir(), "{t}");
    }
    w.run(
        "ely-restore",
        &["--store", "b.db", "-i", "hive/", "--quiet"],
        b"",
    )
    .ok();
    let a = by_id(&backed_up(&w, "a.db", "Doc"));
    let b = by_id(&backed_up(&w, "b.db", "Doc"));
    assert_eq!(a.len(), 240);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, o) in &a {
        assert_eq!(o["properties"], b[id]["properties"], "{id}");
        assert_eq!(o["tenant"], b[id]["tenant"], "{id}");
        assert_eq!(o["vectors"], b[id]["vectors"], "{id}");
    }
    if python_with("duckdb") {
        let count = Command::new("python3")
            .args([
                "-c",
                "import duckdb; print(duckdb.sql(\"SELECT count(*), count(DISTINCT tenant) FROM read_parquet('hive/**/*.parquet', hive_partitioning=false)\").fetchall())",
            ])
            .current_dir(w.path("."))
            .output()
            .expect("python3");
        assert_eq!(String::from_utf8_lossy(&count.stdout).trim(), "[(240, 3)]");
    }
}

#[test]
fn parts_of_a_run_are_checked_as_a_whole() {
    let w = Workdir::new();
    let mut rng = Rng(37);
    let lines = util::objects(&mut rng, "Note", 50, 4);
    w.write("notes.jsonl", util::section("Note", &lines).as_bytes());
    w.write("plain.jsonl", (lines.join("\n") + "\n").as_bytes());
    let split = |input: &str, out: &str| {
        w.run(
            "ely-convert",
            &["-i", input, "-o", out, "--split-rows", "20"],
            b"",
        )
    };
    split("notes.jsonl", "p/").ok();
    // Another run into the same folder is refused: its parts would read as the same
    // collection twice.
    split("notes.jsonl", "p/")
        .expect_code(2)
        .expect_stderr("from another run");
    // A lost part, in the middle or at the end, fails verification.
    std::fs::rename(w.path("p/Note/part-00001.parquet"), w.path("kept.parquet")).unwrap();
    w.run("ely-convert", &["--check", "-i", "p"], b"")
        .expect_code(4)
        .expect_stderr("earlier parts are missing");
    std::fs::rename(w.path("kept.parquet"), w.path("p/Note/part-00001.parquet")).unwrap();
    std::fs::remove_file(w.path("p/Note/part-00002.parquet")).unwrap();
    w.run("ely-convert", &["--check", "-i", "p"], b"")
        .expect_code(4)
        .expect_stderr("last part is missing");
    // Parts of a stream without a header read back as that one stream.
    split("plain.jsonl", "q/").ok();
    let back = w.run("ely-convert", &["-i", "q", "--plain"], b"");
    back.ok();
    assert_eq!(
        String::from_utf8_lossy(back.stdout()),
        lines.join("\n") + "\n"
    );
    let check = w.run("ely-convert", &["--check", "-i", "q"], b"");
    let report: Value = serde_json::from_slice(check.ok().stdout()).unwrap();
    assert_eq!(
        report["collections"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    // Tenant folders are percent-encoded as Hive paths are: distinct tenants, distinct folders.
    let two = [
        r#"{"class":"T","id":"00000000-0000-4000-8000-000000000001","tenant":"b_x","properties":{}}"#,
        r#"{"class":"T","id":"00000000-0000-4000-8000-000000000002","tenant":"b x","properties":{}}"#,
    ];
    w.write("two.jsonl", (two.join("\n") + "\n").as_bytes());
    w.run(
        "ely-convert",
        &["-i", "two.jsonl", "-o", "t/", "--partition-by", "tenant"],
        b"",
    )
    .ok();
    assert!(w.path("t/T/tenant=b_x").is_dir());
    assert!(w.path("t/T/tenant=b%20x").is_dir());
    // No objects at all: still a file, of no rows.
    w.write("empty.jsonl", b"");
    convert(&w, "empty.jsonl", "empty.parquet");
    let none = w.run("ely-convert", &["-i", "empty.parquet", "--plain"], b"");
    assert!(none.ok().stdout().is_empty());
}

#[test]
fn a_changed_header_and_rows_that_are_not_objects_are_caught() {
    if !python_with("pyarrow") {
        return;
    }
    let w = Workdir::new();
    let mut rng = Rng(41);
    let lines = util::objects(&mut rng, "Code", 30, 4);
    w.write("code.jsonl", util::section("Code", &lines).as_bytes());
    convert(&w, "code.jsonl", "code.parquet");
    let script = r#"
import pyarrow.parquet as pq, pyarrow as pa
t = pq.read_table("code.parquet")
md = dict(pq.read_metadata("code.parquet").metadata)
md[b"ely.header"] = md[b"ely.header"].replace(b'"collection":"Code"', b'"collection":"Cxde"')
pq.write_table(t.replace_schema_metadata(md), "changed.parquet")
bad = pa.table({"id": ["00000000-0000-4000-8000-000000000001", "not-a-uuid"],
                "vector": pa.array([[0.5, 0.25], [0.1, 0.2]], pa.list_(pa.float64())),
                "title": ["a", "b"]})
pq.write_table(bad, "other.parquet")
"#;
    let made = Command::new("python3")
        .args(["-c", script])
        .current_dir(w.path("."))
        .output()
        .expect("python3");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    w.run("ely-convert", &["--check", "-i", "changed.parquet"], b"")
        .expect_code(4)
        .expect_stderr("changed.parquet");
    // A row whose id is not a UUID is a bad line: an error, or set aside with --skip-bad.
    w.run("ely-convert", &["-i", "other.parquet"], b"")
        .expect_code(2)
        .expect_stderr("not a UUID");
    let skipped = w.run(
        "ely-convert",
        &[
            "-i",
            "other.parquet",
            "--skip-bad",
            "--dead-letter",
            "dead.jsonl",
        ],
        b"",
    );
    skipped.expect_code(1);
    assert_eq!(by_id(skipped.stdout()).len(), 1);
    assert!(String::from_utf8_lossy(&w.read("dead.jsonl")).contains("not a UUID"));
}
