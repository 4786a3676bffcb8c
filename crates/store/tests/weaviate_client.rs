//! The Weaviate client against fake-weaviate (and, where the bytes on the wire matter, a
//! one-shot socket that records them): URL forms, auth, the retry policy on every kind of
//! fault, batches judged per object, the cursor, counts, and the single-object calls.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ely_store::weaviate::Weaviate;
use ely_store::{ErrorKind, Filter, Object, OpenOptions, Outcome, Store, Tenant};
use fake_weaviate::{Config, Fault, Route, Server};
use serde_json::{json, Map, Value};

/// Fast retries, so a test hitting many faults still takes milliseconds.
fn fast() -> OpenOptions {
    OpenOptions {
        api_key: None,
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        retries: 6,
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        in_flight: 4,
        ..OpenOptions::default()
    }
}

fn server() -> Server {
    Server::start(Config::default()).expect("start fake-weaviate")
}

fn client(server: &Server) -> Weaviate {
    Weaviate::new(&server.url(), &fast()).expect("client")
}

/// The id of object `i`, spread over the whole UUID range so that insertion order and id
/// order differ.
fn id(i: u32) -> String {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (h >> 32) as u32,
        (h >> 16) as u16,
        i & 0xfff,
        (i >> 12) & 0xfff,
        i as u64 * 7919
    )
}

fn object(class: &str, i: u32) -> Object {
    let mut properties = Map::new();
    properties.insert("title".into(), json!(format!("object {i}")));
    // Above 2^53 would be lost by Weaviate itself; this one must stay an integer.
    properties.insert("n".into(), json!(i as i64 * 1_000_003));
    properties.insert("even".into(), json!(i & 1 == 0));
    Object {
        class: class.into(),
        id: id(i),
        properties,
        // Values whose shortest float32 text differs from their float64 text.
        vector: Some(vec![
            0.1,
            -1e-7,
            i as f32 / 3.0,
            f32::MAX,
            1.0 + f32::EPSILON,
        ]),
        ..Object::default()
    }
}

fn create_article(w: &Weaviate) {
    w.create_class(&json!({
        "class": "Article",
        "vectorizer": "none",
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "n", "dataType": ["int"]},
            {"name": "even", "dataType": ["boolean"]}
        ]
    }))
    .expect("create Article");
}

/// Every object of a class through the cursor, with vectors.
fn read_all(w: &Weaviate, class: &str, tenant: Option<&str>, page: usize) -> Vec<Object> {
    w.pages(class, tenant, page, true)
        .collect::<Result<Vec<_>, _>>()
        .expect("scan")
        .into_iter()
        .flatten()
        .collect()
}

/// `Article` object `i`, which has no tenant.
fn get_article(w: &Weaviate, i: u32, vectors: bool) -> Option<Object> {
    w.get("Article", None, &id(i), vectors).expect("get")
}

fn assert_all_written(outcomes: &[Outcome]) {
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Written),
        "{outcomes:?}"
    );
}

fn eq(property: &str, value: Value) -> Filter {
    Filter::Equal {
        property: property.into(),
        value,
    }
}

/// What the store keeps of what was sent: timestamps are the server's.
fn same_content(got: &Object, sent: &Object) -> bool {
    got.class == sent.class
        && got.id == sent.id
        && got.properties == sent.properties
        && got
            .vector
            .as_ref()
            .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
            == sent
                .vector
                .as_ref()
                .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
}

/// What the client sent to a [`scripted`] socket.
struct Sent {
    head: String,
    body: String,
}

/// A socket that answers one request per connection with the given statuses and bodies, in
/// order, and hands over each request, to see exactly what the client sends.
fn scripted(answers: Vec<(u16, String)>) -> (String, mpsc::Receiver<Sent>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for ((status, body), stream) in answers.into_iter().zip(listener.incoming()) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                head.push_str(&line);
            }
            // Read the whole body, so that closing the socket does not reset the connection.
            let mut sent = vec![0; length];
            let _ = reader.read_exact(&mut sent);
            let body = if head.starts_with("HEAD ") {
                ""
            } else {
                body.as_str()
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tx.send(Sent {
                head,
                body: String::from_utf8_lossy(&sent).into_owned(),
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), rx)
}

