//! Fault injection: every kind of fault, request counts (faulted requests included),
//! rejections inside a 200 batch, delays, and shutdown.

use crate::client::{create_class, item_error, start, uuid, Client};
use fake_weaviate::{Fault, Route};
use serde_json::json;
use std::time::{Duration, Instant};

fn one_object(i: u32) -> serde_json::Value {
    json!({"objects": [{"class": "Article", "id": uuid(i), "properties": {"title": "x"}}]})
}

#[test]
fn status_faults_answer_without_handling_and_are_counted() {
    let (s, mut c) = start();
    s.fail_next(Route::Batch, 2, Fault::Status(503));
    for _ in 0..2 {
        let r = c.post("/v1/batch/objects", &one_object(1));
        assert_eq!(r.status, 503);
        assert!(
            r.message().contains("injected"),
            "Weaviate-shaped body: {}",
            r.text()
        );
    }
    assert_eq!(
        s.object_count("Article", None),
        0,
        "a faulted request does nothing"
    );
    assert_eq!(c.post("/v1/batch/objects", &one_object(1)).status, 200);
    assert_eq!(s.object_count("Article", None), 1);
    assert_eq!(s.requests(Route::Batch), 3);
    // Other routes are untouched by a Batch fault, and counted on their own.
    s.fail_next(Route::Batch, 1, Fault::Status(500));
    assert_eq!(c.get("/v1/schema").status, 200);
    assert_eq!(s.requests(Route::Schema), 1);
    assert_eq!(c.post("/v1/batch/objects", &one_object(2)).status, 500);
    assert_eq!(s.requests(Route::Any), 5);
}

#[test]
fn too_many_requests_sends_retry_after() {
    let (s, mut c) = start();
    s.fail_next(
        Route::Objects,
        1,
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
    );
    let r = c.get("/v1/objects?class=A&limit=1");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert!(r.message().contains("too many requests"));
    assert_eq!(c.get("/v1/objects?class=A&limit=1").status, 404);
    assert_eq!(s.requests(Route::Objects), 2);
}

#[test]
fn drop_connection_is_a_transport_error_after_the_request_took_effect() {
    let (s, mut c) = start();
    s.fail_next(Route::Batch, 1, Fault::DropConnection);
    let body = serde_json::to_vec(&one_object(1)).unwrap();
    let err = c.try_send("POST", "/v1/batch/objects", Some(&body));
    assert!(
        err.is_err(),
        "the client must see a transport error, got status {:?}",
        err.map(|r| r.status)
    );
    assert_eq!(s.requests(Route::Batch), 1);
    assert_eq!(
        s.object_count("Article", None),
        1,
        "the server acted before dropping"
    );
    // A retry (on a new connection) succeeds: at-least-once.
    assert_eq!(c.post("/v1/batch/objects", &one_object(1)).status, 200);
    assert_eq!(s.object_count("Article", None), 1);
    // A response without a body (204) is cut inside its head.
    s.fail_next(Route::Object, 1, Fault::DropConnection);
    assert!(c
        .try_send("HEAD", &format!("/v1/objects/Article/{}", uuid(1)), None)
        .is_err());
}

#[test]
fn hangup_closes_without_handling() {
    let (s, mut c) = start();
    s.fail_next(Route::Any, 1, Fault::Hangup);
    let body = serde_json::to_vec(&one_object(1)).unwrap();
    assert!(c
        .try_send("POST", "/v1/batch/objects", Some(&body))
        .is_err());
    assert_eq!(s.object_count("Article", None), 0);
    assert_eq!(s.requests(Route::Batch), 1);
    assert_eq!(c.post("/v1/batch/objects", &one_object(1)).status, 200);
}

#[test]
fn fail_after_skips_then_fails() {
    let (s, mut c) = start();
    create_class(&mut c, json!({"class": "Article"}));
    s.fail_after(Route::Objects, 2, 1, Fault::Status(500));
    let statuses: Vec<u16> = (0..4)
        .map(|_| c.get("/v1/objects?class=Article&limit=1&after=").status)
        .collect();
    assert_eq!(statuses, vec![200, 200, 500, 200]);
    assert_eq!(s.requests(Route::Objects), 4);
}

/// The status of a GET, and how long its answer took.
fn timed_get(c: &mut Client, path: &str) -> (u16, Duration) {
    let t = Instant::now();
    let status = c.get(path).status;
    (status, t.elapsed())
}

#[test]
fn delays() {
    let (s, mut c) = start();
    s.fail_next(Route::Meta, 1, Fault::Delay(Duration::from_millis(150)));
    let (status, took) = timed_get(&mut c, "/v1/meta");
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(150));
    let (_, took) = timed_get(&mut c, "/v1/meta");
    assert!(
        took < Duration::from_millis(150),
        "a Delay fault is used once"
    );

    s.delay(Route::Schema, Duration::from_millis(100));
    for _ in 0..2 {
        let (status, took) = timed_get(&mut c, "/v1/schema");
        assert_eq!(status, 200);
        assert!(took >= Duration::from_millis(100));
    }
    let (_, took) = timed_get(&mut c, "/v1/meta");
    assert!(
        took < Duration::from_millis(100),
        "other routes are not delayed"
    );
    s.clear_faults();
    let (_, took) = timed_get(&mut c, "/v1/schema");
    assert!(took < Duration::from_millis(100));
}

#[test]
fn rejected_objects_fail_inside_a_200_batch_until_cleared() {
    let (s, mut c) = start();
    s.reject_objects([uuid(2).to_uppercase(), uuid(4)], "rejected by the test");
    let batch = json!({"objects": (1..=4).map(|i| json!({"class": "Article", "id": uuid(i)})).collect::<Vec<_>>()});
    for _ in 0..2 {
        let r = c.post("/v1/batch/objects", &batch);
        assert_eq!(r.status, 200);
        let items = r.json();
        let statuses: Vec<&str> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["result"]["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, vec!["SUCCESS", "FAILED", "SUCCESS", "FAILED"]);
        assert_eq!(*item_error(&items[1]), "rejected by the test");
        assert_eq!(items[1]["id"], uuid(2));
    }
    assert_eq!(s.object_count("Article", None), 2);
    s.clear_faults();
    let r = c.post("/v1/batch/objects", &batch);
    assert!(r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["result"]["status"] == "SUCCESS"));
    assert_eq!(s.object_count("Article", None), 4);
}

#[test]
fn unknown_paths_count_only_under_any() {
    let (s, mut c) = start();
    c.get("/v1/nope");
    c.get("/v1/.well-known/live");
    assert_eq!(s.requests(Route::Any), 2);
    assert_eq!(s.requests(Route::Meta), 1);
    assert_eq!(s.requests(Route::Batch), 0);
}

#[test]
fn dropping_the_server_closes_connections_and_the_port() {
    let (s, mut c) = start();
    let addr = s.addr();
    assert_eq!(c.get("/v1/.well-known/live").status, 200);
    // A delayed request in flight does not hold the shutdown up.
    s.delay(Route::Schema, Duration::from_secs(30));
    let mut slow = Client::new(&s);
    let pending = std::thread::spawn(move || slow.try_send("GET", "/v1/schema", None).is_err());
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    drop(s);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(pending.join().unwrap());
    assert!(c.try_send("GET", "/v1/.well-known/live", None).is_err());
    assert!(std::net::TcpStream::connect(addr).is_err());
}
