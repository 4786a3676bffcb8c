//! Writes ely streams as Parquet: one file per collection, row groups bounded by rows and
//! bytes (memory stays flat), zstd, byte-stream-split for float columns, the stream's header
//! and a digest of its objects in the file's metadata. Files are written to a temporary name
//! and renamed when complete, as every ely output is.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use ely_stream::atomic::AtomicFile;
use ely_stream::{Header, Trailer};
use ely_vocab::Object;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::digest::Digest;
use crate::layout::Layout;

/// How to write.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// zstd level (1-22); `None`: 3.
    pub level: Option<i32>,
    /// A row group closes at this many rows...
    pub group_rows: usize,
    /// ...or at about this many bytes of objects.
    pub group_bytes: usize,
    /// Objects of a stream without a class definition that decide its columns.
    pub infer_rows: usize,
    /// Parts: a file closes after this many objects...
    pub split_rows: Option<u64>,
    /// ...or about this many bytes.
    pub split_bytes: Option<u64>,
    /// Each tenant's objects in their own files, in `tenant=<name>` folders.
    pub partition_by_tenant: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: None,
            group_rows: 16_384,
            group_bytes: 32 << 20,
            infer_rows: 1000,
            split_rows: None,
            split_bytes: None,
            partition_by_tenant: false,
        }
    }
}

/// Where the files go.
#[derive(Debug, Clone)]
pub enum Target {
    /// One file (a stream of one collection).
    File(PathBuf),
    /// A folder: `<Collection>.parquet` for each collection.
    Dir(PathBuf),
    Stdout,
}

enum Out {
    File(AtomicFile),
    Stdout(io::Stdout),
}

/// Counts and hashes the bytes that reach the file.
struct Counted {
    out: Out,
    bytes: u64,
    hash: xxhash_rust::xxh3::Xxh3,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.out {
            Out::File(f) => f.write(buf)?,
            Out::Stdout(s) => s.write(buf)?,
        };
        self.bytes += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Out::File(f) => f.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }
}

/// A collection being written, in one file or in parts.
struct Section {
    collection: Option<String>,
    header_line: Option<String>,
    class: Option<serde_json::Value>,
    pending: Vec<Object>,
    pending_bytes: usize,
    /// The columns, decided with the first row group and kept for every part.
    layout: Option<Layout>,
    file: Option<OpenFile>,
    /// The next part's number.
    part: u32,
}

/// A Parquet file being written.
struct OpenFile {
    writer: Encoder,
    /// Bytes of the row groups handed to the encoder (for --split-bytes).
    batch_bytes: u64,
    digest: Digest,
    /// With --partition-by tenant: the tenant whose objects it holds.
    tenant: Option<String>,
    part: u32,
}

/// What was written: one entry per file.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub path: Option<PathBuf>,
    pub collection: Option<String>,
    pub objects: u64,
    pub bytes: u64,
    /// xxh3-128 of the file's bytes, lowercase hex.
    pub hash: String,
}

/// Writes the sections of a stream as Parquet files.
pub struct ParquetWriter {
    target: Target,
    opts: Options,
    section: Option<Section>,
    written: Vec<WrittenFile>,
    /// Files complete but not yet in place: all are renamed at the end, so a run that
    /// fails halfway leaves none behind.
    complete: Vec<AtomicFile>,
    /// This run's id, in every file: parts of one collection are told from another run's.
    run: String,
}