/// A [`scripted`] socket that answers `n` requests with `{"classes":[]}` and hands over each
/// request's head.
fn recorder(n: usize) -> (String, mpsc::Receiver<Sent>) {
    scripted(vec![(200, r#"{"classes":[]}"#.to_owned()); n])
}

#[test]
fn url_forms_all_reach_v1_and_keep_the_port() {
    let forms = ["", "/", "/v1", "/v1/", "/proxy/v1", "/proxy/"];
    let (base, heads) = recorder(forms.len());
    for form in forms {
        let w = Weaviate::new(&format!("{base}{form}"), &fast()).expect("client");
        assert_eq!(w.collections().expect("collections"), Vec::<Value>::new());
        let head = heads.recv().expect("request").head;
        let want = if form.starts_with("/proxy") {
            "GET /proxy/v1/schema HTTP/1.1"
        } else {
            "GET /v1/schema HTTP/1.1"
        };
        assert!(head.starts_with(want), "{form:?}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("host: 127.0.0.1:{}", &base[17..])),
            "{head}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("authorization"),
            "{head}"
        );
    }
    let shown = Weaviate::new(&format!("http://me:pw@{}/v1/", &base[7..]), &fast())
        .expect("client")
        .location();
    assert_eq!(shown, base);

    // A real server, through the `/v1/` form.
    let server = server();
    let w = Weaviate::new(&format!("{}/v1/", server.url()), &fast()).expect("client");
    create_article(&w);
    assert_eq!(w.location(), server.url());
    for bad in ["127.0.0.1:8080", "ftp://h", "http://h:x", "http://h/?a=b"] {
        let err = Weaviate::new(bad, &fast()).expect_err(bad);
        assert_eq!(err.kind, ErrorKind::Invalid, "{bad}");
    }
}

#[test]
fn bearer_only_with_a_key_and_a_wrong_key_is_an_auth_error_without_it() {
    let (base, heads) = recorder(1);
    let opts = OpenOptions {
        api_key: Some("key-on-the-wire".into()),
        ..fast()
    };
    let w = Weaviate::new(&base, &opts).expect("client");
    w.collections().expect("collections");
    let head = heads.recv().expect("request").head;
    assert!(head.contains("Bearer key-on-the-wire"), "{head}");
    assert!(!format!("{w:?}{}", w.location()).contains("key-on-the-wire"));

    let server = Server::start(Config {
        api_keys: vec!["right-key".into()],
        ..Config::default()
    })
    .expect("server");
    let wrong = OpenOptions {
        api_key: Some("wrong-key-1234".into()),
        ..fast()
    };
    let err = Weaviate::new(&server.url(), &wrong)
        .expect("client")
        .collections()
        .expect_err("wrong key");
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(err.message.contains("WEAVIATE_API_KEY"), "{}", err.message);
    assert!(!err.message.contains("wrong-key-1234"), "{}", err.message);
    assert!(!format!("{err:?}").contains("wrong-key-1234"));
    // 401 is never retried.
    assert_eq!(server.requests(Route::Schema), 1);

    let err = client(&server).collections().expect_err("no key");
    assert_eq!(err.kind, ErrorKind::Auth);
    assert!(
        err.message.contains("requires an API key"),
        "{}",
        err.message
    );

    let right = OpenOptions {
        api_key: Some("right-key".into()),
        ..fast()
    };
    let w = Weaviate::new(&server.url(), &right).expect("client");
    create_article(&w);
    assert_eq!(w.collections().expect("collections").len(), 1);
}

#[test]
fn server_errors_are_retried_until_they_pass() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    for status in [500, 502, 503, 504, 408] {
        let before = server.requests(Route::Schema);
        server.fail_next(Route::Schema, 2, Fault::Status(status));
        assert_eq!(w.collections().expect("collections").len(), 1, "{status}");
        assert_eq!(server.requests(Route::Schema) - before, 3, "{status}");
    }
    assert_eq!(w.retries_made(), 10);
}

#[test]
fn too_many_requests_waits_as_retry_after_says() {
    let server = server();
    let w = client(&server);
    server.fail_next(
        Route::Batch,
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();
    let outcomes = w.upsert(&[object("Article", 1)]).expect("upsert");
    let waited = started.elapsed();
    assert_eq!(outcomes, vec![Outcome::Written]);
    assert_eq!(server.requests(Route::Batch), 2);
    // The backoff alone would be a millisecond.
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[test]
fn other_client_errors_are_not_retried() {
    let server = server();
    let w = client(&server);
    for status in [400, 422] {
        let before = server.requests(Route::Schema);
        server.fail_next(Route::Schema, 1, Fault::Status(status));
        let err = w.collections().expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Invalid, "{status}");
        assert!(err.message.contains("injected fault"), "{}", err.message);
        assert_eq!(server.requests(Route::Schema) - before, 1, "{status}");
    }
    // A real 422: the collection exists already.
    create_article(&w);
    let before = server.requests(Route::Schema);
    let err = w
        .create_class(&json!({"class": "article"}))
        .expect_err("duplicate");
    assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
    assert!(err.message.contains("already exists"), "{}", err.message);
    assert_eq!(server.requests(Route::Schema) - before, 1);
    assert_eq!(w.retries_made(), 0);
}

#[test]
fn dropped_and_refused_connections() {
    let server = server();
    let w = client(&server);
    // The server stores the batch, then drops the answer; the retry finds it already there.
    server.fail_next(Route::Batch, 1, Fault::DropConnection);
    server.fail_next(Route::Objects, 1, Fault::Hangup);
    let objects: Vec<Object> = (0..10).map(|i| object("Article", i)).collect();
    let outcomes = w.upsert(&objects).expect("upsert");
    assert_all_written(&outcomes);
    assert_eq!(server.requests(Route::Batch), 2);
    assert_eq!(read_all(&w, "Article", None, 100).len(), 10);
    assert_eq!(server.requests(Route::Objects), 3);

    // Nobody listening, and nothing ever answered: Unavailable (exit 3) at once, naming the
    // request, not retried for minutes.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let opts = OpenOptions {
        retries: 2,
        ..fast()
    };
    let w = Weaviate::new(&format!("http://127.0.0.1:{port}"), &opts).expect("client");
    let err = w.collections().expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{}", err.message);
    assert_eq!(err.exit_code(), 3);
    assert!(err.message.contains("GET /v1/schema"), "{}", err.message);
    assert!(err.message.contains("cannot be reached"), "{}", err.message);
    assert_eq!(w.retries_made(), 0);
}

#[test]
fn slow_answers_are_awaited_and_timeouts_retried() {
    let server = server();
    let opts = OpenOptions {
        timeout: Duration::from_millis(400),
        retries: 1,
        ..fast()
    };
    let w = Weaviate::new(&server.url(), &opts).expect("client");
    // Slow, but within the timeout: one request.
    server.fail_next(Route::Schema, 1, Fault::Delay(Duration::from_millis(150)));
    w.collections().expect("slow answer");
    assert_eq!(server.requests(Route::Schema), 1);
    // Too slow once: the retry answers.
    server.fail_next(Route::Schema, 1, Fault::Delay(Duration::from_secs(2)));
    w.collections().expect("retried after a timeout");
    assert_eq!(server.requests(Route::Schema), 3);
    // Too slow every time: Unavailable once the retries are spent.
    server.delay(Route::Schema, Duration::from_secs(2));
    let err = w.collections().expect_err("timeouts");
    assert_eq!(err.kind, ErrorKind::Unavailable, "{}", err.message);
    assert!(err.message.contains("2 attempts"), "{}", err.message);
    assert!(err.message.contains("timeout"), "{}", err.message);
    assert_eq!(server.requests(Route::Schema), 5);
}

#[test]
fn a_batch_is_judged_object_by_object() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    let objects: Vec<Object> = (0..10).map(|i| object("Article", i)).collect();
    server.reject_objects([id(3), id(7).to_uppercase()], "no room for this one");
    let mut with_bad_id = objects.clone();
    with_bad_id.push(Object {
        id: "not-a-uuid".into(),
        ..object("Article", 99)
    });
    let outcomes = w.upsert(&with_bad_id).expect("upsert");
    assert_eq!(outcomes.len(), 11);
    for (i, outcome) in outcomes.iter().enumerate() {
        match i {
            3 | 7 => assert!(
                matches!(outcome, Outcome::Rejected(m) if m.contains("no room for this one")),
                "{i}: {outcome:?}"
            ),
            10 => {
                assert!(matches!(outcome, Outcome::Rejected(m) if m.contains("not a valid UUID")))
            }
            _ => assert_eq!(*outcome, Outcome::Written, "{i}"),
        }
    }
    // One request: the malformed id never reached the server (it would fail the batch).
    assert_eq!(server.requests(Route::Batch), 1);
    assert_eq!(server.object_count("Article", None), 8);
    assert!(get_article(&w, 3, false).is_none());
    let got = get_article(&w, 4, true).expect("present");
    assert!(same_content(&got, &objects[4]), "{got:?}");
    // Type errors are the server's per-object verdicts too.
    let mut wrong = object("Article", 50);
    wrong.properties.insert("n".into(), json!("many"));
    let outcomes = w.upsert(&[wrong, object("Article", 51)]).expect("upsert");
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(m) if m.contains("n")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Written);
}

