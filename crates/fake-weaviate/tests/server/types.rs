//! CONTRACT.md section 9: every data type, legacy, named and multi-vectors, exact float32
//! round trips and exact integers.

use crate::client::{create_class, start, start_with, uuid, Client};
use fake_weaviate::Config;
use serde_json::{json, Value};

fn all_types_class(c: &mut Client) {
    create_class(
        c,
        json!({"class": "Author", "properties": [{"name": "name", "dataType": ["text"]}]}),
    );
    create_class(
        c,
        json!({"class": "Everything", "properties": [
            {"name": "text", "dataType": ["text"]}, {"name": "texts", "dataType": ["text[]"]},
            {"name": "int", "dataType": ["int"]}, {"name": "ints", "dataType": ["int[]"]},
            {"name": "number", "dataType": ["number"]}, {"name": "numbers", "dataType": ["number[]"]},
            {"name": "bool", "dataType": ["boolean"]}, {"name": "bools", "dataType": ["boolean[]"]},
            {"name": "date", "dataType": ["date"]}, {"name": "dates", "dataType": ["date[]"]},
            {"name": "uuid", "dataType": ["uuid"]}, {"name": "uuids", "dataType": ["uuid[]"]},
            {"name": "geo", "dataType": ["geoCoordinates"]},
            {"name": "phone", "dataType": ["phoneNumber"]},
            {"name": "blob", "dataType": ["blob"]},
            {"name": "obj", "dataType": ["object"], "nestedProperties": [
                {"name": "a", "dataType": ["text"]}, {"name": "n", "dataType": ["int"]},
                {"name": "inner", "dataType": ["object"], "nestedProperties": [{"name": "x", "dataType": ["number"]}]}]},
            {"name": "objs", "dataType": ["object[]"], "nestedProperties": [{"name": "k", "dataType": ["text"]}]},
            {"name": "author", "dataType": ["Author"]}
        ]}),
    );
}

