//! `ely-repo dashboard`: a live full-screen view of every repository under sync: how many are
//! healthy, the syncs running now, totals, a row per repository, and how syncs went lately.
//!
//! The figures are gathered into a [`Snapshot`] (from the state file, and from the stores and
//! the disk through [`Measured`]); [`draw`] only draws one. [`run`] shows it on the terminal
//! (alternate screen, raw mode, both undone on every way out, a panic included), gathering a
//! new snapshot every second while the slow figures (documents, storage) are measured on a
//! thread of their own; [`once`] draws one frame as plain text.

use std::collections::{BTreeSet, HashMap};
use std::io::Stdout;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::{Buffer, CellWidth};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Padding, Paragraph, Row as TableRow, Table, Widget};
use ratatui::{Frame, Terminal};

use crate::status::Status;
use crate::{Repo, State, Sync};

/// How often the live view gathers a new snapshot.
const TICK: Duration = Duration::from_secs(1);
/// How often the live view asks the stores how many documents their collections hold.
const DOCUMENTS_EVERY: Duration = Duration::from_secs(5);
/// How often the live view walks the clones and stores for their size on disk.
const STORAGE_EVERY: Duration = Duration::from_secs(30);
/// The syncs of every repository read for the totals of the last 24 hours.
const HISTORY: usize = 5000;
/// The finished syncs the success rate and the average time are over.
const RECENT: usize = 100;
/// The largest frame `once` draws, in cells.
const MAX_CELLS: u32 = 1_000_000;

/// Runs the live view on the terminal until `q`, Esc or Ctrl-C.
pub fn run(state_path: &Path) -> Result<()> {
    let state = State::open(state_path)?;
    let mut live = Live::start();
    // The first snapshot before the screen changes: a state file that cannot be read is an
    // ordinary error.
    let mut snap = live.refresh(&state)?;
    let color = color_wanted();
    let mut screen = Screen::enter()?;
    let mut trouble: Option<String> = None;
    let mut next = Instant::now() + TICK;
    loop {
        if Instant::now() >= next {
            match live.refresh(&state) {
                Ok(s) => {
                    snap = s;
                    trouble = None;
                }
                // The last snapshot stays up, with why it is not newer.
                Err(e) => trouble = Some(format!("{e:#}")),
            }
            next = Instant::now() + TICK;
        }
        let look = Look {
            color,
            symbols: true,
            foot: Some(match &trouble {
                Some(e) => format!("could not refresh: {e}"),
                None => "q quits · refreshed every second".into(),
            }),
        };
        screen.terminal.draw(|f| draw(f, &snap, &look))?;
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            if let Event::Key(key) = event::read()? {
                if quits(&key) {
                    return Ok(());
                }
            }
            // Any other event (a resize) draws again at once.
        }
    }
}

/// One frame of the view as text, `width` columns by `height` rows: no colours, no escape
/// codes, each line without trailing spaces and ended by a newline.
pub fn once(state: &State, width: u16, height: u16) -> Result<String> {
    if u32::from(width) * u32::from(height) > MAX_CELLS {
        bail!(
            "a frame of {width}×{height} is too large (at most {} cells): give a smaller --width or --height",
            ely_vocab::human::count(u64::from(MAX_CELLS))
        );
    }
    let snap = Snapshot::gather(state)?;
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    render(&snap, &Look::default(), area, &mut buf);
    Ok(text_of(&buf))
}

/// The terminal's size (columns, rows).
pub fn terminal_size() -> Option<(u16, u16)> {
    ratatui::crossterm::terminal::size().ok()
}

/// Whether a key ends the live view: `q`, Esc or Ctrl-C (raw mode turns Ctrl-C into a key).
fn quits(key: &KeyEvent) -> bool {
    if key.kind != KeyEventKind::Press {
        return false;
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// Colours and symbols, unless `NO_COLOR` is set to something.
fn color_wanted() -> bool {
    !ely_vocab::human::no_color()
}

/// Everything one frame shows.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When it was gathered.
    pub at: Timestamp,
    /// One per repository, by name.
    pub repos: Vec<Status>,
    /// The syncs going now, the longest running first.
    pub running: Vec<Running>,
    /// Objects in the collections whose store answered, and how many did not answer.
    pub documents: u64,
    pub documents_unknown: usize,
    /// Objects written and files changed (added, modified, deleted) by syncs started in the
    /// last 24 hours.
    pub objects_24h: u64,
    pub files_24h: u64,
    /// The share of the last finished syncs (of every repository) that succeeded, and how
    /// many syncs that is.
    pub success_rate: Option<f64>,
    pub rated: usize,
    /// The average time of those syncs, in seconds.
    pub average_secs: Option<f64>,
    /// Files changed per hour over the last 24 hours, or over the history when it is shorter
    /// (an hour at least).
    pub files_per_hour: Option<f64>,
    /// Bytes on disk of the clones and the embedded stores; `None` until measured.
    pub storage: Option<u64>,
}

/// A sync going now.
#[derive(Debug, Clone)]
pub struct Running {
    pub repo: String,
    /// `cron`, `manual`, `add` or `retry`.
    pub trigger: String,
    /// When it started (RFC 3339), and for how many seconds it has run.
    pub started: String,
    pub seconds: f64,
}

/// What is slow to find out, measured apart from the state file: the objects in each
/// repository's collection (its store asked) and the bytes on disk.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Objects per repository name; `None` when its store did not answer.
    pub documents: HashMap<String, Option<u64>>,
    /// Bytes on disk of the clones and the embedded stores.
    pub storage: Option<u64>,
}

