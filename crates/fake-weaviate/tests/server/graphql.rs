//! Section 11 item 9: GraphQL `Aggregate` counts (per class and per tenant) and `Get`.

use crate::client::{batch_ok, create_class, start, uuid, Client, Reply};
use serde_json::json;

/// `Article`, and `Multi` with tenants `t1` and `t2`.
fn article_and_multi(c: &mut Client) {
    create_class(c, json!({"class": "Article"}));
    create_class(
        c,
        json!({"class": "Multi", "multiTenancyConfig": {"enabled": true}}),
    );
    c.post(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "t1"}, {"name": "t2"}]),
    );
}

/// A GraphQL query without variables.
fn query(c: &mut Client, query: &str) -> Reply {
    c.post("/v1/graphql", &json!({ "query": query }))
}

#[test]
fn aggregate_counts_per_class_and_tenant() {
    let (_s, mut c) = start();
    let r = query(&mut c, "{ Aggregate { Article { meta { count } } } }");
    assert_eq!(r.status, 422, "no schema yet");
    article_and_multi(&mut c);
    batch_ok(
        &mut c,
        (1..=3)
            .map(|i| json!({"class": "Article", "id": uuid(i)}))
            .collect(),
    );
    batch_ok(
        &mut c,
        vec![
            json!({"class": "Multi", "tenant": "t1"}),
            json!({"class": "Multi", "tenant": "t1"}),
        ],
    );
    let r = query(&mut c, "{ Aggregate { Article { meta { count } } } }");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"data": {"Aggregate": {"Article": [{"meta": {"count": 3}}]}}})
    );
    let q = "query Count($t: String) {\n  Aggregate { Multi(tenant: $t) { meta { count } } }\n}";
    for (t, n) in [("t1", 2), ("t2", 0)] {
        let r = c.post("/v1/graphql", &json!({"query": q, "variables": {"t": t}}));
        assert_eq!(
            r.json()["data"]["Aggregate"]["Multi"][0]["meta"]["count"],
            n,
            "{t}"
        );
    }
    // A where filter narrows the count.
    let q = format!(
        "{{ Aggregate {{ Article(where: {{path: [\"id\"], operator: Equal, valueText: \"{}\"}}) {{ meta {{ count }} }} }} }}",
        uuid(2)
    );
    let r = query(&mut c, &q);
    assert_eq!(
        r.json()["data"]["Aggregate"]["Article"][0]["meta"]["count"],
        1
    );
}

#[test]
fn errors_are_200_with_an_errors_array() {
    let (_s, mut c) = start();
    create_class(
        &mut c,
        json!({"class": "Multi", "multiTenancyConfig": {"enabled": true}}),
    );
    let r = query(&mut c, "{ Aggregate { Multi { meta { count } } } }");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["data"]["Aggregate"]["Multi"], json!(null));
    assert_eq!(
        v["errors"][0]["message"],
        "class Multi has multi-tenancy enabled, but request was without tenant"
    );
    assert_eq!(v["errors"][0]["path"], json!(["Aggregate", "Multi"]));
    let r = query(&mut c, "{ Aggregate { Foo { meta { count } } } }");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v.get("data").is_none());
    assert_eq!(
        v["errors"][0]["message"],
        "Cannot query field \"Foo\" on type \"AggregateObjectsObj\"."
    );
    assert_eq!(
        v["errors"][0]["locations"],
        json!([{"column": 15, "line": 1}])
    );
    let r = query(&mut c, "{ Aggregate { ");
    assert_eq!(r.status, 200);
    assert!(r.json()["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Syntax Error"));
    let r = query(&mut c, "");
    assert_eq!(
        (r.status, r.message()),
        (422, "query cannot be empty".to_string())
    );
    let r = c.post(
        "/v1/graphql",
        &json!({"query": "{ Get { Multi { x } } }", "variables": [1]}),
    );
    assert_eq!(r.status, 422);
}