#[test]
fn every_data_type_round_trips() {
    let (_s, mut c) = start();
    all_types_class(&mut c);
    let author = uuid(1);
    c.post(
        "/v1/objects",
        &json!({"class": "Author", "id": author, "properties": {"name": "Ann"}}),
    );
    let id = uuid(2);
    // Built as text, so that number literals are exactly as written.
    let body = format!(
        r#"{{"class":"Everything","id":"{id}","properties":{{
            "text":"héllo","texts":["a","b"],"int":9007199254740993,"ints":[-1,0,1],
            "number":4.2,"numbers":[1.5,2],"bool":true,"bools":[false,true],
            "date":"2024-01-02T03:04:05.500+00:00","dates":["2024-01-02T03:04:05Z"],
            "uuid":"C9E5B4D8-64B6-4B6B-9D7C-0A1F7F0D2B10","uuids":["c9e5b4d864b64b6b9d7c0a1f7f0d2b10"],
            "geo":{{"latitude":52.366667,"longitude":4.9}},
            "phone":{{"input":"020 1234567","defaultCountry":"nl"}},
            "blob":"aGVsbG8=","obj":{{"a":"x","n":3,"inner":{{"x":0.5}}}},"objs":[{{"k":"v"}},{{"k":"w"}}],
            "author":[{{"beacon":"weaviate://localhost/{author}"}}],"nothing":null}}}}"#
    );
    let r = c.post_text("/v1/objects", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.get(&format!("/v1/objects/Everything/{id}"));
    let text = r.text();
    assert!(
        text.contains(r#""int":9007199254740993"#),
        "integers stay exact: {text}"
    );
    let p = r.json()["properties"].clone();
    assert_eq!(p["text"], "héllo");
    assert_eq!(p["texts"], json!(["a", "b"]));
    assert_eq!(p["ints"], json!([-1, 0, 1]));
    assert_eq!(p["number"], json!(4.2));
    assert_eq!(p["bools"], json!([false, true]));
    assert_eq!(p["date"], "2024-01-02T03:04:05.5Z");
    assert_eq!(p["dates"], json!(["2024-01-02T03:04:05Z"]));
    assert_eq!(p["uuid"], "c9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b10");
    assert_eq!(p["uuids"], json!(["c9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b10"]));
    assert_eq!(p["geo"]["longitude"], json!(4.9));
    assert!(
        text.contains(r#""latitude":52.36667,"#),
        "geo at float32 precision: {text}"
    );
    assert_eq!(p["phone"]["input"], "020 1234567");
    assert_eq!(p["blob"], "aGVsbG8=");
    assert_eq!(p["obj"], json!({"a": "x", "n": 3, "inner": {"x": 0.5}}));
    assert_eq!(p["objs"], json!([{"k": "v"}, {"k": "w"}]));
    assert_eq!(
        p["author"],
        json!([{"beacon": format!("weaviate://localhost/Author/{author}"),
                "href": format!("/v1/objects/Author/{author}")}])
    );
    assert!(p.get("nothing").is_none(), "null properties are dropped");
}

#[test]
fn wrong_types_are_rejected_with_weaviate_messages() {
    let (_s, mut c) = start();
    all_types_class(&mut c);
    let cases = [
        (json!({"int": 1.5}), "invalid integer property 'int' on class 'Everything': requires an integer, the given value is '1.5'"),
        (json!({"int": "abc"}), "invalid integer property 'int' on class 'Everything': requires an integer, the given value is 'abc'"),
        (json!({"text": 5}), "invalid text property 'text' on class 'Everything': not a string, but json.Number"),
        (json!({"date": "yesterday"}), "invalid date property 'date' on class 'Everything': requires a string with a RFC3339 formatted date, but the given value is 'yesterday'"),
        (json!({"uuid": "nope"}), "invalid uuid property 'uuid' on class 'Everything': requires a string of UUID format, but the given value is 'nope'"),
        (json!({"blob": "not base64!"}), "invalid blob property 'blob' on class 'Everything': not a valid blob base64 string"),
        (json!({"author": {"beacon": "weaviate://localhost/x"}}), "invalid cref: reference must be an array, but got a map"),
    ];
    for (props, message) in cases {
        let r = c.post(
            "/v1/objects",
            &json!({"class": "Everything", "properties": props}),
        );
        assert_eq!(r.status, 422, "{props}");
        assert_eq!(r.message(), format!("invalid object: {message}"));
    }
    let missing = uuid(99);
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Everything",
        "properties": {"author": [{"beacon": format!("weaviate://localhost/Author/{missing}")}]}}),
    );
    assert_eq!(r.status, 422);
    assert!(
        r.message()
            .contains(&format!("no object with id {missing} found")),
        "{}",
        r.message()
    );
    // With auto-schema a new nested key extends the nested properties; without, it fails.
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Everything", "properties": {"obj": {"zzz": 1}}}),
    );
    assert_eq!(r.status, 200);
    let (_s, mut strict) = start_with(Config {
        auto_schema: false,
        ..Config::default()
    });
    all_types_class(&mut strict);
    let r = strict.post(
        "/v1/objects",
        &json!({"class": "Everything", "properties": {"obj": {"yyy": 1}}}),
    );
    assert_eq!(r.status, 422);
    assert!(
        r.message().contains("unknown property 'yyy'"),
        "{}",
        r.message()
    );
}

/// The float32 values whose shortest form a naive reader gets wrong, and the usual suspects.
fn tricky_floats() -> Vec<f32> {
    vec![
        0.1,
        1.0,
        -0.0,
        0.0,
        f32::from_bits(1),
        f32::MIN_POSITIVE,
        f32::from_bits(0x007f_ffff),
        f32::MAX,
        f32::MIN,
        7.038531e-26,
        -7.038531e-26,
        16_777_216.0,
        1e-7,
        0.123_456_79,
        std::f32::consts::PI,
    ]
}

fn f32_text(xs: &[f32]) -> String {
    let items: Vec<String> = xs
        .iter()
        .map(|x| ryu::Buffer::new().format(*x).to_string())
        .collect();
    format!("[{}]", items.join(","))
}

/// Reads the array after `"key":` in a response text, exactly, as float32s.
fn floats_after(text: &str, key: &str) -> Vec<u32> {
    let start = text
        .find(&format!("\"{key}\":["))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + key.len()
        + 4;
    let end = start + text[start..].find(']').unwrap();
    text[start..end]
        .split(',')
        .map(|t| t.parse::<f32>().unwrap_or_else(|_| panic!("{t}")).to_bits())
        .collect()
}