/// The issue's scenario: faults and delays throughout a 10,000-object import, and every
/// object arrives intact.
#[test]
fn ten_thousand_objects_arrive_intact_through_faults() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    let objects: Vec<Object> = (0..10_000).map(|i| object("Article", i)).collect();
    server.fail_after(Route::Batch, 3, 5, Fault::Status(503));
    server.fail_after(Route::Batch, 15, 3, Fault::DropConnection);
    server.fail_after(
        Route::Batch,
        30,
        2,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
    );
    server.fail_after(Route::Batch, 45, 2, Fault::Hangup);
    server.fail_after(Route::Batch, 60, 1, Fault::Status(500));
    server.fail_after(Route::Batch, 70, 4, Fault::Delay(Duration::from_millis(40)));
    let outcomes = w.upsert(&objects).expect("upsert");
    assert_all_written(&outcomes);
    // 100 batches of 100, and one more request for each fault that failed one.
    assert_eq!(server.requests(Route::Batch), 100 + 13);
    assert_eq!(w.retries_made(), 13);
    assert_eq!(server.object_count("Article", None), 10_000);
    assert_eq!(w.count("Article", None).expect("count"), 10_000);

    let mut sent = objects;
    sent.sort_by(|a, b| a.id.cmp(&b.id));
    let got = read_all(&w, "Article", None, 1000);
    assert_eq!(got.len(), 10_000);
    for (g, s) in got.iter().zip(&sent) {
        assert!(same_content(g, s), "{g:?} != {s:?}");
    }
}