impl Measured {
    /// Asks each repository's store for its collection's size and, when `storage`, walks the
    /// clones and embedded stores for their size on disk.
    pub fn measure(repos: &[Repo], storage: bool) -> Measured {
        Measured {
            documents: repos
                .iter()
                .map(|r| (r.name.clone(), crate::add::documents(r)))
                .collect(),
            storage: storage.then(|| storage_of(repos)),
        }
    }
}

impl Snapshot {
    /// Every figure, the slow ones measured now.
    pub fn gather(state: &State) -> Result<Snapshot> {
        let repos = state.repos()?;
        let measured = Measured::measure(&repos, true);
        Snapshot::assemble(state, &repos, &measured, Timestamp::now())
    }

    /// The figures of `repos` from the state file, with the slow ones `measured` before, as
    /// of `now`.
    pub fn assemble(
        state: &State,
        repos: &[Repo],
        measured: &Measured,
        now: Timestamp,
    ) -> Result<Snapshot> {
        let mut rows = Vec::with_capacity(repos.len());
        let mut running = Vec::new();
        let tools = crate::sync::Tools::beside(state.path());
        for repo in repos {
            // The store is asked apart (Measured), not every second.
            let mut row = crate::status::recorded(state, repo)?;
            row.documents = measured.documents.get(&repo.name).copied().flatten();
            rows.push(row);
            let history = state.syncs(Some(&repo.name), 1)?;
            // Only a repository's newest sync can be going: one sync of it at a time holds
            // its lock, so an unfinished one before a newer one was killed.
            // A sync that was killed is unfinished too: only one whose lock a live process
            // holds is going.
            if let Some(s) = history.last() {
                if s.ok.is_none()
                    && s.finished.is_none()
                    && ely_schedule::RunLock::is_held(&tools.lock(&repo.name))
                {
                    running.push(Running {
                        repo: s.repo.clone(),
                        trigger: s.trigger.clone(),
                        started: s.started.clone(),
                        seconds: parse(&s.started)
                            .map_or(0.0, |t| now.duration_since(t).as_secs_f64().max(0.0)),
                    });
                }
            }
        }
        running.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));

        let history = state.syncs(None, HISTORY)?;
        let day_ago = now.as_second() - 24 * 3600;
        let (mut objects_24h, mut files_24h) = (0u64, 0u64);
        for s in &history {
            if parse(&s.started).is_some_and(|t| t.as_second() >= day_ago) {
                objects_24h += s.objects;
                files_24h += s.added + s.modified + s.deleted;
            }
        }
        let span_hours = history
            .first()
            .and_then(|s| seconds_between(&s.started, now))
            .map(|secs| (secs as f64 / 3600.0).clamp(1.0, 24.0));
        let finished: Vec<&Sync> = history.iter().filter(|s| s.ok.is_some()).collect();
        let recent = &finished[finished.len().saturating_sub(RECENT)..];
        let good = recent.iter().filter(|s| s.ok == Some(true)).count();
        let times: Vec<f64> = recent
            .iter()
            .filter_map(|s| {
                let (a, b) = (parse(&s.started)?, parse(s.finished.as_deref()?)?);
                Some(b.duration_since(a).as_secs_f64().max(0.0))
            })
            .collect();
        Ok(Snapshot {
            at: now,
            // A collection two repositories sync into counts once.
            documents: {
                let mut seen = BTreeSet::new();
                repos
                    .iter()
                    .zip(&rows)
                    .filter(|(r, _)| seen.insert((r.store.clone(), r.collection.clone())))
                    .filter_map(|(_, row)| row.documents)
                    .sum()
            },
            documents_unknown: rows.iter().filter(|r| r.documents.is_none()).count(),
            repos: rows,
            running,
            objects_24h,
            files_24h,
            success_rate: rate(good, recent.len()),
            rated: recent.len(),
            average_secs: (!times.is_empty())
                .then(|| times.iter().sum::<f64>() / times.len() as f64),
            files_per_hour: span_hours.map(|h| files_24h as f64 / h),
            storage: measured.storage,
        })
    }

    /// How many repositories have each status, in the order the summary names them.
    pub fn health_counts(&self) -> Vec<(&'static str, usize)> {
        ["healthy", "retrying", "failing", "paused", "pending"]
            .into_iter()
            .map(|s| (s, self.repos.iter().filter(|r| r.status == s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// `good` of `n` as a share; `None` of none.
fn rate(good: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| good as f64 / n as f64)
}

fn parse(rfc3339: &str) -> Option<Timestamp> {
    rfc3339.parse().ok()
}

/// Whole seconds from the time `from` (RFC 3339) to `to`.
fn seconds_between(from: &str, to: Timestamp) -> Option<i64> {
    parse(from).map(|t| to.as_second() - t.as_second())
}

/// Bytes on disk of the repositories' clones and embedded stores (with SQLite's companion
/// files), each counted once.
fn storage_of(repos: &[Repo]) -> u64 {
    let mut paths = BTreeSet::new();
    for r in repos {
        paths.insert(PathBuf::from(&r.path));
        if let Ok(ely_store::Location::Embedded(p)) = ely_store::resolve(Some(&r.store), |_| None) {
            for suffix in ["", "-wal", "-shm"] {
                let mut f = p.clone().into_os_string();
                f.push(suffix);
                paths.insert(PathBuf::from(f));
            }
        }
    }
    paths.iter().map(|p| disk_usage(p)).sum()
}

/// Bytes on disk under `path` (a file or a folder), symbolic links not followed; what
/// cannot be read counts nothing.
fn disk_usage(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_owned()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        total += on_disk(&meta);
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
    }
    total
}

#[cfg(unix)]
fn on_disk(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

#[cfg(not(unix))]
fn on_disk(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// The live view's figures: a snapshot from the state file each time, with the documents
/// and the storage measured on a thread of their own, so that a store slow to answer never
/// holds up the view or its keys.
struct Live {
    measured: Measured,
    ask: mpsc::Sender<(Vec<Repo>, bool)>,
    answers: mpsc::Receiver<(Measured, bool)>,
    /// A measurement was asked for and has not come back.
    busy: bool,
    documents_at: Option<Instant>,
    storage_at: Option<Instant>,
    /// The repositories (name, store, clone) last measured.
    measured_of: Vec<(String, String, String)>,
}

impl Live {
    fn start() -> Live {
        let (ask, asked) = mpsc::channel::<(Vec<Repo>, bool)>();
        let (answer, answers) = mpsc::channel();
        // The thread ends when the view drops its end of the channel (or with the process,
        // when a store keeps it waiting).
        std::thread::spawn(move || {
            for (repos, storage) in asked {
                if answer
                    .send((Measured::measure(&repos, storage), storage))
                    .is_err()
                {
                    break;
                }
            }
        });
        Live {
            measured: Measured::default(),
            ask,
            answers,
            busy: false,
            documents_at: None,
            storage_at: None,
            measured_of: Vec::new(),
        }
    }

    /// Takes what was measured, asks for a new measurement when one is due, and gathers a
    /// snapshot. The first waits a little for the first measurement.
    fn refresh(&mut self, state: &State) -> Result<Snapshot> {
        while let Ok(answer) = self.answers.try_recv() {
            self.take(answer);
        }
        let repos = state.repos()?;
        let of: Vec<(String, String, String)> = repos
            .iter()
            .map(|r| (r.name.clone(), r.store.clone(), r.path.clone()))
            .collect();
        let changed = of != self.measured_of;
        let due = |at: Option<Instant>, every: Duration| at.is_none_or(|t| t.elapsed() >= every);
        if !self.busy && (changed || due(self.documents_at, DOCUMENTS_EVERY)) {
            let storage = changed || due(self.storage_at, STORAGE_EVERY);
            if self.ask.send((repos.clone(), storage)).is_ok() {
                let first = self.documents_at.is_none();
                self.busy = true;
                self.documents_at = Some(Instant::now());
                if storage {
                    self.storage_at = Some(Instant::now());
                }
                self.measured_of = of;
                if first {
                    if let Ok(answer) = self.answers.recv_timeout(Duration::from_millis(500)) {
                        self.take(answer);
                    }
                }
            }
        }
        Snapshot::assemble(state, &repos, &self.measured, Timestamp::now())
    }

    fn take(&mut self, (measured, storage): (Measured, bool)) {
        self.busy = false;
        self.measured.documents = measured.documents;
        if storage {
            self.measured.storage = measured.storage;
        }
    }
}

/// Whether the terminal is in raw mode on the alternate screen, so that it is put back once.
static ON_SCREEN: AtomicBool = AtomicBool::new(false);

/// The panic hook that was in place before the view's.
type Hook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + std::marker::Sync + Send + 'static>;

/// The terminal in raw mode on the alternate screen, put back when dropped (the view ends,
/// fails or panics: a panic hook puts it back before the panic is printed).
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
    _restore: Restore,
}

struct Restore {
    hook: Option<Arc<Hook>>,
}

impl Screen {
    fn enter() -> Result<Screen> {
        let hook: Arc<Hook> = Arc::new(std::panic::take_hook());
        let before = Arc::clone(&hook);
        std::panic::set_hook(Box::new(move |info| {
            leave();
            before(info);
        }));
        // From here on, whatever fails puts the terminal back.
        let restore = Restore { hook: Some(hook) };
        ON_SCREEN.store(true, Ordering::SeqCst);
        terminal::enable_raw_mode()?;
        execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )?;
        let mut terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        terminal.clear()?;
        Ok(Screen {
            terminal,
            _restore: restore,
        })
    }
}

/// Leaves the alternate screen and raw mode, shows the cursor; once.
fn leave() {
    if ON_SCREEN.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(
            std::io::stdout(),
            terminal::LeaveAlternateScreen,
            cursor::Show
        );
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        leave();
        // The hook before the view's is put back (not while panicking: a hook cannot be
        // set then, and the process is on its way out).
        if let Some(hook) = self.hook.take() {
            if !std::thread::panicking() {
                let _ = std::panic::take_hook();
                std::panic::set_hook(Box::new(move |info| hook(info)));
            }
        }
    }
}

/// How a frame is drawn: with colours and status symbols (the live view on a terminal
/// without `NO_COLOR`) or plain, and the line at its foot, if any (the live view's keys, or
/// why the last refresh failed).
#[derive(Debug, Clone, Default)]
pub struct Look {
    /// Colours (the live view, unless `NO_COLOR` is set).
    pub color: bool,
    /// Symbols beside statuses (the live view).
    pub symbols: bool,
    pub foot: Option<String>,
}

impl Look {
    fn style(&self, status: &str) -> Style {
        if !self.color {
            return Style::default();
        }
        match status {
            "healthy" => Style::default().fg(Color::Green),
            "failing" => Style::default().fg(Color::Red),
            "retrying" => Style::default().fg(Color::Yellow),
            "paused" => Style::default().fg(Color::DarkGray),
            "pending" => Style::default().fg(Color::Cyan),
            _ => Style::default(),
        }
    }

    /// The status as shown: with its symbol in the live view.
    fn status(&self, status: &str) -> String {
        if !self.symbols {
            return status.into();
        }
        let symbol = match status {
            "healthy" => "✓",
            "failing" => "✗",
            "retrying" => "↻",
            "paused" => "‖",
            "pending" => "…",
            _ => "?",
        };
        format!("{symbol} {status}")
    }

    fn bold(&self) -> Style {
        if self.color {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        }
    }
}

/// Draws `snap` on the whole frame.
pub fn draw(frame: &mut Frame, snap: &Snapshot, look: &Look) {
    let area = frame.area();
    render(snap, look, area, frame.buffer_mut());
}

/// Draws `snap` into `area` of `buf`: the health summary, the totals and how syncs went,
/// the syncs running, the repositories, and the foot line.
fn render(snap: &Snapshot, look: &Look, area: Rect, buf: &mut Buffer) {
    let running_rows = snap.running.len().clamp(1, 5) as u16;
    let [head, figures, running, table, foot] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(running_rows + 2),
        Constraint::Min(3),
        Constraint::Length(u16::from(look.foot.is_some())),
    ])
    .areas(area);

    let now = local(snap.at, "%Y-%m-%d %H:%M:%S");
    let block = boxed()
        .title(" ely-repo dashboard ")
        .title(Line::from(format!(" {now} ")).right_aligned());
    let summary = if snap.repos.is_empty() {
        Line::from("no repositories under sync: add one with `ely-repo add URL`")
    } else {
        summary(snap, look)
    };
    Paragraph::new(summary).block(block).render(head, buf);

    let [totals, syncs] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(figures);
    let documents = match (snap.documents_unknown, snap.repos.len()) {
        (_, 0) => "0".to_string(),
        (u, n) if u == n => "?".to_string(),
        (0, _) => ely_vocab::human::count(snap.documents),
        (u, _) => format!("{} (+{u} unknown)", ely_vocab::human::count(snap.documents)),
    };
    Paragraph::new(vec![
        figure(
            "repositories",
            ely_vocab::human::count(snap.repos.len() as u64),
        ),
        figure("documents", documents),
        figure(
            "objects, last 24 h",
            ely_vocab::human::count(snap.objects_24h),
        ),
        figure(
            "files changed, 24 h",
            ely_vocab::human::count(snap.files_24h),
        ),
    ])
    .block(boxed().title(" Totals "))
    .render(totals, buf);
    let success = match snap.success_rate {
        Some(r) => format!("{} (last {} syncs)", percent(r), snap.rated),
        None => "-".into(),
    };
    Paragraph::new(vec![
        figure("success rate", success),
        figure(
            "average sync",
            snap.average_secs
                .map_or("-".into(), ely_vocab::human::duration),
        ),
        figure(
            "files per hour",
            snap.files_per_hour.map_or("-".into(), |f| match f < 10.0 {
                true => format!("{f:.1}"),
                false => ely_vocab::human::count(f.round() as u64),
            }),
        ),
        figure(
            "storage",
            snap.storage.map_or("…".into(), ely_vocab::human::bytes),
        ),
    ])
    .block(boxed().title(" Syncs "))
    .render(syncs, buf);

    let lines: Vec<Line> = if snap.running.is_empty() {
        vec![Line::from("no sync running")]
    } else {
        let width = snap.running.iter().map(|r| r.repo.len()).max().unwrap_or(0);
        snap.running
            .iter()
            .map(|r| {
                Line::from(format!(
                    "{:<width$}  running for {}  ({}, started {})",
                    r.repo,
                    ely_vocab::human::duration(r.seconds),
                    r.trigger,
                    local_rfc3339(&r.started, "%H:%M:%S"),
                ))
            })
            .collect()
    };
    Paragraph::new(lines)
        .block(boxed().title(format!(" Running ({}) ", snap.running.len())))
        .render(running, buf);

    repo_table(snap, look, table, buf);

    if let Some(text) = &look.foot {
        Paragraph::new(format!(" {text}")).render(foot, buf);
    }
}

