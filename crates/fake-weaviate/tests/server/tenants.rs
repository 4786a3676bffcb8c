//! Section 11 item 10: multi-tenancy, the tenants API and the tenant rules for objects.

use crate::client::{batch_ok, create_class, item_error, start, uuid, Client};
use serde_json::json;

fn mt_class(c: &mut Client, name: &str, auto_create: bool) {
    create_class(
        c,
        json!({"class": name, "multiTenancyConfig": {"enabled": true, "autoTenantCreation": auto_create},
               "properties": [{"name": "n", "dataType": ["int"]}]}),
    );
}

#[test]
fn tenants_api() {
    let (_s, mut c) = start();
    mt_class(&mut c, "Multi", false);
    let r = c.post(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "t1", "activityStatus": "ACTIVE"},
        {"name": "t2", "activityStatus": "INACTIVE"}, {"name": "t3"}]),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!([{"activityStatus": "HOT", "name": "t1"}, {"activityStatus": "COLD", "name": "t2"}, {"name": "t3"}])
    );
    assert_eq!(
        c.get("/v1/schema/Multi/tenants").json(),
        json!([{"activityStatus": "HOT", "name": "t1"}, {"activityStatus": "COLD", "name": "t2"},
               {"activityStatus": "HOT", "name": "t3"}])
    );
    // Idempotent.
    assert_eq!(
        c.post("/v1/schema/multi/tenants", &json!([{"name": "t1"}]))
            .status,
        200
    );
    assert_eq!(
        c.get("/v1/schema/Multi/tenants")
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = c.post(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "x"}, {"name": "x"}]),
    );
    assert_eq!(
        (r.status, r.message()),
        (422, "tenant name x existed multiple times".to_string())
    );
    let r = c.post("/v1/schema/Multi/tenants", &json!([{"name": "x y"}]));
    assert_eq!(r.status, 422);
    assert!(r
        .message()
        .starts_with("tenant name at index 0:  'x y' is not a valid tenant name."));
    let r = c.post(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "f", "activityStatus": "FROZEN"}]),
    );
    assert_eq!(r.status, 422);
    // Update, get one, delete.
    let r = c.put(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "t1", "activityStatus": "COLD"}]),
    );
    assert_eq!(r.json(), json!([{"activityStatus": "COLD", "name": "t1"}]));
    assert_eq!(
        c.get("/v1/schema/Multi/tenants/t1").json(),
        json!({"activityStatus": "COLD", "name": "t1"})
    );
    assert_eq!(c.head("/v1/schema/Multi/tenants/t1").status, 200);
    assert_eq!(c.get("/v1/schema/Multi/tenants/zz").status, 404);
    let r = c.delete_with("/v1/schema/Multi/tenants", &json!(["t1", "t2"]));
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(
        c.get("/v1/schema/Multi/tenants").json(),
        json!([{"activityStatus": "HOT", "name": "t3"}])
    );
    // A class that is not multi-tenant, or missing.
    create_class(&mut c, json!({"class": "Plain"}));
    assert_eq!(c.get("/v1/schema/Plain/tenants").status, 422);
    assert_eq!(
        c.post("/v1/schema/Nope/tenants", &json!([{"name": "a"}]))
            .status,
        422
    );
}

#[test]
fn objects_follow_the_tenant_rules() {
    let (s, mut c) = start();
    mt_class(&mut c, "Multi", false);
    create_class(&mut c, json!({"class": "Plain"}));
    c.post(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "hot"}, {"name": "cold", "activityStatus": "COLD"}]),
    );
    let r = c.post(
        "/v1/objects",
        &json!({"class": "Multi", "id": uuid(1), "tenant": "hot", "properties": {"n": 1}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["tenant"], "hot");
    let got = c
        .get(&format!("/v1/objects/Multi/{}?tenant=hot", uuid(1)))
        .json();
    assert_eq!(got["tenant"], "hot");
    let cases = [
        (
            json!({"class": "Multi"}),
            "class Multi has multi-tenancy enabled, but request was without tenant",
        ),
        (
            json!({"class": "Plain", "tenant": "hot"}),
            "class Plain has multi-tenancy disabled, but request was with tenant",
        ),
        (
            json!({"class": "Multi", "tenant": "nope"}),
            "tenant not found: \"nope\"",
        ),
        (
            json!({"class": "Multi", "tenant": "cold"}),
            "tenant not active: 'cold'",
        ),
    ];
    for (body, message) in &cases {
        let r = c.post("/v1/objects", body);
        assert_eq!(r.status, 422, "{body}");
        assert!(
            r.message().ends_with(message),
            "{} vs {message}",
            r.message()
        );
        let r = c.post("/v1/batch/objects", &json!({"objects": [body]}));
        assert_eq!(*item_error(&r.json()[0]), *message);
    }
    let cursor = [
        ("/v1/objects?class=Multi&limit=5&after=", 422),
        ("/v1/objects?class=Multi&limit=5&after=&tenant=cold", 422),
        ("/v1/objects?class=Multi&limit=5&after=&tenant=nope", 422),
        ("/v1/objects?class=Plain&limit=5&after=&tenant=hot", 422),
        ("/v1/objects?class=Multi&limit=5&after=&tenant=hot", 200),
    ];
    for (path, status) in cursor {
        assert_eq!(c.get(path).status, status, "{path}");
    }
    assert_eq!(c.get(&format!("/v1/objects/Multi/{}", uuid(1))).status, 422);
    assert_eq!(
        c.get(&format!("/v1/objects/Multi/{}?tenant=cold", uuid(1)))
            .status,
        422
    );
    assert_eq!(
        c.get(&format!("/v1/objects/Multi/{}?tenant=hot", uuid(1)))
            .status,
        200
    );
    assert_eq!(s.object_count("Multi", Some("hot")), 1);
    assert_eq!(s.object_count("Multi", Some("cold")), 0);
    // Activating the tenant makes its objects reachable.
    c.put(
        "/v1/schema/Multi/tenants",
        &json!([{"name": "cold", "activityStatus": "ACTIVE"}]),
    );
    batch_ok(&mut c, vec![json!({"class": "Multi", "tenant": "cold"})]);
    assert_eq!(s.object_count("Multi", Some("cold")), 1);
    // Batch delete needs the tenant too.
    let body = json!({"match": {"class": "Multi", "where": {"path": ["id"], "operator": "Like", "valueText": "*"}}});
    assert_eq!(c.delete_with("/v1/batch/objects", &body).status, 422);
    let r = c.delete_with("/v1/batch/objects?tenant=hot", &body);
    assert_eq!(r.json()["results"]["successful"], 1);
}

#[test]
fn auto_tenant_creation_on_write() {
    let (s, mut c) = start();
    mt_class(&mut c, "Auto", true);
    batch_ok(
        &mut c,
        vec![json!({"class": "Auto", "tenant": "fresh", "properties": {"n": 1}})],
    );
    assert_eq!(s.object_count("Auto", Some("fresh")), 1);
    assert_eq!(
        c.get("/v1/schema/Auto/tenants").json(),
        json!([{"activityStatus": "HOT", "name": "fresh"}])
    );
    // Reads do not create tenants.
    assert_eq!(
        c.get("/v1/objects?class=Auto&limit=1&tenant=other").status,
        422
    );
}