#[test]
fn get_with_additional_and_a_cursor() {
    let (_s, mut c) = start();
    create_class(
        &mut c,
        json!({"class": "Article", "properties": [{"name": "title", "dataType": ["text"]}]}),
    );
    batch_ok(
        &mut c,
        (1..=3)
            .map(|i| json!({"class": "Article", "id": uuid(i), "properties": {"title": format!("t{i}")}, "vector": [i as f32, 0.5]}))
            .collect(),
    );
    let q = format!(
        "{{ Get {{ Article(limit: 1, after: \"{}\") {{ title _additional {{ id vector creationTimeUnix }} }} }} }}",
        uuid(1)
    );
    let v = query(&mut c, &q).json();
    let row = &v["data"]["Get"]["Article"][0];
    assert_eq!(row["title"], "t2");
    assert_eq!(row["_additional"]["id"], uuid(2));
    assert_eq!(row["_additional"]["vector"], json!([2.0, 0.5]));
    assert!(row["_additional"]["creationTimeUnix"].is_string());
    let v = query(&mut c, "{ Get { Article(after: \"\") { title } } }").json();
    assert_eq!(
        v["errors"][0]["message"],
        "cursor api: invalid 'after' parameter: limit parameter must be set"
    );
}

/// The ids of a `Get` answer's rows.
fn row_ids(v: &serde_json::Value, class: &str) -> Vec<String> {
    v["data"]["Get"][class]
        .as_array()
        .unwrap_or_else(|| panic!("no rows in {v}"))
        .iter()
        .map(|row| row["_additional"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn get_by_ids_answers_which_exist() {
    let (_s, mut c) = start();
    article_and_multi(&mut c);
    batch_ok(
        &mut c,
        (1..=150)
            .filter(|i| i % 3 != 0)
            .map(|i| json!({"class": "Article", "id": uuid(i)}))
            .collect(),
    );
    batch_ok(
        &mut c,
        vec![
            json!({"class": "Multi", "tenant": "t1", "id": uuid(1)}),
            json!({"class": "Multi", "tenant": "t2", "id": uuid(2)}),
        ],
    );
    // 100 ids asked, in no order, with a repeat and a text that is no UUID: the rows are
    // the existing ones, once each, in ascending id order.
    let mut asked: Vec<String> = (1..=99).rev().map(uuid).collect();
    asked.push(uuid(5));
    asked.push("not-a-uuid".into());
    let list = asked
        .iter()
        .map(|id| format!("\"{id}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let q = format!(
        "{{ Get {{ Article(limit: 100, where: {{path: [\"id\"], operator: ContainsAny, valueTextArray: [{list}]}}) {{ _additional {{ id }} }} }} }}"
    );
    let v = query(&mut c, &q).json();
    assert!(v.get("errors").is_none(), "{v}");
    let want: Vec<String> = (1..=99).filter(|i| i % 3 != 0).map(uuid).collect();
    assert_eq!(row_ids(&v, "Article"), want);
    // The limit still applies.
    let q = q.replace("limit: 100", "limit: 10");
    let v = query(&mut c, &q).json();
    assert_eq!(row_ids(&v, "Article"), want[..10]);
    // Equal on one id, and the same filter inside And (tested object by object) agree.
    for (filter, want) in [
        (
            format!("{{path: [\"id\"], operator: Equal, valueText: \"{}\"}}", uuid(4)),
            vec![uuid(4)],
        ),
        (
            format!("{{path: [\"id\"], operator: Equal, valueText: \"{}\"}}", uuid(3)),
            vec![],
        ),
        (
            format!(
                "{{operator: And, operands: [{{path: [\"id\"], operator: ContainsAny, valueTextArray: [\"{}\", \"{}\", \"{}\"]}}]}}",
                uuid(7),
                uuid(6),
                uuid(8)
            ),
            vec![uuid(7), uuid(8)],
        ),
    ] {
        let q = format!("{{ Get {{ Article(where: {filter}) {{ _additional {{ id }} }} }} }}");
        let v = query(&mut c, &q).json();
        assert_eq!(row_ids(&v, "Article"), want, "{filter}");
    }
    // Per tenant.
    let q = format!(
        "{{ Get {{ Multi(tenant: \"t1\", limit: 2, where: {{path: [\"id\"], operator: ContainsAny, valueTextArray: [\"{}\", \"{}\"]}}) {{ _additional {{ id }} }} }} }}",
        uuid(1),
        uuid(2)
    );
    let v = query(&mut c, &q).json();
    assert_eq!(row_ids(&v, "Multi"), [uuid(1)]);
    let v = query(&mut c, &q.replace("t1", "t9")).json();
    assert_eq!(v["data"]["Get"]["Multi"], json!(null));
    assert_eq!(v["errors"][0]["message"], "tenant not found: \"t9\"");
    // An unknown class is a validation error, without data.
    let v = query(&mut c, &q.replace("Multi", "Nope")).json();
    assert!(v.get("data").is_none(), "{v}");
    assert_eq!(
        v["errors"][0]["message"],
        "Cannot query field \"Nope\" on type \"GetObjectsObj\"."
    );
}
