//! Reads Parquet files ely wrote as an ely stream: a `Source` giving each file's header,
//! its objects (each with the line ely writes for it) and a trailer computed from those lines,
//! after checking the objects against the count and digest the file carries. A damaged file
//! (a footer that does not read, pages that do not decode, objects that differ from what was
//! written) is input failing verification, exit 4, with the file named.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use ely_stream::{
    Control, Counters, Event, Header, SectionHash, SectionSummary, Source, StreamError, Summary,
};
use ely_vocab::ObjectLine;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};

use crate::digest::Digest;
use crate::layout::Layout;

/// The Parquet files at `path`: the file itself, or every `.parquet` file under a folder, in
/// path order.
pub fn files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Parquet files as a source of an ely stream.
pub struct ParquetSource {
    path: PathBuf,
    name: String,
    counters: Arc<Counters>,
    batch_rows: usize,
    /// A file spooled from a pipe, removed when the source is done with.
    _spool: Option<Spool>,
    /// Round float64 vector values of other tools' files to float32.
    lossy: bool,
    /// Rows that are not objects are handed on as bad lines rather than stopping the read.
    skip_bad: bool,
    /// Each file is checked on its own: a part of a split collection needs no other parts.
    alone: bool,
}

/// A temporary file, removed when dropped.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl ParquetSource {
    pub fn new(path: &Path, counters: Arc<Counters>) -> ParquetSource {
        ParquetSource {
            path: path.to_owned(),
            name: path.display().to_string(),
            counters,
            batch_rows: BATCH_ROWS,
            _spool: None,
            lossy: false,
            skip_bad: false,
            alone: false,
        }
    }

    /// Check each file on its own (a catalog verifying one part of a split collection): a
    /// part needs neither the parts before it nor the last part. Its objects are still checked
    /// against the count and digest it carries.
    pub fn alone(mut self, alone: bool) -> ParquetSource {
        self.alone = alone;
        self
    }

    /// Hand rows that cannot be objects on as bad lines ([`Event::Bad`]) instead of
    /// stopping, as the JSONL reader does with `skip_bad`.
    pub fn skip_bad(mut self, skip_bad: bool) -> ParquetSource {
        self.skip_bad = skip_bad;
        self
    }

    /// Round float64 vector values (of files other tools wrote) to float32 rather than
    /// rejecting objects whose values that would change.
    pub fn lossy(mut self, lossy: bool) -> ParquetSource {
        self.lossy = lossy;
        self
    }

    /// Parquet coming through a pipe (`name` for messages): a Parquet file is read from its
    /// end, so it is first copied to a temporary file, removed when reading is done.
    pub fn spooled(
        name: &str,
        mut input: impl std::io::Read,
        counters: Arc<Counters>,
    ) -> anyhow::Result<ParquetSource> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "ely-parquet-{}-{}.parquet",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let spool = Spool(path.clone());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts
            .open(&path)
            .with_context(|| format!("spooling {name} to {}", path.display()))?;
        std::io::copy(&mut input, &mut f)
            .with_context(|| format!("spooling {name} to {}", path.display()))?;
        Ok(ParquetSource {
            path,
            name: name.to_owned(),
            counters,
            batch_rows: BATCH_ROWS,
            _spool: Some(spool),
            lossy: false,
            skip_bad: false,
            alone: false,
        })
    }
}

fn damaged(file: &Path, what: impl std::fmt::Display) -> anyhow::Error {
    StreamError {
        kind: ely_stream::ErrorKind::Verification,
        message: format!("{}: {what}", file.display()),
    }
    .into()
}

