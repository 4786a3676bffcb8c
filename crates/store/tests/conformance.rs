//! One conformance suite, run against every store: the embedded store, the Weaviate client
//! talking to the test server, and, when `WEAVIATE_URL` is set, a real Weaviate.
//! Each check is a plain function over `&Backend`; the macro at the end makes one test per
//! check and store, so a failure names both.

use std::collections::BTreeMap;

use ely_bench::Rng;
use ely_store::{open, Filter, Location, Object, OpenOptions, Outcome, Store, Tenant, Vector};
use serde_json::{json, Value};

struct Backend {
    store: Box<dyn Store>,
    /// A real Weaviate: integers past 2^53 come back as float64 did.
    real: bool,
    _server: Option<fake_weaviate::Server>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open(
        &Location::Embedded(dir.path().join("store.db")),
        &OpenOptions::default(),
    )
    .expect("open embedded store");
    Backend {
        store,
        real: false,
        _server: None,
        _dir: Some(dir),
    }
}

fn fake_weaviate() -> Backend {
    let server = fake_weaviate::Server::start(fake_weaviate::Config::default()).expect("server");
    let store = open(&Location::Weaviate(server.url()), &OpenOptions::default()).expect("client");
    Backend {
        store,
        real: false,
        _server: Some(server),
        _dir: None,
    }
}

/// A real Weaviate when `WEAVIATE_URL` names one (the README says how to start one).
fn real_weaviate() -> Option<Backend> {
    let Some(url) = std::env::var("WEAVIATE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("WEAVIATE_URL is not set: not run against a real Weaviate");
        return None;
    };
    let store = open(&Location::Weaviate(url), &OpenOptions::from_env()).expect("client");
    Some(Backend {
        store,
        real: true,
        _server: None,
        _dir: None,
    })
}

/// A collection name no other test uses, so the suite can share a real server.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{prefix}{}x{}",
        t % 1_000_000_007,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh collection; deleted again when dropped.
struct Collection<'a> {
    store: &'a dyn Store,
    name: String,
}

impl Drop for Collection<'_> {
    fn drop(&mut self) {
        let _ = self.store.delete_class(&self.name);
    }
}

fn collection<'a>(b: &'a Backend, prefix: &str, mut def: Value) -> Collection<'a> {
    let name = unique(prefix);
    def["class"] = json!(name);
    b.store.create_class(&def).expect("create class");
    Collection {
        store: &*b.store,
        name,
    }
}

fn plain<'a>(b: &'a Backend, prefix: &str) -> Collection<'a> {
    collection(
        b,
        prefix,
        json!({"vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "n", "dataType": ["int"]}
        ]}),
    )
}

fn object(class: &str, id: String, props: Value) -> Object {
    Object {
        class: class.to_owned(),
        id,
        properties: props.as_object().cloned().unwrap_or_default(),
        ..Object::default()
    }
}

fn upsert_all(store: &dyn Store, objects: &[Object]) {
    let outcomes = store.upsert(objects).expect("upsert");
    assert_eq!(outcomes.len(), objects.len());
    for (o, out) in objects.iter().zip(&outcomes) {
        assert_eq!(out, &Outcome::Written, "object {}", o.id);
    }
}

