//! Reads an ely stream: one thread decompresses and cuts the input into chunks of whole lines
//! tagged with their first line number; rayon workers classify (and optionally normalize) each
//! chunk's lines; the calling thread takes the chunks back in order, checks the structure
//! (header, objects, trailer), counts and hashes each section, and hands events to the caller.
//!
//! Memory is bounded: a fixed pool of chunk buffers circulates between the three stages, so
//! the reader can never run more than the pool's size ahead of the consumer.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};

use crate::classify::{Classifier, Kind};
use crate::compression::{self, Compression, Detected};
use crate::error::StreamError;
use crate::format::{same_collection, Control, Header, SectionHash, Trailer, HASH_ALGORITHM};
use crate::normalize;
use ely_vocab::{Object, ObjectLine};

/// How to read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Longest line accepted; a longer one is a bad line.
    pub max_line_bytes: usize,
    /// Check trailers, and treat truncated or corrupt input as an error.
    pub verify: bool,
    /// Hand bad lines to the caller as [`Event::Bad`] instead of stopping.
    pub skip_bad: bool,
    /// Parser threads.
    pub threads: usize,
    /// Also produce the normalized form of each object line.
    pub normalize: bool,
    /// Target size of the chunks handed to the parser threads.
    pub chunk_bytes: usize,
    /// Also read each object line into an [`Object`] on the parser threads, in the same
    /// pass that checks it ([`Event::Object`]'s `object`): one parse per line.
    pub objects: bool,
    /// Formats whose numbers may be wider than float32 (Parquet other tools wrote) round
    /// vector values to float32 rather than rejecting an object whose values would change.
    pub lossy: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_line_bytes: 256 << 20,
            verify: true,
            skip_bad: false,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            normalize: false,
            chunk_bytes: 1 << 20,
            objects: false,
            lossy: false,
        }
    }
}

/// Live counters, readable from another thread (progress display).
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes_in: AtomicU64,
    /// Objects read (or, for a backup, written to the stream).
    pub objects: AtomicU64,
    /// Objects a writer has finished with (written, unchanged, skipped or rejected); at most
    /// `objects`.
    pub done: AtomicU64,
}

/// What was read; filled in as reading goes, so it is meaningful after an error too.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub compression: Option<Compression>,
    pub sections: Vec<SectionSummary>,
    pub lines: u64,
    pub objects: u64,
    pub bad_lines: u64,
    /// Bytes after decompression.
    pub bytes: u64,
    /// Things worth telling that did not stop the run (only with verification off).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SectionSummary {
    /// The header's collection; `None` for objects without a header.
    pub collection: Option<String>,
    pub objects: u64,
    /// A trailer closed the section and its count and hash matched.
    pub verified: bool,
    /// The trailer's hash covered the header line too (format version 2 and later).
    pub header_hashed: bool,
}

impl Summary {
    /// True when there was at least one section and every one ended with a trailer that
    /// matched.
    pub fn verified(&self) -> bool {
        !self.sections.is_empty() && self.sections.iter().all(|s| s.verified)
    }
}

/// One thing the caller is told about, in stream order.
// Events are handed over one at a time and never stored, so the size of the object variant
// costs nothing; boxing it would cost an allocation per object.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event<'a> {
    Header {
        header: &'a Header,
        line: &'a [u8],
        number: u64,
    },
    /// An object. `line` is the line as read (a source of another format has none);
    /// `normalized` is set when [`ReadOptions::normalize`] is, `object` when
    /// [`ReadOptions::objects`] is: the object with where its vectors' text is in `line`, or
    /// why the line, valid as an object line, still cannot be read as one (a repeated
    /// member, say).
    Object {
        line: Option<&'a [u8]>,
        normalized: Option<&'a [u8]>,
        object: Option<Result<ObjectLine, String>>,
        number: u64,
    },
    /// A section ended: with its (verified, when verifying) trailer, or without one (a
    /// headerless section, or a truncated one read with verification off).
    SectionEnd { trailer: Option<&'a Trailer> },
    /// A bad line, only with [`ReadOptions::skip_bad`]. `too_long` gives the full length of a
    /// line of which only the start is in `line`.
    Bad {
        line: &'a [u8],
        number: u64,
        reason: &'a str,
        too_long: Option<u64>,
    },
}

