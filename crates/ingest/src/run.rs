//! The run: change records and git's changes become tasks (one per file, and one per
//! repository's changeset), tasks become chunk objects and deletes, and those go through the
//! sink, which writes them and reports back in input order. The results writer turns each
//! task's acknowledged items into its result line, and remembers a repository's commit only
//! once every task of that repository before it was acknowledged without a rejection.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use ely_store::{names, Object, Store};
use ely_stream::{Counters, Record};
use ely_transfer::sink::{Feeder, Item, ItemResult, Op, Results, Sink, SinkOptions, Status};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::change::{self, Body, Line};
use crate::chunk::{chunks, Chunking};
use crate::filter::{self, Filters};
use crate::git::{self, Blob, Blobs, Change, GitRepo};
use crate::model::{self, IdScheme, PROPERTIES};
use crate::repos::{files_under, Found, Repos};
use crate::state::{self, State};

/// How to ingest.
pub struct IngestOptions {
    pub collection: String,
    /// The vectorizer of a collection this run creates (`None`: the store's default).
    pub vectorizer: Option<String>,
    pub model: Option<String>,
    pub id_scheme: IdScheme,
    pub chunking: Chunking,
    pub filters: Filters,
    pub repos: Repos,
    /// Plain lines are paths of this repository (`--repo DIR`).
    pub path_repo: Option<String>,
    /// `--git`: the repositories to read from git itself.
    pub git: Vec<GitRepo>,
    /// `--uncommitted`: the working tree's changes too.
    pub uncommitted: bool,
    /// Rewrite files whose content did not change.
    pub force: bool,
    pub sink: SinkOptions,
    pub max_line_bytes: usize,
}

/// What a run did, file by file.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    /// Input lines read (records, paths and noise).
    pub lines: u64,
    /// Lines that were not records (mgit's progress bars and tables).
    pub noise: u64,
    pub files: u64,
    pub upserted: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Files the run a checkpoint came from had done already.
    pub resumed: u64,
    pub chunks_written: u64,
    pub chunks_deleted: u64,
    /// Repositories whose commit was remembered.
    pub remembered: u64,
    /// Repositories whose commit was kept, because something of theirs was rejected.
    pub kept: u64,
    pub collection_created: bool,
    pub properties_added: u64,
}