/// Every object of a collection (or tenant), through the cursor, `page` at a time.
fn scan_all(store: &dyn Store, class: &str, tenant: Option<&str>, page: usize) -> Vec<Object> {
    let mut out: Vec<Object> = Vec::new();
    loop {
        let after = out.last().map(|o| o.id.clone());
        let got = store
            .scan(class, tenant, after.as_deref(), page, true)
            .expect("scan");
        assert!(got.len() <= page);
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

/// An object that must be there, read from a collection without multi-tenancy.
fn present(b: &Backend, class: &str, id: &str, vectors: bool) -> Object {
    b.store
        .get(class, None, id, vectors)
        .expect("get")
        .expect("present")
}

fn eq(property: &str, value: Value) -> Filter {
    Filter::Equal {
        property: property.into(),
        value,
    }
}

fn ids(rng: &mut Rng, n: usize) -> Vec<String> {
    (0..n).map(|_| rng.uuid()).collect()
}

// ---------------------------------------------------------------------------------------------

fn upsert_then_overwrite(b: &Backend) {
    let c = plain(b, "Over");
    let mut rng = Rng(1);
    let id = rng.uuid();
    upsert_all(
        &*b.store,
        &[object(
            &c.name,
            id.clone(),
            json!({"title": "first", "n": 1}),
        )],
    );
    upsert_all(
        &*b.store,
        &[object(
            &c.name,
            id.to_uppercase(),
            json!({"title": "second"}),
        )],
    );
    let got = present(b, &c.name, &id, false);
    assert_eq!(got.id, id);
    assert_eq!(got.class, c.name);
    assert_eq!(Value::Object(got.properties), json!({"title": "second"}));
    assert!(got.creation_time_unix.is_some() && got.last_update_time_unix.is_some());
    assert_eq!(b.store.count(&c.name, None).expect("count"), 1);
    // A lowercase class name addresses the same collection; property names lose their capital.
    let lower = c.name[..1].to_lowercase() + &c.name[1..];
    upsert_all(
        &*b.store,
        &[object(&lower, id.clone(), json!({"Title": "third"}))],
    );
    let got = present(b, &lower, &id, false);
    assert_eq!(got.properties["title"], "third");
    assert_eq!(
        b.store.get(&c.name, None, &rng.uuid(), false).expect("get"),
        None
    );
    // A collection that does not exist holds no objects (Weaviate answers 404 either way).
    let none = unique("Missing");
    assert_eq!(b.store.get(&none, None, &id, false).expect("get"), None);
    assert_eq!(b.store.exists(&none, None, &[id]).expect("exists"), [false]);
    let err = b
        .store
        .scan(&none, None, None, 10, false)
        .expect_err("scan");
    assert_eq!(err.kind, ely_store::ErrorKind::NotFound, "{err}");
}

fn rejected_objects_are_not_written(b: &Backend) {
    let c = plain(b, "Rej");
    let mut rng = Rng(2);
    let (good, bad) = (rng.uuid(), rng.uuid());
    let out = b
        .store
        .upsert(&[
            object(&c.name, good.clone(), json!({"n": 5})),
            object(&c.name, bad.clone(), json!({"n": "five"})),
        ])
        .expect("upsert");
    assert_eq!(out[0], Outcome::Written);
    match &out[1] {
        Outcome::Rejected(m) => assert!(m.contains("n"), "{m}"),
        o => panic!("a string for an int property was {o:?}"),
    }
    assert_eq!(
        b.store.exists(&c.name, None, &[good, bad]).expect("exists"),
        vec![true, false]
    );
}

fn chosen_fields_of_many_objects(b: &Backend) {
    let c = plain(b, "Fields");
    let mut rng = Rng(12);
    let ids = ids(&mut rng, 250);
    let objects: Vec<Object> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            object(
                &c.name,
                id.clone(),
                json!({"title": format!("t{i}"), "n": i, "body": "long"}),
            )
        })
        .collect();
    upsert_all(&*b.store, &objects[..200]);
    // More than one request's worth, in any order, with repeats and missing ones.
    let mut asked: Vec<String> = ids.iter().rev().cloned().collect();
    asked.push(ids[3].to_uppercase());
    let got = b
        .store
        .fields(&c.name, None, &asked, &["title", "n"])
        .expect("fields");
    assert_eq!(got.len(), asked.len());
    for (id, values) in asked.iter().zip(&got) {
        let i = ids
            .iter()
            .position(|x| x.eq_ignore_ascii_case(id))
            .expect("asked for one of them");
        if i < 200 {
            let values = values.as_ref().expect("present");
            assert_eq!(values["title"], format!("t{i}"));
            assert_eq!(values["n"], json!(i));
            assert!(!values.contains_key("body"), "only what was asked");
        } else {
            assert_eq!(values, &None, "{id} was never written");
        }
    }
    let missing = unique("Missing");
    assert_eq!(
        b.store
            .fields(&missing, None, &ids[..2], &["title"])
            .expect("fields of a missing collection"),
        vec![None, None]
    );
}

