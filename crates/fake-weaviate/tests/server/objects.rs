//! Section 11 item 5: single objects.

use crate::client::{create_class, start, start_with, uuid};
use fake_weaviate::Config;
use serde_json::json;

fn setup() -> (fake_weaviate::Server, crate::client::Client) {
    let (s, mut c) = start();
    create_class(
        &mut c,
        json!({"class": "Article", "properties": [{"name": "title", "dataType": ["text"]},
                                                  {"name": "wordCount", "dataType": ["int"]}]}),
    );
    (s, c)
}

#[test]
fn create_get_head() {
    let (_s, mut c) = setup();
    let id = "C9E5B4D8-64B6-4B6B-9D7C-0A1F7F0D2B10";
    let lower = id.to_lowercase();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let r = c.post(
        "/v1/objects",
        &json!({"class": "article", "id": id, "properties": {"Title": "Hello", "wordCount": 42},
                "vector": [0.1, 0.2], "creationTimeUnix": 5, "lastUpdateTimeUnix": 6}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let created = r.json();
    assert_eq!(created["id"], lower.as_str());
    assert_eq!(created["class"], "Article");
    assert_eq!(
        created["properties"],
        json!({"title": "Hello", "wordCount": 42})
    );
    assert_eq!(created["vector"], json!([0.1, 0.2]));
    let t = created["creationTimeUnix"].as_i64().unwrap();
    assert!(
        t >= before && t < before + 60_000,
        "server-assigned ms: {t}"
    );
    assert_eq!(created["lastUpdateTimeUnix"], t);
    assert!(created.get("tenant").is_none());

    let got = c.get(&format!("/v1/objects/Article/{lower}")).json();
    assert!(got.get("vector").is_none(), "no vector without include");
    assert_eq!(got["properties"], created["properties"]);
    let got = c
        .get(&format!("/v1/objects/Article/{id}?include=vector"))
        .json();
    assert_eq!(got["vector"], json!([0.1, 0.2]));
    let r = c.head(&format!("/v1/objects/Article/{lower}"));
    assert_eq!((r.status, r.body.len()), (204, 0));

    let r = c.post("/v1/objects", &json!({"class": "Article", "id": id}));
    assert_eq!(r.status, 422);
    assert_eq!(r.message(), format!("id '{id}' already exists"));
    // Without an id the server makes one.
    let r = c
        .post(
            "/v1/objects",
            &json!({"class": "Article", "properties": {}}),
        )
        .json();
    assert_eq!(r["id"].as_str().unwrap().len(), 36);
    assert_eq!(r["properties"], json!({}));
}

#[test]
fn missing_objects_are_bare_404s_and_bad_ids_422s() {
    let (_s, mut c) = setup();
    for path in [
        format!("/v1/objects/Article/{}", uuid(1)),
        format!("/v1/objects/Nope/{}", uuid(1)),
    ] {
        let r = c.get(&path);
        assert_eq!((r.status, r.body.len()), (404, 0), "{path}");
        assert_eq!(c.head(&path).status, 404);
    }
    let r = c.get("/v1/objects/Article/abc");
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "id in path must be of type uuid: \"abc\""
    );
    let r = c.get(&format!("/v1/objects/Article/{}?include=bogus", uuid(1)));
    assert_eq!(
        (r.status, r.message()),
        (
            400,
            "unrecognized property 'bogus' in ?include list".to_string()
        )
    );
    let r = c.get(&format!(
        "/v1/objects/Article/{}?consistency_level=MOST",
        uuid(1)
    ));
    assert_eq!(r.status, 400);
    let r = c.post("/v1/objects", &json!({"class": "Article", "id": "abc"}));
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json()["message"],
        "id in body must be of type uuid: \"abc\""
    );
}

#[test]
fn put_replaces_and_keeps_creation_time() {
    let (_s, mut c) = setup();
    let id = uuid(7);
    let path = format!("/v1/objects/Article/{id}");
    let first = c
        .post(
            "/v1/objects",
            &json!({"class": "Article", "id": id,
        "properties": {"title": "a", "wordCount": 1}, "vector": [1.0]}),
        )
        .json();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let r = c.put(
        &path,
        &json!({"class": "Article", "id": id, "properties": {"title": "b"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c.get(&format!("{path}?include=vector")).json();
    assert_eq!(got["properties"], json!({"title": "b"}));
    assert!(got.get("vector").is_none(), "PUT replaces the vector too");
    assert_eq!(got["creationTimeUnix"], first["creationTimeUnix"]);
    assert!(got["lastUpdateTimeUnix"].as_i64() > first["lastUpdateTimeUnix"].as_i64());
    let r = c.put(&path, &json!({"class": "Article", "id": uuid(8)}));
    assert_eq!(
        (r.status, r.message()),
        (422, "invalid update: field 'id' is immutable".to_string())
    );
    let missing = format!("/v1/objects/Article/{}", uuid(9));
    let r = c.put(&missing, &json!({"class": "Article", "id": uuid(9)}));
    assert_eq!((r.status, r.body.len()), (404, 0));
}

#[test]
fn patch_merges() {
    let (_s, mut c) = setup();
    let id = uuid(3);
    let path = format!("/v1/objects/Article/{id}");
    c.post(
        "/v1/objects",
        &json!({"class": "Article", "id": id,
        "properties": {"title": "a", "wordCount": 1}, "vector": [1.0, 2.0]}),
    );
    let r = c.patch(&path, &json!({"properties": {"wordCount": 2}}));
    assert_eq!((r.status, r.body.len()), (204, 0), "{}", r.text());
    let got = c.get(&format!("{path}?include=vector")).json();
    assert_eq!(got["properties"], json!({"title": "a", "wordCount": 2}));
    assert_eq!(got["vector"], json!([1.0, 2.0]));
    let r = c.patch(&path, &json!({"properties": {"wordCount": "many"}}));
    assert_eq!(r.status, 422);
    let r = c.patch(
        &format!("/v1/objects/Article/{}", uuid(4)),
        &json!({"properties": {}}),
    );
    assert_eq!(r.status, 404);
}

#[test]
fn delete_is_204_even_when_absent_and_500_for_unknown_class() {
    let (s, mut c) = setup();
    let id = uuid(5);
    c.post("/v1/objects", &json!({"class": "Article", "id": id}));
    assert_eq!(s.object_count("Article", None), 1);
    let path = format!("/v1/objects/Article/{id}");
    assert_eq!(c.delete(&path).status, 204);
    assert_eq!(c.delete(&path).status, 204);
    assert_eq!(s.object_count("Article", None), 0);
    let r = c.delete(&format!("/v1/objects/Nope/{id}"));
    assert_eq!(r.status, 500);
    assert_eq!(
        r.message(),
        "could not delete object from vector repo: delete from non-existing index for Nope"
    );
}

#[test]
fn unknown_class_without_auto_schema() {
    let (_s, mut c) = start_with(Config {
        auto_schema: false,
        ..Config::default()
    });
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Ghost", "properties": {"a": 1}}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "invalid object: class \"Ghost\" not found in schema"
    );
}

#[test]
fn deprecated_classless_routes_still_answer() {
    let (_s, mut c) = setup();
    let id = uuid(11);
    c.post(
        "/v1/objects",
        &json!({"class": "Article", "id": id, "properties": {"title": "t"}}),
    );
    let r = c.get(&format!("/v1/objects/{id}"));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["class"], "Article");
    assert_eq!(c.get(&format!("/v1/objects/{}", uuid(12))).status, 404);
}