/// The end of a run.
pub struct Finished {
    pub totals: Totals,
    pub dead_letter: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Tasks looked up and fed together: one lookup of what the store holds per window.
const WINDOW: usize = 256;

/// Text read ahead of the sink, at most (about): a window of large files is fed in parts.
const READY_BYTES: usize = 32 << 20;

/// One unit of work, with its result line.
struct Task {
    line: u64,
    /// The line as read (shared by every item made of it).
    raw: Bytes,
    repo: String,
    what: What,
}

enum What {
    File {
        op: change::Op,
        path: String,
        from: Option<String>,
        content: Content,
    },
    /// How far the repository was read, remembered once everything before it is in.
    Changeset {
        commit: String,
        branch: Option<String>,
        source: state::Source,
        /// With `--git`: the paths indexed from the working tree (`--uncommitted`), which
        /// the next run checks again.
        worktree: Option<Vec<String>>,
    },
    /// A line that is not a record, and why.
    Reject(String),
}

/// Where a file's content comes from.
enum Content {
    Record(Body),
    /// A blob of a commit, its mode, and whether the working tree holds the same file (then
    /// it is read from disk, which is cheaper than inflating the blob).
    Blob(String, String, bool),
    /// The working tree.
    Disk,
}

/// A file task with its content read.
enum Prepared {
    Upsert {
        text: String,
        hash: String,
        size: u64,
    },
    Delete,
    Skip(String),
    Reject(String),
}

/// What the store holds of a file: its chunk count and (a hash of) its content hash. Kept for
/// every file a run writes, so it is small.
#[derive(Clone, Copy)]
struct Held {
    chunks: u32,
    hash: Option<u64>,
}

fn short(hash: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(hash.as_bytes())
}

/// The file-level tallies the results writer keeps, shared with the run.
type Shared = Arc<Mutex<Totals>>;

/// Ingests `input` (when given; its name for messages) and the `--git` repositories into
/// `store`, writing one result line per task to `out`.
#[allow(clippy::too_many_arguments)]
pub fn ingest(
    store: &dyn Store,
    input: Option<ely_stream::Input>,
    opts: &IngestOptions,
    state: Option<State>,
    counters: Arc<Counters>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Finished> {
    let class = names::class_name(&opts.collection);
    let dry = opts.sink.dry_run;
    let mut warnings = Vec::new();
    let totals: Shared = Arc::new(Mutex::new(Totals::default()));
    let exists = setup_collection(store, &class, opts, state.as_ref(), &totals)?;
    // A dry run leaves a collection without the properties it looks up as it is: then no
    // object has them, and asking for them would be an error in Weaviate.
    let lookups_off = dry
        && exists
        && store.class(&class)?.is_some_and(|def| {
            let names = ely_store::schema::property_names(&def);
            !["contentHash", "chunkCount"]
                .iter()
                .all(|n| names.iter().any(|m| m.eq_ignore_ascii_case(n)))
        });
    let input_name = input
        .as_ref()
        .map(|i| i.display_name().to_owned())
        .unwrap_or_else(|| "--git".into());
    let sink = Sink::open(store, &opts.sink, &input_name, &counters, out)?;
    let resume = sink.resume().map(|c| c.line).unwrap_or(0);
    let resume_from = sink.resume().map(|c| {
        (
            c.first_line.clone(),
            opts.sink.checkpoint.clone().unwrap_or_default(),
        )
    });
    // Commits remembered before this run, read now: the state file moves to the writer, and
    // the run keeps a connection of its own to mark what it begins.
    let mut remembered = HashMap::new();
    let mut unfinished = HashSet::new();
    let marks = match &state {
        Some(st) => {
            for g in &opts.git {
                remembered.insert(g.name.clone(), st.commit(&g.name, state::Source::Git)?);
            }
            unfinished = st.unfinished()?.into_keys().collect();
            Some(st.reopen()?)
        }
        None => None,
    };
    // What git holds now is part of what a checkpoint was made for: after a pull, the
    // changes listed are others, and an old checkpoint must not skip them.
    let mut git_identity = String::new();
    for g in &opts.git {
        let before = remembered.get(&g.name).cloned().flatten().map(|r| r.commit);
        let head = git::head(&g.dir).ok().flatten();
        git_identity.push_str(&format!(
            "\n{} {}..{}",
            g.name,
            before.unwrap_or_default(),
            head.unwrap_or_default()
        ));
    }
    sink.set_results(Box::new(Writer {
        totals: totals.clone(),
        state,
        dry,
        failed: HashMap::new(),
        current: None,
    }))?;
    let mut run = Run {
        store,
        class,
        opts,
        exists,
        lookups_off,
        counters: &counters,
        resumed: resume > 0,
        resume,
        resume_from,
        git_identity,
        marks,
        begun: Vec::new(),
        unfinished,
        verified: None,
        held: HashMap::new(),
        heads: HashMap::new(),
        next_line: 0,
        first: true,
        totals: totals.clone(),
        indexed_at: ely_vocab::date::now_rfc3339(),
        tasks: 0,
        blobs: None,
    };
    let fed = sink.feed(|feeder| -> anyhow::Result<()> {
        let mut window: Vec<Task> = Vec::new();
        if let Some(input) = input {
            let name = input.display_name().to_owned();
            let (compression, decoded) = input.decoded(counters.clone())?;
            // Compressed input that ends early or is damaged is input failing verification.
            let read_error = |e: std::io::Error| -> anyhow::Error {
                let damaged = matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                );
                if damaged && compression != ely_stream::Compression::None {
                    anyhow::Error::new(ely_stream::StreamError {
                        kind: ely_stream::ErrorKind::Verification,
                        message: format!(
                            "{name}: the {} data is truncated or corrupt ({e}); the run stops there",
                            compression.name()
                        ),
                    })
                } else {
                    anyhow::Error::new(e).context(format!("reading {name}"))
                }
            };
            let mut reader = std::io::BufReader::with_capacity(1 << 20, decoded);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = std::io::Read::take(&mut reader, opts.max_line_bytes as u64 + 1)
                    .read_until(b'\n', &mut buf)
                    .map_err(read_error)?;
                if n == 0 {
                    break;
                }
                run.next_line += 1;
                let number = run.next_line;
                if let Ok(mut t) = totals.lock() {
                    t.lines += 1;
                }
                if buf.len() > opts.max_line_bytes && !buf.ends_with(b"\n") {
                    skip_line(&mut reader).map_err(read_error)?;
                    window.push(Task {
                        line: number,
                        raw: Bytes::new(),
                        repo: change::repo_of(&buf).unwrap_or_default(),
                        what: What::Reject(format!(
                            "line is longer than --max-line-bytes ({})",
                            opts.max_line_bytes
                        )),
                    });
                } else {
                    let raw = buf.strip_suffix(b"\n").unwrap_or(&buf);
                    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
                    // A dead-letter record is read as the line it holds.
                    let held_line;
                    let raw = match ely_stream::Rejected::from_line(raw) {
                        Ok(ely_stream::Rejected { raw: Some(r), .. }) => {
                            held_line = r.into_bytes();
                            &held_line[..]
                        }
                        _ => raw,
                    };
                    match change::parse(raw, opts.path_repo.is_some()) {
                        Line::Noise => {
                            if let Ok(mut t) = totals.lock() {
                                t.noise += 1;
                            }
                            continue;
                        }
                        parsed => window.push(run.task(number, raw, parsed)),
                    }
                }
                if window.len() >= WINDOW {
                    run.window(std::mem::take(&mut window), feeder)?;
                }
                if feeder.aborted() {
                    return Ok(());
                }
            }
        }
        for g in &opts.git {
            let before = remembered.get(&g.name).cloned().flatten();
            if let Err(e) = run.git_repo(g, before.map(|r| r.commit), &mut window, feeder) {
                // A repository git cannot read (a corrupt object, dubious ownership) fails
                // alone: its commit is kept, the other repositories go on. The store failing
                // or the run being stopped ends the run.
                let store_failed = e.chain().any(|c| c.is::<ely_store::StoreError>());
                if store_failed || feeder.aborted() {
                    return Err(e);
                }
                window.push(run.synthetic(
                    &g.name,
                    json!({"repo": g.name, "op": "changeset"}),
                    What::Reject(format!("{}: {e:#}", g.dir.display())),
                ));
            }
        }
        run.window(std::mem::take(&mut window), feeder)?;
        feeder.flush()
    });
    if let Err(e) = fed.and_then(|r| r) {
        // What was acknowledged is said and the checkpoint kept; the error is the exit code.
        let e = sink.abandon(e);
        sink.finish(false)?;
        return Err(e);
    }
    let delivered = sink.finish(true)?;
    // Every repository written whole, without a rejection, is finished (those with a
    // changeset were finished when it was remembered).
    if let Some(m) = &run.marks {
        if !dry {
            for repo in &run.begun {
                if m.rejections(repo)? == 0 {
                    m.finish(repo)?;
                }
            }
        }
    }
    let totals = totals
        .lock()
        .map(|t| t.clone())
        .unwrap_or_else(|p| p.into_inner().clone());
    if totals.noise > 0 {
        warnings.push(format!(
            "{} line(s) of the input were not records (progress bars, tables) and were skipped",
            totals.noise
        ));
    }
    Ok(Finished {
        totals,
        dead_letter: delivered.dead_letter,
        warnings,
    })
}