fn delete_by_id_and_by_filter(b: &Backend) {
    let c = plain(b, "Del");
    let mut rng = Rng(3);
    let all = ids(&mut rng, 30);
    let objects: Vec<Object> = all
        .iter()
        .enumerate()
        .map(|(i, id)| {
            object(
                &c.name,
                id.clone(),
                json!({"title": format!("t{}", i % 3), "n": i}),
            )
        })
        .collect();
    upsert_all(&*b.store, &objects);
    let gone = b
        .store
        .delete(&c.name, None, &[all[0].clone(), all[1].clone(), rng.uuid()])
        .expect("delete");
    assert_eq!(gone, 2);
    let n = b
        .store
        .delete_where(&c.name, None, &eq("title", json!("t2")))
        .expect("delete where");
    assert_eq!(n, 10);
    let n = b
        .store
        .delete_where(
            &c.name,
            None,
            &Filter::IdIn(vec![all[3].clone(), all[4].clone()]),
        )
        .expect("delete where id");
    assert_eq!(n, 2);
    let n = b
        .store
        .delete_where(&c.name, None, &eq("n", json!(6)))
        .expect("delete where int");
    assert_eq!(n, 1);
    let left: Vec<String> = scan_all(&*b.store, &c.name, None, 7)
        .into_iter()
        .map(|o| o.id)
        .collect();
    let mut want: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 5 && i % 3 != 2 && *i != 6)
        .map(|(_, id)| id.clone())
        .collect();
    want.sort();
    assert_eq!(left, want);
    assert_eq!(
        b.store.count(&c.name, None).expect("count"),
        want.len() as u64
    );
}

fn cursor_order_and_exclusive_after(b: &Backend) {
    for (n, page) in [(0, 5), (1, 5), (20, 5), (20, 7), (23, 23), (24, 100)] {
        let c = plain(b, "Cur");
        let mut rng = Rng(100 + n as u64);
        let mut all = ids(&mut rng, n);
        let objects: Vec<Object> = all
            .iter()
            .map(|id| object(&c.name, id.clone(), json!({"title": "x"})))
            .collect();
        if !objects.is_empty() {
            upsert_all(&*b.store, &objects);
        }
        all.sort();
        let got: Vec<String> = scan_all(&*b.store, &c.name, None, page)
            .into_iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(got, all, "{n} objects, pages of {page}");
        // `after` is exclusive and need not exist.
        if n > 3 {
            let after = b
                .store
                .scan(&c.name, None, Some(&all[2]), 2, false)
                .expect("scan");
            assert_eq!(
                after.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
                all[3..5]
            );
            assert!(after.iter().all(|o| o.vector.is_none()));
            let missing = "00000000-0000-0000-0000-000000000000";
            let first = b
                .store
                .scan(&c.name, None, Some(missing), 1, false)
                .expect("scan");
            assert_eq!(first[0].id, all[0]);
        }
    }
}

