//! Section 11 items 1 and 2: routing, framework errors, health, meta, auth; and the HTTP
//! layer itself (keep-alive, chunked bodies, `Expect: 100-continue`, garbage).

use crate::client::{start, start_with};
use fake_weaviate::Config;
use serde_json::json;

#[test]
fn unknown_path_is_404_with_a_code_body() {
    let (_s, mut c) = start();
    let r = c.get("/v1/xyz");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"code": 404, "message": "path /v1/xyz was not found"})
    );
    assert_eq!(c.get("/elsewhere").status, 404);
}

#[test]
fn wrong_method_is_405_with_allow() {
    let (_s, mut c) = start();
    let r = c.patch("/v1/schema", &json!({}));
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json(),
        json!({"code": 405, "message": "method PATCH is not allowed, but [GET,POST] are"})
    );
    assert_eq!(r.header("allow"), Some("GET,POST"));
}

#[test]
fn health_meta_and_root() {
    let (s, mut c) = start();
    for path in ["/v1/.well-known/live", "/v1/.well-known/ready"] {
        let r = c.get(path);
        assert_eq!((r.status, r.body.len()), (200, 0), "{path}");
    }
    assert_eq!(c.get("/v1/.well-known/openid-configuration").status, 404);
    let meta = c.get("/v1/meta").json();
    assert_eq!(meta["version"], "1.39.0");
    assert_eq!(meta["hostname"], s.url());
    assert_eq!(meta["modules"], json!({}));
    let root = c.get("/v1").json();
    assert!(root["links"].as_array().is_some_and(|l| !l.is_empty()));
    assert_eq!(c.get("/v1/nodes").json()["nodes"][0]["status"], "HEALTHY");
    assert!(s.url().starts_with("http://127.0.0.1:"));
}

#[test]
fn api_keys_are_required_except_on_health_and_root() {
    let (_s, mut c) = start_with(Config {
        api_keys: vec!["secret".into(), "other".into()],
        ..Config::default()
    });
    let r = c.get("/v1/meta");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.text(),
        r#"{"code":401,"message": "anonymous access not enabled. Please authenticate through one of the available methods: [API-keys]" }"#
    );
    c.key = Some("wrong".into());
    let r = c.get("/v1/schema");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        json!({"code": 401, "message": "unauthorized: invalid api key"})
    );
    c.key = Some("other".into());
    assert_eq!(c.get("/v1/schema").status, 200);
    c.key = None;
    for path in [
        "/v1/.well-known/live",
        "/v1/.well-known/ready",
        "/v1",
        "/v1/.well-known/openid-configuration",
    ] {
        assert_ne!(c.get(path).status, 401, "{path}");
    }
    assert_eq!(
        c.post("/v1/batch/objects", &json!({"objects": []})).status,
        401
    );
}

#[test]
fn bad_json_is_a_400_and_a_missing_body_a_422() {
    let (_s, mut c) = start();
    let r = c
        .try_send("POST", "/v1/schema", Some(b"{not json"))
        .unwrap();
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("parsing body body from \"\" failed, because"));
    assert_eq!(r.json()["code"], 400);
    let r = c.try_send("POST", "/v1/schema", None).unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["code"], 602);
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let (s, mut c) = start();
    for _ in 0..20 {
        assert_eq!(c.get("/v1/.well-known/live").status, 200);
    }
    assert_eq!(s.requests(fake_weaviate::Route::Meta), 20);
}

#[test]
fn chunked_bodies_and_expect_continue() {
    let (s, mut c) = start();
    let body = r#"{"class":"Chunky"}"#;
    let (a, b) = body.split_at(7);
    let raw = format!(
        "POST /v1/schema HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let r = c.raw(raw.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["class"], "Chunky");

    // curl sends `Expect: 100-continue` and waits for the interim response.
    let body = r#"{"class":"Waiting"}"#;
    let raw = format!(
        "POST /v1/schema HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(s.addr()).unwrap();
    stream.write_all(raw.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    reader.read_line(&mut line).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
}

#[test]
fn garbage_gets_a_400_not_a_panic() {
    let (_s, mut c) = start();
    let r = c.raw(b"HELLO\r\n\r\n").unwrap();
    assert_eq!(r.status, 400);
    let r = c
        .raw(b"GET /v1/meta HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        .unwrap();
    assert_eq!(r.status, 400);
    // The server is still fine.
    assert_eq!(c.get("/v1/.well-known/ready").status, 200);
    // Odd paths and ids are 4xx.
    assert_eq!(c.get("/v1/objects/Article/%ZZ").status, 422);
    assert_eq!(c.get("/v1/schema/%C3%28").status, 404);
    let r = c.get("/v1/objects?limit=ten");
    assert_eq!(r.status, 422);
}