/// Creates the collection, or adds the properties it lacks, after checking its id scheme.
/// Returns whether it held objects before this run could write any (a collection created
/// now, or in a dry run not created, holds none).
fn setup_collection(
    store: &dyn Store,
    class: &str,
    opts: &IngestOptions,
    state: Option<&State>,
    totals: &Shared,
) -> anyhow::Result<bool> {
    let dry = opts.sink.dry_run;
    let scheme = opts.id_scheme;
    match store.class(class)? {
        None => {
            if !dry {
                let def = model::class_definition(
                    class,
                    opts.vectorizer.as_deref(),
                    opts.model.as_deref(),
                    scheme,
                );
                store
                    .create_class(&def)
                    .with_context(|| format!("creating collection {class}"))?;
                if let Some(st) = state {
                    st.set_scheme(scheme.name())?;
                }
            }
            if let Ok(mut t) = totals.lock() {
                t.collection_created = true;
            }
            // A collection made now holds nothing yet: no lookups (this run knows what it wrote).
            Ok(false)
        }
        Some(def) => {
            let recorded = match model::recorded_scheme(&def) {
                Some(s) => Some(s),
                None => match state.map(State::scheme).transpose()?.flatten() {
                    Some(s) => Some(IdScheme::parse(&s).map_err(anyhow::Error::msg)?),
                    None => None,
                },
            };
            if let Some(r) = recorded.filter(|r| *r != scheme) {
                bail!(
                    "collection {class} was written with --id-scheme {}, not {}: mixing them would index every file twice (give --id-scheme {})",
                    r.name(),
                    scheme.name(),
                    r.name()
                );
            }
            if recorded.is_none() && !dry {
                if let Some(st) = state {
                    st.set_scheme(scheme.name())?;
                }
            }
            let have: HashSet<String> = ely_store::schema::property_names(&def)
                .into_iter()
                .map(|n| n.to_ascii_lowercase())
                .collect();
            for (name, data_type, tok) in PROPERTIES {
                if have.contains(&name.to_ascii_lowercase()) {
                    continue;
                }
                if !dry {
                    let vectorizer = def.get("vectorizer").and_then(Value::as_str);
                    store
                        .add_property(class, &model::property(name, data_type, tok, vectorizer))
                        .with_context(|| format!("adding property {name} to {class}"))?;
                }
                if let Ok(mut t) = totals.lock() {
                    t.properties_added += 1;
                }
            }
            Ok(true)
        }
    }
}

struct Run<'r> {
    store: &'r dyn Store,
    class: String,
    opts: &'r IngestOptions,
    /// The collection held objects before this run (lookups can find something).
    exists: bool,
    /// No lookups: a dry run on a collection that lacks the properties looked up (so no
    /// object has them).
    lookups_off: bool,
    counters: &'r Counters,
    /// Lines a checkpoint vouches for.
    resume: u64,
    /// This run continues one that stopped (its checkpoint vouches for some lines).
    resumed: bool,
    /// The `--git` repositories and their commits (part of a checkpoint's identity).
    git_identity: String,
    /// The state file, for marking repositories begun (None without one).
    marks: Option<State>,
    /// Repositories marked begun by this run, in order.
    begun: Vec<String>,
    /// Repositories an earlier run began and did not finish: their files may be written in
    /// part, so what the store holds of them is read chunk by chunk, not from first chunks.
    unfinished: HashSet<String>,
    /// What the store holds of the unfinished repositories' files, read once.
    verified: Option<HashMap<u64, Held>>,
    /// The checkpoint's first-line hash and file: the input must be the one it was made for.
    resume_from: Option<(String, PathBuf)>,
    /// What this run wrote, by repository and path (its hash): later lookups in the same run
    /// may not see it yet.
    held: HashMap<u64, Held>,
    /// Each repository's HEAD and branch, for the objects of records.
    heads: HashMap<String, (String, String)>,
    next_line: u64,
    first: bool,
    totals: Shared,
    indexed_at: String,
    /// Tasks numbered so far (each task's items carry its number).
    tasks: u64,
    /// The `git cat-file` of the repository whose blobs are being read.
    blobs: Option<(String, Blobs)>,
}

/// Reads past the rest of a line without keeping it.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&c| c == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

fn key(repo: &str, path: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(repo.as_bytes());
    h.update(b"\0");
    h.update(path.as_bytes());
    h.digest()
}

fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

