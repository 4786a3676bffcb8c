//! The conventions every ely binary keeps, in one place: the exit-code table, how errors are
//! printed (`ely-<name>: error: ...` on stderr), quiet exit on a closed stdout, exit 130 with
//! no half-written file on Ctrl-C, the progress line and `--stats`; and every flag more than
//! one binary takes ([`InputArgs`], [`StoreArgs`], [`SelectArgs`], [`SinkArgs`],
//! [`CompressArgs`], [`ReportArgs`]), defined once in `flags`.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ely_stream::{ErrorKind, StreamError};

pub mod ask;
mod flags;
pub mod table;
pub use flags::{
    output_compression, parse_duration, parse_size, threads, CompressArgs, InputArgs, ReportArgs,
    SelectArgs, SinkArgs, StoreArgs, WriteArgs,
};

/// The exit codes, the same for every ely binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, also when the reader of stdout went away.
    Ok = 0,
    /// Finished, but some records were rejected (see the dead-letter file).
    Rejected = 1,
    /// Usage error, bad input, or another fatal error.
    Fatal = 2,
    /// The store could not be reached, or retries ran out; try again later.
    Unreachable = 3,
    /// The input failed verification: truncated or corrupt.
    Verification = 4,
    /// Interrupted (Ctrl-C or SIGTERM).
    Interrupted = 130,
}

/// The table as `--help` and the README show it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (also when the reader of stdout goes away)
  1    finished, but some records were rejected (the dead-letter file or the messages say which)
  2    usage error, bad input, or another fatal error
  3    store unreachable or retries exhausted (try again later)
  4    input failed verification (truncated or corrupt)
  130  interrupted";

/// The exit code an error stands for.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<StreamError>() {
            return match e.kind {
                ErrorKind::Verification => Exit::Verification,
                ErrorKind::BadLine | ErrorKind::Unsupported => Exit::Fatal,
            };
        }
        if let Some(e) = cause.downcast_ref::<ely_store::StoreError>() {
            return match e.kind {
                ely_store::ErrorKind::Unavailable => Exit::Unreachable,
                _ => Exit::Fatal,
            };
        }
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Exit::Ok;
            }
        }
    }
    Exit::Fatal
}

/// A binary's whole `main`: parses its arguments, then runs `run` as [`main`] does.
pub fn start<T: clap::Parser>(
    name: &'static str,
    run: impl FnOnce(T) -> anyhow::Result<Exit>,
) -> ExitCode {
    // `--generate KIND` works without the arguments a run requires.
    let argv: Vec<String> = std::env::args().collect();
    if let Some(kind) = generate_kind(&argv) {
        return generate::<T>(name, &kind);
    }
    match parse_args::<T>(name) {
        Ok(args) => main(name, || run(args)),
        Err(code) => code,
    }
}

/// The `KIND` of `--generate KIND` or `--generate=KIND`, when given.
fn generate_kind(argv: &[String]) -> Option<String> {
    argv.iter().enumerate().skip(1).find_map(|(i, a)| {
        if a == "--generate" {
            Some(argv.get(i + 1).cloned().unwrap_or_default())
        } else {
            a.strip_prefix("--generate=").map(str::to_owned)
        }
    })
}

/// Prints a completion script or the man page (roff) of the binary on stdout.
fn generate<T: clap::CommandFactory>(name: &'static str, kind: &str) -> ExitCode {
    let mut cmd = T::command().name(name).bin_name(name);
    let mut out = io::stdout().lock();
    let shell = match kind {
        "complete-bash" => Some(clap_complete::Shell::Bash),
        "complete-zsh" => Some(clap_complete::Shell::Zsh),
        "complete-fish" => Some(clap_complete::Shell::Fish),
        "man" => None,
        other => {
            eprintln!(
                "{name}: error: --generate takes complete-bash, complete-zsh, complete-fish or man, not {other:?} (see --help)"
            );
            return ExitCode::from(Exit::Fatal as u8);
        }
    };
    let written = match shell {
        Some(shell) => {
            clap_complete::generate(shell, &mut cmd, name, &mut out);
            out.flush()
        }
        None => clap_mangen::Man::new(cmd)
            .render(&mut out)
            .and_then(|()| out.flush()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: error: writing to stdout: {e}");
            ExitCode::from(Exit::Fatal as u8)
        }
    }
}