#[test]
fn the_cursor_pages_through_in_id_order() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    // Empty: one request, no page.
    assert_eq!(read_all(&w, "Article", None, 50).len(), 0);
    assert_eq!(server.requests(Route::Objects), 1);

    let objects: Vec<Object> = (0..250).map(|i| object("Article", i)).collect();
    w.upsert(&objects).expect("upsert");
    let mut ids: Vec<String> = objects.iter().map(|o| o.id.clone()).collect();
    ids.sort();
    // 250 is 5 pages of 50 exactly: 5 full pages and the empty one that ends the scan.
    let before = server.requests(Route::Objects);
    let pages: Vec<Vec<Object>> = w
        .pages("article", None, 50, false)
        .collect::<Result<_, _>>()
        .expect("scan");
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50; 5]);
    assert_eq!(server.requests(Route::Objects) - before, 6);
    let got: Vec<String> = pages.iter().flatten().map(|o| o.id.clone()).collect();
    assert_eq!(got, ids);
    assert!(pages.iter().flatten().all(|o| o.vector.is_none()));
    // Not a multiple: 100, 100, 50, then empty.
    let before = server.requests(Route::Objects);
    assert_eq!(read_all(&w, "Article", None, 100).len(), 250);
    assert_eq!(server.requests(Route::Objects) - before, 4);
    // One page by hand, after an id that is not stored.
    let page = w
        .scan(
            "Article",
            None,
            Some("00000000-0000-0000-0000-000000000000"),
            3,
            true,
        )
        .expect("page");
    assert_eq!(
        page.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        ids[..3]
    );
    assert!(page.iter().all(|o| o.vector.is_some()));

    let err = w
        .scan("Nope", None, None, 10, false)
        .expect_err("unknown class");
    assert_eq!(err.kind, ErrorKind::NotFound);
}

#[test]
fn a_cursor_page_failing_mid_scan_is_retried() {
    let server = server();
    let w = client(&server);
    let objects: Vec<Object> = (0..250).map(|i| object("Article", i)).collect();
    w.upsert(&objects).expect("upsert");
    server.fail_after(Route::Objects, 2, 1, Fault::Status(500));
    server.fail_after(Route::Objects, 4, 1, Fault::DropConnection);
    let got = read_all(&w, "Article", None, 50);
    assert_eq!(got.len(), 250);
    let mut ids: Vec<&str> = got.iter().map(|o| o.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250);
    assert_eq!(server.requests(Route::Objects), 6 + 2);
}