impl Run<'_> {
    /// The task of an input line.
    fn task(&mut self, number: u64, raw: &[u8], parsed: Line) -> Task {
        let raw = Bytes::copy_from_slice(raw);
        match parsed {
            Line::File(f) => Task {
                line: number,
                raw,
                repo: f.repo,
                what: What::File {
                    op: f.op,
                    path: f.path,
                    from: f.renamed_from,
                    content: Content::Record(f.body),
                },
            },
            Line::Changeset {
                repo,
                commit,
                branch,
            } => Task {
                line: number,
                raw,
                repo,
                what: What::Changeset {
                    commit,
                    branch,
                    source: state::Source::Mgit,
                    worktree: None,
                },
            },
            Line::Path(p) => {
                let repo = self.opts.path_repo.clone().unwrap_or_default();
                let path = self.relative(&repo, &p);
                Task {
                    line: number,
                    raw,
                    repo,
                    what: match path {
                        Ok(path) => What::File {
                            op: change::Op::Modify,
                            path,
                            from: None,
                            content: Content::Disk,
                        },
                        Err(why) => What::Reject(why),
                    },
                }
            }
            Line::Bad(why) => Task {
                line: number,
                repo: change::repo_of(&raw).unwrap_or_default(),
                raw,
                what: What::Reject(why),
            },
            Line::Noise => Task {
                line: number,
                raw,
                repo: String::new(),
                what: What::Reject("not a record".into()),
            },
        }
    }

    /// A path list's path as a path from the repository's root (`./a`, `/abs/repo/a`).
    fn relative(&self, repo: &str, p: &str) -> Result<String, String> {
        let trimmed = p.trim_start_matches("./");
        let path = std::path::Path::new(trimmed);
        if path.is_absolute() {
            let dir = self
                .opts
                .repos
                .dir(repo)
                .ok_or_else(|| format!("repository {repo} is not known"))?;
            let real = std::fs::canonicalize(path)
                .ok()
                .or_else(|| {
                    path.parent()
                        .and_then(|d| std::fs::canonicalize(d).ok())
                        .zip(path.file_name())
                        .map(|(d, n)| d.join(n))
                })
                .unwrap_or_else(|| path.to_owned());
            return real
                .strip_prefix(&dir)
                .map(|r| r.to_string_lossy().into_owned())
                .map_err(|_| format!("{p} is outside repository {repo} ({})", dir.display()));
        }
        Ok(trimmed.to_owned())
    }

    /// The tasks of one `--git` repository: what was committed since `before` (or every
    /// tracked file, removing the objects of files that are gone, when there is no `before`
    /// or history no longer holds it), the working tree's changes with `--uncommitted`, and
    /// the changeset that remembers HEAD.
    fn git_repo(
        &mut self,
        g: &GitRepo,
        before: Option<String>,
        window: &mut Vec<Task>,
        feeder: &mut Feeder<'_, '_>,
    ) -> anyhow::Result<()> {
        let Some(head) = git::head(&g.dir)? else {
            window.push(self.synthetic(
                &g.name,
                json!({"repo": g.name, "op": "changeset"}),
                What::Reject(format!(
                    "{} has no commits yet: nothing to ingest",
                    g.dir.display()
                )),
            ));
            return Ok(());
        };
        let branch = git::branch(&g.dir);
        self.heads.insert(
            g.name.clone(),
            (head.clone(), branch.clone().unwrap_or_default()),
        );
        let incremental = match &before {
            Some(old) if *old == head => Some(Vec::new()),
            Some(old) if git::is_ancestor(&g.dir, old, &head)? => {
                Some(git::changes(&g.dir, old, &head)?)
            }
            _ => None,
        };
        // Tracked files whose working copy is the committed file are read from disk.
        let dirty: HashSet<u64> = git::dirty(&g.dir)?
            .iter()
            .map(|p| key(&g.name, p))
            .collect();
        let clean = |path: &str| !dirty.contains(&key(&g.name, path));
        let mut changes: Vec<Change> = Vec::new();
        let full = incremental.is_none();
        match incremental {
            Some(diff) => changes = diff,
            None => {
                // Objects of files that are gone (a first run, a force push, a branch switch).
                let mut tracked = HashSet::new();
                for f in git::tracked(&g.dir, &head)? {
                    tracked.insert(key(&g.name, &f?.0));
                }
                for path in self.gone(&g.name, &tracked)? {
                    let record = json!({"repo": g.name, "op": "delete", "path": path});
                    let what = What::File {
                        op: change::Op::Delete,
                        path,
                        from: None,
                        content: Content::Disk,
                    };
                    window.push(self.synthetic(&g.name, record, what));
                    self.drain(window, feeder)?;
                }
                drop(tracked);
                // Every file of HEAD, as git lists them.
                for f in git::tracked(&g.dir, &head)? {
                    let (path, blob, mode) = f?;
                    let record = json!({"repo": g.name, "op": "modify", "path": path});
                    let content = Content::Blob(blob, mode, clean(&path));
                    let what = What::File {
                        op: change::Op::Modify,
                        path,
                        from: None,
                        content,
                    };
                    window.push(self.synthetic(&g.name, record, what));
                    self.drain(window, feeder)?;
                }
            }
        }
        let uncommitted = if self.opts.uncommitted {
            git::uncommitted(&g.dir)?
        } else {
            Vec::new()
        };
        // What is indexed from the working tree now, which the next run checks again.
        let worktree: Vec<String> = uncommitted
            .iter()
            .filter_map(|c| match c {
                Change::Upsert { path, .. } | Change::Rename { path, .. } => Some(path.clone()),
                Change::Delete { .. } => None,
            })
            .collect();
        // Paths an earlier run indexed from the working tree that nothing names now (an
        // untracked file removed, an edit undone, --uncommitted no longer given) go back to
        // what HEAD holds: its file, or nothing. A full re-index has done that already.
        let previous = match &self.marks {
            Some(m) => m.worktree(&g.name)?,
            None => Vec::new(),
        };
        if !full && !previous.is_empty() {
            let mut named: HashSet<&str> = HashSet::new();
            for c in changes.iter().chain(&uncommitted) {
                match c {
                    Change::Upsert { path, .. } | Change::Delete { path } => {
                        named.insert(path);
                    }
                    Change::Rename { from, path, .. } => {
                        named.insert(path);
                        named.insert(from);
                    }
                }
            }
            let mut again: HashSet<String> = previous
                .into_iter()
                .filter(|p| !named.contains(p.as_str()))
                .collect();
            let mut back = Vec::new();
            if !again.is_empty() {
                for f in git::tracked(&g.dir, &head)? {
                    let (path, blob, mode) = f?;
                    if again.remove(&path) {
                        back.push(Change::Upsert {
                            path,
                            blob: Some(blob),
                            mode,
                        });
                    }
                }
            }
            let mut gone: Vec<String> = again.into_iter().collect();
            gone.sort();
            back.extend(gone.into_iter().map(|path| Change::Delete { path }));
            changes.extend(back);
        }
        changes.extend(uncommitted);
        for c in changes {
            let (op, path, from, content) = match c {
                Change::Upsert { path, blob, mode } => {
                    let content = match blob {
                        Some(b) => Content::Blob(b, mode, clean(&path)),
                        None => Content::Disk,
                    };
                    (change::Op::Modify, path, None, content)
                }
                Change::Delete { path } => (change::Op::Delete, path, None, Content::Disk),
                Change::Rename {
                    from,
                    path,
                    blob,
                    mode,
                } => {
                    let content = match blob {
                        Some(b) => Content::Blob(b, mode, clean(&path)),
                        None => Content::Disk,
                    };
                    (change::Op::Modify, path, Some(from), content)
                }
            };
            let mut record = json!({"repo": g.name, "op": op.name(), "path": path});
            if let Some(f) = &from {
                record["from"] = json!(f);
            }
            let what = What::File {
                op,
                path,
                from,
                content,
            };
            window.push(self.synthetic(&g.name, record, what));
            self.drain(window, feeder)?;
        }
        let record = json!({"repo": g.name, "new_changeset": {"commit": head, "branch": branch}});
        let what = What::Changeset {
            commit: head,
            branch,
            source: state::Source::Git,
            worktree: Some(worktree),
        };
        window.push(self.synthetic(&g.name, record, what));
        Ok(())
    }

    /// Processes the window when it is full.
    fn drain(&mut self, window: &mut Vec<Task>, feeder: &mut Feeder<'_, '_>) -> anyhow::Result<()> {
        if window.len() >= WINDOW {
            self.window(std::mem::take(window), feeder)?;
        }
        Ok(())
    }

    /// A task that is not an input line (git's changes): numbered after the input, with a
    /// record as its line (what the dead-letter file keeps, readable as input again).
    fn synthetic(&mut self, repo: &str, record: Value, what: What) -> Task {
        self.next_line += 1;
        Task {
            line: self.next_line,
            raw: Bytes::from(record.to_string().into_bytes()),
            repo: repo.to_owned(),
            what,
        }
    }

    /// The paths of `repo`'s objects in the collection that are not in `tracked`.
    fn gone(&self, repo: &str, tracked: &HashSet<u64>) -> anyhow::Result<Vec<String>> {
        if !self.exists {
            return Ok(Vec::new());
        }
        let mut gone = HashSet::new();
        self.each_object(|p| {
            if p.get("repo").and_then(Value::as_str) != Some(repo) {
                return;
            }
            if let Some(path) = p.get("path").and_then(Value::as_str) {
                if !tracked.contains(&key(repo, path)) {
                    gone.insert(path.to_owned());
                }
            }
        })?;
        let mut gone: Vec<String> = gone.into_iter().collect();
        gone.sort();
        Ok(gone)
    }

    /// Reads the whole collection, page by page, handing each object's properties to `f`.
    fn each_object(&self, mut f: impl FnMut(&Map<String, Value>)) -> anyhow::Result<()> {
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .scan(&self.class, None, after.as_deref(), 500, false)
                .with_context(|| format!("reading {}", self.class))?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.id.clone());
            for o in &page {
                f(&o.properties);
            }
        }
    }

    /// Reads, looks up and feeds a window of tasks.
    fn window(&mut self, tasks: Vec<Task>, feeder: &mut Feeder<'_, '_>) -> anyhow::Result<()> {
        if tasks.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.first) {
            let mut identity = tasks[0].raw.to_vec();
            identity.extend_from_slice(self.git_identity.as_bytes());
            if let Some((hash, path)) = &self.resume_from {
                if *hash != ely_transfer::sink::first_line_hash(&identity) {
                    bail!(
                        "checkpoint {} belongs to another input (its first change, or a repository's commits, differ); delete it to start over, or give another --checkpoint",
                        path.display()
                    );
                }
            }
            feeder.identify(&identity)?;
        }
        // Content first (a folder becomes one task per file in it), fed on whenever the text
        // read reaches READY_BYTES, so a window of large files never holds much.
        let mut ready: Vec<(Task, Option<Prepared>)> = Vec::with_capacity(tasks.len());
        let mut bytes = 0;
        for task in tasks {
            if task.line <= self.resume {
                if let Ok(mut t) = self.totals.lock() {
                    t.resumed += 1;
                }
                continue;
            }
            match &task.what {
                What::File { .. } => {
                    for (t, p) in self.prepare(task)? {
                        if let Prepared::Upsert { text, .. } = &p {
                            bytes += text.len();
                        }
                        ready.push((t, Some(p)));
                    }
                }
                _ => ready.push((task, None)),
            }
            if bytes >= READY_BYTES {
                self.feed(std::mem::take(&mut ready), feeder)?;
                bytes = 0;
            }
        }
        self.feed(ready, feeder)
    }

    /// Looks up what the store holds of the prepared files (one lookup), and feeds their
    /// items to the sink. `ready` ends at a line's end.
    fn feed(
        &mut self,
        ready: Vec<(Task, Option<Prepared>)>,
        feeder: &mut Feeder<'_, '_>,
    ) -> anyhow::Result<()> {
        if let Some(m) = &self.marks {
            if !self.opts.sink.dry_run {
                for (task, _) in &ready {
                    if !task.repo.is_empty() && !self.begun.contains(&task.repo) {
                        m.begin(&task.repo, self.resumed)?;
                        self.begun.push(task.repo.clone());
                    }
                }
            }
        }
        let held = self.lookup(&ready)?;
        let mut items: Vec<Item> = Vec::new();
        for (task, prepared) in ready {
            self.items(task, prepared, &held, &mut items);
        }
        for i in 0..items.len() {
            items[i].more = items.get(i + 1).is_some_and(|n| n.line == items[i].line);
        }
        self.counters
            .objects
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        for item in items {
            let class = self.class.clone();
            feeder.push(&class, item, false)?;
        }
        Ok(())
    }

    /// Reads a file task's content, deciding what becomes of it.
    fn prepare(&mut self, task: Task) -> anyhow::Result<Vec<(Task, Prepared)>> {
        let What::File {
            op, path, content, ..
        } = &task.what
        else {
            return Ok(Vec::new());
        };
        if *op == change::Op::Delete {
            return Ok(vec![(task, Prepared::Delete)]);
        }
        // An untracked folder (mgit's `dir/`) is judged by excludes here, its files one by one.
        let judged = match path.ends_with('/') {
            true => self.opts.filters.folder(path),
            false => self.opts.filters.by_name(path),
        };
        if let Some(why) = judged {
            return Ok(vec![(task, Prepared::Skip(why))]);
        }
        let limit = self.opts.filters.max_size;
        let opts = self.opts;
        let repos = &opts.repos;
        let from_disk = |fallback: Option<&str>| -> Result<Found, String> {
            match repos.read(&task.repo, path, limit) {
                Ok(found) => Ok(found),
                Err(why) => Err(match fallback {
                    Some(f) => format!("{f}, and reading the file failed: {why}"),
                    None => why,
                }),
            }
        };
        let found: Result<Found, String> = match content {
            Content::Disk => from_disk(None),
            Content::Blob(id, mode, clean) => match mode.as_str() {
                "120000" => Ok(Found::Skip("a symbolic link".into())),
                "160000" => Ok(Found::Skip("a submodule".into())),
                _ => {
                    let on_disk = if *clean {
                        repos.read(&task.repo, path, limit).ok()
                    } else {
                        None
                    };
                    match on_disk {
                        Some(found @ (Found::Bytes(_) | Found::TooLarge(_))) => Ok(found),
                        _ => {
                            let fresh = !matches!(&self.blobs, Some((r, _)) if *r == task.repo);
                            if fresh {
                                let dir = repos.dir(&task.repo).ok_or_else(|| {
                                    anyhow::anyhow!("repository {} has no folder", task.repo)
                                })?;
                                self.blobs = Some((task.repo.clone(), Blobs::open(&dir)?));
                            }
                            let Some((_, b)) = self.blobs.as_mut() else {
                                bail!("git cat-file is not running");
                            };
                            match b.read(id, limit)? {
                                Blob::Bytes(data) => Ok(Found::Bytes(data)),
                                Blob::TooLarge(n) => Ok(Found::TooLarge(n)),
                            }
                        }
                    }
                }
            },
            Content::Record(body) => match body {
                Body::SkipIndex => Ok(Found::Skip(
                    "the record says skip_index: known, not indexed".into(),
                )),
                Body::Text { text, hash } => {
                    let bytes = text.as_bytes();
                    match hash {
                        Some(h) if !sha256_hex(bytes).eq_ignore_ascii_case(h) => {
                            // mgit's summary or sample, not the file: the file itself is read.
                            from_disk(Some(
                                "the record's content is not the file (its content_hash differs: a summary or a sample)",
                            ))
                        }
                        _ => Ok(Found::Bytes(bytes.to_vec())),
                    }
                }
                Body::Base64(b) => ely_vocab::base64_decode(b)
                    .map(Found::Bytes)
                    .map_err(|e| format!("content_base64 is {e}")),
                Body::Ref(r) => repos.read_ref(r, limit),
                Body::Null => from_disk(Some("the record has no content (content: null)")),
                Body::Error(e) => from_disk(Some(&format!("mgit could not read it ({e})"))),
                Body::Disk => from_disk(Some("the record has no content")),
            },
        };
        let prepared = match found {
            Err(why) => Prepared::Reject(why),
            Ok(Found::Missing) => Prepared::Delete,
            Ok(Found::Skip(why)) => Prepared::Skip(why),
            Ok(Found::TooLarge(n)) => Prepared::Skip(
                self.opts
                    .filters
                    .by_size(n)
                    .unwrap_or_else(|| format!("{n} bytes, larger than --max-file-size")),
            ),
            Ok(Found::Folder(dir)) => {
                // An untracked folder (mgit lists `dir/`): each file in it.
                let Some(repo_dir) = repos.dir(&task.repo) else {
                    return Ok(vec![(
                        task,
                        Prepared::Reject("no repository folder".into()),
                    )]);
                };
                let mut out = Vec::new();
                for rel in files_under(&repo_dir, &dir, &filter::DEFAULT_EXCLUDED_DIRS) {
                    let sub = Task {
                        line: task.line,
                        raw: task.raw.clone(),
                        repo: task.repo.clone(),
                        what: What::File {
                            op: change::Op::Add,
                            path: rel,
                            from: None,
                            content: Content::Disk,
                        },
                    };
                    out.extend(self.prepare(sub)?);
                }
                if out.is_empty() {
                    return Ok(vec![(
                        task,
                        Prepared::Skip("a folder with no files to index".into()),
                    )]);
                }
                return Ok(out);
            }
            Ok(Found::Bytes(data)) => {
                let size = data.len() as u64;
                if let Some(why) = self.opts.filters.by_size(size) {
                    Prepared::Skip(why)
                } else if filter::is_binary(&data) {
                    Prepared::Skip("binary content".into())
                } else {
                    self.counters.bytes_in.fetch_add(size, Ordering::Relaxed);
                    let hash = sha256_hex(&data);
                    Prepared::Upsert {
                        text: filter::text(data),
                        hash,
                        size,
                    }
                }
            }
        };
        Ok(vec![(task, prepared)])
    }

    /// What the store holds of each file of the window (and of each rename's old path).
    fn lookup(&mut self, ready: &[(Task, Option<Prepared>)]) -> anyhow::Result<HashMap<u64, Held>> {
        let mut want: Vec<(u64, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut checked = HashMap::new();
        for (task, _) in ready {
            let What::File { path, from, .. } = &task.what else {
                continue;
            };
            if self.exists && self.unfinished.contains(&task.repo) {
                // An earlier run stopped inside this repository: every chunk is checked.
                let verified = self.verified()?;
                for p in std::iter::once(path).chain(from) {
                    let k = key(&task.repo, p);
                    checked.insert(
                        k,
                        verified.get(&k).copied().unwrap_or(Held {
                            chunks: 0,
                            hash: None,
                        }),
                    );
                }
                continue;
            }
            for p in std::iter::once(path).chain(from) {
                let k = key(&task.repo, p);
                if !self.held.contains_key(&k) && seen.insert(k) {
                    let id = self
                        .opts
                        .id_scheme
                        .id(&self.opts.collection, &task.repo, p, 0);
                    want.push((k, id));
                }
            }
        }
        let mut held = checked;
        if want.is_empty() || !self.exists || self.lookups_off {
            return Ok(held);
        }
        let ids: Vec<String> = want.iter().map(|(_, id)| id.clone()).collect();
        let found = self
            .store
            .fields(&self.class, None, &ids, &["contentHash", "chunkCount"])
            .with_context(|| format!("looking up files in {}", self.class))?;
        for ((k, _), f) in want.into_iter().zip(found) {
            if let Some(f) = f {
                held.insert(
                    k,
                    Held {
                        chunks: f
                            .get("chunkCount")
                            .and_then(Value::as_u64)
                            .map_or(1, |n| n.min(u32::MAX as u64) as u32),
                        hash: f.get("contentHash").and_then(Value::as_str).map(short),
                    },
                );
            }
        }
        Ok(held)
    }

    /// What the store holds of the files of repositories an earlier run did not finish, read
    /// chunk by chunk in one pass over the collection: a file counts as held whole (its hash
    /// known) only when every chunk up to its count is there and all agree; its chunk count
    /// is the highest chunk found, so that stale chunks past a new end are deleted.
    fn verified(&mut self) -> anyhow::Result<&HashMap<u64, Held>> {
        if self.verified.is_none() {
            struct Seen {
                present: u32,
                end: u32,
                count: Option<u32>,
                hash: Option<u64>,
                agree: bool,
            }
            let mut seen: HashMap<u64, Seen> = HashMap::new();
            let unfinished = &self.unfinished;
            self.each_object(|p| {
                let Some(repo) = p.get("repo").and_then(Value::as_str) else {
                    return;
                };
                if !unfinished.contains(repo) {
                    return;
                }
                let Some(path) = p.get("path").and_then(Value::as_str) else {
                    return;
                };
                let n = |k: &str| {
                    p.get(k)
                        .and_then(Value::as_u64)
                        .map(|n| n.min(u32::MAX as u64 - 1) as u32)
                };
                let index = n("chunkIndex").unwrap_or(0);
                let count = n("chunkCount");
                let hash = p.get("contentHash").and_then(Value::as_str).map(short);
                let s = seen.entry(key(repo, path)).or_insert(Seen {
                    present: 0,
                    end: 0,
                    count,
                    hash,
                    agree: true,
                });
                s.present += 1;
                s.end = s.end.max(index + 1);
                s.agree &= s.count == count && s.hash == hash;
            })?;
            let verified = seen
                .into_iter()
                .map(|(k, s)| {
                    let whole = s.agree && s.present == s.end && s.count == Some(s.end);
                    (
                        k,
                        Held {
                            chunks: s.end,
                            hash: if whole { s.hash } else { None },
                        },
                    )
                })
                .collect();
            self.verified = Some(verified);
        }
        Ok(self.verified.get_or_insert_with(HashMap::new))
    }

    /// The chunk count the store holds for a file (this run's writes first).
    fn held(&self, found: &HashMap<u64, Held>, repo: &str, path: &str) -> Held {
        let k = key(repo, path);
        self.held
            .get(&k)
            .or_else(|| found.get(&k))
            .copied()
            .unwrap_or(Held {
                chunks: 0,
                hash: None,
            })
    }

    /// A task's items: its chunks to upsert, its old chunks to delete, or one settled item
    /// that carries its result.
    fn items(
        &mut self,
        task: Task,
        prepared: Option<Prepared>,
        found: &HashMap<u64, Held>,
        items: &mut Vec<Item>,
    ) {
        self.tasks += 1;
        let t = self.tasks;
        let first = items.len();
        let mut meta = Map::new();
        meta.insert("repo".into(), json!(task.repo));
        meta.insert("line".into(), json!(task.line));
        let settled = |status: Status, raw: &Bytes, class: &str| Item {
            settled: Some(status),
            ..Item::new(
                task.line,
                0,
                raw.clone(),
                Object {
                    class: class.to_owned(),
                    ..Object::default()
                },
            )
        };
        match (&task.what, prepared) {
            (What::Reject(why), _) => {
                meta.insert("op".into(), json!("record"));
                items.push(settled(
                    Status::Rejected(why.clone()),
                    &task.raw,
                    &self.class,
                ));
            }
            (
                What::Changeset {
                    commit,
                    branch,
                    source,
                    worktree,
                },
                _,
            ) => {
                if let Some(w) = worktree {
                    meta.insert("worktree".into(), json!(w));
                }
                meta.insert("op".into(), json!("changeset"));
                meta.insert("commit".into(), json!(commit));
                if let Some(b) = branch {
                    meta.insert("branch".into(), json!(b));
                }
                meta.insert(
                    "source".into(),
                    json!(match source {
                        state::Source::Git => "git",
                        state::Source::Mgit => "mgit",
                    }),
                );
                items.push(settled(Status::Skipped, &task.raw, &self.class));
            }
            (What::File { .. }, None) => {}
            (What::File { op, path, from, .. }, Some(prepared)) => {
                meta.insert("path".into(), json!(path));
                meta.insert("op".into(), json!(op.name()));
                if let Some(f) = from {
                    meta.insert("from".into(), json!(f));
                    // A rename: the old path's chunks go.
                    let old = self.held(found, &task.repo, f);
                    self.delete_chunks(&task, f, 0, old.chunks.into(), items);
                    self.held.insert(
                        key(&task.repo, f),
                        Held {
                            chunks: 0,
                            hash: None,
                        },
                    );
                }
                let held = self.held(found, &task.repo, path);
                match prepared {
                    Prepared::Reject(why) => {
                        items.push(settled(Status::Rejected(why), &task.raw, &self.class));
                    }
                    Prepared::Skip(why) => {
                        meta.insert("reason".into(), json!(why));
                        meta.insert("kind".into(), json!("skip"));
                        // What was indexed of it before is stale now.
                        self.delete_chunks(&task, path, 0, held.chunks.into(), items);
                        self.forget(&task.repo, path);
                        items.push(settled(Status::Skipped, &task.raw, &self.class));
                    }
                    Prepared::Delete => {
                        meta.insert("kind".into(), json!("delete"));
                        self.delete_chunks(&task, path, 0, held.chunks.into(), items);
                        self.forget(&task.repo, path);
                        items.push(settled(Status::Skipped, &task.raw, &self.class));
                    }
                    Prepared::Upsert { text, hash, size } => {
                        let pieces = chunks(&text, self.opts.chunking);
                        let n = pieces.len() as u64;
                        meta.insert("kind".into(), json!("upsert"));
                        meta.insert("chunks".into(), json!(n));
                        let same = u64::from(held.chunks) == n && held.hash == Some(short(&hash));
                        if same && !self.opts.force {
                            items.push(settled(Status::Unchanged, &task.raw, &self.class));
                        } else {
                            let (commit, branch) = self.head(&task.repo);
                            let (file_name, extension) = model::name_and_extension(path);
                            let language = model::language(file_name, extension);
                            for (i, c) in pieces.iter().enumerate() {
                                let props = json!({
                                    "repo": task.repo,
                                    "path": path,
                                    "fileName": file_name,
                                    "extension": extension,
                                    "language": language,
                                    "content": c.text,
                                    "chunkIndex": i,
                                    "chunkCount": n,
                                    "startLine": c.start_line,
                                    "endLine": c.end_line,
                                    "size": size,
                                    "contentHash": hash,
                                    "commit": commit,
                                    "branch": branch,
                                    "indexedAt": self.indexed_at,
                                });
                                let Value::Object(properties) = props else {
                                    continue;
                                };
                                let obj = Object {
                                    class: self.class.clone(),
                                    id: self.opts.id_scheme.id(
                                        &self.opts.collection,
                                        &task.repo,
                                        path,
                                        i as u64,
                                    ),
                                    properties,
                                    ..Object::default()
                                };
                                items.push(Item::new(task.line, 0, task.raw.clone(), obj));
                            }
                            // Chunks past the new end are stale.
                            self.delete_chunks(&task, path, n, held.chunks.into(), items);
                        }
                        self.held.insert(
                            key(&task.repo, path),
                            Held {
                                chunks: n.min(u32::MAX as u64) as u32,
                                hash: Some(short(&hash)),
                            },
                        );
                    }
                }
            }
        }
        // Every item carries its task's number; the first carries what the result says.
        for (i, item) in items[first..].iter_mut().enumerate() {
            let mut tag = json!({ "t": t });
            if i == 0 {
                tag["m"] = Value::Object(meta.clone());
            }
            item.tag = Some(Box::new(tag));
        }
    }

    fn forget(&mut self, repo: &str, path: &str) {
        self.held.insert(
            key(repo, path),
            Held {
                chunks: 0,
                hash: None,
            },
        );
    }

    /// Deletes of chunks `from..to` of a file.
    fn delete_chunks(&self, task: &Task, path: &str, from: u64, to: u64, items: &mut Vec<Item>) {
        for i in from..to {
            let obj = Object {
                class: self.class.clone(),
                id: self
                    .opts
                    .id_scheme
                    .id(&self.opts.collection, &task.repo, path, i),
                ..Object::default()
            };
            items.push(Item {
                op: Op::Delete,
                ..Item::new(task.line, 0, task.raw.clone(), obj)
            });
        }
    }

    /// The commit and branch a repository's objects record.
    fn head(&mut self, repo: &str) -> (String, String) {
        if let Some(h) = self.heads.get(repo) {
            return h.clone();
        }
        let found = self
            .opts
            .repos
            .dir(repo)
            .and_then(|d| {
                git::head(&d)
                    .ok()
                    .flatten()
                    .map(|c| (c, git::branch(&d).unwrap_or_default()))
            })
            .unwrap_or_default();
        self.heads.insert(repo.to_owned(), found.clone());
        found
    }
}