fn tenants_and_counts(b: &Backend) {
    let c = collection(
        b,
        "Mt",
        json!({"vectorizer": "none", "multiTenancyConfig": {"enabled": true},
               "properties": [{"name": "title", "dataType": ["text"]}]}),
    );
    b.store
        .create_tenants(
            &c.name,
            &[
                Tenant::new("beta"),
                Tenant::new("alpha"),
                Tenant::new("gamma"),
            ],
        )
        .expect("tenants");
    // Creating an existing tenant again is fine.
    b.store
        .create_tenants(&c.name, &[Tenant::new("alpha")])
        .expect("tenants again");
    let names: Vec<String> = b
        .store
        .tenants(&c.name)
        .expect("list")
        .into_iter()
        .map(|t| {
            assert_eq!(t.activity_status.as_deref(), Some("HOT"));
            t.name
        })
        .collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    let mut rng = Rng(5);
    for (t, n) in [("alpha", 3), ("beta", 11)] {
        let objects: Vec<Object> = ids(&mut rng, n)
            .into_iter()
            .map(|id| Object {
                tenant: Some(t.into()),
                ..object(&c.name, id, json!({"title": t}))
            })
            .collect();
        upsert_all(&*b.store, &objects);
    }
    assert_eq!(b.store.count(&c.name, Some("alpha")).expect("count"), 3);
    assert_eq!(b.store.count(&c.name, Some("beta")).expect("count"), 11);
    assert_eq!(b.store.count(&c.name, Some("gamma")).expect("count"), 0);
    let beta = scan_all(&*b.store, &c.name, Some("beta"), 4);
    assert_eq!(beta.len(), 11);
    assert!(beta.iter().all(|o| o.tenant.as_deref() == Some("beta")));
    // An object without a tenant, or for a tenant that does not exist, is refused.
    let out = b
        .store
        .upsert(&[
            object(&c.name, rng.uuid(), json!({"title": "none"})),
            Object {
                tenant: Some("nope".into()),
                ..object(&c.name, rng.uuid(), json!({}))
            },
        ])
        .expect("upsert");
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Rejected(_))),
        "{out:?}"
    );
    assert!(b.store.scan(&c.name, None, None, 10, false).is_err());
    // A collection without multi-tenancy refuses a tenant.
    let p = plain(b, "NoMt");
    let out = b
        .store
        .upsert(&[Object {
            tenant: Some("alpha".into()),
            ..object(&p.name, rng.uuid(), json!({}))
        }])
        .expect("upsert");
    assert!(
        matches!(&out[0], Outcome::Rejected(m) if m.contains("multi-tenancy")),
        "{out:?}"
    );
}