#[test]
fn counts_come_from_graphql_aggregate() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    assert_eq!(w.count("Article", None).expect("count"), 0);
    let objects: Vec<Object> = (0..42).map(|i| object("Article", i)).collect();
    w.upsert(&objects).expect("upsert");
    server.fail_next(Route::GraphQl, 1, Fault::Status(502));
    assert_eq!(w.count("article", None).expect("count"), 42);
    assert_eq!(server.requests(Route::GraphQl), 3);
    let err = w.count("Missing", None).expect_err("unknown");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
    let err = w
        .count("Article", Some("bad\"tenant"))
        .expect_err("bad tenant");
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[test]
fn multi_tenant_collections_work_per_tenant() {
    let server = server();
    let w = client(&server);
    w.create_class(
        &json!({"class": "Doc", "multiTenancyConfig": {"enabled": true},
        "properties": [{"name": "title", "dataType": ["text"]}]}),
    )
    .expect("create");
    w.create_tenants("Doc", &[Tenant::new("zeta"), Tenant::new("alpha")])
        .expect("tenants");
    w.create_tenants("Doc", &[Tenant::new("alpha")])
        .expect("again");
    let names: Vec<String> = w
        .tenants("doc")
        .expect("tenants")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    let mut objects = Vec::new();
    for (i, tenant) in [(0, "alpha"), (1, "alpha"), (2, "zeta")] {
        let mut o = object("Doc", i);
        o.properties.retain(|k, _| k == "title");
        o.vector = None;
        o.tenant = Some(tenant.into());
        objects.push(o);
    }
    let outcomes = w.upsert(&objects).expect("upsert");
    assert_all_written(&outcomes);
    assert_eq!(w.count("Doc", Some("alpha")).expect("count"), 2);
    assert_eq!(w.count("Doc", Some("zeta")).expect("count"), 1);
    assert_eq!(read_all(&w, "Doc", Some("alpha"), 10).len(), 2);
    let got = w
        .get("Doc", Some("zeta"), &id(2), false)
        .expect("get")
        .expect("present");
    assert_eq!(got.tenant.as_deref(), Some("zeta"));
    assert_eq!(
        w.exists("Doc", Some("alpha"), &[id(0), id(2)])
            .expect("exists"),
        [true, false]
    );
    assert_eq!(
        w.delete("Doc", Some("alpha"), &[id(0), id(2)])
            .expect("delete"),
        1
    );
    assert_eq!(server.object_count("Doc", Some("alpha")), 1);
    let err = w.scan("Doc", None, None, 10, false).expect_err("no tenant");
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
}

#[test]
fn exists_get_delete_and_delete_where() {
    let server = Server::start(Config {
        max_results: 100,
        ..Config::default()
    })
    .expect("server");
    let w = client(&server);
    create_article(&w);
    let objects: Vec<Object> = (0..300).map(|i| object("Article", i)).collect();
    w.upsert(&objects).expect("upsert");

    let asked = vec![
        id(0),
        id(1).to_uppercase(),
        id(1000),
        id(5).replace('-', ""),
    ];
    assert_eq!(
        w.exists("Article", None, &asked).expect("exists"),
        [true, true, false, true]
    );
    assert_eq!(
        w.exists("Article", None, &[]).expect("exists"),
        Vec::<bool>::new()
    );
    assert!(w.exists("Article", None, &["x".into()]).is_err());
    assert!(get_article(&w, 1000, true).is_none());
    let got = get_article(&w, 9, true).expect("present");
    assert!(same_content(&got, &objects[9]));
    assert!(get_article(&w, 9, false).expect("present").vector.is_none());

    // By id: a missing one and a repeated one count for nothing.
    let gone = w
        .delete("Article", None, &[id(0), id(1), id(1), id(1000)])
        .expect("delete");
    assert_eq!(gone, 2);
    assert_eq!(
        w.exists("Article", None, &[id(0), id(1)]).expect("exists"),
        [false, false]
    );

    // By property: 149 even objects left (0 is gone), more than the server's 100 per call,
    // so the client repeats the delete until nothing matches.
    let before = server.requests(Route::BatchDelete);
    let even = eq("even", json!(true));
    assert_eq!(
        w.delete_where("Article", None, &even)
            .expect("delete_where"),
        149
    );
    assert_eq!(server.requests(Route::BatchDelete) - before, 2);
    assert_eq!(w.count("Article", None).expect("count"), 149);
    let by_int = eq("n", json!(3 * 1_000_003));
    assert_eq!(
        w.delete_where("Article", None, &by_int)
            .expect("delete_where"),
        1
    );
    assert_eq!(
        w.delete_where("Article", None, &by_int)
            .expect("delete_where"),
        0
    );
    let err = w
        .delete_where("Missing", None, &by_int)
        .expect_err("unknown class");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
}