/// The results writer: one line per task, in input order, from its acknowledged items.
struct Writer {
    totals: Shared,
    state: Option<State>,
    dry: bool,
    /// Per repository, the tasks rejected so far.
    failed: HashMap<String, u64>,
    /// The task whose items are coming in.
    current: Option<Pending>,
}

/// A task's result as its items come back.
struct Pending {
    t: u64,
    meta: Map<String, Value>,
    written: u64,
    deleted: u64,
    unchanged: u64,
    rejected: Option<String>,
}

impl Writer {
    fn emit(&mut self, task: Pending, out: &mut Vec<Vec<u8>>) -> anyhow::Result<()> {
        let mut line = task.meta;
        let repo = line
            .get("repo")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let op = line
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let kind = line.remove("kind");
        let kind = kind.as_ref().and_then(Value::as_str).unwrap_or_default();
        let mut t = self
            .totals
            .lock()
            .map_err(|_| anyhow::anyhow!("the totals' lock was poisoned"))?;
        let worktree = line.remove("worktree");
        let action = if let Some(reason) = task.rejected {
            *self.failed.entry(repo.clone()).or_default() += 1;
            if let (Some(st), false) = (&self.state, self.dry) {
                if !repo.is_empty() {
                    // Kept in the state file: a run resumed from a checkpoint, which does not
                    // see this line again, still keeps the repository's old commit.
                    st.rejected(&repo)?;
                }
            }
            line.insert("reason".into(), json!(reason));
            if op != "changeset" && op != "record" {
                t.files += 1;
            }
            t.rejected += 1;
            "rejected"
        } else if op == "changeset" {
            let failures = match (&self.state, self.dry) {
                (Some(st), false) => st.rejections(&repo)?,
                _ => self.failed.get(&repo).copied().unwrap_or(0),
            };
            if failures > 0 {
                t.kept += 1;
                line.insert(
                    "reason".into(),
                    json!(format!(
                        "{failures} file(s) of {repo} were rejected: its last commit is kept, so the next run tries them again"
                    )),
                );
                "kept"
            } else {
                if let (Some(st), false) = (&mut self.state, self.dry) {
                    let commit = line.get("commit").and_then(Value::as_str).unwrap_or("");
                    let branch = line.get("branch").and_then(Value::as_str);
                    let source = match line.get("source").and_then(Value::as_str) {
                        Some("git") => state::Source::Git,
                        _ => state::Source::Mgit,
                    };
                    st.remember(&repo, source, commit, branch)?;
                    if let Some(Value::Array(paths)) = &worktree {
                        let paths: Vec<String> = paths
                            .iter()
                            .filter_map(|p| p.as_str().map(str::to_owned))
                            .collect();
                        st.set_worktree(&repo, &paths)?;
                    }
                    st.finish(&repo)?;
                }
                t.remembered += 1;
                "remembered"
            }
        } else {
            t.files += 1;
            t.chunks_written += task.written;
            t.chunks_deleted += task.deleted;
            match kind {
                "skip" => {
                    t.skipped += 1;
                    "skipped"
                }
                "delete" => {
                    t.deleted += 1;
                    "deleted"
                }
                _ if task.written == 0 && task.unchanged > 0 => {
                    t.unchanged += 1;
                    "unchanged"
                }
                _ => {
                    t.upserted += 1;
                    "upserted"
                }
            }
        };
        drop(t);
        line.insert("action".into(), json!(action));
        if task.deleted > 0 {
            line.insert("removed".into(), json!(task.deleted));
        }
        if action != "upserted" && action != "unchanged" {
            line.remove("chunks");
        }
        line.remove("source");
        if self.dry {
            line.insert("dry_run".into(), json!(true));
        }
        // Fields in reading order: what, then what happened, then where it came from.
        let mut ordered = Map::new();
        for k in [
            "repo", "path", "op", "from", "action", "chunks", "removed", "reason", "commit",
            "branch", "line", "dry_run",
        ] {
            if let Some(v) = line.remove(k) {
                ordered.insert(k.into(), v);
            }
        }
        ordered.append(&mut line);
        out.push(serde_json::to_vec(&Value::Object(ordered))?);
        Ok(())
    }
}