impl Source for ParquetSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn display_name(&self) -> &str {
        &self.name
    }

    fn read(
        self: Box<Self>,
        summary: &mut Summary,
        on_event: &mut dyn FnMut(Event<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut files = files(&self.path).with_context(|| format!("reading {}", self.name))?;
        if files.is_empty() {
            anyhow::bail!("{}: no .parquet files in it", self.name);
        }
        let mut number = 0u64;
        let mut open: Option<Open> = None;
        let foreign_name = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty() && !self.name.starts_with('<'))
            .unwrap_or_else(|| "Objects".into());
        // The tenants of each collection of Weaviate's export: one file per tenant's shard,
        // all named in the collection's header.
        let mut tenants_of: std::collections::HashMap<String, Vec<String>> = Default::default();
        // Parts ely wrote are read in the order they were written: by run, collection and
        // part number (a Hive folder's path order is the tenants'), others by path.
        let mut order: std::collections::HashMap<PathBuf, (String, String, u64)> =
            Default::default();
        // Each file's footer, read once: for the order and tenants here, for reading below.
        let mut footers: std::collections::HashMap<PathBuf, Result<ArrowReaderMetadata, String>> =
            Default::default();
        for file in &files {
            let footer = std::fs::File::open(file)
                .map_err(|e| format!("cannot be opened ({e})"))
                .and_then(|f| {
                    quietly(|| ArrowReaderMetadata::load(&f, Default::default()))
                        .map_err(|why| format!("corrupt ({why})"))?
                        .map_err(|e| {
                            format!("not a readable Parquet file, truncated or corrupt ({e})")
                        })
                });
            let kv = footer.as_ref().map(key_values).unwrap_or_default();
            footers.insert(file.clone(), footer);
            let get = |k: &str| kv.get(k).cloned();
            if let (Some(run), Some(part)) = (get("ely.run"), get("ely.part")) {
                let collection = get("ely.header")
                    .and_then(|h| match serde_json::from_str::<Control>(&h) {
                        Ok(Control::Header(h)) => Some(h.collection),
                        _ => None,
                    })
                    .unwrap_or_default();
                order.insert(file.clone(), (run, collection, part.parse().unwrap_or(0)));
            }
            if let (None, Some(c), Some(t)) = (get("ely.layout"), get("collection"), get("tenant"))
            {
                let list = tenants_of.entry(c).or_default();
                if !t.is_empty() && !list.contains(&t) {
                    list.push(t);
                }
            }
        }
        files.sort_by_cached_key(|f| {
            let (run, collection, part) = order.get(f).cloned().unwrap_or_default();
            (run, collection, part, f.clone())
        });
        for file in files {
            // A spooled pipe is named as the pipe.
            let shown = match &self._spool {
                Some(_) => PathBuf::from(&self.name),
                None => file.clone(),
            };
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.counters.bytes_in.fetch_add(len, Ordering::Relaxed);
            summary.bytes += len;
            if len < 12 {
                return Err(damaged(&shown, "too short for a Parquet file: truncated"));
            }
            drop(f);
            let meta = footers
                .remove(&file)
                .unwrap_or_else(|| Err("was not read".into()))
                .map_err(|why| damaged(&shown, why))?;
            let kv = key_values(&meta);
            let kind = match (kv.get("ely.layout"), kv.get("collection")) {
                (Some(layout), _) => Kind::Ely(serde_json::from_str(layout).map_err(|e| {
                    damaged(&shown, format!("its ely.layout does not read ({e})"))
                })?),
                (None, Some(collection)) => Kind::Native {
                    collection: collection.clone(),
                    tenant: kv.get("tenant").filter(|t| !t.is_empty()).cloned(),
                },
                (None, None) if meta.schema().column_with_name("id").is_some() => {
                    Kind::Foreign {
                        collection: foreign_name.clone(),
                    }
                }
                (None, None) => {
                    return Err(StreamError::unsupported(
                        &file.display().to_string(),
                        "a Parquet file without an id column, not written by ely or by Weaviate's export: ely reads objects, one per row, with their id",
                    )
                    .into())
                }
            };
            let lossy = self.lossy;
            let batch_rows = self.batch_rows;
            // One row group's objects, decoded on its own.
            // The objects of one batch of rows.
            let objects = |b: &arrow_array::RecordBatch| -> Result<Vec<Row>, String> {
                let fine = |v: Vec<ely_vocab::Object>| v.into_iter().map(Ok).collect();
                match &kind {
                    Kind::Ely(layout) => layout.objects(b).map(fine),
                    Kind::Native { collection, tenant } => {
                        crate::native::objects(b, collection, tenant.as_deref()).map(fine)
                    }
                    Kind::Foreign { collection } => crate::foreign::objects(b, collection, lossy),
                }
                .map_err(|e| format!("{e:#}"))
            };
            // The lines of some rows (shortest float32 text is most of the work), on every
            // core.
            let lines_of = |rows: &[Row]| -> Vec<Vec<u8>> {
                use rayon::prelude::*;
                rows.par_iter()
                    .map(|row| {
                        let (Ok(o) | Err((o, _))) = row;
                        let mut l = Vec::with_capacity(256);
                        o.write_line(&mut l);
                        l
                    })
                    .collect()
            };
            std::thread::scope(|scope| -> anyhow::Result<()> {
                // The file is decoded on a thread of its own, a few hundred rows at a time,
                // their lines written on every core, and handed on in order while the rows
                // before them are handed on here: a few batches in memory, whatever the file.
                let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Batch, String>>(2);
                let (objects, lines_of, file, meta) = (&objects, &lines_of, &file, &meta);
                scope.spawn(move || {
                    let reader = std::fs::File::open(file)
                        .map_err(|e| format!("cannot be read ({e})"))
                        .and_then(|handle| {
                            ParquetRecordBatchReaderBuilder::new_with_metadata(handle, meta.clone())
                                .with_batch_size(batch_rows)
                                .build()
                                .map_err(|e| format!("cannot be read ({e})"))
                        });
                    let mut reader = match reader {
                        Ok(r) => r,
                        Err(why) => return tx.send(Err(why)),
                    };
                    loop {
                        // The decoder can panic on some damaged pages: a damaged file too.
                        let rows = quietly(|| match reader.next() {
                            None => Ok(None),
                            Some(Err(e)) => Err(format!("truncated or corrupt ({e})")),
                            Some(Ok(b)) => objects(&b).map(Some),
                        })
                        .unwrap_or_else(|why| Err(format!("corrupt ({why})")));
                        match rows {
                            Ok(Some(rows)) => {
                                // A panic here must not pass for the end of the file.
                                let lines = match quietly(|| lines_of(&rows)) {
                                    Ok(lines) => lines,
                                    Err(why) => return tx.send(Err(format!("unreadable ({why})"))),
                                };
                                // The reader stopped (an error): nothing more is wanted.
                                tx.send(Ok((rows, lines)))?;
                            }
                            Ok(None) => return Ok(()),
                            Err(why) => return tx.send(Err(why)),
                        }
                    }
                });
                let next_batch = || -> anyhow::Result<Option<Batch>> {
                    match rx.recv() {
                        Ok(batch) => batch.map(Some).map_err(|why| damaged(&shown, why)),
                        Err(_) => Ok(None),
                    }
                };
                // The first objects of an export tell its collection's vectors.
                let mut carry: std::collections::VecDeque<Batch> = Default::default();
                if let Kind::Native { .. } | Kind::Foreign { .. } = &kind {
                    while carry.iter().map(|(rows, _)| rows.len()).sum::<usize>() < 100 {
                        match next_batch()? {
                            Some(batch) => carry.push_back(batch),
                            None => break,
                        }
                    }
                }
                // A section per ely file; Weaviate's export splits a collection into files by
                // shard and range, which read as one section.
                let same_export = match (&kind, &open) {
                    (Kind::Native { collection, .. } | Kind::Foreign { collection }, Some(o)) => {
                        o.native && o.collection.as_deref() == Some(collection.as_str())
                    }
                    // The parts of a collection ely wrote in several files (--split-rows,
                    // --partition-by) continue its section.
                    (Kind::Ely(_), Some(o)) => {
                        !o.native
                            && o.run.is_some()
                            && kv.get("ely.run") == o.run.as_ref()
                            && kv.get("ely.header") == o.header_line.as_ref()
                            && kv.get("ely.part").and_then(|p| p.parse::<u64>().ok())
                                == Some(o.next_part)
                    }
                    _ => false,
                };
                let part = kv.get("ely.part").and_then(|p| p.parse::<u64>().ok());
                if !same_export {
                    if part.is_some_and(|p| p > 0) && !self.alone {
                        return Err(damaged(
                        &shown,
                        format!(
                            "part {} of a collection whose earlier parts are missing or come from another run",
                            part.unwrap_or_default()
                        ),
                    ));
                    }
                    close(&mut open, self.alone, summary, on_event)?;
                    let header = match &kind {
                        Kind::Ely(_) => match kv.get("ely.header") {
                            Some(line) => match serde_json::from_str::<Control>(line) {
                                Ok(Control::Header(h)) => Some((h, line.clone().into_bytes())),
                                _ => {
                                    return Err(damaged(
                                        &shown,
                                        "its ely.header is not a header line",
                                    ))
                                }
                            },
                            None => None,
                        },
                        Kind::Native { .. } | Kind::Foreign { .. } => {
                            let (collection, tenant) = match &kind {
                                Kind::Native { collection, tenant } => {
                                    (collection, tenant.as_ref())
                                }
                                Kind::Foreign { collection } => (collection, None),
                                Kind::Ely(_) => anyhow::bail!("not an export"),
                            };
                            let first: Vec<ely_vocab::Object> = carry
                                .iter()
                                .flat_map(|(rows, _)| rows)
                                .filter_map(|r| r.as_ref().ok().cloned())
                                .take(100)
                                .collect();
                            let h = Header {
                                version: ely_stream::FORMAT_VERSION,
                                collection: collection.clone(),
                                class: Some(crate::native::class(
                                    collection,
                                    tenant.is_some(),
                                    &first,
                                )),
                                tenants: tenant.as_ref().map(|_| {
                                    tenants_of
                                        .get(collection)
                                        .map(|ts| {
                                            ts.iter()
                                                .map(|t| serde_json::json!({"name": t}))
                                                .collect()
                                        })
                                        .unwrap_or_default()
                                }),
                                source: Some(match &kind {
                                    Kind::Native { .. } => "Weaviate's Parquet export".into(),
                                    _ => "Parquet".into(),
                                }),
                                created: None,
                            };
                            let line = ely_stream::format::control_line("header", &h);
                            Some((h, line))
                        }
                    };
                    let hash = match &header {
                        Some((h, line)) => SectionHash::for_header(h.version, line),
                        None => SectionHash::default(),
                    };
                    if let Some((h, line)) = &header {
                        number += 1;
                        summary.lines += 1;
                        on_event(Event::Header {
                            header: h,
                            line,
                            number,
                        })?;
                    }
                    open = Some(Open {
                        run: match &kind {
                            Kind::Ely(_) => kv.get("ely.run").cloned(),
                            _ => None,
                        },
                        next_part: 0,
                        last: false,
                        last_file: shown.clone(),
                        header_line: match &kind {
                            Kind::Ely(_) => kv.get("ely.header").cloned(),
                            _ => None,
                        },
                        collection: header.as_ref().map(|(h, _)| h.collection.clone()),
                        hash,
                        objects: 0,
                        header_hashed: header.as_ref().is_some_and(|(h, _)| h.version >= 2),
                        native: !matches!(kind, Kind::Ely(_)),
                    });
                }
                let Some(section) = open.as_mut() else {
                    anyhow::bail!("no section is open");
                };
                let mut digest = Digest::default();
                loop {
                    let (objects, lines) = match carry.pop_front() {
                        Some(batch) => batch,
                        None => match next_batch()? {
                            Some(batch) => batch,
                            None => break,
                        },
                    };
                    for (row, line) in objects.into_iter().zip(lines) {
                        let object = match row {
                            Ok(o) => o,
                            Err((_, why)) => {
                                // Not an object as it is: a bad line, set aside with its reason
                                // (the row as ely would write it) or stopping the read.
                                number += 1;
                                summary.lines += 1;
                                if !self.skip_bad {
                                    return Err(StreamError::bad_line(
                                        &shown.display().to_string(),
                                        number,
                                        why,
                                    )
                                    .into());
                                }
                                summary.bad_lines += 1;
                                on_event(Event::Bad {
                                    line: &line,
                                    number,
                                    reason: &why,
                                    too_long: None,
                                })?;
                                continue;
                            }
                        };
                        // Only ely's files carry a digest to check.
                        if let Kind::Ely(_) = kind {
                            digest.add(&object);
                        }
                        section.hash.add(&line);
                        section.objects += 1;
                        number += 1;
                        summary.lines += 1;
                        summary.objects += 1;
                        self.counters.objects.fetch_add(1, Ordering::Relaxed);
                        let has_class = !object.class.is_empty();
                        on_event(Event::Object {
                            line: Some(&line),
                            normalized: None,
                            object: Some(Ok(ObjectLine {
                                object,
                                has_class,
                                ..ObjectLine::default()
                            })),
                            number,
                        })?;
                    }
                }
                if let Kind::Ely(_) = kind {
                    let want = kv.get("ely.objects").and_then(|n| n.parse::<u64>().ok());
                    let sealed = digest.sealed(
                        kv.get("ely.header").map(String::as_str),
                        kv.get("ely.layout").map(String::as_str).unwrap_or_default(),
                    );
                    if let Some(o) = open.as_mut() {
                        o.next_part += 1;
                        o.last = kv.contains_key("ely.last") || o.run.is_none();
                        o.last_file = shown.clone();
                    }
                    if want != Some(digest.objects) || kv.get("ely.digest") != Some(&sealed) {
                        return Err(damaged(
                        &shown,
                        format!(
                            "its {} objects (or its header) are not those it was written with (count or digest differ): the file is corrupt",
                            digest.objects
                        ),
                    ));
                    }
                }
                Ok(())
            })?;
        }
        close(&mut open, self.alone, summary, on_event)?;
        Ok(())
    }
}