#[test]
fn schema_calls() {
    let server = server();
    let w = client(&server);
    assert!(w.class("Article").expect("class").is_none());
    create_article(&w);
    w.create_class(&json!({"class": "Author", "vectorizer": "none"}))
        .expect("create");
    let names: Vec<String> = w
        .collections()
        .expect("collections")
        .iter()
        .map(|c| c["class"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["Article", "Author"]);
    let def = w.class("article").expect("class").expect("present");
    assert_eq!(def["class"], "Article");
    let sharding = def["shardingConfig"].as_object().expect("sharding");
    assert!(sharding
        .keys()
        .all(|k| !k.starts_with("actual") && k != "desiredVirtualCount"));

    w.add_property("article", &json!({"name": "Body", "dataType": ["text"]}))
        .expect("add");
    let err = w
        .add_property("Article", &json!({"name": "body", "dataType": ["text"]}))
        .expect_err("twice");
    assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
    let err = w
        .add_property("Missing", &json!({"name": "x", "dataType": ["text"]}))
        .expect_err("no class");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);

    let mut def = w.class("Article").expect("class").expect("present");
    def["description"] = json!("news");
    let stored = w.update_class(&def).expect("update");
    assert_eq!(stored["description"], "news");
    let err = w
        .update_class(&json!({"class": "Missing"}))
        .expect_err("missing");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);

    w.delete_class("article").expect("delete");
    w.delete_class("article").expect("delete again");
    assert!(w.class("Article").expect("class").is_none());
}

/// `object("Article", i)` under the title `title`.
fn titled(i: u32, title: &str) -> Object {
    let mut o = object("Article", i);
    o.properties.insert("title".into(), json!(title));
    o
}

#[test]
fn repeated_ids_across_parallel_batches_keep_the_last_copy() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    // Positions p and p + 150 share an id, so the copies sit in different 100-object chunks;
    // half the earlier copies spell the id in uppercase.
    let objects: Vec<Object> = (0..300)
        .map(|p| {
            let mut o = titled(p % 150, &format!("copy {p}"));
            if p < 150 && p % 2 == 0 {
                o.id = o.id.to_uppercase();
            }
            o
        })
        .collect();
    // The first request to arrive is stored last.
    server.fail_next(Route::Batch, 1, Fault::Delay(Duration::from_millis(300)));
    let outcomes = w.upsert(&objects).expect("upsert");
    assert_eq!(outcomes.len(), 300);
    assert_all_written(&outcomes);
    // Only the last copies were sent: 150 objects, two requests.
    assert_eq!(server.requests(Route::Batch), 2);
    assert_eq!(server.object_count("Article", None), 150);
    let got = read_all(&w, "Article", None, 1000);
    assert_eq!(got.len(), 150);
    for g in &got {
        let i = (0..150).find(|&i| id(i) == g.id).expect("a sent id");
        assert_eq!(
            g.properties["title"],
            json!(format!("copy {}", i + 150)),
            "{}",
            g.id
        );
        assert!(same_content(g, &objects[i as usize + 150]), "{g:?}");
    }
}

#[test]
fn a_rejected_last_copy_rejects_the_earlier_copies() {
    let server = server();
    let w = client(&server);
    create_article(&w);

    // Rejected by the server for its id: every copy shares the verdict and its message.
    server.reject_objects([id(1)], "no room for this one");
    let objects = [titled(1, "first"), titled(2, "other"), titled(1, "second")];
    let outcomes = w.upsert(&objects).expect("upsert");
    for i in [0, 2] {
        assert!(
            matches!(&outcomes[i], Outcome::Rejected(m) if m.contains("no room for this one")),
            "{i}: {outcomes:?}"
        );
    }
    assert_eq!(outcomes[1], Outcome::Written);
    assert_eq!(outcomes[0], outcomes[2]);
    assert_eq!(server.object_count("Article", None), 1);
    server.clear_faults();

    // The earlier copy is valid, the last one is not: the earlier copy was never sent, so it
    // is rejected too, never reported as written.
    let mut bad = titled(5, "last");
    bad.properties.insert("n".into(), json!("many"));
    let mut objects: Vec<Object> = (100..250).map(|i| object("Article", i)).collect();
    objects.insert(0, titled(5, "first"));
    objects.push(bad);
    let outcomes = w.upsert(&objects).expect("upsert");
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(m) if m.contains('n')),
        "{:?}",
        outcomes[0]
    );
    assert_eq!(outcomes[0], outcomes[151]);
    assert_all_written(&outcomes[1..151]);
    assert!(get_article(&w, 5, false).is_none());
    assert_eq!(server.object_count("Article", None), 151);
}