/// `3 repositories: 2 healthy, 1 failing`, each count in its status's colour.
fn summary<'a>(snap: &Snapshot, look: &Look) -> Line<'a> {
    let n = snap.repos.len();
    let mut spans = vec![Span::raw(format!(
        "{n} {}: ",
        if n == 1 { "repository" } else { "repositories" }
    ))];
    for (i, (status, count)) in snap.health_counts().into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(", "));
        }
        let text = if look.symbols {
            let s = look.status(status);
            let (symbol, word) = s.split_once(' ').unwrap_or(("", status));
            format!("{symbol} {count} {word}")
        } else {
            format!("{count} {status}")
        };
        spans.push(Span::styled(text, look.style(status)));
    }
    Line::from(spans)
}

/// A bordered box with a column of space inside each side.
fn boxed<'a>() -> Block<'a> {
    Block::bordered().padding(Padding::horizontal(1))
}

/// A label and its value, the values of a box in one column.
fn figure<'a>(label: &str, value: String) -> Line<'a> {
    Line::from(format!("{label:<21}{value}"))
}

/// The repositories' table.
fn repo_table(snap: &Snapshot, look: &Look, area: Rect, buf: &mut Buffer) {
    let block = boxed().title(format!(" Repositories ({}) ", snap.repos.len()));
    if snap.repos.is_empty() {
        Paragraph::new("no repositories under sync: add one with `ely-repo add URL`")
            .block(block)
            .render(area, buf);
        return;
    }
    let header = [
        "REPOSITORY",
        "COLLECTION",
        "DOCUMENTS",
        "LAST SYNC",
        "NEXT SYNC",
        "STATUS",
        "SUCCESS",
    ];
    let now = snap.at;
    // Times in full (`2026-11-28 14:03 (3m ago)`) when the table fits so, else only how far
    // they are (`3m ago`).
    let texts = |full: bool| -> Vec<[String; 7]> {
        let at = |t: &str| {
            if full {
                when(t, now)
            } else {
                relative(t, now)
            }
        };
        snap.repos
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.collection.clone(),
                    r.documents.map_or("?".into(), ely_vocab::human::count),
                    r.last_sync.as_deref().map_or("never".into(), at),
                    r.next_sync.as_deref().map_or("-".into(), at),
                    look.status(&r.status),
                    r.success_rate.map_or("-".into(), percent),
                ]
            })
            .collect()
    };
    let widths_of = |rows: &[[String; 7]]| -> Vec<u16> {
        (0..header.len())
            .map(|i| {
                let widest = rows
                    .iter()
                    .map(|r| Line::from(r[i].as_str()).width())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0);
                // Names past 24 columns are cut rather than push the status out of sight.
                let cap = if i < 2 { 24 } else { usize::from(u16::MAX) };
                widest.min(cap) as u16
            })
            .collect()
    };
    let spacing = 2u16;
    let fits = |w: &[u16]| {
        w.iter().sum::<u16>() + spacing * (w.len() as u16 - 1) <= area.width.saturating_sub(4)
    };
    let mut rows = texts(true);
    let mut widths = widths_of(&rows);
    if !fits(&widths) {
        rows = texts(false);
        widths = widths_of(&rows);
    }
    let widths: Vec<Constraint> = widths.into_iter().map(Constraint::Length).collect();
    // Numbers to the right.
    let right = |i: usize| i == 2 || i == 6;
    let cell = |i: usize, text: String, style: Style| {
        let line = Line::from(text).style(style);
        Cell::from(if right(i) { line.right_aligned() } else { line })
    };
    let table_rows = snap.repos.iter().zip(rows).map(|(repo, texts)| {
        TableRow::new(texts.into_iter().enumerate().map(|(i, t)| {
            let style = if i == 5 {
                look.style(&repo.status)
            } else {
                Style::default()
            };
            cell(i, t, style)
        }))
    });
    let head = TableRow::new(
        header
            .iter()
            .enumerate()
            .map(|(i, h)| cell(i, h.to_string(), look.bold())),
    );
    Table::new(table_rows, widths)
        .header(head)
        .column_spacing(spacing)
        .block(block)
        .render(area, buf);
}