fn class_definition_round_trip(b: &Backend) {
    let def = json!({
        "class": "ignored",
        "description": "round trip",
        "vectorizer": "none",
        "properties": [
            {"name": "Title", "dataType": ["text"], "description": "a title"},
            {"name": "count", "dataType": ["int"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "source", "dataType": ["text"]}
            ]}
        ]
    });
    let c = collection(b, "Def", def.clone());
    let got = b.store.class(&c.name).expect("class").expect("present");
    assert_eq!(got["class"], json!(c.name));
    assert_eq!(got["description"], "round trip");
    let props = got["properties"].as_array().expect("properties");
    let names: Vec<&str> = props.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["title", "count", "tags", "meta"]);
    assert_eq!(props[0]["dataType"], json!(["text"]));
    assert_eq!(props[0]["description"], "a title");
    assert_eq!(props[3]["nestedProperties"][0]["name"], "source");
    assert!(b
        .store
        .collections()
        .expect("list")
        .iter()
        .any(|d| d["class"] == json!(c.name)));
    // The same name, in any case, is taken.
    let err = b
        .store
        .create_class(&json!({"class": c.name.to_uppercase()}))
        .expect_err("duplicate");
    assert_eq!(err.kind, ely_store::ErrorKind::Conflict, "{err}");
    b.store
        .add_property(&c.name, &json!({"name": "Extra", "dataType": ["boolean"]}))
        .expect("add property");
    let got = b.store.class(&c.name).expect("class").expect("present");
    assert!(got["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .any(|p| p["name"] == "extra"));
    b.store.delete_class(&c.name).expect("delete");
    assert_eq!(b.store.class(&c.name).expect("class"), None);
    b.store
        .delete_class(&c.name)
        .expect("deleting again is fine");
}

/// Random float32 bit patterns (every finite value is possible: subnormals, extremes), plus
/// the edge cases by name.
fn random_vector(rng: &mut Rng, dims: usize) -> Vec<f32> {
    let mut v: Vec<f32> = vec![
        -0.0,
        0.0,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        f32::MAX,
        f32::MIN,
    ];
    while v.len() < dims {
        let x = f32::from_bits(rng.next_u64() as u32);
        if x.is_finite() {
            v.push(x);
        }
    }
    v.truncate(dims);
    v
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn vector_bits(v: &Vector) -> Vec<Vec<u32>> {
    match v {
        Vector::Single(s) => vec![bits(s)],
        Vector::Multi(m) => m.iter().map(|r| bits(r)).collect(),
    }
}

fn vectors_bit_for_bit(b: &Backend) {
    let mut rng = Rng(6);
    // The legacy single vector.
    let c = plain(b, "Vec");
    let objects: Vec<Object> = ids(&mut rng, 20)
        .into_iter()
        .map(|id| Object {
            vector: Some(random_vector(&mut rng, 64)),
            ..object(&c.name, id, json!({}))
        })
        .collect();
    upsert_all(&*b.store, &objects);
    for o in &objects {
        let got = present(b, &c.name, &o.id, true);
        assert_eq!(
            bits(got.vector.as_deref().expect("vector")),
            bits(o.vector.as_deref().unwrap_or_default())
        );
        let bare = present(b, &c.name, &o.id, false);
        assert!(bare.vector.is_none() && bare.vectors.is_empty());
    }
    let scanned = scan_all(&*b.store, &c.name, None, 7);
    let by_id: BTreeMap<&str, &Object> = objects.iter().map(|o| (o.id.as_str(), o)).collect();
    for s in &scanned {
        assert_eq!(
            bits(s.vector.as_deref().expect("vector")),
            bits(by_id[s.id.as_str()].vector.as_deref().unwrap_or_default())
        );
    }
    // Named vectors and a multi-vector.
    let c = collection(
        b,
        "Named",
        json!({"vectorConfig": {
            "body": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"},
            "title": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"},
            "colbert": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw",
                        "vectorIndexConfig": {"multivector": {"enabled": true}}}
        }}),
    );
    let objects: Vec<Object> = ids(&mut rng, 10)
        .into_iter()
        .map(|id| {
            let mut vectors = BTreeMap::new();
            vectors.insert(
                "body".to_owned(),
                Vector::Single(random_vector(&mut rng, 32)),
            );
            vectors.insert(
                "title".to_owned(),
                Vector::Single(random_vector(&mut rng, 8)),
            );
            vectors.insert(
                "colbert".to_owned(),
                Vector::Multi((0..3).map(|_| random_vector(&mut rng, 16)).collect()),
            );
            Object {
                vectors,
                ..object(&c.name, id, json!({}))
            }
        })
        .collect();
    upsert_all(&*b.store, &objects);
    let scanned = scan_all(&*b.store, &c.name, None, 4);
    assert_eq!(scanned.len(), objects.len());
    let by_id: BTreeMap<&str, &Object> = objects.iter().map(|o| (o.id.as_str(), o)).collect();
    for s in &scanned {
        let want = by_id[s.id.as_str()];
        assert_eq!(s.vectors.len(), 3, "{:?}", s.vectors.keys());
        for (name, v) in &want.vectors {
            assert_eq!(
                vector_bits(&s.vectors[name]),
                vector_bits(v),
                "vector {name}"
            );
        }
    }
}

fn property_values_come_back_as_sent(b: &Backend) {
    let authors = collection(
        b,
        "Author",
        json!({"vectorizer": "none", "properties": [{"name": "name", "dataType": ["text"]}]}),
    );
    let c = collection(
        b,
        "Props",
        json!({"vectorizer": "none", "properties": [
            {"name": "text", "dataType": ["text"]},
            {"name": "texts", "dataType": ["text[]"]},
            {"name": "big", "dataType": ["int"]},
            {"name": "ints", "dataType": ["int[]"]},
            {"name": "num", "dataType": ["number"]},
            {"name": "flag", "dataType": ["boolean"]},
            {"name": "when", "dataType": ["date"]},
            {"name": "whens", "dataType": ["date[]"]},
            {"name": "ref", "dataType": ["uuid"]},
            {"name": "place", "dataType": ["geoCoordinates"]},
            {"name": "meta", "dataType": ["object"], "nestedProperties": [
                {"name": "source", "dataType": ["text"]},
                {"name": "depth", "dataType": ["int"]},
                {"name": "inner", "dataType": ["object"], "nestedProperties": [
                    {"name": "leaf", "dataType": ["text"]}
                ]}
            ]},
            {"name": "writtenBy", "dataType": [authors.name]},
            {"name": "nums", "dataType": ["number[]"]},
            {"name": "flags", "dataType": ["boolean[]"]},
            {"name": "refs", "dataType": ["uuid[]"]},
            {"name": "data", "dataType": ["blob"]},
            {"name": "phone", "dataType": ["phoneNumber"]},
            {"name": "items", "dataType": ["object[]"], "nestedProperties": [
                {"name": "k", "dataType": ["text"]},
                {"name": "v", "dataType": ["number"]}
            ]}
        ]}),
    );
    let mut rng = Rng(7);
    let author = rng.uuid();
    upsert_all(
        &*b.store,
        &[object(
            &authors.name,
            author.clone(),
            json!({"name": "Ada"}),
        )],
    );
    let beacon = format!("weaviate://localhost/{}/{author}", authors.name);
    let props = json!({
        "text": "héllo wörld ✓ 𝄞 \u{0}\u{1f} \"quoted\" \\ back \n new\tline 日本語",
        "texts": ["", "a", "ß", "🎉"],
        "big": 9007199254740993i64,
        "ints": [9007199254740992i64, -9007199254740993i64, 9223372036854775807i64, -9223372036854775808i64],
        "num": 0.1,
        "flag": true,
        "when": "2024-01-02T03:04:05Z",
        "whens": ["2024-02-29T23:59:59.123+02:00", "1999-12-31T00:00:00-05:30"],
        "ref": rng.uuid(),
        "place": {"latitude": 52.366667, "longitude": 4.9},
        "meta": {"source": "git", "depth": 3, "inner": {"leaf": "x"}},
        "writtenBy": [{"beacon": beacon}],
        "nums": [1.5, -0.25, 1e300, 5e-324, 0.9856906946328695, 0.1 + 0.2],
        "flags": [true, false],
        "refs": [rng.uuid(), rng.uuid()],
        "data": "aGVsbG8gd29ybGQ=",
        "phone": {"input": "020 1234567", "defaultCountry": "nl"},
        "items": [{"k": "a", "v": 1.25}, {"k": "b", "v": -2.5}]
    });
    let id = rng.uuid();
    upsert_all(&*b.store, &[object(&c.name, id.clone(), props.clone())]);
    let got = present(b, &c.name, &id, false);
    let got = Value::Object(got.properties);
    for key in [
        "text", "texts", "num", "flag", "when", "whens", "ref", "meta", "nums", "flags", "refs",
        "data", "items",
    ] {
        assert_eq!(got[key], props[key], "property {key}");
    }
    if b.real {
        // Weaviate keeps int properties as float64.
        assert_eq!(got["big"].as_f64(), props["big"].as_f64());
    } else {
        assert_eq!(got["big"], props["big"]);
        assert_eq!(got["ints"], props["ints"]);
    }
    let lat = got["place"]["latitude"].as_f64().expect("latitude");
    assert_eq!(lat as f32, 52.366_67_f32);
    assert_eq!(got["writtenBy"][0]["beacon"], json!(beacon));
    // Weaviate adds its parsed forms of a phone number; what was sent stays.
    assert_eq!(got["phone"]["input"], props["phone"]["input"]);
}

/// Rules both stores apply as Weaviate does: last copy wins within a batch, an update keeps
/// the properties, filters on arrays and ids, vector targets and lengths, references that must
/// exist, and values stored in Weaviate's form.
fn weaviate_rules_hold_in_every_store(b: &Backend) {
    let mut rng = Rng(9);
    let c = collection(
        b,
        "Rules",
        json!({"vectorizer": "none", "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "tags", "dataType": ["text[]"]},
            {"name": "score", "dataType": ["number"]},
            {"name": "when", "dataType": ["date"]},
            {"name": "other", "dataType": ["uuid"]}
        ]}),
    );
    // The same id twice in one call, far apart (different requests to a server): the last
    // copy is what is stored.
    let dup = rng.uuid();
    let mut objects: Vec<Object> = ids(&mut rng, 250)
        .into_iter()
        .map(|id| object(&c.name, id, json!({"title": "filler"})))
        .collect();
    objects[3] = object(&c.name, dup.clone(), json!({"title": "old"}));
    objects[230] = object(&c.name, dup.clone(), json!({"title": "new"}));
    upsert_all(&*b.store, &objects);
    let got = present(b, &c.name, &dup, false);
    assert_eq!(got.properties["title"], "new");
    // Values in Weaviate's form.
    let other = rng.uuid();
    let id = rng.uuid();
    upsert_all(
        &*b.store,
        &[object(
            &c.name,
            id.clone(),
            json!({"tags": ["a", "x"], "score": 2, "when": "2024-01-02T03:04:05.500+00:00",
                   "other": other.to_uppercase()}),
        )],
    );
    let got = present(b, &c.name, &id, false);
    assert_eq!(got.properties["when"], "2024-01-02T03:04:05.5Z");
    assert_eq!(got.properties["other"], json!(other));
    // An update keeps the properties.
    let mut def = b.store.class(&c.name).expect("class").expect("present");
    def["description"] = json!("updated");
    b.store.update_class(&def).expect("update");
    let def = b.store.class(&c.name).expect("class").expect("present");
    assert_eq!(def["description"], "updated");
    assert_eq!(def["properties"].as_array().map(Vec::len), Some(5));
    // Filters: an array matches on any element, a number equals an integer, `id` is the id.
    assert_eq!(
        b.store
            .delete_where(&c.name, None, &eq("tags", json!("x")))
            .expect("tags"),
        1
    );
    upsert_all(
        &*b.store,
        &[object(&c.name, id.clone(), json!({"score": 2.0}))],
    );
    assert_eq!(
        b.store
            .delete_where(&c.name, None, &eq("score", json!(2)))
            .expect("score"),
        1
    );
    assert_eq!(
        b.store
            .delete_where(&c.name, None, &eq("id", json!(dup)))
            .expect("id"),
        1
    );
    assert_eq!(b.store.count(&c.name, None).expect("count"), 248);

    // Vectors: a legacy vector goes to a class's only named vector; an empty one is none;
    // lengths must agree; an overwrite without a vector removes it.
    let n = collection(
        b,
        "OneNamed",
        json!({"vectorConfig": {"only": {"vectorizer": {"none": {}}, "vectorIndexType": "hnsw"}}}),
    );
    let (a, z) = (rng.uuid(), rng.uuid());
    let mut empty = BTreeMap::new();
    empty.insert("only".to_owned(), Vector::Single(vec![]));
    upsert_all(
        &*b.store,
        &[
            Object {
                vector: Some(vec![1.0, 2.0]),
                ..object(&n.name, a.clone(), json!({}))
            },
            Object {
                vectors: empty,
                ..object(&n.name, z.clone(), json!({}))
            },
        ],
    );
    let got = present(b, &n.name, &a, true);
    assert_eq!(got.vector, None);
    assert_eq!(
        got.vectors.get("only"),
        Some(&Vector::Single(vec![1.0, 2.0]))
    );
    let got = present(b, &n.name, &z, true);
    assert!(got.vectors.is_empty(), "{:?}", got.vectors);
    let out = b
        .store
        .upsert(&[Object {
            vector: Some(vec![1.0, 2.0, 3.0]),
            ..object(&n.name, rng.uuid(), json!({}))
        }])
        .expect("upsert");
    assert!(
        matches!(&out[0], Outcome::Rejected(m) if m.contains("length")),
        "{out:?}"
    );
    upsert_all(&*b.store, &[object(&n.name, a.clone(), json!({}))]);
    let got = present(b, &n.name, &a, true);
    assert!(got.vectors.is_empty() && got.vector.is_none());

    // A reference must point at an object that exists.
    let r = collection(
        b,
        "Refs",
        json!({"vectorizer": "none", "properties": [{"name": "to", "dataType": [c.name]}]}),
    );
    let beacon = |id: &str| json!([{"beacon": format!("weaviate://localhost/{}/{id}", c.name)}]);
    let out = b
        .store
        .upsert(&[
            object(&r.name, rng.uuid(), json!({"to": beacon(&objects[0].id)})),
            object(&r.name, rng.uuid(), json!({"to": beacon(&rng.uuid())})),
        ])
        .expect("upsert");
    assert_eq!(out[0], Outcome::Written);
    assert!(
        matches!(&out[1], Outcome::Rejected(m) if m.contains("cref")),
        "{out:?}"
    );
}