#[test]
fn a_batch_item_without_a_result_is_rejected() {
    let answer = json!([
        {"class": "Article", "id": id(1), "properties": {}},
        {"class": "Article", "id": id(2), "properties": {}, "result": {"status": "SUCCESS"}},
    ]);
    let (base, requests) = scripted(vec![(200, answer.to_string())]);
    let w = Weaviate::new(&base, &fast()).expect("client");
    let outcomes = w
        .upsert(&[object("Article", 1), object("Article", 2)])
        .expect("upsert");
    assert!(
        matches!(&outcomes[0], Outcome::Rejected(m) if m.contains("no result")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Written);
    let sent = requests.recv().expect("request");
    assert!(
        sent.head.starts_with("POST /v1/batch/objects HTTP/1.1"),
        "{}",
        sent.head
    );
    let body: Value = serde_json::from_str(&sent.body).expect("a JSON body");
    assert_eq!(body["objects"][0]["id"], json!(id(1)));
    assert_eq!(body["objects"][1]["id"], json!(id(2)));
    // Judged from the answer, not retried.
    assert!(requests.try_recv().is_err());
}

#[test]
fn delete_where_picks_the_value_key_from_the_class() {
    let class = json!({
        "class": "Article",
        "properties": [
            {"name": "score", "dataType": ["number"]},
            {"name": "published", "dataType": ["date"]},
            {"name": "n", "dataType": ["int"]}
        ]
    });
    let deleted = json!({"results": {"matches": 1, "limit": 10000, "successful": 1, "failed": 0}});
    let (base, requests) = scripted(vec![
        (200, class.to_string()),
        (200, deleted.to_string()),
        (200, class.to_string()),
        (200, deleted.to_string()),
        (200, class.to_string()),
        (200, deleted.to_string()),
    ]);
    let w = Weaviate::new(&base, &fast()).expect("client");
    for (property, value, key) in [
        ("score", json!(2), "valueNumber"),
        ("published", json!("2024-01-02T03:04:05Z"), "valueDate"),
        ("N", json!(7), "valueInt"),
    ] {
        let filter = eq(property, value.clone());
        assert_eq!(
            w.delete_where("article", None, &filter)
                .expect("delete_where"),
            1
        );
        let read = requests.recv().expect("class read");
        assert!(
            read.head.starts_with("GET /v1/schema/Article HTTP/1.1"),
            "{}",
            read.head
        );
        let delete = requests.recv().expect("delete");
        assert!(
            delete.head.starts_with("DELETE /v1/batch/objects HTTP/1.1"),
            "{}",
            delete.head
        );
        let body: Value = serde_json::from_str(&delete.body).expect("a JSON body");
        assert_eq!(body["match"]["class"], "Article");
        assert_eq!(
            body["match"]["where"],
            json!({"path": [property.to_lowercase()], "operator": "Equal", key: value}),
            "{property}"
        );
    }
}

#[test]
fn delete_where_by_id_and_on_an_unknown_class() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    let objects: Vec<Object> = (0..5).map(|i| object("Article", i)).collect();
    w.upsert(&objects).expect("upsert");
    let by_id = eq("id", json!(id(3).to_uppercase()));
    assert_eq!(w.delete_where("Article", None, &by_id).expect("delete"), 1);
    assert_eq!(w.delete_where("Article", None, &by_id).expect("again"), 0);
    assert!(get_article(&w, 3, false).is_none());
    assert_eq!(server.object_count("Article", None), 4);
    // No object has an id that is no UUID.
    let not_an_id = eq("_id", json!("x"));
    assert_eq!(
        w.delete_where("Article", None, &not_an_id).expect("delete"),
        0
    );
    assert_eq!(server.object_count("Article", None), 4);

    // An unknown class is NotFound before any delete is sent.
    let before = server.requests(Route::BatchDelete);
    let err = w
        .delete_where("Missing", None, &by_id)
        .expect_err("unknown class");
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
    assert_eq!(server.requests(Route::BatchDelete), before);
}

