//! A small HTTP/1.1 server side: reading requests (Content-Length or chunked bodies,
//! `Expect: 100-continue`, keep-alive) and writing responses. It is hand-written so that a
//! fault can stop writing a response at any byte, which no framework allows.

use serde_json::{json, Value};
use std::io::{self, BufRead, Read, Write};

/// Request heads larger than this are refused: nothing a client of Weaviate sends comes close.
const MAX_HEAD: u64 = 64 * 1024;
/// Request bodies larger than this are refused rather than buffered.
const MAX_BODY: u64 = 1024 * 1024 * 1024;

pub(crate) struct Request {
    pub method: String,
    /// The percent-decoded path, e.g. `/v1/objects/Article/…`.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter (`?after=` gives `Some("")`).
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with no body: 204s, HEADs, and the many 404s Weaviate sends bare.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, value: &Value) -> Response {
        // Serialising a Value cannot fail: its keys are strings and its numbers finite.
        Response::json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
    }

    /// A JSON body written by the caller.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body,
        }
    }

    /// A handler error in Weaviate's `ErrorResponse` shape: `{"error":[{"message":...}]}`.
    pub fn error(status: u16, message: impl Into<String>) -> Response {
        Response::json(status, &json!({"error": [{"message": message.into()}]}))
    }

    /// A schema 422 in the `RestrictionViolationResponse` shape of Weaviate ≥ 1.38: the
    /// ErrorResponse plus `"allowed": null`.
    pub fn restriction(message: impl Into<String>) -> Response {
        Response::json(
            422,
            &json!({"allowed": null, "error": [{"message": message.into()}]}),
        )
    }

    /// A go-openapi framework error: `{"code":...,"message":...}` (unknown path, wrong method,
    /// unparsable body, swagger validation, auth).
    pub fn framework(status: u16, code: u16, message: impl Into<String>) -> Response {
        Response::json(status, &json!({"code": code, "message": message.into()}))
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The status line and headers, ending with the empty line.
    pub fn head_bytes(&self, head_only: bool, keep_alive: bool) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let len = if head_only { 0 } else { self.body.len() };
        out.push_str(&format!("Content-Length: {len}\r\n"));
        out.push_str(if keep_alive {
            "Connection: keep-alive\r\n\r\n"
        } else {
            "Connection: close\r\n\r\n"
        });
        out.into_bytes()
    }

    /// The whole response as bytes: status line, headers, and (unless it answers a HEAD) body.
    pub fn to_bytes(&self, head_only: bool, keep_alive: bool) -> Vec<u8> {
        let mut bytes = self.head_bytes(head_only, keep_alive);
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        bytes
    }

    /// Writes the response; a large body is written after the head rather than copied
    /// behind it.
    pub fn write_to<W: Write>(
        &self,
        w: &mut W,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<()> {
        if head_only || self.body.len() < 64 * 1024 {
            return w.write_all(&self.to_bytes(head_only, keep_alive));
        }
        w.write_all(&self.head_bytes(head_only, keep_alive))?;
        w.write_all(&self.body)
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Why a request could not be read.
pub(crate) enum ReadError {
    /// The connection failed or closed mid-request: nothing can be answered.
    Io,
    /// The bytes are not an acceptable request: answer with this and close.
    Bad(Response),
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Io
    }
}

fn bad(status: u16, message: &str) -> ReadError {
    ReadError::Bad(Response::framework(status, status, message))
}

/// Reads one request. `Ok(None)` is a connection closed cleanly between requests.
/// `interim` receives the `100 Continue` a client waiting on `Expect` needs before it sends
/// the body (curl does this for bodies over 1 KiB).
pub(crate) fn read_request<R: BufRead, W: Write>(
    reader: &mut R,
    interim: &mut W,
) -> Result<Option<Request>, ReadError> {
    let mut head = Vec::new();
    let mut limited = reader.take(MAX_HEAD);
    // Skip blank lines a client may send between requests (RFC 9112 §2.2).
    loop {
        head.clear();
        if limited.read_until(b'\n', &mut head)? == 0 {
            return Ok(None);
        }
        if head != b"\r\n" && head != b"\n" {
            break;
        }
    }
    let request_line = line_text(&head).ok_or_else(|| bad(400, "malformed request line"))?;
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && v.starts_with("HTTP/1.") => {
            (m.to_string(), t.to_string(), v.to_string())
        }
        _ => return Err(bad(400, "malformed request line")),
    };
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        if limited.read_until(b'\n', &mut line)? == 0 {
            if limited.limit() == 0 {
                return Err(bad(431, "request head too large"));
            }
            return Err(ReadError::Io);
        }
        if !line.ends_with(b"\n") {
            return Err(bad(431, "request head too large"));
        }
        let text = line_text(&line).ok_or_else(|| bad(400, "malformed header"))?;
        if text.is_empty() {
            break;
        }
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| bad(400, "malformed header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let connection = find("connection").unwrap_or_default();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let chunked = find("transfer-encoding").is_some_and(|te| te.contains("chunked"));
    let length = match find("content-length") {
        Some(v) if !chunked => Some(
            v.parse::<u64>()
                .map_err(|_| bad(400, "invalid Content-Length"))?,
        ),
        _ => None,
    };
    if length.unwrap_or(0) > MAX_BODY {
        return Err(bad(413, "request body too large"));
    }
    let expects_continue = find("expect").is_some_and(|e| e == "100-continue");
    if expects_continue && (chunked || length.unwrap_or(0) > 0) {
        interim.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        interim.flush()?;
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let want = length.unwrap_or(0);
        // Room for the whole body up front, within reason: a client may announce more than
        // it sends.
        let mut body = Vec::with_capacity(want.min(64 << 20) as usize);
        reader.take(want).read_to_end(&mut body)?;
        if body.len() as u64 != want {
            return Err(ReadError::Io);
        }
        body
    };
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target.as_str(), None),
    };
    let query = raw_query
        .map(|q| {
            q.split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (percent_decode(k, true), percent_decode(v, true))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Request {
        method,
        path: percent_decode(raw_path, false),
        query,
        headers,
        body,
        keep_alive,
    }))
}