/// The dead-letter file: `--dead-letter FILE` when given, else `INPUT.rejected.jsonl` beside
/// an input file; `None` for stdin without the flag.
pub fn dead_letter_path(
    flag: Option<&std::path::Path>,
    input: Option<&std::path::Path>,
) -> Option<std::path::PathBuf> {
    match (flag, input) {
        (Some(p), _) => Some(p.to_owned()),
        (None, Some(i)) if i.as_os_str() != "-" => {
            let mut name = i.as_os_str().to_owned();
            name.push(".rejected.jsonl");
            Some(name.into())
        }
        _ => None,
    }
}

/// Runs a binary's `run`, installs the interrupt handler first, and turns the outcome into
/// the process exit code, printing errors as `<name>: error: <message>: <cause>...`.
pub fn main(name: &'static str, run: impl FnOnce() -> anyhow::Result<Exit>) -> ExitCode {
    install_interrupt_handler(name);
    let exit = match run() {
        Ok(exit) => exit,
        Err(err) => {
            let exit = exit_for(&err);
            if exit != Exit::Ok {
                let mut msg = String::new();
                for (i, cause) in err.chain().enumerate() {
                    let text = cause.to_string();
                    if i > 0 && msg.contains(&text) {
                        continue;
                    }
                    if i > 0 {
                        msg.push_str(": ");
                    }
                    msg.push_str(&text);
                }
                let _ = writeln!(io::stderr(), "{name}: error: {msg}");
            }
            exit
        }
    };
    ExitCode::from(exit as u8)
}

/// Prints a warning on stderr with the binary's prefix.
pub fn warn(name: &str, msg: impl std::fmt::Display) {
    let _ = writeln!(io::stderr(), "{name}: warning: {msg}");
}

/// Parses arguments with clap, printing usage errors with the binary's prefix (exit 2) and
/// help or version text as clap does (exit 0).
pub fn parse_args<T: clap::Parser>(name: &str) -> Result<T, ExitCode> {
    match T::try_parse() {
        Ok(args) => Ok(args),
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                let _ = e.print();
                Err(ExitCode::SUCCESS)
            }
            _ => {
                let text = e.render().to_string();
                let text = text.strip_prefix("error: ").unwrap_or(&text);
                eprint!("{name}: error: {text}");
                Err(ExitCode::from(Exit::Fatal as u8))
            }
        },
    }
}

/// A usage error found after parsing (conflicting values and the like): exit 2.
pub fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{msg} (see --help)")
}

fn install_interrupt_handler(name: &'static str) {
    // The handler runs on its own thread, so it may take locks and touch files.
    let _ = ctrlc::set_handler(move || {
        let _guard = ely_stream::atomic::abandon_pending();
        ask::restore_terminal();
        let _ = writeln!(io::stderr(), "\n{name}: interrupted");
        std::process::exit(Exit::Interrupted as i32);
    });
}

/// A progress line on stderr (drawn by `indicatif`), refreshed a few times a second, shown
/// only when stderr is a terminal (never in pipes or cron), not `--quiet`, and only once a
/// run has lasted half a second (a quick run does not flicker).
pub struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Progress {
    pub fn start(name: &'static str, quiet: bool, counters: Arc<ely_stream::Counters>) -> Progress {
        Progress::counting(name, quiet, counters, "objects")
    }

    /// A progress line counting `unit` (`objects`, `files`): `done` of `objects` of the
    /// counters, and bytes read when there are some.
    pub fn counting(
        name: &'static str,
        quiet: bool,
        counters: Arc<ely_stream::Counters>,
        unit: &'static str,
    ) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = (!quiet && io::stderr().is_terminal()).then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let bar = indicatif::ProgressBar::hidden();
                let style = indicatif::ProgressStyle::with_template("{prefix}: {msg} ({elapsed})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
                bar.set_style(style);
                bar.set_prefix(name);
                let started = Instant::now();
                let mut shown = false;
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let secs = started.elapsed().as_secs_f64();
                    if secs < 0.5 {
                        continue;
                    }
                    if !shown {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(5));
                        shown = true;
                    }
                    bar.set_message(progress_line(&counters, secs, unit));
                }
                bar.finish_and_clear();
            })
        });
        Progress { stop, handle }
    }

    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What the progress line says: objects read (and, when a writer reports them, done), bytes