/// One writer and one reader at once, each with its own handle on the store.
fn concurrent_reader_and_writer(b: &Backend) {
    let c = plain(b, "Conc");
    let second = reopen(b);
    let mut rng = Rng(8);
    let batches: Vec<Vec<Object>> = (0..20)
        .map(|_| {
            ids(&mut rng, 50)
                .into_iter()
                .map(|id| object(&c.name, id, json!({"title": "x".repeat(200)})))
                .collect()
        })
        .collect();
    upsert_all(&*b.store, &batches[0]);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for batch in &batches[1..] {
                upsert_all(&*b.store, batch);
            }
        });
        let reader = s.spawn(|| {
            let mut seen = 0;
            while seen < 30 {
                let got = scan_all(&*second, &c.name, None, 33);
                assert!(got.len() >= 50);
                assert!(got.windows(2).all(|w| w[0].id < w[1].id));
                seen += 1;
            }
        });
        writer.join().expect("writer");
        reader.join().expect("reader");
    });
    assert_eq!(b.store.count(&c.name, None).expect("count"), 1000);
}

/// A second handle on the same store: another connection to the same file, or another
/// client of the same server.
fn reopen(b: &Backend) -> Box<dyn Store> {
    let location = if b.store.location().starts_with("http") {
        Location::Weaviate(b.store.location())
    } else {
        Location::Embedded(b.store.location().into())
    };
    open(&location, &OpenOptions::from_env()).expect("second handle")
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod embedded_store {
            $( #[test] fn $check() { super::$check(&super::embedded()) } )*
        }
        mod weaviate_client_and_test_server {
            $( #[test] fn $check() { super::$check(&super::fake_weaviate()) } )*
        }
        mod real_weaviate_at_weaviate_url {
            $(
                #[test]
                fn $check() {
                    if let Some(b) = super::real_weaviate() {
                        super::$check(&b)
                    }
                }
            )*
        }
    };
}

conformance!(
    weaviate_rules_hold_in_every_store,
    upsert_then_overwrite,
    rejected_objects_are_not_written,
    chosen_fields_of_many_objects,
    delete_by_id_and_by_filter,
    cursor_order_and_exclusive_after,
    tenants_and_counts,
    class_definition_round_trip,
    vectors_bit_for_bit,
    property_values_come_back_as_sent,
    concurrent_reader_and_writer,
);
