//! The collector: takes what the workers settled back in input order (whatever order the
//! batches finished in), and only then tells anyone: result lines on the output, rejected
//! objects into the dead-letter file, objects with references into the spool, and a
//! checkpoint that vouches only for lines every one of which was acknowledged.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use ely_stream::{BatchResult, Checkpoint, DeadLetter, ObjectResult, Reject};

use super::settle::{Done, Report, Status};
use super::spool::Spool;
use super::{checkpoint, Results, Shared, Written};

pub(crate) struct Collector<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub dead: Option<DeadLetter>,
    /// The sequence number of the next report to hand out.
    pub next: u64,
    pub waiting: BTreeMap<u64, Report>,
    pub totals: Written,
    pub error: Option<anyhow::Error>,
    /// Objects waiting for the references pass.
    pub spool: Option<Spool>,
    pub checkpoint: Option<PathBuf>,
    pub identity: Option<String>,
    /// Where a checkpoint may say the input is acknowledged up to: (line, chain hash).
    pub safe: (u64, u64),
    /// The last batch boundary acknowledged, references pending or not.
    pub latest: (u64, u64),
    /// Some object's references are still to be written: `safe` stays before it.
    pub refs_pending: bool,
    pub last_cp: Instant,
    /// stdout went away: results are no longer printed, the writing goes on.
    pub out_closed: bool,
    pub dry_run: bool,
    pub per_object: bool,
    pub input: String,
    /// Result lines of the source's own shape, when it gave one.
    pub results: Option<Box<dyn Results + 'a>>,
    /// The line of the last dead letter: a line of several items is set aside once.
    pub last_dead: Option<u64>,
}

