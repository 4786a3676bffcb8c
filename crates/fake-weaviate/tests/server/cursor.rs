//! Section 11 item 6: the cursor of `GET /v1/objects`.

use crate::client::{batch_ok, create_class, start, start_with, uuid, Client};
use fake_weaviate::Config;
use serde_json::{json, Value};

fn fill(c: &mut Client, class: &str, n: u32) -> Vec<String> {
    create_class(
        c,
        json!({"class": class, "properties": [{"name": "n", "dataType": ["int"]}]}),
    );
    // Inserted in a scrambled order; the cursor must sort by UUID.
    let mut ids: Vec<u32> = (1..=n).collect();
    ids.reverse();
    ids.rotate_left(n as usize / 3);
    let objects = ids
        .iter()
        .map(|&i| json!({"class": class, "id": uuid(i), "properties": {"n": i}}))
        .collect();
    batch_ok(c, objects);
    (1..=n).map(uuid).collect()
}

fn ids(page: &Value) -> Vec<String> {
    page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pages_in_uuid_order_until_an_empty_page() {
    let (s, mut c) = start();
    let want = fill(&mut c, "Item", 25);
    let mut after = String::new();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = c.get(&format!("/v1/objects?class=Item&limit=10&after={after}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        pages += 1;
        assert_eq!(page["deprecations"], json!([]));
        let got = ids(&page);
        if got.is_empty() {
            assert!(page.get("totalResults").is_none(), "omitted when 0");
            assert_eq!(page["objects"], json!([]));
            break;
        }
        assert_eq!(page["totalResults"], got.len());
        after = got.last().unwrap().clone();
        seen.extend(got);
    }
    assert_eq!(seen, want);
    assert_eq!(pages, 4);
    assert_eq!(s.requests(fake_weaviate::Route::Objects), 4);
}

#[test]
fn after_is_exclusive_and_need_not_exist() {
    let (_s, mut c) = start();
    let want = fill(&mut c, "Item", 5);
    let page = c
        .get(&format!("/v1/objects?class=Item&limit=2&after={}", want[1]))
        .json();
    assert_eq!(ids(&page), want[2..4]);
    // An id between uuid(2) and uuid(3) that is not stored.
    let between = "00000002-ffff-4000-8000-000000000000";
    let page = c
        .get(&format!("/v1/objects?class=Item&limit=2&after={between}"))
        .json();
    assert_eq!(ids(&page), want[2..4]);
    // Upper case works too.
    let page = c
        .get(&format!(
            "/v1/objects?class=Item&limit=1&after={}",
            want[0].to_uppercase()
        ))
        .json();
    assert_eq!(ids(&page), want[1..2]);
    // Without `after`: offset and limit, also in UUID order.
    let page = c.get("/v1/objects?class=Item&limit=2&offset=1").json();
    assert_eq!(ids(&page), want[1..3]);
    // Vectors and property values come along.
    let page = c.get("/v1/objects?class=Item&limit=1&after=").json();
    assert_eq!(page["objects"][0]["properties"]["n"], 1);
    assert_eq!(page["objects"][0]["class"], "Item");
}

#[test]
fn cursor_rules_and_their_422s() {
    let (_s, mut c) = start();
    fill(&mut c, "Item", 3);
    let prefix = "msg:cursor api: invalid 'after' parameter code:400 err:";
    let cases = [
        ("class=Item&after=", "limit parameter must be set"),
        (
            "class=Item&limit=2&offset=1&after=",
            "offset cannot be set with after and limit parameters",
        ),
        (
            "class=Item&limit=2&sort=n&after=",
            "sort cannot be set with after and limit parameters",
        ),
        (
            "class=Item&limit=2&offset=1&sort=n&after=",
            "offset,sort cannot be set with after and limit parameters",
        ),
        (
            "class=Item&limit=2&after=xyz",
            "after parameter 'xyz' is not a valid uuid: invalid UUID length: 3",
        ),
    ];
    for (query, reason) in cases {
        let r = c.get(&format!("/v1/objects?{query}"));
        assert_eq!(r.status, 422, "{query}");
        assert_eq!(r.message(), format!("{prefix}{reason}"), "{query}");
    }
    let r = c.get("/v1/objects?class=Item&limit=20000");
    assert_eq!(r.status, 422);
    assert_eq!(r.message(), "msg:offset or limit code:400 err:query maximum results exceeded: the total limit calculated from the provided offset '0' and limit '20000' exceeds the configured value for QUERY_MAXIMUM_RESULTS '10000'. If you've supplied a negative offset or limit, this may be an underflow error");
    assert_eq!(c.get("/v1/objects?class=Item&limit=10000").status, 200);
    let r = c.get("/v1/objects?class=Nope&limit=10&after=");
    assert_eq!((r.status, r.body.len()), (404, 0));
    let r = c.get("/v1/objects?class=Item&limit=0");
    assert_eq!(r.json(), json!({"deprecations": [], "objects": []}));
    let r = c.get("/v1/objects?limit=2&after=");
    assert_eq!(r.status, 500);
    // Sorting without a cursor works.
    let page = c
        .get("/v1/objects?class=Item&sort=n&order=desc&limit=2")
        .json();
    assert_eq!(page["objects"][0]["properties"]["n"], 3);
}

#[test]
fn max_results_is_configurable_and_classless_lists_work() {
    let (_s, mut c) = start_with(Config {
        max_results: 5,
        ..Config::default()
    });
    fill(&mut c, "Item", 3);
    assert_eq!(c.get("/v1/objects?class=Item&limit=4&offset=2").status, 422);
    assert_eq!(c.get("/v1/objects?class=Item&limit=5").status, 200);
    let page = c.get("/v1/objects?limit=5").json();
    assert_eq!(page["deprecations"], Value::Null);
    assert_eq!(page["objects"].as_array().unwrap().len(), 3);
}

#[test]
fn a_large_page_is_the_small_pages_joined() {
    let (_s, mut c) = start();
    create_class(&mut c, json!({"class": "Big"}));
    // About 3 MB of vectors: written in parts on several threads where there are cores.
    let n = 250;
    for batch in (1..=n).collect::<Vec<u32>>().chunks(50) {
        let objects = batch
            .iter()
            .map(|&i| {
                let vector: Vec<f32> = (0..1000).map(|k| (i * 1000 + k) as f32 / 7.0).collect();
                json!({"class": "Big", "id": uuid(i), "properties": {"i": i}, "vector": vector})
            })
            .collect();
        batch_ok(&mut c, objects);
    }
    let big = c.get(&format!(
        "/v1/objects?class=Big&include=vector&limit={n}&after="
    ));
    assert_eq!(big.status, 200);
    assert!(big.body.len() > 2 << 20, "{} bytes", big.body.len());
    let mut objects = Vec::new();
    let mut after = String::new();
    loop {
        let r = c.get(&format!(
            "/v1/objects?class=Big&include=vector&limit=1&after={after}"
        ));
        let text = r.text();
        let Some(one) = text
            .strip_prefix(r#"{"deprecations":[],"objects":["#)
            .and_then(|t| t.strip_suffix(r#"],"totalResults":1}"#))
        else {
            assert_eq!(text, r#"{"deprecations":[],"objects":[]}"#);
            break;
        };
        after = ids(&r.json())[0].clone();
        objects.push(one.to_string());
    }
    assert_eq!(objects.len(), n as usize);
    let want = format!(
        r#"{{"deprecations":[],"objects":[{}],"totalResults":{n}}}"#,
        objects.join(",")
    );
    assert!(
        big.text() == want,
        "the large page differs from the small pages joined"
    );
}
