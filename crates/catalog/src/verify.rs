//! Verifying backups: `quick` checks that the file is there with the size and hash the
//! catalog recorded (a read of the file, no decoding); `deep` also reads the stream in it
//! to its end (every line, every collection's count and trailer, as `ely-convert --check`
//! does) and compares its object count with the catalog's; `sample` deep-checks a random
//! share and quick-checks the rest.

use std::path::Path;

use crate::db::{Backup, Check};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quick,
    Deep,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Quick => "quick",
            Mode::Deep => "deep",
        }
    }
}

/// Verifies one backup; the result is what the catalog records.
pub fn check(b: &Backup, mode: Mode) -> Check {
    let error = quick(b).err().or_else(|| match mode {
        Mode::Quick => None,
        Mode::Deep => deep(b).err(),
    });
    Check {
        at: ely_vocab::date::now_rfc3339(),
        mode: mode.name().into(),
        ok: error.is_none(),
        error,
    }
}

fn quick(b: &Backup) -> Result<(), String> {
    let path = Path::new(&b.file);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("missing: the file is not on disk".into())
        }
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if meta.len() != b.bytes {
        return Err(format!(
            "it is {} bytes; the catalog recorded {}",
            meta.len(),
            b.bytes
        ));
    }
    if b.algorithm != ely_stream::HASH_ALGORITHM {
        return Err(format!(
            "its hash is {}, which this ely cannot check",
            b.algorithm
        ));
    }
    let (_, hash) = crate::inspect::hash_file(path).map_err(|e| format!("cannot read it: {e}"))?;
    if hash != b.hash {
        return Err(format!(
            "its bytes changed: hash {hash}, the catalog recorded {}",
            b.hash
        ));
    }
    Ok(())
}

fn deep(b: &Backup) -> Result<(), String> {
    let (checked, _) =
        crate::inspect::read_stream(Path::new(&b.file)).map_err(|e| format!("{e:#}"))?;
    if let Err(e) = &checked.result {
        return Err(format!("{e:#}"));
    }
    if !checked.report.verified {
        return Err("not every collection ended with a matching trailer".into());
    }
    if checked.report.objects != b.objects {
        return Err(format!(
            "it holds {} objects; the catalog recorded {}",
            checked.report.objects, b.objects
        ));
    }
    Ok(())
}