/// An input stream with its name for messages (`-` is stdin).
pub struct Input {
    name: String,
    raw: Box<dyn Read + Send>,
}

impl Input {
    /// Opens a path, or stdin for `None` or `-`.
    pub fn open(path: Option<&Path>) -> io::Result<Input> {
        match path {
            None => Ok(Self::stdin()),
            Some(p) if p.as_os_str() == "-" => Ok(Self::stdin()),
            Some(p) => {
                let f = File::open(p)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                Ok(Input {
                    name: p.display().to_string(),
                    raw: Box::new(f),
                })
            }
        }
    }

    pub fn stdin() -> Input {
        Input {
            name: "-".into(),
            raw: Box::new(io::stdin()),
        }
    }

    pub fn from_reader(name: impl Into<String>, reader: impl Read + Send + 'static) -> Input {
        Input {
            name: name.into(),
            raw: Box::new(reader),
        }
    }

    /// Its first `n` bytes (fewer when it is shorter), and the input that still gives them:
    /// a pipe can be looked into before deciding how to read it.
    pub fn peek(self, n: usize) -> io::Result<(Vec<u8>, Input)> {
        let mut raw = self.raw;
        let mut head = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match raw.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        head.truncate(got);
        let replay = io::Cursor::new(head.clone()).chain(raw);
        Ok((
            head,
            Input {
                name: self.name,
                raw: Box::new(replay),
            },
        ))
    }

    /// The bytes as they come (not decompressed).
    pub fn into_reader(self) -> Box<dyn Read + Send> {
        self.raw
    }

