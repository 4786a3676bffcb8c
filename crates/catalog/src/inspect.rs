//! Reading a backup file: its hash (what the manifest's `hash` is, xxh3-128 of the bytes as
//! on disk), and the stream in it read to its end and checked (every line, every count and
//! trailer), which gives both a deep verification and, for files added without their
//! manifest, what the manifest would have said.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use ely_stream::{Counters, Manifest, ManifestCollection, ReadOptions, Verified};
use xxhash_rust::xxh3::Xxh3;

/// The size and xxh3-128 hash (lowercase hex) of a file's bytes.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..got]);
        n += got as u64;
    }
    Ok((n, format!("{:032x}", h.digest128())))
}

/// Reads the stream in `path` (JSONL in any compression, or a Parquet file ely wrote, a part
/// of a split collection checked on its own) to its end.
pub fn read_stream(path: &Path) -> Result<(Verified, bool)> {
    let counters = Arc::new(Counters::default());
    let parquet = ely_parquet::is_parquet(path);
    let source =
        ely_parquet::file_source(path, ReadOptions::default(), counters.clone(), false, true)
            .with_context(|| format!("opening {}", path.display()))?;
    Ok((ely_stream::verify(source, &counters, None), parquet))
}

/// What reading a file found: the manifest ely-backup would have printed for it (as far as
/// the file tells), and whether it verified.
pub struct Inspected {
    pub manifest: Manifest,
    /// Why it failed verification, when it did.
    pub error: Option<String>,
}

/// Reads a file ely wrote and describes it as a manifest: collections, counts and tenants
/// from its headers and trailers, the source and start time from its first header, the end
/// time from the file's modification time. `None` when the file holds no ely stream at all
/// (no header could be read).
pub fn inspect(path: &Path) -> Result<Option<Inspected>> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let meta = std::fs::metadata(&abs).with_context(|| format!("{}", abs.display()))?;
    let (bytes, hash) = hash_file(&abs).with_context(|| format!("reading {}", abs.display()))?;
    let (checked, parquet) = read_stream(&abs)?;
    if checked.headers.is_empty() {
        return Ok(None);
    }
    // Sections with a header come in the order of the headers (a section cut short by
    // damage has none: its objects are not counted).
    let mut counted = checked
        .summary
        .sections
        .iter()
        .filter(|s| s.collection.is_some());
    let collections: Vec<ManifestCollection> = checked
        .headers
        .iter()
        .map(|h| ManifestCollection {
            name: h.collection.clone(),
            objects: counted.next().map_or(0, |s| s.objects),
            tenants: h.tenants.as_ref().map_or(0, Vec::len),
        })
        .collect();
    let finished = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| ely_vocab::date::rfc3339_micros(t.as_microsecond()))
        .unwrap_or_else(ely_vocab::date::now_rfc3339);
    let started = checked
        .headers
        .iter()
        .filter_map(|h| h.created.clone())
        .min_by_key(|c| crate::db::micros(c).unwrap_or(i64::MAX))
        .unwrap_or_else(|| finished.clone());
    let manifest = Manifest {
        file: abs.display().to_string(),
        format: if parquet { "parquet" } else { "jsonl" }.into(),
        compression: match parquet {
            true => "zstd".into(),
            false => checked
                .summary
                .compression
                .map_or("none", |c| c.name())
                .into(),
        },
        objects: collections.iter().map(|c| c.objects).sum(),
        collections,
        bytes,
        hash,
        algorithm: ely_stream::HASH_ALGORITHM.into(),
        schema_only: false,
        filtered: false,
        started,
        finished,
        source: checked
            .headers
            .iter()
            .find_map(|h| h.source.clone())
            .unwrap_or_default(),
        ely_version: String::new(),
    };
    let error = match &checked.result {
        Ok(()) if checked.report.verified => None,
        Ok(()) => Some("not every collection ended with a matching trailer".into()),
        Err(e) => Some(format!("{e:#}")),
    };
    Ok(Some(Inspected { manifest, error }))
}
