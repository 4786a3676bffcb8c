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
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

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
}

impl ParquetSource {
    pub fn new(path: &Path, counters: Arc<Counters>) -> ParquetSource {
        ParquetSource {
            path: path.to_owned(),
            name: path.display().to_string(),
            counters,
            batch_rows: 1024,
        }
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
        let files = files(&self.path).with_context(|| format!("reading {}", self.name))?;
        if files.is_empty() {
            anyhow::bail!("{}: no .parquet files in it", self.name);
        }
        let mut number = 0u64;
        for file in files {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            if let Ok(m) = f.metadata() {
                self.counters.bytes_in.fetch_add(m.len(), Ordering::Relaxed);
                summary.bytes += m.len();
            }
            let builder = quietly(|| ParquetRecordBatchReaderBuilder::try_new(f))
                .map_err(|why| damaged(&file, format!("corrupt ({why})")))?
                .map_err(|e| {
                    damaged(
                        &file,
                        format!("not a readable Parquet file, truncated or corrupt ({e})"),
                    )
                })?;
            let kv: std::collections::HashMap<String, String> = builder
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .map(|kv| {
                    kv.iter()
                        .filter_map(|k| k.value.clone().map(|v| (k.key.clone(), v)))
                        .collect()
                })
                .unwrap_or_default();
            let Some(layout) = kv.get("ely.layout") else {
                return Err(StreamError::unsupported(
                    &file.display().to_string(),
                    "a Parquet file ely did not write (no ely.layout in its metadata); ely reads the Parquet files it writes",
                )
                .into());
            };
            let layout: Layout = serde_json::from_str(layout)
                .map_err(|e| damaged(&file, format!("its ely.layout does not read ({e})")))?;
            let header = match kv.get("ely.header") {
                Some(line) => match serde_json::from_str::<Control>(line) {
                    Ok(Control::Header(h)) => Some((h, line.clone())),
                    _ => return Err(damaged(&file, "its ely.header is not a header line")),
                },
                None => None,
            };
            let mut hash = match &header {
                Some((h, line)) => SectionHash::for_header(h.version, line.as_bytes()),
                None => SectionHash::default(),
            };
            if let Some((h, line)) = &header {
                number += 1;
                summary.lines += 1;
                on_event(Event::Header {
                    header: h,
                    line: line.as_bytes(),
                    number,
                })?;
            }
            let reader = builder
                .with_batch_size(self.batch_rows)
                .build()
                .map_err(|e| damaged(&file, format!("cannot be read ({e})")))?;
            let mut digest = Digest::default();
            let mut line = Vec::with_capacity(1 << 14);
            let mut reader = reader;
            loop {
                // The decoder can panic on some damaged pages: that is a damaged file too.
                let next = quietly(|| {
                    reader.next().map(|batch| {
                        batch
                            .map_err(|e| format!("truncated or corrupt ({e})"))
                            .and_then(|b| layout.objects(&b).map_err(|e| format!("{e:#}")))
                    })
                });
                let objects = match next {
                    Ok(None) => break,
                    Ok(Some(Ok(objects))) => objects,
                    Ok(Some(Err(why))) => return Err(damaged(&file, why)),
                    Err(why) => return Err(damaged(&file, format!("corrupt ({why})"))),
                };
                for object in objects {
                    digest.add(&object);
                    line.clear();
                    object.write_line(&mut line);
                    hash.add(&line);
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
            let want = kv.get("ely.objects").and_then(|n| n.parse::<u64>().ok());
            if want != Some(digest.objects) || kv.get("ely.digest") != Some(&digest.hex()) {
                return Err(damaged(
                    &file,
                    format!(
                        "its {} objects are not those it was written with (count or digest differ): the file is corrupt",
                        digest.objects
                    ),
                ));
            }
            let collection = header.as_ref().map(|(h, _)| h.collection.clone());
            let trailer = hash.trailer(collection.as_deref());
            summary.sections.push(SectionSummary {
                collection,
                objects: digest.objects,
                verified: true,
                header_hashed: header.as_ref().is_some_and(|(h, _)| h.version >= 2),
            });
            on_event(Event::SectionEnd {
                trailer: Some(&trailer),
            })?;
        }
        Ok(())
    }
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

/// The header of a Parquet file ely wrote, if it has one.
pub fn header(path: &Path) -> anyhow::Result<Option<Header>> {
    let f = std::fs::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(f)?;
    let line = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "ely.header"))
        .and_then(|k| k.value.clone());
    Ok(match line.map(|l| serde_json::from_str::<Control>(&l)) {
        Some(Ok(Control::Header(h))) => Some(h),
        _ => None,
    })
}