fn line_text(line: &[u8]) -> Option<&str> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    std::str::from_utf8(line).ok()
}

fn read_chunked<R: BufRead>(reader: &mut R) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        reader.take(1024).read_until(b'\n', &mut line)?;
        let text = line_text(&line).ok_or(ReadError::Io)?;
        let size_text = text.split(';').next().unwrap_or("").trim();
        let size =
            u64::from_str_radix(size_text, 16).map_err(|_| bad(400, "invalid chunk size"))?;
        if body.len() as u64 + size > MAX_BODY {
            return Err(bad(413, "request body too large"));
        }
        if size == 0 {
            // Trailer fields, if any, end with an empty line.
            loop {
                let mut trailer = Vec::new();
                if reader.take(MAX_HEAD).read_until(b'\n', &mut trailer)? == 0 {
                    return Err(ReadError::Io);
                }
                if line_text(&trailer).is_some_and(str::is_empty) {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        reader.take(size).read_to_end(&mut body)?;
        if (body.len() - start) as u64 != size {
            return Err(ReadError::Io);
        }
        let mut crlf = Vec::new();
        reader.take(2).read_until(b'\n', &mut crlf)?;
        if line_text(&crlf) != Some("") {
            return Err(bad(400, "malformed chunk"));
        }
    }
}

/// Decodes `%XX` escapes (and `+` as a space in query strings). Invalid escapes stay as they
/// are; invalid UTF-8 is replaced, so a strange URL gets a 4xx later, never a panic.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn parse(raw: &[u8]) -> Result<Option<Request>, ReadError> {
        let mut reader = BufReader::new(raw);
        read_request(&mut reader, &mut Vec::new())
    }

    #[test]
    fn reads_content_length_and_query() {
        let req = parse(
            b"POST /v1/objects?class=A%20b&after=&x=1+2 HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        )
        .ok()
        .flatten()
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/objects");
        assert_eq!(req.query("class"), Some("A b"));
        assert_eq!(req.query("after"), Some(""));
        assert_eq!(req.query("x"), Some("1 2"));
        assert_eq!(req.body, b"{}");
        assert!(req.keep_alive);
    }

    #[test]
    fn reads_chunked_bodies() {
        let req = parse(
            b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
        )
        .ok()
        .flatten()
        .unwrap();
        assert_eq!(req.body, b"abcde");
        assert!(!req.keep_alive);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(matches!(parse(b"nonsense\r\n\r\n"), Err(ReadError::Bad(_))));
        assert!(matches!(parse(b""), Ok(None)));
        assert!(matches!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"),
            Err(ReadError::Bad(_))
        ));
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"),
            Err(ReadError::Io)
        ));
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("a%2Fb%", false), "a/b%");
    }
}
