//! The server: a listener thread, one thread per connection (keep-alive), fault injection
//! between reading a request and answering it, and a shutdown on drop that closes every
//! socket and joins every thread, so a test never leaks a port or a thread.

use crate::api;
use crate::config::Config;
use crate::ctx::{lock, Shared};
use crate::faults::{Fault, Faults, Route};
use crate::http::{self, ReadError, Request, Response};
use crate::state::State;
use crate::util::{format_uuid, parse_uuid, upper_first};
use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the connections share: what requests see, and what stopping the server needs.
struct Running {
    shared: Shared,
    stopping: Mutex<bool>,
    wake: Condvar,
    conns: Mutex<Connections>,
}

#[derive(Default)]
struct Connections {
    closed: bool,
    next_id: u64,
    /// A handle on every open socket, so that shutdown can close them under their threads.
    streams: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

/// How a request is answered.
enum Outcome {
    Answer(Response),
    /// Send part of this response, then close.
    Truncate(Response),
    /// Send this response's head, then its body in parts, with a pause before each.
    Trickle(Response, usize, Duration),
    /// Close without answering.
    Hangup,
}

impl Running {
    fn stopping(&self) -> bool {
        *lock(&self.stopping)
    }

    /// Sleeps for `d`, or less if the server stops meanwhile.
    fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut stopped = lock(&self.stopping);
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            stopped = match self.wake.wait_timeout(stopped, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    fn dispatch(&self, req: &Request) -> Outcome {
        let route = Route::of(&req.method, &req.path);
        let (fault, delay) = lock(&self.shared.faults).on_request(route);
        if !delay.is_zero() {
            self.sleep(delay);
            // A delay cut short by the server stopping ends without an answer.
            if self.stopping() {
                return Outcome::Hangup;
            }
        }
        match fault {
            None => Outcome::Answer(self.handle(req)),
            Some(Fault::Status(code)) => Outcome::Answer(Response::error(
                code,
                format!("fake-weaviate: injected fault: status {code}"),
            )),
            Some(Fault::TooManyRequests { retry_after_secs }) => Outcome::Answer(
                Response::error(429, "fake-weaviate: injected fault: too many requests")
                    .with_header("Retry-After", retry_after_secs.to_string()),
            ),
            Some(Fault::DropConnection) => Outcome::Truncate(self.handle(req)),
            Some(Fault::Hangup) => Outcome::Hangup,
            Some(Fault::Trickle { pieces, gap }) => {
                Outcome::Trickle(self.handle(req), pieces.max(1), gap)
            }
            Some(Fault::Delay(d)) => {
                self.sleep(d);
                if self.stopping() {
                    return Outcome::Hangup;
                }
                Outcome::Answer(self.handle(req))
            }
        }
    }

    /// Runs the handler; a panic (a bug here, never the client's fault) becomes a 500.
    fn handle(&self, req: &Request) -> Response {
        catch_unwind(AssertUnwindSafe(|| api::handle(&self.shared, req))).unwrap_or_else(|_| {
            Response::error(
                500,
                "fake-weaviate: internal error while handling the request",
            )
        })
    }
}

/// A running test server. Dropping it stops it.
pub struct Server {
    running: Arc<Running>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts a server on a free port of 127.0.0.1.
    pub fn start(config: Config) -> io::Result<Server> {
        Server::bind("127.0.0.1:0", config)
    }