impl ParquetWriter {
    /// A writer to `target`; parts (`split_rows`, `split_bytes`, `partition_by_tenant`) need
    /// a folder.
    pub fn new(target: Target, opts: Options) -> ParquetWriter {
        ParquetWriter {
            target,
            opts,
            section: None,
            written: Vec::new(),
            complete: Vec::new(),
            run: format!(
                "{:x}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ),
        }
    }

    fn in_parts(&self) -> bool {
        self.opts.split_rows.is_some()
            || self.opts.split_bytes.is_some()
            || self.opts.partition_by_tenant
    }

    /// Starts a collection's file with its header line, closing any open one.
    pub fn header(&mut self, line: &[u8], header: &Header) -> anyhow::Result<()> {
        self.end_section(None)?;
        self.section = Some(Section {
            collection: Some(header.collection.clone()),
            header_line: Some(String::from_utf8_lossy(line).into_owned()),
            class: header.class.clone(),
            pending: Vec::new(),
            pending_bytes: 0,
            layout: None,
            file: None,
            part: 0,
        });
        Ok(())
    }

    /// Adds an object (`size`: about how many bytes it takes); outside a section, opens a
    /// headerless one.
    pub fn object(&mut self, object: Object, size: usize) -> anyhow::Result<()> {
        if self.opts.partition_by_tenant {
            // Each tenant's objects in their own files.
            let current = self.section.as_ref().and_then(|s| {
                s.pending
                    .last()
                    .map(|o| o.tenant.clone())
                    .or_else(|| s.file.as_ref().map(|f| f.tenant.clone()))
            });
            if current.is_some_and(|t| t != object.tenant) {
                self.flush()?;
                self.close_file(None, false)?;
            }
        }
        let s = self.section.get_or_insert_with(|| Section {
            collection: None,
            header_line: None,
            class: None,
            pending: Vec::new(),
            pending_bytes: 0,
            layout: None,
            file: None,
            part: 0,
        });
        s.pending.push(object);
        s.pending_bytes += size;
        let full = if s.layout.is_none() {
            // The columns of a stream without a class definition come from its first objects.
            s.pending.len() >= self.opts.infer_rows.max(1).min(self.opts.group_rows)
                && s.class.is_none()
                || s.pending.len() >= self.opts.group_rows
                || s.pending_bytes >= self.opts.group_bytes
        } else {
            s.pending.len() >= self.opts.group_rows || s.pending_bytes >= self.opts.group_bytes
        };
        // A part closes at its row count exactly.
        let in_file = s.file.as_ref().map_or(0, |f| f.digest.objects);
        let part_full = self
            .opts
            .split_rows
            .is_some_and(|n| in_file + s.pending.len() as u64 >= n);
        if full || part_full {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending objects as one row group, opening a file (or the next part) first
    /// when none is open, and closing it when it reached a part's size.
    fn flush(&mut self) -> anyhow::Result<()> {
        let in_parts = self.in_parts();
        let Some(s) = self.section.as_mut() else {
            return Ok(());
        };
        if s.layout.is_none() {
            let sample = &s.pending[..s.pending.len().min(self.opts.infer_rows.max(1))];
            s.layout = Some(Layout::plan(
                s.collection.as_deref().unwrap_or_default(),
                s.class.as_ref(),
                sample,
            ));
        }
        let Some(layout) = s.layout.as_ref() else {
            bail!("no layout");
        };
        if s.file.is_none() && (!s.pending.is_empty() || s.part == 0) {
            let name = s
                .collection
                .clone()
                .or_else(|| s.pending.first().map(|o| o.class.clone()))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "objects".into());
            let tenant = s.pending.first().and_then(|o| o.tenant.clone());
            let part = in_parts.then_some((
                s.part,
                tenant.as_deref().filter(|_| self.opts.partition_by_tenant),
            ));
            let out = create(&self.target, &self.written, &name, part)?;
            let schema = Arc::new(layout.schema()?);
            let props = properties(layout, self.opts.level)?;
            let writer = ArrowWriter::try_new(out, schema, Some(props))
                .context("starting a Parquet file")?;
            s.file = Some(OpenFile {
                writer: Encoder::start(writer),
                batch_bytes: 0,
                digest: Digest::default(),
                tenant,
                part: s.part,
            });
            s.part += 1;
        }
        if !s.pending.is_empty() {
            let Some(f) = s.file.as_mut() else {
                bail!("no Parquet file is open");
            };
            let batch = layout.batch(&s.pending)?;
            f.batch_bytes += batch.get_array_memory_size() as u64;
            f.writer.write(batch)?;
            for o in &s.pending {
                f.digest.add(o);
            }
        }
        s.pending.clear();
        s.pending_bytes = 0;
        let full = s.file.as_ref().is_some_and(|f| {
            self.opts.split_rows.is_some_and(|n| f.digest.objects >= n)
                || self.opts.split_bytes.is_some_and(|n| f.batch_bytes >= n)
        });
        if full {
            self.close_file(None, false)?;
        }
        Ok(())
    }

    /// Closes the open file of the section with its metadata.
    fn close_file(&mut self, trailer: Option<&Trailer>, last: bool) -> anyhow::Result<()> {
        let Some(s) = self.section.as_mut() else {
            return Ok(());
        };
        let (Some(file), Some(layout)) = (s.file.take(), s.layout.as_ref()) else {
            return Ok(());
        };
        let OpenFile {
            mut writer,
            digest,
            part,
            ..
        } = file;
        let mut writer = writer.finish()?;
        let layout_json = serde_json::to_string(layout)?;
        let mut kv = vec![
            ("ely.format", "1".to_owned()),
            ("ely.objects", digest.objects.to_string()),
            (
                "ely.digest",
                digest.sealed(s.header_line.as_deref(), &layout_json),
            ),
            ("ely.layout", layout_json),
            ("ely.run", self.run.clone()),
            ("ely.part", part.to_string()),
        ];
        if last {
            kv.push(("ely.last", "1".to_owned()));
        }
        if let Some(h) = &s.header_line {
            kv.push(("ely.header", h.clone()));
        }
        if let Some(t) = trailer {
            kv.push(("ely.trailer", serde_json::to_string(t)?));
        }
        for (k, v) in kv {
            writer.append_key_value_metadata(KeyValue::new(k.to_owned(), v));
        }
        let counted = writer.into_inner().context("closing the Parquet file")?;
        let path = match counted.out {
            Out::File(f) => {
                let p = f.path().to_owned();
                self.complete.push(f);
                Some(p)
            }
            Out::Stdout(mut s) => {
                s.flush()?;
                None
            }
        };
        self.written.push(WrittenFile {
            path,
            collection: s.collection.clone(),
            objects: digest.objects,
            bytes: counted.bytes,
            hash: format!("{:032x}", counted.hash.digest128()),
        });
        Ok(())
    }

    /// Closes the open section's file, with its trailer (when the stream had one).
    pub fn end_section(&mut self, trailer: Option<&Trailer>) -> anyhow::Result<()> {
        if self.section.is_none() {
            return Ok(());
        }
        // A collection without objects still gets its file, with its columns.
        self.flush()?;
        self.close_file(trailer, true)?;
        self.section = None;
        Ok(())
    }

    /// Closes the last file; returns what was written. Dropping the writer instead leaves
    /// no file behind.
    pub fn finish(mut self) -> anyhow::Result<Vec<WrittenFile>> {
        if self.section.is_none() && self.written.is_empty() {
            // No objects at all: a file of no rows, with the columns every file has.
            self.section = Some(Section {
                collection: None,
                header_line: None,
                class: None,
                pending: Vec::new(),
                pending_bytes: 0,
                layout: None,
                file: None,
                part: 0,
            });
        }
        self.end_section(None)?;
        for f in self.complete {
            f.commit()?;
        }
        Ok(self.written)
    }
}

/// Where a collection's file goes; a second collection needs a folder, and so do parts
/// (`part`: its number, and its tenant with --partition-by tenant).
fn create(
    target: &Target,
    written: &[WrittenFile],
    collection: &str,
    part: Option<(u32, Option<&str>)>,
) -> anyhow::Result<Counted> {
    if !written.is_empty() && !matches!(target, Target::Dir(_)) {
        bail!(
            "the stream holds more than one collection and a Parquet file holds one: give -o DIR/ to write <Collection>.parquet for each"
        );
    }
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let out = match target {
        Target::File(p) => Out::File(AtomicFile::create(p)?),
        Target::Dir(d) => {
            let path = match part {
                None => d.join(format!("{}.parquet", safe(collection))),
                Some((n, tenant)) => {
                    let mut dir = d.join(safe(collection));
                    if let Some(t) = tenant {
                        dir = dir.join(format!("tenant={}", hive_value(t)));
                    }
                    dir.join(format!("part-{n:05}.parquet"))
                }
            };
            // Parts of another run beside these would read as the same collection twice.
            let parts_dir = d.join(safe(collection));
            let first = part.is_none_or(|(n, _)| n == 0);
            if first
                && !written
                    .iter()
                    .any(|w| w.collection.as_deref() == Some(collection))
            {
                let stale = crate::read::files(&parts_dir)
                    .map(|f| !f.is_empty() && parts_dir.is_dir())
                    .unwrap_or(false);
                let single = d.join(format!("{}.parquet", safe(collection)));
                if stale || (part.is_some() && single.is_file()) {
                    bail!(
                        "{} already holds Parquet files of collection {collection} from another run: remove them, or write to another folder",
                        d.display()
                    );
                }
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            if written.iter().any(|w| w.path.as_deref() == Some(&path)) {
                bail!("collection {collection} comes twice in the stream");
            }
            Out::File(AtomicFile::create(&path)?)
        }
        Target::Stdout => Out::Stdout(io::stdout()),
    };
    Ok(Counted {
        out,
        bytes: 0,
        hash: xxhash_rust::xxh3::Xxh3::new(),
    })
}

/// zstd everywhere; float columns byte-stream-split and without dictionaries.
fn properties(layout: &Layout, given: Option<i32>) -> anyhow::Result<WriterProperties> {
    let level = ZstdLevel::try_new(given.unwrap_or(3)).context("zstd level")?;
    // Vector columns are most of a file, and their mantissa bytes are noise to zstd: by
    // default they take level 1, which costs them about 3% of size and saves a sixth of the
    // conversion's time; `--level` sets every column alike.
    let vector_level = match given {
        Some(_) => level,
        None => ZstdLevel::try_new(1).context("zstd level")?,
    };
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(None)
        .set_created_by(concat!("ely ", env!("CARGO_PKG_VERSION")).to_owned());
    // Ids are all different: a dictionary would only add to them.
    b = b.set_column_dictionary_enabled(ColumnPath::new(vec!["id".into()]), false);
    let mut floats: Vec<Vec<String>> = Vec::new();
    for v in &layout.vectors {
        let col = match &v.name {
            Some(n) => format!("vector_{n}"),
            None => "vector".into(),
        };
        let mut path = vec![col, "list".into(), "element".into()];
        if v.multi {
            path.extend(["list".into(), "element".into()]);
        }
        b = b.set_column_compression(
            ColumnPath::new(path.clone()),
            Compression::ZSTD(vector_level),
        );
        floats.push(path);
    }
    for p in &layout.properties {
        if p.kind == "number" {
            floats.push(match p.list {
                true => vec![p.name.clone(), "list".into(), "element".into()],
                false => vec![p.name.clone()],
            });
        }
    }
    for path in floats {
        let path = ColumnPath::new(path);
        b = b
            .set_column_encoding(path.clone(), Encoding::BYTE_STREAM_SPLIT)
            .set_column_dictionary_enabled(path, false);
    }
    Ok(b.build())
}

/// Whether `path` is a Parquet file (by its first bytes), or a folder holding some. Only
/// regular files are looked into: reading the start of a pipe would take it from the reader.
pub fn is_parquet(path: &Path) -> bool {
    if path.is_dir() {
        return crate::read::files(path).is_ok_and(|f| !f.is_empty());
    }
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1"
}

impl ely_stream::StreamOut for ParquetWriter {
    fn begin(&mut self, header: &Header) -> anyhow::Result<()> {
        self.header(&ely_stream::format::control_line("header", header), header)
    }
    fn write_object(&mut self, object: Object, line: &[u8]) -> anyhow::Result<()> {
        self.object(object, line.len())
    }
    fn end(&mut self) -> anyhow::Result<()> {
        self.end_section(None)
    }
}

/// Encodes and compresses row groups on a thread of its own, while the next row group is
/// being built: the two take turns on the cores instead of waiting for each other. One row
/// group at most waits for it, so memory stays bounded.
struct Encoder {
    tx: Option<std::sync::mpsc::SyncSender<arrow_array::RecordBatch>>,
    handle: Option<std::thread::JoinHandle<anyhow::Result<ArrowWriter<Counted>>>>,
}

impl Encoder {
    fn start(mut writer: ArrowWriter<Counted>) -> Encoder {
        // A rendezvous: the next row group waits, built, while this one is encoded; a
        // queued third would cost a row group of memory for no speed.
        let (tx, rx) = std::sync::mpsc::sync_channel::<arrow_array::RecordBatch>(0);
        let handle = std::thread::spawn(move || -> anyhow::Result<ArrowWriter<Counted>> {
            for batch in rx {
                writer.write(&batch).context("writing a row group")?;
                writer.flush().context("writing a row group")?;
            }
            Ok(writer)
        });
        Encoder {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Hands a row group on; an error the encoder met is returned here or by `finish`.
    fn write(&mut self, batch: arrow_array::RecordBatch) -> anyhow::Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            // The encoder stopped: its error says why.
            self.finish()?;
            bail!("the Parquet encoder stopped");
        }
        Ok(())
    }

    /// Waits for every row group to be written and gives the writer back.
    fn finish(&mut self) -> anyhow::Result<ArrowWriter<Counted>> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h
                .join()
                .map_err(|_| anyhow::anyhow!("the Parquet encoder failed"))?,
            None => bail!("the Parquet encoder already finished"),
        }
    }
}

/// A partition value as Hive paths write it: characters other than letters, digits, `_`,
/// `-` and `.` percent-encoded (DuckDB, pyarrow and Spark decode them), so distinct tenants
/// never share a folder.
fn hive_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric()
            || b == b'_'
            || b == b'-'
            || (b == b'.' && v != "." && v != "..")
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