/// read, and the rate.
fn progress_line(counters: &ely_stream::Counters, secs: f64, unit: &str) -> String {
    let objects = counters.objects.load(Ordering::Relaxed);
    let done = counters.done.load(Ordering::Relaxed);
    let bytes = counters.bytes_in.load(Ordering::Relaxed) as f64 / 1048576.0;
    let read = match bytes > 0.0 {
        true => format!(", {bytes:.1} MiB read"),
        false => String::new(),
    };
    if done == 0 && objects == 0 && bytes == 0.0 {
        return "starting".into();
    }
    if done > 0 {
        format!(
            "{done} of {objects} {unit} done{read}, {:.0} {unit}/s",
            done as f64 / secs.max(0.001)
        )
    } else {
        format!(
            "{objects} {unit}{read}, {:.0} {unit}/s",
            objects as f64 / secs.max(0.001)
        )
    }
}

/// `--stats` fields from a record of counts (any type that serializes to a JSON object),
/// with `bytes_in` read from `counters`.
pub fn counts(
    totals: &impl serde::Serialize,
    counters: &ely_stream::Counters,
) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = match serde_json::to_value(totals) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    fields.insert(
        "bytes_in".into(),
        counters.bytes_in.load(Ordering::Relaxed).into(),
    );
    fields
}

/// Says on stderr that `n` records (`noun`: "object(s)", "change(s)") were rejected, and where
/// they are: the dead-letter file, or the result lines (`without_file` says how they name them).
pub fn tell_rejected(
    name: &str,
    n: u64,
    noun: &str,
    dead_letter: Option<&std::path::Path>,
    dry_run: bool,
    without_file: &str,
) {
    let msg = match dead_letter {
        Some(p) => format!(
            "{n} {noun} rejected; their lines and reasons are in {}",
            p.display()
        ),
        None if dry_run => format!("{n} {noun} would be rejected (see the result lines)"),
        None => format!(
            "{n} {noun} rejected; {without_file}; use --dead-letter FILE to keep their lines"
        ),
    };
    warn(name, msg);
}

/// The `--stats` line: one JSON object on stderr.
pub struct Stats {
    started: Instant,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
        }
    }
}

impl Stats {
    /// Prints `fields` plus `seconds` and, when `objects` is among them, `objects_per_second`.
    pub fn print(&self, name: &str, mut fields: serde_json::Map<String, serde_json::Value>) {
        let secs = self.started.elapsed().as_secs_f64();
        fields.insert("command".into(), name.into());
        fields.insert("seconds".into(), ((secs * 1000.0).round() / 1000.0).into());
        if let Some(n) = fields.get("objects").and_then(serde_json::Value::as_u64) {
            let rate = if secs > 0.0 {
                (n as f64 / secs).round()
            } else {
                0.0
            };
            fields.insert("objects_per_second".into(), rate.into());
        }
        let _ = writeln!(io::stderr(), "{}", serde_json::Value::Object(fields));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn exit_codes_follow_the_error_chain() {
        let pipe =
            anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("writing");
        assert_eq!(exit_for(&pipe), Exit::Ok);
        let v = anyhow::Error::new(StreamError::verification("x", "cut")).context("reading");
        assert_eq!(exit_for(&v), Exit::Verification);
        assert_eq!(exit_for(&anyhow::anyhow!("other")), Exit::Fatal);
    }
}