/// One row read: an object, or an object that cannot be one as it is, and why.
type Row = Result<ely_vocab::Object, (ely_vocab::Object, String)>;

/// Some rows of a row group and the line ely writes for each.
type Batch = (Vec<Row>, Vec<Vec<u8>>);

/// The rows decoded and handed on at a time: their lines (27 KB each at 1536 dimensions)
/// stay few.
const BATCH_ROWS: usize = 256;

/// What a file is.
enum Kind {
    /// Written by ely, with its layout.
    Ely(Layout),
    /// Weaviate's own export of a collection (a tenant's shard).
    Native {
        collection: String,
        tenant: Option<String>,
    },
    /// Another tool's file of objects (an id column, property columns, vector columns): the
    /// input's name is the collection's.
    Foreign { collection: String },
}

/// The section being read.
struct Open {
    /// The run that wrote its ely files, and the part to come next.
    run: Option<String>,
    next_part: u64,
    /// Its last ely file said it was the last part.
    last: bool,
    last_file: PathBuf,
    /// The header line of the ely files it came from (parts of one collection share it).
    header_line: Option<String>,
    collection: Option<String>,
    hash: SectionHash,
    objects: u64,
    header_hashed: bool,
    /// Weaviate's export: the files of one collection continue it.
    native: bool,
}

/// Ends the open section, if any, with the trailer of what was read.
fn close(
    open: &mut Option<Open>,
    alone: bool,
    summary: &mut Summary,
    on_event: &mut dyn FnMut(Event<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let Some(o) = open.take() else {
        return Ok(());
    };
    if o.run.is_some() && !o.last && !alone {
        return Err(damaged(
            &o.last_file,
            "the collection's last part is missing: the parts after it were lost",
        ));
    }
    let trailer = o.hash.trailer(o.collection.as_deref());
    summary.sections.push(SectionSummary {
        collection: o.collection,
        objects: o.objects,
        verified: true,
        header_hashed: o.header_hashed,
    });
    on_event(Event::SectionEnd {
        trailer: Some(&trailer),
    })
}

/// Runs `f`, turning a panic into an error with its message (and nothing on stderr).
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the decoder failed".into())
    })
}

/// A file's key-value metadata.
fn key_values(meta: &ArrowReaderMetadata) -> std::collections::HashMap<String, String> {
    meta.metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .filter_map(|k| k.value.clone().map(|v| (k.key.clone(), v)))
                .collect()
        })
        .unwrap_or_default()
}
