//! The references spool: objects written without their reference properties wait here, in
//! a temporary file (so memory stays bounded however many there are), until every object of
//! the input is in; the references pass then writes them again, whole.

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{anyhow, Context};
use ely_store::Object;

/// Objects written without their references, kept in a temporary file (so memory stays
/// bounded however many there are) until the second pass.
pub(crate) struct Spool {
    path: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Spool {
    pub fn create() -> anyhow::Result<Spool> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "ely-restore-references-{}-{}.jsonl",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let file = o
            .open(&path)
            .with_context(|| format!("temporary file {}", path.display()))?;
        Ok(Spool {
            path,
            file: Some(BufWriter::new(file)),
        })
    }

    /// One record: the line number, a tab, the object as written plus its references.
    pub fn add(&mut self, line: u64, obj: &Object) -> anyhow::Result<()> {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(line.to_string().as_bytes());
        buf.push(b'\t');
        obj.write_line(&mut buf);
        buf.push(b'\n');
        if let Some(f) = self.file.as_mut() {
            f.write_all(&buf)
                .with_context(|| format!("temporary file {}", self.path.display()))?;
        }
        Ok(())
    }

    pub fn reader(mut self) -> anyhow::Result<SpoolReader> {
        if let Some(f) = self.file.take() {
            f.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .flush()?;
        }
        let f = File::open(&self.path)
            .with_context(|| format!("temporary file {}", self.path.display()))?;
        Ok(SpoolReader {
            lines: io::BufReader::new(f),
            _spool: self,
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) struct SpoolReader {
    lines: io::BufReader<File>,
    _spool: Spool,
}

impl SpoolReader {
    pub fn next_record(&mut self) -> anyhow::Result<Option<(u64, Object, Vec<u8>)>> {
        let mut buf = Vec::new();
        if self.lines.read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let tab = buf
            .iter()
            .position(|&b| b == b'\t')
            .ok_or_else(|| anyhow!("damaged temporary file"))?;
        let line: u64 = std::str::from_utf8(&buf[..tab])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| anyhow!("damaged temporary file"))?;
        let raw = buf[tab + 1..].to_vec();
        let obj: Object = serde_json::from_slice(&raw)?;
        Ok(Some((line, obj, raw)))
    }
}
