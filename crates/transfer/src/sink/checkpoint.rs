//! The checkpoint file: how far the input has been acknowledged, so that a killed run,
//! rerun with the same command, continues from there. Written to a temporary name, synced
//! and renamed, mode 0600; a run that completes removes it.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{anyhow, Context};
use ely_stream::{Checkpoint, Record};

/// A hash of the input's first line, which a checkpoint keeps to refuse resuming another
/// input.
pub fn first_line_hash(line: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(line))
}

/// The checkpoint at `path`, or `None` when there is none.
pub fn read(path: &Path) -> anyhow::Result<Option<Checkpoint>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            Checkpoint::from_line(line).map(Some).map_err(|e| {
                anyhow!(
                    "checkpoint {}: not an ely checkpoint ({e}); delete it to start over",
                    path.display()
                )
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!("checkpoint {}: {e}", path.display())),
    }
}

/// Replaces the checkpoint at `path` atomically.
pub fn write(path: &Path, cp: &Checkpoint) -> anyhow::Result<()> {
    let mut f = ely_stream::atomic::AtomicFile::create_with_mode(path, Some(0o600))
        .context("writing the checkpoint")?;
    let mut line = cp.to_line();
    line.push(b'\n');
    f.write_all(&line).context("writing the checkpoint")?;
    f.commit().context("writing the checkpoint")?;
    Ok(())
}

/// Removes the checkpoint (the whole input is in: a rerun starts over).
pub fn remove(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow!("removing checkpoint {}: {e}", path.display())),
    }
}
