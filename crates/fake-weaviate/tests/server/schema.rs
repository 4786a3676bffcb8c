//! Section 11 items 3 and 4: names and the schema endpoints.

use crate::client::{create_class, start};
use serde_json::{json, Value};

fn article() -> Value {
    json!({"class": "article", "vectorizer": "none", "vectorIndexConfig": {"distance": "cosine"},
           "properties": [{"name": "Title", "dataType": ["text"]},
                          {"name": "wordCount", "dataType": ["int"]}]})
}

#[test]
fn create_returns_the_class_with_defaults() {
    let (_s, mut c) = start();
    let got = create_class(&mut c, article());
    assert_eq!(got["class"], "Article");
    assert_eq!(
        got["properties"],
        json!([
            {"dataType": ["text"], "indexFilterable": true, "indexRangeFilters": false,
             "indexSearchable": true, "name": "title", "tokenization": "word"},
            {"dataType": ["int"], "indexFilterable": true, "indexRangeFilters": false,
             "indexSearchable": false, "name": "wordCount"}
        ])
    );
    assert_eq!(
        got["invertedIndexConfig"],
        json!({"bm25": {"b": 0.75, "k1": 1.2}, "cleanupIntervalSeconds": 60,
               "stopwords": {"additions": null, "preset": "en", "removals": null},
               "usingBlockMaxWAND": true})
    );
    assert_eq!(
        got["multiTenancyConfig"],
        json!({"autoTenantActivation": false, "autoTenantCreation": false, "enabled": false})
    );
    assert_eq!(
        got["replicationConfig"],
        json!({"deletionStrategy": "TimeBasedResolution", "factor": 1})
    );
    assert_eq!(
        got["shardingConfig"],
        json!({"actualCount": 1, "actualVirtualCount": 128, "desiredCount": 1,
               "desiredVirtualCount": 128, "function": "murmur3", "key": "_id",
               "strategy": "hash", "virtualPerPhysical": 128})
    );
    assert_eq!(got["vectorIndexType"], "hnsw");
    assert_eq!(got["vectorizer"], "none");
    assert_eq!(got["vectorIndexConfig"]["distance"], "cosine");
    assert_eq!(got["vectorIndexConfig"]["efConstruction"], 128);
    assert_eq!(got["vectorIndexConfig"]["multivector"]["enabled"], false);
    // GET one and GET all return the same definition.
    assert_eq!(c.get("/v1/schema/Article").json(), got);
    assert_eq!(c.get("/v1/schema/article").json(), got);
    assert_eq!(c.get("/v1/schema").json(), json!({"classes": [got]}));
}

#[test]
fn empty_schema_and_missing_class() {
    let (_s, mut c) = start();
    assert_eq!(c.get("/v1/schema").json(), json!({"classes": []}));
    let r = c.get("/v1/schema/Nope");
    assert_eq!((r.status, r.body.len()), (404, 0));
}

#[test]
fn duplicates_are_422_even_in_another_case() {
    let (_s, mut c) = start();
    create_class(&mut c, article());
    let r = c.post("/v1/schema", &article());
    assert_eq!(r.status, 422);
    assert_eq!(
        r.json(),
        json!({"allowed": null, "error": [{"message": "class name Article already exists"}]})
    );
    let r = c.post("/v1/schema", &json!({"class": "ARTICLE"}));
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "class already exists: found similar class \"Article\""
    );
}