#[test]
fn vectors_round_trip_bit_for_bit() {
    let (_s, mut c) = start();
    let xs = tricky_floats();
    let want: Vec<u32> = xs.iter().map(|x| x.to_bits()).collect();
    let id = uuid(1);
    let body = format!(
        r#"{{"class":"Vec","id":"{id}","vector":{}}}"#,
        f32_text(&xs)
    );
    let r = c.post_text("/v1/objects", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(floats_after(&r.text(), "vector"), want);
    let got = c
        .get(&format!("/v1/objects/Vec/{id}?include=vector"))
        .text();
    assert_eq!(floats_after(&got, "vector"), want, "{got}");
    // Through batch and the cursor too.
    let id2 = uuid(2);
    let body = format!(
        r#"{{"objects":[{{"class":"Vec","id":"{id2}","vector":{}}}]}}"#,
        f32_text(&xs)
    );
    assert_eq!(c.post_text("/v1/batch/objects", &body).status, 200);
    let page = c
        .get(&format!(
            "/v1/objects?class=Vec&limit=10&include=vector&after={id}"
        ))
        .text();
    assert_eq!(floats_after(&page, "vector"), want, "{page}");
    // A float64 input is rounded to float32.
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Vec", "vector": vec![0.123456789012_f64; 15]}),
    );
    assert!(r.text().contains("0.12345679"), "{}", r.text());
    // Out of float32 range is refused by the decoder.
    let r = c.post_text("/v1/objects", r#"{"class":"Vec","vector":[1e39]}"#);
    assert_eq!(r.status, 400);
}

#[test]
fn named_and_multi_vectors() {
    let (_s, mut c) = start();
    create_class(
        &mut c,
        json!({"class":"Doc","vectorConfig":{
            "body_vec":{"vectorizer":{"none":{}}},
            "colbert":{"vectorizer":{"none":{}},"vectorIndexConfig":{"multivector":{"enabled":true}}}}}),
    );
    let id = uuid(1);
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Doc", "id": id,
        "vectors": {"body_vec": [0.5, -0.25], "colbert": [[0.1, 0.2], [0.3, 0.4]]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c
        .get(&format!("/v1/objects/Doc/{id}?include=vector"))
        .json();
    assert_eq!(
        got["vectors"],
        json!({"body_vec": [0.5, -0.25], "colbert": [[0.1, 0.2], [0.3, 0.4]]})
    );
    assert!(got.get("vector").is_none());
    let cases: [(Value, &str); 4] = [
        (
            json!({"vector": [1.0, 2.0]}),
            "collection Doc configuration does not have single vector index",
        ),
        (
            json!({"vectors": {"nope": [1.0]}}),
            "collection Doc does not have configuration for vector nope",
        ),
        (
            json!({"vectors": {"colbert": [1.0, 2.0]}}),
            "is configured as multi-vector",
        ),
        (
            json!({"vectors": {"body_vec": [1.0, 2.0, 3.0]}}),
            "new node has a vector with length 3. Existing nodes have vectors with length 2",
        ),
    ];
    for (mut body, message) in cases {
        body["class"] = json!("Doc");
        let r = c.post("/v1/objects", &body);
        assert_eq!(r.status, 422, "{body}");
        assert!(
            r.message().contains(message),
            "{} vs {message}",
            r.message()
        );
    }
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Doc", "vectors": {"body_vec": "x"}}),
    );
    assert_eq!(r.status, 400);

    // A legacy class takes `vectors: {"default": ...}` as its vector, and nothing else.
    create_class(&mut c, json!({"class": "Legacy"}));
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Legacy", "id": uuid(5), "vectors": {"default": [1.0]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c
        .get(&format!("/v1/objects/Legacy/{}?include=vector", uuid(5)))
        .json();
    assert_eq!(got["vector"], json!([1.0]));
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Legacy", "vectors": {"other": [1.0]}}),
    );
    assert_eq!(r.message(), "invalid object: collection Legacy is configured without multiple named vectors, but received named vectors: [other]");
    // A class with one named vector takes a legacy `vector` as that one.
    create_class(
        &mut c,
        json!({"class": "One", "vectorConfig": {"only": {"vectorizer": {"none": {}}}}}),
    );
    c.post(
        "/v1/objects",
        &json!({"class": "One", "id": uuid(6), "vector": [2.0]}),
    );
    let got = c
        .get(&format!("/v1/objects/One/{}?include=vector", uuid(6)))
        .json();
    assert_eq!(got["vectors"], json!({"only": [2.0]}));
}
