//! A minimal HTTP/1.1 client over std::net for the tests: keep-alive, Content-Length bodies,
//! and transport errors surfaced as `Err` (which the fault tests need to see).

use fake_weaviate::{Config, Server};
use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `error[0].message` of a Weaviate ErrorResponse.
    pub fn message(&self) -> String {
        let v = self.json();
        v.pointer("/error/0/message")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no error message in {v}"))
            .to_string()
    }
}

pub struct Client {
    addr: String,
    pub key: Option<String>,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
}

impl Client {
    pub fn new(server: &Server) -> Client {
        Client {
            addr: server.addr().to_string(),
            key: None,
            conn: None,
        }
    }

    fn connect(&mut self) -> io::Result<&mut (BufReader<TcpStream>, TcpStream)> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            self.conn = Some((BufReader::new(stream.try_clone()?), stream));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// Sends raw bytes on a fresh connection and reads one response.
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<Reply> {
        self.conn = None;
        let conn = self.connect()?;
        conn.1.write_all(bytes)?;
        let reply = read_reply(&mut conn.0, false);
        self.conn = None;
        reply
    }

    pub fn try_send(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> io::Result<Reply> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        if let Some(key) = &self.key {
            head.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.unwrap_or(&[]));
        let result = (|| {
            let conn = self.connect()?;
            conn.1.write_all(&bytes)?;
            read_reply(&mut conn.0, method == "HEAD")
        })();
        match &result {
            Ok(r) if r.header("connection") != Some("close") => {}
            _ => self.conn = None,
        }
        result
    }

    pub fn send(&mut self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialise"));
        self.try_send(method, path, bytes.as_deref())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None)
    }
    pub fn head(&mut self, path: &str) -> Reply {
        self.send("HEAD", path, None)
    }
    pub fn post(&mut self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body))
    }
    pub fn put(&mut self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body))
    }
    pub fn patch(&mut self, path: &str, body: &Value) -> Reply {
        self.send("PATCH", path, Some(body))
    }
    pub fn delete(&mut self, path: &str) -> Reply {
        self.send("DELETE", path, None)
    }
    pub fn delete_with(&mut self, path: &str, body: &Value) -> Reply {
        self.send("DELETE", path, Some(body))
    }
    /// POSTs a body given as JSON text, for exact number literals.
    pub fn post_text(&mut self, path: &str, body: &str) -> Reply {
        self.try_send("POST", path, Some(body.as_bytes()))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>, head_only: bool) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before a response",
        ));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed inside the head",
            ));
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad header"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; if head_only { 0 } else { len }];
    reader.read_exact(&mut body)?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub fn start() -> (Server, Client) {
    start_with(Config::default())
}

pub fn start_with(config: Config) -> (Server, Client) {
    let server = Server::start(config).expect("start the server");
    let client = Client::new(&server);
    (server, client)
}

/// Creates a class and asserts it worked.
pub fn create_class(c: &mut Client, body: Value) -> Value {
    let r = c.post("/v1/schema", &body);
    assert_eq!(r.status, 200, "create class: {}", r.text());
    r.json()
}

/// A batch of objects, asserting every item succeeded.
pub fn batch_ok(c: &mut Client, objects: Vec<Value>) -> Value {
    let r = c.post(
        "/v1/batch/objects",
        &serde_json::json!({ "objects": objects }),
    );
    assert_eq!(r.status, 200, "batch: {}", r.text());
    let v = r.json();
    for item in v.as_array().expect("array") {
        assert_eq!(item["result"]["status"], "SUCCESS", "batch item: {item}");
    }
    v
}

/// The first error message in a batch item's `result`.
pub fn item_error(item: &Value) -> &Value {
    &item["result"]["errors"]["error"][0]["message"]
}

/// A deterministic UUID for test object `n`.
pub fn uuid(n: u32) -> String {
    format!("{n:08x}-0000-4000-8000-{:012x}", u64::from(n) * 7919)
}