/// A share as a whole percentage; never 100% unless all, nor 0% unless none.
fn percent(rate: f64) -> String {
    let p = (rate * 100.0).round();
    let p = if rate < 1.0 { p.min(99.0) } else { p };
    let p = if rate > 0.0 { p.max(1.0) } else { p };
    format!("{p:.0}%")
}

/// A time (RFC 3339) in local time with how far it is from `now`: `2026-11-28 14:03 (3m
/// ago)`, `2026-11-28 14:30 (in 12m)`.
fn when(rfc3339: &str, now: Timestamp) -> String {
    match parse(rfc3339) {
        Some(t) => format!(
            "{} ({})",
            local(t, "%Y-%m-%d %H:%M"),
            relative(rfc3339, now)
        ),
        None => rfc3339.into(),
    }
}

/// How far a time (RFC 3339) is from `now`: `3m ago`, `in 12m`.
fn relative(rfc3339: &str, now: Timestamp) -> String {
    match parse(rfc3339) {
        Some(t) => {
            let secs = t.as_second() - now.as_second();
            if secs > 0 {
                format!("in {}", span(secs))
            } else {
                format!("{} ago", span(-secs))
            }
        }
        None => rfc3339.into(),
    }
}

/// A time in the local time zone (`TZ`).
fn local(t: Timestamp, format: &str) -> String {
    t.to_zoned(TimeZone::system()).strftime(format).to_string()
}