#[test]
fn exists_checks_every_id_first_and_an_unknown_class_has_nothing() {
    let server = server();
    let w = client(&server);
    create_article(&w);
    w.upsert(&[object("Article", 1)]).expect("upsert");

    // A malformed id anywhere in the list: Invalid, and nothing is asked.
    let before = server.requests(Route::Any);
    let err = w
        .exists("Article", None, &[id(1), id(2), "not-a-uuid".into()])
        .expect_err("bad id");
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(err.message.contains("not-a-uuid"), "{}", err.message);
    assert_eq!(server.requests(Route::Any), before);

    assert_eq!(
        w.exists("Nope", None, &[id(1), id(2)]).expect("exists"),
        [false, false]
    );
    assert_eq!(
        w.exists("Nope", Some("t"), &[id(1)]).expect("exists"),
        [false]
    );
    // A name no collection can have holds nothing, and is not sent.
    let before = server.requests(Route::Any);
    assert_eq!(w.exists("No-pe", None, &[id(1)]).expect("exists"), [false]);
    assert_eq!(server.requests(Route::Any), before);

    // A server with no collection at all cannot answer GraphQL (a 422): nothing exists.
    let (base, requests) = scripted(vec![(
        422,
        r#"{"error":[{"message":"no graphql provider present, this is most likely because no schema is present. Import a schema first!"}]}"#.to_owned(),
    )]);
    let w = Weaviate::new(&base, &fast()).expect("client");
    assert_eq!(w.exists("Nope", None, &[id(1)]).expect("exists"), [false]);
    let sent = requests.recv().expect("graphql");
    assert!(sent.head.starts_with("POST /v1/graphql "), "{}", sent.head);
    let query: Value = serde_json::from_str(&sent.body).expect("json body");
    let query = query["query"].as_str().expect("query");
    assert!(
        query.contains(&format!(
            "Nope(limit: 1, where: {{path: [\"id\"], operator: ContainsAny, valueTextArray: [\"{}\"]}})",
            id(1)
        )),
        "{query}"
    );

    // An unknown class is a GraphQL error (HTTP 200): nothing exists. Other GraphQL errors
    // are errors.
    let (base, _requests) = scripted(vec![
        (
            200,
            r#"{"errors":[{"locations":[{"column":9,"line":1}],"message":"Cannot query field \"Nope\" on type \"GetObjectsObj\".","path":null}]}"#.to_owned(),
        ),
        (
            200,
            r#"{"data":{"Get":{"Doc":null}},"errors":[{"locations":null,"message":"tenant not found: \"t9\"","path":["Get","Doc"]}]}"#.to_owned(),
        ),
    ]);
    let w = Weaviate::new(&base, &fast()).expect("client");
    assert_eq!(w.exists("Nope", None, &[id(1)]).expect("exists"), [false]);
    let err = w
        .exists("Doc", Some("t9"), &[id(1)])
        .expect_err("graphql error");
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(err.message.contains("tenant not found"), "{}", err.message);
}

#[test]
fn exists_asks_graphql_for_a_hundred_ids_at_a_time() {
    let server = server();
    let w = client(&server);
    w.create_class(&json!({
        "class": "Doc",
        "vectorizer": "none",
        "multiTenancyConfig": {"enabled": true},
        "properties": [{"name": "title", "dataType": ["text"]}]
    }))
    .expect("create Doc");
    w.create_tenants("Doc", &[Tenant::new("alpha"), Tenant::new("beta")])
        .expect("tenants");
    let mut objects = Vec::new();
    for (range, tenant) in [(0..130, "alpha"), (1000..1010, "beta")] {
        for i in range {
            let mut o = object("Doc", i);
            o.properties.retain(|k, _| k == "title");
            o.tenant = Some(tenant.into());
            objects.push(o);
        }
    }
    let outcomes = w.upsert(&objects).expect("upsert");
    assert_all_written(&outcomes);

    // 250 ids: 130 in alpha, 70 nowhere, 10 in beta, 40 nowhere; some in other forms.
    let asked: Vec<String> = (0..200)
        .chain(1000..1050)
        .map(|i| match i % 7 {
            0 => id(i).to_uppercase(),
            1 => id(i).replace('-', ""),
            _ => id(i),
        })
        .collect();
    assert_eq!(asked.len(), 250);
    let (any, graphql, object) = (
        server.requests(Route::Any),
        server.requests(Route::GraphQl),
        server.requests(Route::Object),
    );
    let got = w.exists("doc", Some("alpha"), &asked).expect("exists");
    let want: Vec<bool> = (0..200).chain(1000..1050).map(|i| i < 130).collect();
    assert_eq!(got, want);
    // Three GraphQL queries (100, 100 and 50 ids), and nothing else: no HEAD per id.
    assert_eq!(server.requests(Route::GraphQl) - graphql, 3);
    assert_eq!(server.requests(Route::Object) - object, 0);
    assert_eq!(server.requests(Route::Any) - any, 3);

    // The same id asked twice is looked up once, and answered twice.
    let before = server.requests(Route::GraphQl);
    assert_eq!(
        w.exists(
            "Doc",
            Some("beta"),
            &[id(1000), id(1000).to_uppercase(), id(3)]
        )
        .expect("exists"),
        [true, true, false]
    );
    assert_eq!(server.requests(Route::GraphQl) - before, 1);

    // The tenant is required, and must exist.
    let err = w.exists("Doc", None, &[id(1)]).expect_err("no tenant");
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    let err = w
        .exists("Doc", Some("gamma"), &[id(1)])
        .expect_err("unknown tenant");
    assert!(err.message.contains("tenant not found"), "{}", err.message);
}
