//! Verification: a stream read to its end, every line checked and every section's trailer
//! compared with what was read, summed up as one [`Verification`] record. `ely-convert
//! --check` prints it; a catalog of backups keeps it.

use std::sync::atomic::Ordering;

use crate::dead_letter::DeadLetter;
use crate::format::Header;
use crate::read::{Counters, Event, Summary};
use crate::records::{Verification, VerifiedCollection};
use crate::source::Source;

/// What [`verify`] found.
pub struct Verified {
    /// The record; its `error` says why verification failed, when it did.
    pub report: Verification,
    /// Everything the reader counted, with its warnings.
    pub summary: Summary,
    /// The header of each section read, in order (what a catalog records of a backup).
    pub headers: Vec<Header>,
    /// The error that stopped reading, for its exit code (4 for a truncated or corrupt
    /// stream, 2 for a bad line).
    pub result: anyhow::Result<()>,
}

/// Reads `source` to its end and says whether it is intact. When the source hands over bad
/// lines (its reader skips them: [`crate::ReadOptions::skip_bad`]), they go to `dead_letter`
/// and reading goes on. `counters` are the source's (for the bytes read).
pub fn verify(
    source: Box<dyn Source>,
    counters: &Counters,
    mut dead_letter: Option<&mut DeadLetter>,
) -> Verified {
    let name = source.display_name().to_owned();
    let mut summary = Summary::default();
    let mut headers = Vec::new();
    let result = source.read(&mut summary, &mut |event| {
        if let Event::Header { header, .. } = &event {
            headers.push((*header).clone());
        }
        if let (
            Event::Bad {
                line,
                number,
                reason,
                too_long,
            },
            Some(d),
        ) = (event, dead_letter.as_deref_mut())
        {
            d.reject(number, reason, line, too_long)?;
        }
        Ok(())
    });
    let mut report = Verification {
        input: name,
        compression: summary.compression.map(|c| c.name().to_owned()),
        verified: summary.verified(),
        collections: summary
            .sections
            .iter()
            .map(|s| VerifiedCollection {
                collection: s.collection.clone(),
                objects: s.objects,
                verified: s.verified,
                proof: s.verified.then(|| {
                    if s.header_hashed {
                        "header and objects"
                    } else {
                        "objects"
                    }
                    .to_owned()
                }),
            })
            .collect(),
        objects: summary.objects,
        lines: summary.lines,
        bad_lines: summary.bad_lines,
        bytes: summary.bytes,
        compressed_bytes: counters.bytes_in.load(Ordering::Relaxed),
        error: None,
    };
    if let Err(e) = &result {
        report.verified = false;
        report.error = Some(format!("{e:#}"));
    }
    Verified {
        report,
        summary,
        headers,
        result,
    }
}
