//! The `fake-weaviate` binary serves until killed and says where on stderr.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[test]
fn binary_serves_and_prints_its_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-weaviate"))
        .args([
            "--port",
            "0",
            "--api-key",
            "k1",
            "--no-auto-schema",
            "--max-results",
            "50",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fake-weaviate");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let addr = url.trim_start_matches("http://");
    let ask = |request: &str| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let live = ask("GET /v1/.well-known/live HTTP/1.1\r\nConnection: close\r\n\r\n");
    let meta = ask("GET /v1/meta HTTP/1.1\r\nConnection: close\r\n\r\n");
    let cursor = ask("GET /v1/objects?class=A&limit=51 HTTP/1.1\r\nAuthorization: Bearer k1\r\nConnection: close\r\n\r\n");
    let object = ask("POST /v1/objects HTTP/1.1\r\nAuthorization: Bearer k1\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"class\":\"A\"}");
    let _ = child.kill();
    let _ = child.wait();
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    assert!(meta.starts_with("HTTP/1.1 401"), "{meta}");
    assert!(
        cursor.starts_with("HTTP/1.1 422"),
        "max results 50: {cursor}"
    );
    assert!(
        object.contains("not found in schema"),
        "no auto-schema: {object}"
    );
}