impl Results for Writer {
    fn items(&mut self, items: &[ItemResult], out: &mut Vec<Vec<u8>>) -> anyhow::Result<()> {
        for item in items {
            let tag = item.tag.as_deref();
            let t = tag
                .and_then(|v| v.get("t"))
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if self.current.as_ref().is_some_and(|c| c.t != t) {
                if let Some(done) = self.current.take() {
                    self.emit(done, out)?;
                }
            }
            let current = self.current.get_or_insert_with(|| Pending {
                t,
                meta: tag
                    .and_then(|v| v.get("m"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                written: 0,
                deleted: 0,
                unchanged: 0,
                rejected: None,
            });
            match &item.status {
                Status::Written => current.written += 1,
                Status::Deleted => current.deleted += 1,
                Status::Unchanged => current.unchanged += 1,
                Status::Skipped => {}
                Status::Rejected(why) => {
                    current.rejected.get_or_insert_with(|| why.clone());
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, complete: bool, out: &mut Vec<Vec<u8>>) -> anyhow::Result<()> {
        // A run that stopped early may have stopped inside the last task: only a changeset
        // (one item) is known to be whole.
        if let Some(done) = self.current.take() {
            if complete || done.meta.get("op").and_then(Value::as_str) == Some("changeset") {
                self.emit(done, out)?;
            }
        }
        Ok(())
    }
}