#[test]
fn class_and_property_names_are_checked() {
    let (_s, mut c) = start();
    for bad in ["_foo", "1abc", "foo-bar", ""] {
        let r = c.post("/v1/schema", &json!({"class": bad}));
        assert_eq!(r.status, 422, "{bad}");
        assert_eq!(r.message(), format!("'{bad}' is not a valid class name"));
    }
    let r = c.post(
        "/v1/schema",
        &json!({"class": "A", "properties": [{"name": "id", "dataType": ["text"]}]}),
    );
    assert_eq!(r.status, 422);
    let r = c.post(
        "/v1/schema",
        &json!({"class": "A", "properties": [{"name": "a-b", "dataType": ["text"]}]}),
    );
    assert_eq!(r.status, 422);
    let r = c.post(
        "/v1/schema",
        &json!({"class": "A", "properties": [{"name": "title", "dataType": ["text"]},
                                             {"name": "Title", "dataType": ["text"]}]}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "class \"A\": conflict for property \"title\": already in use or provided multiple times"
    );
    let r = c.post(
        "/v1/schema",
        &json!({"class": "A", "properties": [{"name": "x", "dataType": ["xyz"]}]}),
    );
    assert_eq!(r.status, 422);
    let r = c.post(
        "/v1/schema",
        &json!({"class": "A", "properties": [{"name": "x", "dataType": ["Ghost"]}]}),
    );
    assert_eq!(r.status, 422);
    assert!(r
        .message()
        .contains("reference property to nonexistent class"));
    // A reference to itself is fine.
    create_class(
        &mut c,
        json!({"class": "Node", "properties": [{"name": "next", "dataType": ["Node"]}]}),
    );
}

#[test]
fn legacy_and_named_vectors_cannot_be_combined() {
    let (_s, mut c) = start();
    let r = c.post(
        "/v1/schema",
        &json!({"class": "Doc", "vectorizer": "none",
                "vectorConfig": {"v": {"vectorizer": {"none": {}}}}}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "creating a class with both a class level vector index and named vectors is forbidden"
    );
    let got = create_class(
        &mut c,
        json!({"class":"Doc","properties":[{"name":"body","dataType":["text"]}],
               "vectorConfig":{"body_vec":{"vectorizer":{"none":{}},"vectorIndexType":"hnsw",
                                           "vectorIndexConfig":{"distance":"dot"}},
                               "colbert":{"vectorizer":{"none":{}},"vectorIndexType":"hnsw",
                                          "vectorIndexConfig":{"multivector":{"enabled":true}}}}}),
    );
    assert!(got.get("vectorizer").is_none() && got.get("vectorIndexType").is_none());
    assert_eq!(
        got["vectorConfig"]["body_vec"]["vectorIndexConfig"]["distance"],
        "dot"
    );
    assert_eq!(
        got["vectorConfig"]["colbert"]["vectorIndexConfig"]["multivector"]["enabled"],
        true
    );
    assert_eq!(
        got["vectorConfig"]["colbert"]["vectorIndexConfig"]["distance"],
        "cosine"
    );
}

#[test]
fn multi_tenant_classes_have_no_sharding_config() {
    let (_s, mut c) = start();
    let r = c.post(
        "/v1/schema",
        &json!({"class": "T", "multiTenancyConfig": {"enabled": true}, "shardingConfig": {}}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "cannot have both shardingConfig and multiTenancyConfig"
    );
    let got = create_class(
        &mut c,
        json!({"class": "T", "multiTenancyConfig": {"enabled": true}}),
    );
    assert_eq!(got["shardingConfig"]["desiredCount"], 0);
    assert_eq!(got["shardingConfig"]["key"], "");
    assert_eq!(got["multiTenancyConfig"]["enabled"], true);
    let r = c.post(
        "/v1/schema",
        &json!({"class": "R", "replicationConfig": {"factor": 3}}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "init sharding state: not enough replicas: found 1 want 3"
    );
}

#[test]
fn delete_is_always_200_and_drops_data() {
    let (s, mut c) = start();
    create_class(&mut c, article());
    c.post(
        "/v1/objects",
        &json!({"class": "Article", "properties": {"title": "x"}}),
    );
    assert_eq!(s.object_count("Article", None), 1);
    let r = c.delete("/v1/schema/Article");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(c.delete("/v1/schema/Article").status, 200);
    assert_eq!(s.object_count("Article", None), 0);
    assert_eq!(c.get("/v1/schema/Article").status, 404);
}

#[test]
fn put_updates_mutable_settings_only() {
    let (_s, mut c) = start();
    let mut def = create_class(&mut c, article());
    def["description"] = json!("articles");
    def["invertedIndexConfig"]["bm25"]["k1"] = json!(1.5);
    let r = c.put("/v1/schema/Article", &def);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(c.get("/v1/schema/Article").json(), def);
    let mut changed = def.clone();
    changed["vectorizer"] = json!("text2vec-openai");
    let r = c.put("/v1/schema/Article", &changed);
    assert_eq!(r.status, 422);
    let mut changed = def.clone();
    changed["properties"][0]["dataType"] = json!(["int"]);
    assert_eq!(c.put("/v1/schema/Article", &changed).status, 422);
    let r = c.put("/v1/schema/Nope", &json!({"class": "Nope"}));
    assert_eq!((r.status, r.body.len()), (404, 0));
}

#[test]
fn add_property() {
    let (_s, mut c) = start();
    create_class(&mut c, article());
    let r = c.post(
        "/v1/schema/Article/properties",
        &json!({"name": "Body", "dataType": ["text"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"dataType": ["text"], "indexFilterable": true, "indexRangeFilters": false,
               "indexSearchable": true, "name": "body", "tokenization": "word"})
    );
    let props = c.get("/v1/schema/Article").json()["properties"].clone();
    assert_eq!(props.as_array().unwrap().len(), 3);
    let r = c.post(
        "/v1/schema/Article/properties",
        &json!({"name": "BODY", "dataType": ["text"]}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(
        r.message(),
        "class \"Article\": conflict for property \"bODY\": already in use or provided multiple times"
    );
    let r = c.post("/v1/schema/Article/properties", &json!({"name": "x"}));
    assert_eq!(
        (r.status, r.message()),
        (422, "property must contain dataType".to_string())
    );
    let r = c.post(
        "/v1/schema/Foo/properties",
        &json!({"name": "x", "dataType": ["text"]}),
    );
    assert_eq!(
        (r.status, r.message()),
        (422, "class \"Foo\": not found".to_string())
    );
    // string is migrated to text, with whitespace tokenization.
    let r = c.post(
        "/v1/schema/Article/properties",
        &json!({"name": "legacy", "dataType": ["string"]}),
    );
    assert_eq!(r.json()["dataType"], json!(["text"]));
    assert_eq!(r.json()["tokenization"], "whitespace");
}