impl Collector<'_> {
    /// Writes one line to the output (a closed output is not an error).
    pub fn line(&mut self, line: &[u8]) -> anyhow::Result<()> {
        if self.out_closed {
            return Ok(());
        }
        match self
            .out
            .write_all(line)
            .and_then(|()| self.out.write_all(b"\n"))
        {
            Ok(()) => Ok(()),
            // Whoever read the results went away (`| head`): the objects still matter.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.out_closed = true;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn record(&mut self, record: &impl serde::Serialize) -> anyhow::Result<()> {
        let text = serde_json::to_vec(record)?;
        self.line(&text)
    }

    /// Writes the checkpoint: at most twice a second unless `force`d.
    pub fn save_checkpoint(&mut self, force: bool) -> anyhow::Result<()> {
        let (Some(path), Some(identity)) = (&self.checkpoint, &self.identity) else {
            return Ok(());
        };
        if self.dry_run || (!force && self.last_cp.elapsed() < Duration::from_millis(500)) {
            return Ok(());
        }
        let (line, chain) = self.safe;
        let dead_letter_bytes = match self.dead.as_mut() {
            Some(d) => d.sync()?,
            None => 0,
        };
        if !self.out_closed {
            if let Err(e) = self.out.flush() {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
                self.out_closed = true;
            }
        }
        checkpoint::write(
            path,
            &Checkpoint {
                input: self.input.clone(),
                first_line: identity.clone(),
                line,
                chain,
                dead_letter_bytes,
                updated: ely_vocab::date::now_rfc3339(),
            },
        )?;
        self.last_cp = Instant::now();
        Ok(())
    }

    fn report(&mut self, r: Report, shared: &Shared<'_>) -> anyhow::Result<()> {
        match r {
            Report::Batch(d) => self.done(d, shared),
            Report::Line(line) if self.error.is_none() => match self.results.as_mut() {
                Some(results) => {
                    let mut lines = Vec::new();
                    results.line(line, &mut lines)?;
                    lines.iter().try_for_each(|l| self.line(l))
                }
                None => self.line(&line),
            },
            Report::Line(_) => Ok(()),
            Report::Identity(hash) => {
                self.identity = Some(hash);
                Ok(())
            }
        }
    }

    fn done(&mut self, d: Done, shared: &Shared<'_>) -> anyhow::Result<()> {
        if let Some(e) = d.error {
            if self.error.is_none() {
                self.error = Some(e);
            }
            return Ok(());
        }
        if self.error.is_some() {
            return Ok(());
        }
        let (mut w, mut u, mut s, mut r, mut x) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut rejects = Vec::new();
        let pass = d.references.then(|| "references".to_owned());
        let custom = self.results.is_some();
        for item in &d.items {
            match &item.status {
                Status::Written => w += 1,
                Status::Unchanged => u += 1,
                Status::Skipped => s += 1,
                Status::Deleted => x += 1,
                Status::Rejected(reason) => {
                    r += 1;
                    // Once per line, however many of its items were refused.
                    let first = self.last_dead != Some(item.line);
                    if let (Some(dl), true, false) = (self.dead.as_mut(), first, self.dry_run) {
                        dl.reject(item.line, reason, &item.raw, None)?;
                        self.last_dead = Some(item.line);
                    }
                    if !self.per_object && !custom {
                        rejects.push(Reject {
                            line: item.line,
                            id: item.id.clone(),
                            reason: reason.clone(),
                        });
                    }
                }
            }
            if self.per_object && !custom {
                self.record(&ObjectResult {
                    collection: d.class.clone(),
                    line: item.line,
                    id: item.id.clone(),
                    tenant: item.tenant.clone(),
                    status: item.status.name().to_owned(),
                    reason: match &item.status {
                        Status::Rejected(reason) => Some(reason.clone()),
                        _ => None,
                    },
                    pass: pass.clone(),
                    dry_run: self.dry_run,
                })?;
            }
        }
        if let Some(results) = self.results.as_mut() {
            let mut lines = Vec::new();
            results.items(&d.items, &mut lines)?;
            for l in lines {
                self.line(&l)?;
            }
        } else if !self.per_object {
            self.record(&BatchResult {
                collection: d.class.clone(),
                batch: d.number,
                first_line: d.items.first().map(|i| i.line),
                last_line: d.items.last().map(|i| i.line),
                objects: d.items.len() as u64,
                written: w,
                unchanged: u,
                skipped: s,
                rejected: r,
                rejects,
                pass,
                dry_run: self.dry_run,
            })?;
        }
        if d.references {
            self.totals.references += w;
            self.totals.rejected += r;
        } else {
            self.totals.written += w;
            self.totals.deleted += x;
            self.totals.unchanged += u;
            self.totals.skipped += s;
            self.totals.rejected += r;
            if !d.pending_refs.is_empty() && !self.dry_run {
                self.refs_pending = true;
                if self.spool.is_none() {
                    self.spool = Some(Spool::create()?);
                }
                if let Some(spool) = self.spool.as_mut() {
                    for (line, obj) in &d.pending_refs {
                        spool.add(*line, obj)?;
                    }
                }
            }
            if let Some(last) = d.last {
                self.latest = last;
                if !self.refs_pending {
                    self.safe = last;
                }
            }
        }
        if !d.references {
            shared
                .counters
                .done
                .fetch_add(d.items.len() as u64, Ordering::Relaxed);
        }
        self.save_checkpoint(false)
    }
}

/// The collector's thread: reports arrive in any order and are handed out in sequence.
pub(crate) fn collect(
    state: &Mutex<Collector<'_>>,
    shared: &Shared<'_>,
    rx: Receiver<(u64, Report)>,
) {
    for (seq, r) in rx {
        let Ok(mut st) = state.lock() else {
            shared.abort.store(true, Ordering::Relaxed);
            return;
        };
        st.waiting.insert(seq, r);
        loop {
            let next = st.next;
            let Some(r) = st.waiting.remove(&next) else {
                break;
            };
            st.next += 1;
            let done = st.report(r, shared);
            shared.completed.store(st.next, Ordering::Release);
            if let Err(e) = done {
                shared.abort.store(true, Ordering::Relaxed);
                if st.error.is_none() {
                    st.error = Some(e);
                }
            }
            if st.error.is_some() {
                shared.abort.store(true, Ordering::Relaxed);
            }
        }
    }
}