    /// How messages name it: `<stdin>` or the path.
    pub fn display_name(&self) -> &str {
        if self.name == "-" {
            "<stdin>"
        } else {
            &self.name
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The input decompressed (the compression detected from its first bytes), counting the
    /// bytes read into `counters`.
    pub fn decoded(
        self,
        counters: Arc<Counters>,
    ) -> anyhow::Result<(Compression, Box<dyn Read + Send>)> {
        let name = self.display_name().to_owned();
        let mut raw = Counting {
            inner: self.raw,
            counters,
        };
        let mut magic = [0u8; 4];
        let mut n = 0;
        while n < magic.len() {
            match raw.read(&mut magic[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
            }
        }
        let compression = match compression::detect(&magic[..n]) {
            Detected::Stream(c) => c,
            Detected::Foreign(what) => {
                return Err(StreamError::unsupported(
                    &name,
                    format!("this is {what}; ely reads JSONL streams, plain or compressed with zstd, gzip or lz4"),
                )
                .into())
            }
        };
        let source = io::Cursor::new(magic[..n].to_vec()).chain(raw);
        Ok((compression, compression::decoder(compression, source)?))
    }
}

struct Counting<R> {
    inner: R,
    counters: Arc<Counters>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counters
            .bytes_in
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One line's place in its chunk and what it is.
#[derive(Debug)]
struct Line {
    number: u64,
    start: usize,
    end: usize,
    kind: Kind,
    normalized: Option<(usize, usize)>,
    object: Option<Result<ObjectLine, String>>,
}

/// A chunk's buffers; they go round reader -> worker -> consumer -> reader.
#[derive(Default)]
struct Chunk {
    first_line: u64,
    data: Vec<u8>,
    lines: Vec<Line>,
    normalized: Vec<u8>,
    /// The input ended inside this chunk's last line (no final newline).
    unterminated: bool,
}

enum Msg {
    Chunk(Chunk),
    /// A piece of a line over the limit, in order; it counts in its section's hash (the
    /// line was an object line to whoever wrote the trailer), and is not kept.
    TooLongPiece {
        number: u64,
        piece: Vec<u8>,
    },
    /// The end of that line.
    TooLong {
        number: u64,
        prefix: Vec<u8>,
        bytes: u64,
    },
    ReadError {
        error: io::Error,
        decoding: bool,
    },
    End,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads `input` to its end, calling `on_event` in stream order. Bad lines stop the run
/// (unless skipped), and so do truncated or corrupt input (unless verification is off).
pub fn read_stream<F>(
    input: Input,
    opts: &ReadOptions,
    counters: Arc<Counters>,
    summary: &mut Summary,
    mut on_event: F,
) -> anyhow::Result<()>
where
    F: FnMut(Event<'_>) -> anyhow::Result<()>,
{
    let name = input.display_name().to_owned();
    let (compression, decoded) = input.decoded(counters.clone())?;
    summary.compression = Some(compression);

    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ely-parse-{i}"))
        .build()?;
    let slots = threads * 2 + 2;
    let (free_tx, free_rx) = bounded::<Chunk>(slots);
    for _ in 0..slots {
        free_tx.send(Chunk::default()).ok();
    }
    let (done_tx, done_rx) = unbounded::<(u64, Msg)>();
    let reader_opts = opts.clone();
    std::thread::Builder::new()
        .name("ely-read".into())
        .spawn(move || {
            cut_into_chunks(
                decoded,
                compression != Compression::None,
                &reader_opts,
                &free_rx,
                &done_tx,
                &pool,
            )
        })?;

    let mut check = Structure {
        input: &name,
        opts,
        section: None,
        summary,
    };
    let mut pending: BTreeMap<u64, Msg> = BTreeMap::new();
    let mut next = 0u64;
    let mut drive = || -> anyhow::Result<()> {
        for (seq, msg) in done_rx.iter() {
            pending.insert(seq, msg);
            while let Some(msg) = pending.remove(&next) {
                next += 1;
                match msg {
                    Msg::Chunk(mut chunk) => {
                        check.chunk(&mut chunk, &mut on_event)?;
                        counters
                            .objects
                            .store(check.summary.objects, Ordering::Relaxed);
                        // A chunk grown around a huge line gives the memory back.
                        if chunk.data.capacity() > 8 * opts.chunk_bytes {
                            chunk.data = Vec::new();
                        }
                        if chunk.normalized.capacity() > 8 * opts.chunk_bytes {
                            chunk.normalized = Vec::new();
                        }
                        let _ = free_tx.send(chunk);
                    }
                    Msg::TooLongPiece { number, piece } => {
                        check.open_section(number).hash.add_part(&piece);
                    }
                    Msg::TooLong {
                        number,
                        prefix,
                        bytes,
                    } => {
                        check.open_section(number).hash.end_line();
                        check.summary.lines += 1;
                        let reason = format!(
                            "line is {bytes} bytes, longer than --max-line-bytes ({})",
                            opts.max_line_bytes
                        );
                        check.bad(&prefix, number, &reason, Some(bytes), false, &mut on_event)?;
                    }
                    Msg::ReadError { error, decoding } => {
                        if decoding {
                            let what =
                                format!("the {compression} data is truncated or corrupt ({error})");
                            if opts.verify {
                                return Err(StreamError::verification(&name, what).into());
                            }
                            check
                                .summary
                                .warnings
                                .push(format!("{name}: {what}; read up to there"));
                        } else {
                            return Err(
                                anyhow::Error::new(error).context(format!("reading {name}"))
                            );
                        }
                    }
                    Msg::End => return check.finish(&mut on_event),
                }
            }
        }
        anyhow::bail!("{name}: the reader stopped unexpectedly")
    };
    let result = drive();
    if result.is_err() {
        // The section being read when it stopped is reported too, unverified.
        if let Some(open) = check.section.take() {
            check.summary.sections.push(SectionSummary {
                collection: open.collection,
                objects: open.objects,
                verified: false,
                header_hashed: open.header_hashed,
            });
        }
    }
    result
}

/// The reader thread: fills chunk buffers with whole lines and hands them to the workers.
fn cut_into_chunks(
    mut src: Box<dyn Read + Send + '_>,
    decoding: bool,
    opts: &ReadOptions,
    free: &Receiver<Chunk>,
    done: &Sender<(u64, Msg)>,
    pool: &rayon::ThreadPool,
) {
    let mut seq = 0u64;
    let send = |seq: &mut u64, msg: Msg| {
        let ok = done.send((*seq, msg)).is_ok();
        *seq += 1;
        ok
    };
    let mut next_line = 1u64;
    let mut carry: Vec<u8> = Vec::new();
    let mut eof = false;
    let mut failure: Option<io::Error> = None;
    while !eof {
        let Ok(mut chunk) = free.recv() else { return };
        let buf = &mut chunk.data;
        buf.clear();
        buf.append(&mut carry);
        // What is carried over (after a too-long line) may already hold whole lines.
        let mut last_nl = memchr::memrchr(b'\n', buf);
        let mut too_long = false;
        loop {
            if last_nl.is_some() && buf.len() >= opts.chunk_bytes {
                break;
            }
            let old = buf.len();
            let want = opts.chunk_bytes.saturating_sub(old).max(64 * 1024);
            buf.resize(old + want, 0);
            match read_some(&mut src, &mut buf[old..]) {
                Ok(0) => eof = true,
                Ok(n) => {
                    if let Some(p) = memchr::memrchr(b'\n', &buf[old..old + n]) {
                        last_nl = Some(old + p);
                    }
                    buf.truncate(old + n);
                }
                Err(e) => {
                    failure = Some(e);
                    eof = true;
                }
            }
            if eof {
                buf.truncate(old);
                break;
            }
            let open = last_nl.map_or(0, |p| p + 1);
            if buf.len() - open > opts.max_line_bytes {
                too_long = true;
                break;
            }
        }
        // At the input's end the last line may lack its newline; after a read error it is a
        // fragment, and the error (not the fragment) is what gets reported.
        let whole = if eof && !too_long && failure.is_none() {
            buf.len()
        } else {
            last_nl.map_or(0, |p| p + 1)
        };
        carry.extend_from_slice(&buf[whole..]);
        buf.truncate(whole);
        chunk.first_line = next_line;
        chunk.unterminated =
            eof && !too_long && failure.is_none() && buf.last().is_some_and(|&b| b != b'\n');
        next_line += memchr::memchr_iter(b'\n', buf).count() as u64 + u64::from(chunk.unterminated);
        // Sent even when empty (a too-long line at its start): every buffer must come back
        // to the pool, or the reader would run out of them and wait forever.
        {
            let (normalize, objects, max_line) =
                (opts.normalize, opts.objects, opts.max_line_bytes);
            let my_seq = seq;
            let done = done.clone();
            seq += 1;
            pool.spawn(move || {
                parse_chunk(&mut chunk, normalize, objects, max_line);
                let _ = done.send((my_seq, Msg::Chunk(chunk)));
            });
        }
        if too_long {
            let number = next_line;
            let prefix = utf8_prefix(&carry, 1024);
            let mut bytes = carry.len() as u64;
            let mut piece = std::mem::take(&mut carry);
            if number == 1 && piece.starts_with(BOM) {
                piece.drain(..BOM.len());
            }
            // Skip the rest of the line, passing it on in pieces to be hashed, never whole.
            // The last byte of each piece is held back, in case it is the CR of a CRLF.
            let mut held = piece.pop();
            if !send(&mut seq, Msg::TooLongPiece { number, piece }) {
                return;
            }
            let mut skip = vec![0u8; 1024 * 1024];
            loop {
                let (n, end) = match read_some(&mut src, &mut skip) {
                    Ok(0) => {
                        eof = true;
                        (0, true)
                    }
                    Ok(n) => match memchr::memchr(b'\n', &skip[..n]) {
                        Some(p) => {
                            carry.extend_from_slice(&skip[p + 1..n]);
                            (p, true)
                        }
                        None => (n, false),
                    },
                    Err(e) => {
                        failure = Some(e);
                        eof = true;
                        (0, true)
                    }
                };
                bytes += n as u64;
                let mut piece = Vec::with_capacity(n + 1);
                piece.extend(held.take());
                piece.extend_from_slice(&skip[..n]);
                held = piece.pop();
                if end && held != Some(b'\r') {
                    piece.extend(held.take());
                }
                if !send(&mut seq, Msg::TooLongPiece { number, piece }) {
                    return;
                }
                if end {
                    break;
                }
            }
            if !send(
                &mut seq,
                Msg::TooLong {
                    number: next_line,
                    prefix,
                    bytes,
                },
            ) {
                return;
            }
            next_line += 1;
        }
    }
    if let Some(error) = failure {
        if !send(&mut seq, Msg::ReadError { error, decoding }) {
            return;
        }
    }
    send(&mut seq, Msg::End);
}

/// At most `max` bytes of `line`, ending on a character boundary when the line is UTF-8.
fn utf8_prefix(line: &[u8], max: usize) -> Vec<u8> {
    let cut = &line[..line.len().min(max)];
    match std::str::from_utf8(cut) {
        Err(e) if e.error_len().is_none() => cut[..e.valid_up_to()].to_vec(),
        _ => cut.to_vec(),
    }
}

fn read_some(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match src.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

thread_local! {
    static CLASSIFIER: std::cell::RefCell<Classifier> = std::cell::RefCell::new(Classifier::default());
}

/// A worker's job: split the chunk into lines and classify each (reading object lines into
/// objects when `objects` is set).
fn parse_chunk(chunk: &mut Chunk, normalize: bool, objects: bool, max_line: usize) {
    chunk.lines.clear();
    chunk.normalized.clear();
    CLASSIFIER.with(|c| {
        let mut classifier = c.borrow_mut();
        let data = &chunk.data;
        let mut start = if chunk.first_line == 1 && data.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let mut number = chunk.first_line;
        while start < data.len() {
            let nl = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
            let end = if nl > start && data[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &data[start..end];
            let mut object = None;
            let mut kind = if line.len() > max_line {
                Kind::Bad(format!(
                    "line is {} bytes, longer than --max-line-bytes ({max_line})",
                    line.len()
                ))
            } else if objects {
                let (kind, o) = decode(&mut classifier, line);
                object = o;
                kind
            } else {
                classifier.classify(line)
            };
            let mut normalized = None;
            if normalize && matches!(kind, Kind::Object { .. }) {
                let from = chunk.normalized.len();
                match normalize::object_line(line, &mut chunk.normalized) {
                    Ok(()) => normalized = Some((from, chunk.normalized.len())),
                    Err(e) => {
                        chunk.normalized.truncate(from);
                        kind = Kind::Bad(e);
                    }
                }
            }
            chunk.lines.push(Line {
                number,
                start,
                end,
                kind,
                normalized,
                object,
            });
            number += 1;
            start = nl + 1;
        }
    });
}

/// Reads an object line into an object and classifies it in one parse. Lines the one-pass
/// reader does not take (not objects, or objects only serde_json can judge, all rare) are
/// classified as `convert` classifies them, and an object line is then read by serde_json,
/// whose error says why it is not an object after all.
fn decode(classifier: &mut Classifier, line: &[u8]) -> (Kind, Option<Result<ObjectLine, String>>) {
    if let Some(read) = Object::from_line(line) {
        let class = read.has_class.then(|| read.object.class.as_str().into());
        return (Kind::Object { class }, Some(Ok(read)));
    }
    let kind = classifier.classify(line);
    let object = matches!(kind, Kind::Object { .. }).then(|| Object::from_serde(line));
    (kind, object)
}

/// Whether a line that is not a good line was a header: it begins as ely writes headers
/// (`{"ely":"header"`), and is not merely of a newer format version than this ely reads.
fn damaged_header(raw: &[u8], reason: &str) -> bool {
    starts_as_header(raw) && !reason.starts_with("header has format version")
}

/// Whether a line begins as ely writes headers (`{"ely":"header"`).
fn starts_as_header(raw: &[u8]) -> bool {
    let start = raw
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(raw.len());
    raw[start..].starts_with(br#"{"ely":"header""#)
}

struct Open {
    collection: Option<String>,
    header_line: u64,
    /// Every object line, bad ones included (as whoever wrote the trailer counted them).
    hash: SectionHash,
    /// The object lines that were objects.
    objects: u64,
    /// The bad line that opened this section, when one did (a header damaged past reading).
    opened_by_bad: Option<u64>,
    /// The hash started with the header line.
    header_hashed: bool,
}

/// The sequential half: stream structure, counts and hashes, events.
struct Structure<'a> {
    input: &'a str,
    opts: &'a ReadOptions,
    section: Option<Open>,
    summary: &'a mut Summary,
}

impl Structure<'_> {
    /// The open section; lines before any header open one without a collection.
    fn open_section(&mut self, number: u64) -> &mut Open {
        self.section.get_or_insert_with(|| Open {
            collection: None,
            header_line: number,
            hash: SectionHash::default(),
            objects: 0,
            opened_by_bad: None,
            header_hashed: false,
        })
    }

    fn chunk<F>(&mut self, chunk: &mut Chunk, on_event: &mut F) -> anyhow::Result<()>
    where
        F: FnMut(Event<'_>) -> anyhow::Result<()>,
    {
        let last = chunk.lines.len().saturating_sub(1);
        for (i, line) in chunk.lines.iter_mut().enumerate() {
            let raw = &chunk.data[line.start..line.end];
            self.summary.lines += 1;
            self.summary.bytes += (line.end - line.start + 1) as u64;
            match &line.kind {
                Kind::Blank => {}
                Kind::Object { class } => {
                    let open = self.open_section(line.number);
                    open.hash.add(raw);
                    if let (Some(class), Some(coll)) = (class, &open.collection) {
                        if !same_collection(class, coll) {
                            let reason = format!("object of class {class:?} inside the section of collection {coll:?}");
                            self.bad(raw, line.number, &reason, None, false, on_event)?;
                            continue;
                        }
                    }
                    self.summary.objects += 1;
                    if let Some(open) = self.section.as_mut() {
                        open.objects += 1;
                    }
                    let normalized = line.normalized.map(|(a, b)| &chunk.normalized[a..b]);
                    on_event(Event::Object {
                        line: Some(raw),
                        normalized,
                        object: line.object.take(),
                        number: line.number,
                    })?;
                }
                Kind::Bad(reason) => {
                    if starts_as_header(raw) && reason.contains("longer than --max-line-bytes") {
                        // Not damage: the limit is too small for this stream's header.
                        return Err(StreamError::unsupported(
                            self.input,
                            format!(
                                "line {}: a header {reason}: give a larger --max-line-bytes",
                                line.number
                            ),
                        )
                        .into());
                    }
                    if self.opts.verify && damaged_header(raw, reason) {
                        return Err(StreamError::verification(
                            self.input,
                            format!(
                                "line {}: a collection's header is damaged ({reason}): the stream is corrupt",
                                line.number
                            ),
                        )
                        .into());
                    }
                    if self.section.is_none() {
                        self.open_section(line.number).opened_by_bad = Some(line.number);
                    }
                    // Counted like an object line: to whoever wrote the trailer, it was one.
                    self.open_section(line.number).hash.add(raw);
                    let cut_short = chunk.unterminated && i == last;
                    self.bad(raw, line.number, reason, None, cut_short, on_event)?;
                }
                Kind::Control(control) => match &**control {
                    Control::Header(h) => self.header(h, raw, line.number, on_event)?,
                    Control::Trailer(t) => self.trailer(t, raw, line.number, on_event)?,
                },
            }
        }
        Ok(())
    }

    fn header<F>(
        &mut self,
        h: &Header,
        raw: &[u8],
        number: u64,
        on_event: &mut F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(Event<'_>) -> anyhow::Result<()>,
    {
        if let Some(open) = &self.section {
            if let Some(coll) = &open.collection {
                let what = format!(
                    "collection {coll:?} (header at line {}) has no trailer before the next header at line {number}: the stream was truncated",
                    open.header_line
                );
                self.unverified_end(what)?;
            }
            self.end_section(None, on_event)?;
        }
        self.section = Some(Open {
            collection: Some(h.collection.clone()),
            header_line: number,
            hash: SectionHash::for_header(h.version, raw),
            objects: 0,
            opened_by_bad: None,
            header_hashed: h.version >= crate::format::HEADER_HASHED_SINCE,
        });
        on_event(Event::Header {
            header: h,
            line: raw,
            number,
        })
    }

    fn trailer<F>(
        &mut self,
        t: &Trailer,
        raw: &[u8],
        number: u64,
        on_event: &mut F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(Event<'_>) -> anyhow::Result<()>,
    {
        let Some(open) = &self.section else {
            return self.bad(
                raw,
                number,
                "trailer out of place: no header or objects before it",
                None,
                false,
                on_event,
            );
        };
        if let (true, Some(c), None, Some(at)) = (
            self.opts.verify,
            &t.collection,
            &open.collection,
            open.opened_by_bad,
        ) {
            return Err(StreamError::verification(
                self.input,
                format!(
                    "the trailer at line {number} closes collection {c:?}, whose header (line {at}) is damaged: the stream is corrupt"
                ),
            )
            .into());
        }
        let matches = match (&t.collection, &open.collection) {
            (Some(theirs), Some(ours)) => same_collection(theirs, ours),
            (None, None) => true,
            _ => false,
        };
        if !matches {
            let describe = |c: &Option<String>| {
                c.as_deref().map_or("objects without a header".into(), |c| {
                    format!("collection {c:?}")
                })
            };
            let reason = format!(
                "trailer out of place: it closes {}, but the open section holds {} (from line {})",
                describe(&t.collection),
                describe(&open.collection),
                open.header_line
            );
            return self.bad(raw, number, &reason, None, false, on_event);
        }
        let name = open
            .collection
            .as_deref()
            .map_or("objects without a header".to_owned(), |c| {
                format!("collection {c:?}")
            });
        let mut verified = false;
        if self.opts.verify {
            if t.algorithm != HASH_ALGORITHM {
                return Err(StreamError::verification(
                    self.input,
                    format!("line {number}: trailer uses hash algorithm {:?}, which this ely does not know", t.algorithm),
                )
                .into());
            }
            if t.objects != open.hash.objects() {
                return Err(StreamError::verification(
                    self.input,
                    format!(
                        "{name}: the trailer at line {number} counts {} objects, but {} were read: objects are missing or were added",
                        t.objects,
                        open.hash.objects()
                    ),
                )
                .into());
            }
            if t.hash != open.hash.hex() {
                return Err(StreamError::verification(
                    self.input,
                    format!(
                        "{name}: the {} do not match the hash in the trailer at line {number}: the stream is corrupt",
                        if open.header_hashed {
                            "header and object lines"
                        } else {
                            "object lines"
                        }
                    ),
                )
                .into());
            }
            verified = true;
        } else if t.objects != open.hash.objects() || t.hash != open.hash.hex() {
            // Read anyway, as asked, but never silently: the output gets a new trailer.
            self.summary.warnings.push(format!(
                "{}: {name}: the trailer at line {number} does not match the {} object lines read (count or hash differ): the input is truncated or corrupt",
                self.input,
                open.hash.objects()
            ));
        }
        self.end_section(Some((t, verified)), on_event)
    }

    fn end_section<F>(
        &mut self,
        trailer: Option<(&Trailer, bool)>,
        on_event: &mut F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(Event<'_>) -> anyhow::Result<()>,
    {
        if let Some(open) = self.section.take() {
            self.summary.sections.push(SectionSummary {
                collection: open.collection,
                objects: open.objects,
                verified: trailer.is_some_and(|t| t.1),
                header_hashed: open.header_hashed,
            });
            on_event(Event::SectionEnd {
                trailer: trailer.map(|t| t.0),
            })?;
        }
        Ok(())
    }

    /// Truncation found: an error when verifying, a warning otherwise.
    fn unverified_end(&mut self, what: String) -> anyhow::Result<()> {
        if self.opts.verify {
            return Err(StreamError::verification(self.input, what).into());
        }
        self.summary
            .warnings
            .push(format!("{}: {what}", self.input));
        Ok(())
    }

    fn bad<F>(
        &mut self,
        raw: &[u8],
        number: u64,
        reason: &str,
        too_long: Option<u64>,
        cut_short: bool,
        on_event: &mut F,
    ) -> anyhow::Result<()>
    where
        F: FnMut(Event<'_>) -> anyhow::Result<()>,
    {
        if cut_short && self.opts.verify {
            return Err(StreamError::verification(
                self.input,
                format!(
                    "the last line ({number}) is cut short ({reason}): the stream is truncated"
                ),
            )
            .into());
        }
        if !self.opts.skip_bad {
            return Err(StreamError::bad_line(self.input, number, reason).into());
        }
        self.summary.bad_lines += 1;
        on_event(Event::Bad {
            line: raw,
            number,
            reason,
            too_long,
        })
    }

    fn finish<F>(&mut self, on_event: &mut F) -> anyhow::Result<()>
    where
        F: FnMut(Event<'_>) -> anyhow::Result<()>,
    {
        if let Some(open) = &self.section {
            if let Some(coll) = &open.collection {
                let what = format!(
                    "the stream ends without the trailer of collection {coll:?} (header at line {}): it was truncated",
                    open.header_line
                );
                self.unverified_end(what)?;
            }
            self.end_section(None, on_event)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines near valid object lines: every one is judged by `decode` (the one-pass reader,
    /// then the classifier) exactly as the classifier alone judges it, and an object read in
    /// one pass is the object serde_json reads.
    #[test]
    fn objects_read_in_one_pass_are_judged_as_the_classifier_judges_them() {
        let id = "6b29fc40-ca47-1067-b31d-00dd010662da";
        let seeds = [
            format!(
                r#"{{"class":"Code","id":"{id}","properties":{{"path":"a\"b\\c","n":9007199254740993,"t":["x",1.5,null],"o":{{"k":true}}}},"vector":[0.1,-0.0,1e-45,3.4028235e38],"vectors":{{"m":[[1,2],[3]],"s":[0.5],"z":null}},"tenant":"t1","creationTimeUnix":5}}"#
            ),
            format!(
                r#"{{"id":"{id}","properties":null,"vector":null,"additional":{{"x":[1e300,"\ud83e\udd80"]}}}}"#
            ),
            format!(
                r#" {{ "id" : "{}" , "vector" : [ 1 , 2 ] }} "#,
                id.to_uppercase()
            ),
            r#"{"ely":"header","version":1,"collection":"Code"}"#.to_owned(),
        ];
        let pieces: [&[u8]; 14] = [
            b"\"",
            b"\\",
            b"{",
            b"}",
            b"[",
            b"]",
            b",",
            b":",
            b"1e400",
            b"\\udc00",
            b"-",
            b"\x00",
            b"\xff",
            b"\"ely\":1,",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n.max(1) as u64) as usize
        };
        let mut classifier = Classifier::default();
        let mut checked = 0;
        for seed in &seeds {
            for round in 0..1500 {
                let mut line = seed.clone().into_bytes();
                if round > 0 {
                    for _ in 0..1 + next(3) {
                        let at = next(line.len());
                        match next(4) {
                            0 => {
                                line.remove(at);
                            }
                            1 => line[at] = line[next(line.len())],
                            _ => {
                                let piece = pieces[next(pieces.len())];
                                line.splice(at..at, piece.iter().copied());
                            }
                        }
                    }
                }
                let (kind, object) = decode(&mut classifier, &line);
                let alone = classifier.classify(&line);
                assert_eq!(
                    format!("{kind:?}"),
                    format!("{alone:?}"),
                    "{}",
                    String::from_utf8_lossy(&line)
                );
                match (&kind, object) {
                    (Kind::Object { .. }, Some(Ok(read))) => {
                        let serde: Object = serde_json::from_slice(&line).expect("serde reads it");
                        assert_eq!(read.object, serde, "{}", String::from_utf8_lossy(&line));
                        checked += 1;
                    }
                    (Kind::Object { .. }, Some(Err(e))) => {
                        assert!(serde_json::from_slice::<Object>(&line).is_err(), "{e}");
                    }
                    (Kind::Object { .. }, None) => panic!("an object line without an object"),
                    (_, object) => assert!(object.is_none()),
                }
            }
        }
        assert!(checked > 300, "only {checked} objects were read");
    }
}