fn local_rfc3339(rfc3339: &str, format: &str) -> String {
    parse(rfc3339).map_or(rfc3339.into(), |t| local(t, format))
}

/// A span of time, roughly: `42s`, `3m`, `2h 5m`, `3d 4h`.
fn span(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 if secs % 3600 < 60 => format!("{}h", secs / 3600),
        3600..86400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ if secs % 86400 < 3600 => format!("{}d", secs / 86400),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// The buffer's text: each row without trailing spaces, ended by a newline; a cell hidden
/// by a wide symbol before it is left out.
fn text_of(buf: &Buffer) -> String {
    let width = usize::from(buf.area.width);
    let mut out = String::new();
    if width == 0 {
        return out;
    }
    for row in buf.content.chunks(width) {
        let mut line = String::new();
        let mut skip: u16 = 0;
        for cell in row {
            if skip == 0 {
                line.push_str(cell.symbol());
            }
            skip = skip.max(cell.cell_width()).saturating_sub(1);
        }
        out.push_str(line.trim_end_matches(' '));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;

    fn repo(dir: &Path, name: &str, paused: bool) -> Repo {
        Repo {
            name: name.into(),
            url: format!("file:///nowhere/{name}.git"),
            path: dir.join("repos").join(name).display().to_string(),
            collection: format!("{}Docs", name[..1].to_uppercase() + &name[1..]),
            // An embedded store not made yet: its documents are unknown.
            store: dir.join("store.db").display().to_string(),
            branch: Some("main".into()),
            include: vec![],
            exclude: vec![],
            max_file_size: None,
            vectorizer: None,
            model: None,
            schedule: "30m".into(),
            cron: "*/30 * * * *".into(),
            webhook: None,
            crontab_file: None,
            paused,
            pending: false,
        }
    }

    fn sync(state: &State, name: &str, ok: bool, files: u64) {
        let mut s = state.start_sync(name, "cron").unwrap();
        s.ok = Some(ok);
        s.exit_code = Some(if ok { 0 } else { 3 });
        s.added = files;
        s.objects = files * 2;
        if !ok {
            s.error = Some("the store could not be reached".into());
        }
        s.finished = Some(ely_vocab::date::now_rfc3339());
        state.finish_sync(&s).unwrap();
    }

    /// alpha healthy (and syncing now), beta failing 3 times in a row, gamma paused.
    pub(super) fn three(dir: &Path) -> State {
        let state = State::open(&dir.join("repos.db")).unwrap();
        state.save(&repo(dir, "alpha", false), false).unwrap();
        state.save(&repo(dir, "beta", false), false).unwrap();
        state.save(&repo(dir, "gamma", true), false).unwrap();
        sync(&state, "alpha", true, 3);
        sync(&state, "alpha", true, 1);
        sync(&state, "beta", true, 2);
        for _ in 0..3 {
            sync(&state, "beta", false, 0);
        }
        sync(&state, "gamma", true, 4);
        state.start_sync("alpha", "manual").unwrap();
        // The sync's lock, held by a live process (this one).
        let tools = crate::sync::Tools::beside(state.path());
        std::fs::create_dir_all(&tools.locks).unwrap();
        std::fs::write(tools.lock("alpha"), format!("{}\n", std::process::id())).unwrap();
        state
    }

    fn rendered(snap: &Snapshot, look: &Look, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, snap, look)).unwrap();
        text_of(terminal.backend().buffer())
    }

    #[test]
    fn the_snapshot_counts_statuses_syncs_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let state = three(dir.path());
        let snap = Snapshot::gather(&state).unwrap();
        let status: Vec<(&str, &str)> = snap
            .repos
            .iter()
            .map(|r| (r.name.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(
            status,
            [
                ("alpha", "healthy"),
                ("beta", "failing"),
                ("gamma", "paused")
            ]
        );
        assert_eq!(
            snap.health_counts(),
            [("healthy", 1), ("failing", 1), ("paused", 1)]
        );
        assert_eq!(snap.running.len(), 1);
        assert_eq!(snap.running[0].repo, "alpha");
        assert_eq!(snap.running[0].trigger, "manual");
        // 4 of the 7 finished syncs succeeded; beta 1 of 4.
        assert_eq!(snap.rated, 7);
        assert!((snap.success_rate.unwrap() - 4.0 / 7.0).abs() < 1e-9);
        assert_eq!(snap.repos[1].success_rate, Some(0.25));
        assert_eq!((snap.files_24h, snap.objects_24h), (10, 20));
        // Under an hour of history: per hour over one hour.
        assert_eq!(snap.files_per_hour, Some(10.0));
        assert!(snap.average_secs.is_some());
        // No store yet: every count unknown; nothing cloned: nothing on disk.
        assert_eq!(snap.documents_unknown, 3);
        assert!(snap.repos.iter().all(|r| r.documents.is_none()));
        assert_eq!(snap.storage, Some(0));
        assert_eq!(snap.repos[2].next_sync, None);
        assert!(snap.repos[0].next_sync.is_some());
    }

    #[test]
    fn a_frame_shows_health_repositories_rates_and_running_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let state = three(dir.path());
        let snap = Snapshot::gather(&state).unwrap();
        let text = rendered(&snap, &Look::default(), 120, 40);
        for want in [
            "3 repositories: 1 healthy, 1 failing, 1 paused",
            "alpha",
            "beta",
            "gamma",
            "AlphaDocs",
            "healthy",
            "failing",
            "paused",
            "success rate         57% (last 7 syncs)",
            "average sync         0.0s",
            "25%",
            "100%",
            " ago)",
            "(in ",
            "Running (1)",
            "running for",
            "(manual, started",
            "files changed, 24 h  10",
            "objects, last 24 h   20",
            "files per hour       10",
            "documents            ?",
            "storage              0 B",
        ] {
            assert!(text.contains(want), "{want:?} missing from\n{text}");
        }
        let alpha = text.lines().find(|l| l.contains("alpha  ")).unwrap();
        assert!(alpha.contains("running for"), "{alpha}");
        let beta = text.lines().find(|l| l.contains("BetaDocs")).unwrap();
        assert!(beta.contains("failing") && beta.contains("25%"), "{beta}");
        // Narrower, times only say how far they are.
        let narrow = rendered(&snap, &Look::default(), 80, 30);
        let beta = narrow.lines().find(|l| l.contains("BetaDocs")).unwrap();
        assert!(
            beta.contains("s ago") && beta.contains("failing"),
            "{narrow}"
        );
        assert!(!beta.contains("(") && beta.contains("25%"), "{narrow}");
        assert!(!text.contains('✓'), "no symbols without colour:\n{text}");
    }

    #[test]
    fn in_colour_statuses_have_symbols_and_colours() {
        let dir = tempfile::tempdir().unwrap();
        let state = three(dir.path());
        let snap = Snapshot::gather(&state).unwrap();
        let look = Look {
            color: true,
            symbols: true,
            foot: Some("q quits".into()),
        };
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
        terminal.draw(|f| draw(f, &snap, &look)).unwrap();
        let buf = terminal.backend().buffer().clone();
        let text = text_of(&buf);
        assert!(
            text.contains("✓ 1 healthy, ✗ 1 failing, ‖ 1 paused"),
            "{text}"
        );
        assert!(text.contains("✗ failing"), "{text}");
        assert!(text.lines().last().unwrap().contains("q quits"), "{text}");
        let red = buf
            .content
            .iter()
            .any(|c| c.symbol() == "✗" && c.fg == Color::Red);
        let green = buf
            .content
            .iter()
            .any(|c| c.symbol() == "✓" && c.fg == Color::Green);
        assert!(red && green);
        // NO_COLOR: the symbols stay, the colours go.
        let plain = Look {
            color: false,
            ..look
        };
        terminal.draw(|f| draw(f, &snap, &plain)).unwrap();
        let buf = terminal.backend().buffer().clone();
        assert!(text_of(&buf).contains("✗ failing"));
        assert!(buf.content.iter().all(|c| c.fg == Color::Reset));
    }

    #[test]
    fn once_is_plain_text_of_the_size_asked() {
        let dir = tempfile::tempdir().unwrap();
        let state = three(dir.path());
        let text = once(&state, 100, 30).unwrap();
        assert!(!text.contains('\x1b'), "{text:?}");
        assert_eq!(text.lines().count(), 30);
        assert!(text.lines().all(|l| Line::from(l).width() <= 100));
        assert!(text.lines().all(|l| !l.ends_with(' ')));
        assert!(text.ends_with('\n'));
        assert!(text.contains("alpha") && text.contains("failing"), "{text}");
        assert!(once(&state, 0, 0).unwrap().is_empty());
        assert!(once(&state, 5000, 5000).is_err());
    }

    #[test]
    fn once_without_repositories_says_how_to_add_one() {
        let dir = tempfile::tempdir().unwrap();
        let state = State::open(&dir.path().join("repos.db")).unwrap();
        let text = once(&state, 100, 30).unwrap();
        assert!(
            text.contains("no repositories under sync: add one with `ely-repo add URL`"),
            "{text}"
        );
        assert!(text.contains("no sync running"), "{text}");
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn storage_counts_clones_and_embedded_stores_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = repo(dir.path(), "alpha", false);
        let b = repo(dir.path(), "beta", false);
        std::fs::create_dir_all(Path::new(&a.path).join("src")).unwrap();
        std::fs::write(Path::new(&a.path).join("src/big"), vec![7u8; 100_000]).unwrap();
        std::fs::write(&a.store, vec![1u8; 50_000]).unwrap();
        let one = storage_of(std::slice::from_ref(&a));
        assert!(one >= 150_000, "{one}");
        // The same store twice counts once; a Weaviate store counts nothing.
        assert_eq!(storage_of(&[a.clone(), b.clone(), b]), one);
        a.store = "http://localhost:1".into();
        assert!(storage_of(&[a]) < one);
    }

    #[test]
    fn times_read_as_people_say_them() {
        assert_eq!(span(42), "42s");
        assert_eq!(span(180), "3m");
        assert_eq!(span(7200), "2h");
        assert_eq!(span(7500), "2h 5m");
        assert_eq!(span(3 * 86400 + 4 * 3600), "3d 4h");
        assert_eq!(percent(4.0 / 7.0), "57%");
        assert_eq!(percent(0.999), "99%");
        assert_eq!(percent(0.001), "1%");
        assert_eq!(percent(1.0), "100%");
        let now: Timestamp = "2026-11-28T14:15:00Z".parse().unwrap();
        assert!(when("2026-11-28T14:12:00Z", now).ends_with("(3m ago)"));
        assert!(when("2026-11-28T14:27:00Z", now).ends_with("(in 12m)"));
        assert_eq!(when("soon", now), "soon");
    }

    #[test]
    fn q_esc_and_ctrl_c_quit() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(quits(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(quits(&key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(quits(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!quits(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!quits(&key(KeyCode::Char('r'), KeyModifiers::NONE)));
    }
}