    /// Starts a server on `addr` (e.g. `"0.0.0.0:8080"`).
    pub fn bind(addr: &str, config: Config) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let host = match loopback_if_unspecified(addr) {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let running = Arc::new(Running {
            shared: Shared {
                config,
                state: Mutex::new(State::default()),
                faults: Mutex::new(Faults::default()),
                base_url: format!("http://{host}:{}", addr.port()),
            },
            stopping: Mutex::new(false),
            wake: Condvar::new(),
            conns: Mutex::new(Connections::default()),
        });
        let acceptor = {
            let running = Arc::clone(&running);
            thread::Builder::new()
                .name("fake-weaviate-accept".into())
                .spawn(move || accept_loop(&running, &listener))?
        };
        Ok(Server {
            running,
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// The base URL, without `/v1`: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.running.shared.base_url.clone()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next `n` requests to `route` get `fault`.
    pub fn fail_next(&self, route: Route, n: usize, fault: Fault) {
        self.fail_after(route, 0, n, fault);
    }

    /// Lets `skip` requests to `route` through, then gives the `n` after them `fault` (for
    /// example: fail the third cursor page with `fail_after(Route::Objects, 2, 1, ...)`).
    pub fn fail_after(&self, route: Route, skip: usize, n: usize, fault: Fault) {
        lock(&self.running.shared.faults).arm(route, skip, n, fault);
    }

    /// Inside `POST /v1/batch/objects` (still a 200), objects with these ids are `FAILED` with
    /// `message` and not stored, every time, until [`Server::clear_faults`].
    pub fn reject_objects(&self, ids: impl IntoIterator<Item = String>, message: &str) {
        let mut faults = lock(&self.running.shared.faults);
        for id in ids {
            let key = parse_uuid(&id)
                .map(|u| format_uuid(&u))
                .unwrap_or_else(|_| id.to_ascii_lowercase());
            faults.reject(key, message);
        }
    }

    /// Disarms every fault, delay and rejection. Request counts are kept.
    pub fn clear_faults(&self) {
        lock(&self.running.shared.faults).clear();
    }

    /// Delays every response on `route` by `d` (`Duration::ZERO` removes the delay).
    pub fn delay(&self, route: Route, d: Duration) {
        lock(&self.running.shared.faults).set_delay(route, d);
    }

    /// How many requests `route` has received, faulted ones included.
    pub fn requests(&self, route: Route) -> u64 {
        lock(&self.running.shared.faults).requests(route)
    }

    /// How many objects a class (of a tenant, for multi-tenant classes) holds; 0 if the class
    /// or tenant does not exist.
    pub fn object_count(&self, class: &str, tenant: Option<&str>) -> usize {
        let state = lock(&self.running.shared.state);
        state
            .classes
            .get(&upper_first(class))
            .map_or(0, |c| c.count(tenant.unwrap_or("")))
    }

    /// Blocks until the server stops, which for the binary means until it is killed.
    pub fn wait(mut self) {
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        *lock(&self.running.stopping) = true;
        self.running.wake.notify_all();
        let threads = {
            let mut conns = lock(&self.running.conns);
            conns.closed = true;
            for s in conns.streams.values() {
                let _ = s.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut conns.threads)
        };
        // Wake the acceptor, blocked in accept(), so that it sees `closed` and returns.
        let wake = loopback_if_unspecified(self.addr);
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        for h in threads {
            let _ = h.join();
        }
    }
}

/// A wildcard address (`0.0.0.0`, `::`) is reached through the loopback of its family.
fn loopback_if_unspecified(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

fn accept_loop(running: &Arc<Running>, listener: &TcpListener) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(_) if running.stopping() => return,
            Err(_) => {
                // Out of file descriptors or the like: wait rather than spin.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let mut conns = lock(&running.conns);
        if conns.closed {
            return;
        }
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let id = conns.next_id;
        conns.next_id += 1;
        conns.streams.insert(id, handle);
        conns.threads.retain(|t| !t.is_finished());
        let worker = Arc::clone(running);
        let spawned = thread::Builder::new()
            .name("fake-weaviate-conn".into())
            .spawn(move || serve_connection(&worker, stream, id));
        match spawned {
            Ok(t) => conns.threads.push(t),
            Err(_) => {
                conns.streams.remove(&id);
            }
        }
    }
}

fn serve_connection(running: &Running, stream: TcpStream, id: u64) {
    let _ = stream.set_nodelay(true);
    if let Ok(read_half) = stream.try_clone() {
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        converse(running, &mut reader, &mut writer);
        let _ = writer.flush();
        let _ = writer.shutdown(Shutdown::Both);
    }
    lock(&running.conns).streams.remove(&id);
}

/// Reads and answers requests on one connection until it closes or must be closed.
fn converse(running: &Running, reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) {
    loop {
        let req = match http::read_request(reader, writer) {
            Ok(Some(req)) => req,
            Ok(None) | Err(ReadError::Io) => return,
            Err(ReadError::Bad(resp)) => {
                let _ = writer.write_all(&resp.to_bytes(false, false));
                return;
            }
        };
        let head = req.method == "HEAD";
        match running.dispatch(&req) {
            Outcome::Answer(resp) => {
                let keep = req.keep_alive && !running.stopping();
                if resp.write_to(writer, head, keep).is_err() || !keep {
                    return;
                }
            }
            Outcome::Truncate(resp) => {
                let bytes = resp.to_bytes(head, true);
                let body = if head { 0 } else { resp.body.len() };
                let head_len = bytes.len() - body;
                // Half the body, or half the head when there is no body: either way the
                // client cannot read a complete response.
                let cut = if body > 0 {
                    head_len + body / 2
                } else {
                    head_len / 2
                };
                let _ = writer.write_all(&bytes[..cut]);
                return;
            }
            Outcome::Trickle(resp, pieces, gap) => {
                // The head at once, then the body in parts.
                let bytes = resp.to_bytes(head, false);
                let body = if head { 0 } else { resp.body.len() };
                let (head_bytes, body_bytes) = bytes.split_at(bytes.len() - body);
                if writer.write_all(head_bytes).is_err() {
                    return;
                }
                let size = body.div_ceil(pieces).max(1);
                for piece in body_bytes.chunks(size) {
                    std::thread::sleep(gap);
                    if writer
                        .write_all(piece)
                        .and_then(|()| writer.flush())
                        .is_err()
                    {
                        return;
                    }
                }
                return;
            }
            Outcome::Hangup => return,
        }
    }
}
