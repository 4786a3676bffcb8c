//! ely's entries in a crontab, kept in one marked block so that ely can add, update and
//! remove its own jobs without touching anything else the user wrote. This is the one place
//! that writes cron entries. The block looks like
//!
//! ```text
//! # BEGIN ely
//! # ely: backup nightly
//! 0 3 * * * '/usr/local/bin/ely-backup' '--all' '-o' '/backups/nightly.jsonl.zst'
//! # END ely
//! ```
//!
//! each entry being a `# ely: <key>` comment and exactly one cron line. Lines outside the
//! block stay byte for byte as they were; a block that is not well formed is refused rather
//! than guessed at. The text functions here are pure; [`Crontab`] applies them to a
//! crontab-format file or to the user's crontab (through the `crontab` program) under an
//! exclusive lock, so concurrent changes never lose one another.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

const BEGIN: &str = "# BEGIN ely";
const END: &str = "# END ely";
const KEY_MARK: &str = "# ely:";

/// What installing an entry did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The key was not there; the entry was added.
    Added,
    /// The key was there with another schedule or command; its line was replaced.
    Updated,
    /// The key was there with the same line; nothing was written.
    Unchanged,
}

/// One ely entry of the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// The five fields or the `@` shortcut, as written.
    pub cron: String,
    /// The rest of the line: what cron hands to the shell.
    pub command: String,
}

/// Adds or replaces the entry `key` in the ely block of `text` (appending the block when
/// there is none) and returns the new text. Errors name the line of a malformed block.
pub fn with_entry(
    text: &str,
    key: &str,
    cron: &str,
    command: &str,
) -> Result<(String, Change), String> {
    check_entry(key, cron, command)?;
    let lines = split_lines(text);
    let line = entry_line(cron, command);
    let Some(block) = find_block(&lines)? else {
        let mut out = text.to_string();
        // crontab(1) refuses a last line without a newline, so the line before the block
        // gets one; it stays when the block goes again.
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{BEGIN}\n{KEY_MARK} {key}\n{line}\n{END}\n"));
        return Ok((out, Change::Added));
    };
    match block.entries.iter().find(|found| found.key == key) {
        Some(found) if content(lines[found.line]) == line => {
            Ok((text.to_string(), Change::Unchanged))
        }
        Some(found) => {
            let new = format!("{line}\n");
            Ok((
                splice(&lines, found.line..found.line + 1, &new),
                Change::Updated,
            ))
        }
        None => {
            let new = format!("{KEY_MARK} {key}\n{line}\n");
            Ok((splice(&lines, block.end..block.end, &new), Change::Added))
        }
    }
}

/// Removes the entry `key` from the ely block of `text`, and the block itself when no entry
/// is left. Returns the new text and whether the key was there.
pub fn without_entry(text: &str, key: &str) -> Result<(String, bool), String> {
    let lines = split_lines(text);
    let Some(block) = find_block(&lines)? else {
        return Ok((text.to_string(), false));
    };
    let Some(found) = block.entries.iter().find(|found| found.key == key) else {
        return Ok((text.to_string(), false));
    };
    let range = if block.entries.len() == 1 {
        block.begin..block.end + 1
    } else {
        found.comment..found.line + 1
    };
    Ok((splice(&lines, range, ""), true))
}

/// The entries of the ely block of `text`, in their order there.
pub fn entries(text: &str) -> Result<Vec<Entry>, String> {
    let lines = split_lines(text);
    let Some(block) = find_block(&lines)? else {
        return Ok(Vec::new());
    };
    Ok(block
        .entries
        .iter()
        .filter_map(|found| {
            let (cron, command) = split_entry(content(lines[found.line]))?;
            Some(Entry {
                key: found.key.to_string(),
                cron: cron.to_string(),
                command: command.to_string(),
            })
        })
        .collect())
}

/// The crontab line of an entry: the schedule, a space, the command. This is also the line
/// to show people who must install it by hand ([`CrontabError::NoCrontab`]).
pub fn entry_line(cron: &str, command: &str) -> String {
    format!("{cron} {command}")
}

/// A shell command line running `args` exactly, fit for a crontab: every argument in single
/// quotes, and every `%` written `\%` outside the quotes, because cron turns an unescaped `%`
/// into a newline (and the text after it into the command's stdin) and removes the backslash
/// of `\%`. Arguments must not contain newlines (no crontab line can); [`with_entry`] refuses
/// such a command.
pub fn command_line(args: &[&str]) -> String {
    args.iter()
        .map(|arg| quote(arg))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `command` with its output and errors appended to the file `log`: `<command> >> '<log>'
/// 2>&1`, the log path quoted as by [`command_line`].
pub fn append_log(command: &str, log: &str) -> String {
    format!("{command} >> {} 2>&1", quote(log))
}

fn quote(arg: &str) -> String {
    if arg.is_empty() {
        return "''".to_string();
    }
    let mut out = String::new();
    for (i, piece) in arg.split('%').enumerate() {
        // Outside the quotes the `\` of `\%` always follows a quote, never a backslash of the
        // argument, so cron reads it as the escape; the shell then sees a plain `%`.
        if i > 0 {
            out.push_str("\\%");
        }
        if !piece.is_empty() {
            out.push('\'');
            out.push_str(&piece.replace('\'', "'\\''"));
            out.push('\'');
        }
    }
    out
}

/// Refuses keys, schedules and commands that would not read back as the same entry.
fn check_entry(key: &str, cron: &str, command: &str) -> Result<(), String> {
    if key.is_empty() || key.trim() != key || key.chars().any(char::is_control) {
        return Err(format!(
            "entry key {key:?} must be non-empty, without control characters and without \
             spaces at either end"
        ));
    }
    if [cron, command]
        .iter()
        .any(|text| text.contains(['\n', '\r']))
    {
        return Err(format!(
            "entry {key:?}: the schedule and the command must fit on one crontab line (no \
             newlines)"
        ));
    }
    let line = entry_line(cron, command);
    if split_entry(&line) != Some((cron, command)) {
        return Err(format!(
            "entry {key:?}: '{line}' does not read back as schedule '{cron}' and command \
             '{command}'; the schedule must be five cron fields or an @ shortcut, and the \
             command non-empty without spaces at either end"
        ));
    }
    Ok(())
}

/// A cron line cut into its schedule (five fields, or one `@` field) and its command.
fn split_entry(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    let fields = if line.starts_with('@') { 1 } else { 5 };
    let mut end = 0;
    for _ in 0..fields {
        let rest = &line[end..];
        let start = end + (rest.len() - rest.trim_start().len());
        end = start + line[start..].find(char::is_whitespace)?;
    }
    let command = line[end..].trim();
    if command.is_empty() {
        return None;
    }
    Some((&line[..end], command))
}

/// The lines of `text` with their line endings, so that joining them gives `text` back.
fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A line without its line ending.
fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// `lines` with those in `range` replaced by `new`.
fn splice(lines: &[&str], range: std::ops::Range<usize>, new: &str) -> String {
    let mut out: String = lines[..range.start].concat();
    out.push_str(new);
    out.push_str(&lines[range.end..].concat());
    out
}

/// Where the ely block is: line indexes of its markers and of each entry.
struct Block<'a> {
    begin: usize,
    end: usize,
    entries: Vec<Found<'a>>,
}

struct Found<'a> {
    key: &'a str,
    /// The `# ely: <key>` line.
    comment: usize,
    /// The cron line after it.
    line: usize,
}

/// Finds the ely block, refusing anything that is not clearly one block of entries (line
/// numbers in errors count from 1).
fn find_block<'a>(lines: &[&'a str]) -> Result<Option<Block<'a>>, String> {
    let mut open: Option<Block<'a>> = None;
    let mut done: Option<Block<'a>> = None;
    let mut i = 0;
    while i < lines.len() {
        let text = content(lines[i]).trim();
        let number = i + 1;
        if text == BEGIN {
            if let Some(first) = open.as_ref().or(done.as_ref()) {
                return Err(format!(
                    "line {number}: a second '{BEGIN}' (the first is on line {})",
                    first.begin + 1
                ));
            }
            open = Some(Block {
                begin: i,
                end: i,
                entries: Vec::new(),
            });
        } else if text == END {
            let Some(mut block) = open.take() else {
                return Err(format!(
                    "line {number}: '{END}' without a '{BEGIN}' before it"
                ));
            };
            block.end = i;
            done = Some(block);
        } else if let Some(block) = open.as_mut() {
            if let Some(key) = text.strip_prefix(KEY_MARK) {
                let key = key.trim();
                if key.is_empty() {
                    return Err(format!("line {number}: '{KEY_MARK}' without a key"));
                }
                if let Some(other) = block.entries.iter().find(|found| found.key == key) {
                    return Err(format!(
                        "line {number}: entry '{key}' appears twice (also on line {})",
                        other.comment + 1
                    ));
                }
                let next = lines.get(i + 1).map(|line| content(line).trim());
                match next {
                    Some(next) if split_entry(next).is_some() && !next.starts_with('#') => {}
                    _ => {
                        return Err(format!(
                            "line {number}: entry '{key}' has no cron line after it \
                             (schedule and command)"
                        ))
                    }
                }
                block.entries.push(Found {
                    key,
                    comment: i,
                    line: i + 1,
                });
                i += 1;
            } else if !text.is_empty() {
                return Err(format!(
                    "line {number}: '{text}' inside the ely block is not an ely entry \
                     ('{KEY_MARK} <key>' and one cron line); move it out of the block"
                ));
            }
        }
        i += 1;
    }
    if let Some(block) = open {
        return Err(format!(
            "line {}: '{BEGIN}' has no '{END}' after it",
            block.begin + 1
        ));
    }
    Ok(done)
}

/// Why a crontab could not be read or changed.
#[derive(Debug)]
pub enum CrontabError {
    /// The `crontab` program is not installed. The caller can ask the user to install the
    /// line ([`entry_line`]) by hand.
    NoCrontab { program: PathBuf },
    /// The ely block is malformed; nothing was written.
    Malformed { crontab: String, message: String },
    /// The key, schedule or command cannot make an entry.
    Invalid(String),
    /// `crontab -l` or `crontab -` failed.
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// Reading, writing or locking a file failed.
    Io { context: String, source: io::Error },
}

impl fmt::Display for CrontabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrontabError::NoCrontab { program } => write!(
                f,
                "no {} command: install cron (e.g. the cron or cronie package), or add the \
                 line to your crontab by hand",
                program.display()
            ),
            CrontabError::Malformed { crontab, message } => write!(
                f,
                "{crontab}, {message}; nothing was changed: fix the lines between '{BEGIN}' \
                 and '{END}' by hand, then try again"
            ),
            CrontabError::Invalid(message) => f.write_str(message),
            CrontabError::Failed {
                command,
                status,
                stderr,
            } => {
                write!(f, "'{command}' failed ({status})")?;
                match stderr.trim() {
                    "" => Ok(()),
                    stderr => write!(f, ": {stderr}"),
                }
            }
            CrontabError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for CrontabError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CrontabError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_error(context: String) -> impl FnOnce(io::Error) -> CrontabError {
    move |source| CrontabError::Io { context, source }
}

/// A crontab ely keeps its block in: a crontab-format file, or the user's crontab.
#[derive(Clone, Debug)]
pub struct Crontab {
    target: Target,
    /// Held exclusively over every read-modify-write.
    lock_path: PathBuf,
}

#[derive(Clone, Debug)]
enum Target {
    File(PathBuf),
    /// The user's crontab, through this `crontab` program.
    System(PathBuf),
}

impl Crontab {
    /// A crontab-format file (for `--crontab-file`, tests, systems without cron). A missing
    /// file reads as empty; changes go to a temporary sibling that is synced and renamed over
    /// it, keeping an existing file's permissions (0600 for a new one). The lock is
    /// `<path>.lock` beside it.
    pub fn file(path: impl Into<PathBuf>) -> Crontab {
        let path = path.into();
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".lock");
        Crontab {
            target: Target::File(path),
            lock_path: PathBuf::from(lock_path),
        }
    }

    /// The user's crontab, read with `crontab -l` and installed with `crontab -`, changes
    /// serialized by a lock on `lock_path` (ely's state folder, say).
    pub fn system(lock_path: impl Into<PathBuf>) -> Crontab {
        Crontab::system_with(PathBuf::from("crontab"), lock_path.into())
    }

    /// Where a job's entry goes: the crontab-format `file` when one was given
    /// (`--crontab-file`), else the user's crontab, locked by one file per user
    /// (`$ELY_HOME/crontab.lock`, or in `fallback` when there is no ELY_HOME or HOME),
    /// whatever state file the job belongs to.
    pub fn for_job(file: Option<&str>, fallback: &std::path::Path) -> Crontab {
        match file {
            Some(f) => Crontab::file(PathBuf::from(f)),
            None => Crontab::system(
                ely_store::ely_home(|k| std::env::var(k).ok())
                    .unwrap_or_else(|| fallback.to_owned())
                    .join("crontab.lock"),
            ),
        }
    }

    /// [`Crontab::system`] through another `crontab` program (a fake one in tests).
    pub fn system_with(program: PathBuf, lock_path: PathBuf) -> Crontab {
        Crontab {
            target: Target::System(program),
            lock_path,
        }
    }

    /// For messages: the file's path, or "the crontab of user X".
    pub fn describe(&self) -> String {
        match &self.target {
            Target::File(path) => path.display().to_string(),
            Target::System(_) => {
                match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
                    Ok(user) if !user.is_empty() => format!("the crontab of user {user}"),
                    _ => "the user's crontab".to_string(),
                }
            }
        }
    }

    /// Adds or updates the entry `key`; writes nothing when it is already as asked.
    pub fn install(&self, key: &str, cron: &str, command: &str) -> Result<Change, CrontabError> {
        check_entry(key, cron, command).map_err(CrontabError::Invalid)?;
        let _lock = self.lock()?;
        let text = self.read()?;
        let (new, change) = with_entry(&text, key, cron, command).map_err(|m| self.malformed(m))?;
        if change != Change::Unchanged {
            self.write(&new)?;
        }
        Ok(change)
    }

    /// Removes the entry `key`; returns whether it was there.
    pub fn remove(&self, key: &str) -> Result<bool, CrontabError> {
        let _lock = self.lock()?;
        let text = self.read()?;
        let (new, removed) = without_entry(&text, key).map_err(|m| self.malformed(m))?;
        if removed {
            self.write(&new)?;
        }
        Ok(removed)
    }

    /// The entries of the ely block.
    pub fn entries(&self) -> Result<Vec<Entry>, CrontabError> {
        // No lock: both a rename and `crontab -` replace the whole text at once.
        let text = self.read()?;
        entries(&text).map_err(|m| self.malformed(m))
    }

    fn malformed(&self, message: String) -> CrontabError {
        CrontabError::Malformed {
            crontab: self.describe(),
            message,
        }
    }

    /// Takes the exclusive lock, waiting for another process that holds it; dropping the
    /// returned file releases it.
    fn lock(&self) -> Result<File, CrontabError> {
        let path = &self.lock_path;
        let context = || format!("cannot lock {}", path.display());
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_error(context()))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_error(context()))?;
        file.lock().map_err(io_error(context()))?;
        Ok(file)
    }

    fn read(&self) -> Result<String, CrontabError> {
        match &self.target {
            Target::File(path) => match fs::read(path) {
                Ok(bytes) => String::from_utf8(bytes).map_err(|_| CrontabError::Io {
                    context: format!("cannot read {}", path.display()),
                    source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(io_error(format!("cannot read {}", path.display()))(e)),
            },
            Target::System(program) => {
                let output = Command::new(program)
                    .arg("-l")
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| self.spawn_error(program, "-l", e))?;
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                if !output.status.success() {
                    // "no crontab for USER" (cronie, Vixie, Debian) or busybox's "can't open
                    // ...: No such file" is an empty crontab, not a failure.
                    let lower = stderr.to_ascii_lowercase();
                    if lower.contains("no crontab for")
                        || (lower.contains("can't open") && lower.contains("no such file"))
                    {
                        return Ok(String::new());
                    }
                    return Err(CrontabError::Failed {
                        command: format!("{} -l", program.display()),
                        status: output.status,
                        stderr,
                    });
                }
                String::from_utf8(output.stdout).map_err(|_| CrontabError::Io {
                    context: format!("cannot read the output of {} -l", program.display()),
                    source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
                })
            }
        }
    }

    fn write(&self, text: &str) -> Result<(), CrontabError> {
        match &self.target {
            Target::File(path) => write_file(path, text),
            Target::System(program) => {
                let mut child = Command::new(program)
                    .arg("-")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| self.spawn_error(program, "-", e))?;
                // A crontab program that exits early breaks the pipe; its status and stderr
                // then say more than the write error, so wait for it first.
                let written = match child.stdin.take() {
                    Some(mut stdin) => stdin.write_all(text.as_bytes()),
                    None => Ok(()),
                };
                let output = child
                    .wait_with_output()
                    .map_err(io_error(format!("cannot wait for {} -", program.display())))?;
                if !output.status.success() {
                    return Err(CrontabError::Failed {
                        command: format!("{} -", program.display()),
                        status: output.status,
                        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
                    });
                }
                written.map_err(io_error(format!(
                    "cannot write the new crontab to {} -",
                    program.display()
                )))
            }
        }
    }

    fn spawn_error(&self, program: &Path, arg: &str, e: io::Error) -> CrontabError {
        if e.kind() == io::ErrorKind::NotFound {
            CrontabError::NoCrontab {
                program: program.to_path_buf(),
            }
        } else {
            CrontabError::Io {
                context: format!("cannot run {} {arg}", program.display()),
                source: e,
            }
        }
    }
}

/// Replaces `path` atomically: a temporary sibling, written, synced, given the old file's
/// permissions (0600 when new), renamed over it. A symlink is followed so the link stays.
fn write_file(path: &Path, text: &str) -> Result<(), CrontabError> {
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let context = || format!("cannot write {}", target.display());
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and call, so that even writers that skipped the lock never share
    // a temporary file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let serial = WRITES.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.ely-{}-{serial}.tmp", std::process::id()));
    let permissions = match fs::metadata(&target) {
        Ok(meta) => Some(meta.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(context())(e)),
    };
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(text.as_bytes())?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        fs::rename(&temp, &target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(io_error(context())(e));
    }
    // The rename is durable once the folder is synced; failing that is no reason to report
    // a change that did happen as failed.
    if let Ok(folder) = File::open(&dir) {
        let _ = folder.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const NIGHTLY: &str = "'/usr/bin/ely-backup' '--all' '-o' '/b/nightly.jsonl.zst'";

    fn added(text: &str, key: &str, cron: &str, command: &str) -> String {
        let (out, change) = with_entry(text, key, cron, command).unwrap();
        assert_eq!(change, Change::Added, "adding {key} to {text:?}");
        out
    }

    fn refused(text: &str) -> String {
        let e = with_entry(text, "k", "0 3 * * *", "true").unwrap_err();
        assert_eq!(without_entry(text, "k").unwrap_err(), e);
        assert_eq!(entries(text).unwrap_err(), e);
        e
    }

    #[test]
    fn install_into_empty_text() {
        let out = added("", "backup nightly", "0 3 * * *", NIGHTLY);
        assert_eq!(
            out,
            format!("# BEGIN ely\n# ely: backup nightly\n0 3 * * * {NIGHTLY}\n# END ely\n")
        );
        assert_eq!(
            entries(&out).unwrap(),
            [Entry {
                key: "backup nightly".into(),
                cron: "0 3 * * *".into(),
                command: NIGHTLY.into()
            }]
        );
        let (back, removed) = without_entry(&out, "backup nightly").unwrap();
        assert!(removed);
        assert_eq!(back, "");
    }

    #[test]
    fn other_lines_are_kept_byte_for_byte_and_removal_restores_them() {
        let original = "SHELL=/bin/bash\nMAILTO=me@example.org\n\n# my jobs\n0 1 * * *   /home/me/bin/rotate  \n@reboot /home/me/bin/start\n";
        let out = added(original, "sync", "*/30 * * * *", "'ely-repo' 'sync'");
        assert!(out.starts_with(original));
        assert_eq!(
            &out[original.len()..],
            "# BEGIN ely\n# ely: sync\n*/30 * * * * 'ely-repo' 'sync'\n# END ely\n"
        );
        let out = added(&out, "backup", "@daily", "'ely-backup' '--all'");
        let (out, _) = without_entry(&out, "sync").unwrap();
        let (out, _) = without_entry(&out, "backup").unwrap();
        assert_eq!(out, original);
    }

    #[test]
    fn lines_after_the_block_are_kept() {
        let original = "# BEGIN ely\n# ely: a\n0 3 * * * a\n# END ely\n0 4 * * * mine\n# trailing comment without newline";
        let out = added(original, "b", "0 5 * * *", "b");
        assert_eq!(out, "# BEGIN ely\n# ely: a\n0 3 * * * a\n# ely: b\n0 5 * * * b\n# END ely\n0 4 * * * mine\n# trailing comment without newline");
        let (out, _) = without_entry(&out, "b").unwrap();
        assert_eq!(out, original);
        let (out, _) = without_entry(&out, "a").unwrap();
        assert_eq!(out, "0 4 * * * mine\n# trailing comment without newline");
    }

    #[test]
    fn missing_final_newline_is_tolerated() {
        let original = "0 1 * * * /home/me/bin/rotate";
        let out = added(original, "k", "0 3 * * *", "true");
        // The last line gets the newline cron needs to read it; nothing else changes.
        assert_eq!(
            out,
            "0 1 * * * /home/me/bin/rotate\n# BEGIN ely\n# ely: k\n0 3 * * * true\n# END ely\n"
        );
        let (back, _) = without_entry(&out, "k").unwrap();
        assert_eq!(back, format!("{original}\n"));
        // A block whose END has no newline is still read.
        let text = "# BEGIN ely\n# ely: k\n0 3 * * * true\n# END ely";
        assert_eq!(entries(text).unwrap().len(), 1);
        assert_eq!(
            with_entry(text, "k", "0 3 * * *", "true").unwrap(),
            (text.to_string(), Change::Unchanged)
        );
        assert_eq!(without_entry(text, "k").unwrap(), (String::new(), true));
    }

    #[test]
    fn update_and_unchanged_touch_only_their_entry() {
        let text = "x=1\n# BEGIN ely\n# ely: a\n0  3 * * *   keep   this  \n\n# ely: b\n@hourly b\n# END ely\ny\n";
        let (out, change) = with_entry(text, "b", "@hourly", "b").unwrap();
        assert_eq!((out.as_str(), change), (text, Change::Unchanged));
        let (out, change) = with_entry(text, "b", "*/5 * * * *", "b --fast").unwrap();
        assert_eq!(change, Change::Updated);
        assert_eq!(out, text.replace("@hourly b\n", "*/5 * * * * b --fast\n"));
        let (out, change) = with_entry(&out, "b", "@hourly", "b").unwrap();
        assert_eq!((out.as_str(), change), (text, Change::Updated));
        assert_eq!(
            entries(text).unwrap(),
            [
                Entry {
                    key: "a".into(),
                    cron: "0  3 * * *".into(),
                    command: "keep   this".into()
                },
                Entry {
                    key: "b".into(),
                    cron: "@hourly".into(),
                    command: "b".into()
                },
            ]
        );
        // Removing one key keeps the other entry (and the block) as they were.
        let (out, removed) = without_entry(text, "b").unwrap();
        assert!(removed);
        assert_eq!(
            out,
            "x=1\n# BEGIN ely\n# ely: a\n0  3 * * *   keep   this  \n\n# END ely\ny\n"
        );
        assert_eq!(
            without_entry(text, "zzz").unwrap(),
            (text.to_string(), false)
        );
        assert_eq!(
            without_entry("a\n", "zzz").unwrap(),
            ("a\n".to_string(), false)
        );
        // Removing the last entry removes the whole block, blank lines in it included.
        let (out, _) = without_entry(&out, "a").unwrap();
        assert_eq!(out, "x=1\ny\n");
    }

    #[test]
    fn entries_outside_the_block_are_not_ely_entries() {
        let text = "# ely: a\n0 3 * * * not-ours\n";
        assert!(entries(text).unwrap().is_empty());
        let out = added(text, "a", "0 4 * * *", "ours");
        assert!(out.starts_with(text));
        assert_eq!(entries(&out).unwrap()[0].command, "ours");
    }

    #[test]
    fn malformed_blocks_are_refused_with_the_line() {
        for (text, wanted) in [
            (
                "a\n# BEGIN ely\n# ely: k\n0 3 * * * x\n",
                "line 2: '# BEGIN ely' has no '# END ely' after it",
            ),
            (
                "# BEGIN ely\n# BEGIN ely\n# END ely\n",
                "line 2: a second '# BEGIN ely' (the first is on line 1)",
            ),
            (
                "# BEGIN ely\n# END ely\n\n# BEGIN ely\n# END ely\n",
                "line 4: a second '# BEGIN ely'",
            ),
            (
                "0 3 * * * x\n# END ely\n",
                "line 2: '# END ely' without a '# BEGIN ely'",
            ),
            (
                "# BEGIN ely\n# ely: k\n# END ely\n",
                "line 2: entry 'k' has no cron line after it",
            ),
            (
                "# BEGIN ely\n# ely: k\n# ely: j\n0 3 * * * x\n# END ely\n",
                "line 2: entry 'k' has no cron line",
            ),
            (
                "# BEGIN ely\n# ely: k\n\n0 3 * * * x\n# END ely\n",
                "line 2: entry 'k' has no cron line",
            ),
            (
                "# BEGIN ely\n# ely: k\n0 3 * *\n# END ely\n",
                "line 2: entry 'k' has no cron line",
            ),
            (
                "# BEGIN ely\n# ely: k",
                "line 2: entry 'k' has no cron line",
            ),
            (
                "# BEGIN ely\n0 3 * * * stray\n# END ely\n",
                "line 2: '0 3 * * * stray' inside the ely block is not an ely entry",
            ),
            (
                "# BEGIN ely\n# ely: k\n@daily a\n# ely: k\n@daily b\n# END ely\n",
                "line 4: entry 'k' appears twice (also on line 2)",
            ),
            (
                "# BEGIN ely\n# ely:\n@daily a\n# END ely\n",
                "line 2: '# ely:' without a key",
            ),
        ] {
            let e = refused(text);
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
    }

    #[test]
    fn invalid_entries_are_refused() {
        for (key, cron, command) in [
            ("", "0 3 * * *", "x"),
            (" k", "0 3 * * *", "x"),
            ("k\nj", "0 3 * * *", "x"),
            ("k", "0 3 * *", "x"),
            ("k", "0 3 * * * *", ""),
            ("k", "0 3 * * *", ""),
            ("k", "0 3 * * *", "a\nb"),
            ("k", "@daily\n", "x"),
            ("k", "", "x"),
        ] {
            assert!(
                with_entry("", key, cron, command).is_err(),
                "{key:?} {cron:?} {command:?}"
            );
        }
    }

    /// What cron does to a command before the shell sees it (cronie's do_command): `\%`
    /// becomes `%`, and an unescaped `%` ends the command (the rest goes to stdin).
    fn cron_reads(command: &str) -> (String, Option<String>) {
        let mut out = String::new();
        let mut escaped = false;
        for (i, ch) in command.char_indices() {
            if escaped {
                if ch == '%' {
                    out.pop();
                }
                out.push(ch);
                escaped = false;
                continue;
            }
            if ch == '\\' {
                escaped = true;
            } else if ch == '%' {
                return (out, Some(command[i + 1..].to_string()));
            }
            out.push(ch);
        }
        (out, None)
    }

    #[test]
    fn command_line_quotes_for_the_shell_and_escapes_percent_for_cron() {
        assert_eq!(
            command_line(&["ely-backup", "--all"]),
            "'ely-backup' '--all'"
        );
        assert_eq!(command_line(&["it's"]), "'it'\\''s'");
        assert_eq!(command_line(&["50%"]), "'50'\\%");
        assert_eq!(command_line(&["%Y-%m-%d"]), "\\%'Y-'\\%'m-'\\%'d'");
        assert_eq!(command_line(&[""]), "''");
        assert_eq!(
            append_log("'a'", "/var/log/ely 1.log"),
            "'a' >> '/var/log/ely 1.log' 2>&1"
        );
        let args = [
            "[%s]\\n",
            "50%",
            "%%",
            "a\\%",
            "\\",
            "a\\",
            "\\\\%",
            "it's",
            "'",
            "$HOME",
            "`id`",
            "a b",
            "",
            "*",
            ";rm -rf x",
            "\"q\"",
            "tab\there",
            "ünïcödé",
            "%",
            "-n",
        ];
        let line = command_line(&[&["printf"][..], &args].concat());
        let (shell, stdin) = cron_reads(&line);
        assert_eq!(stdin, None, "an unescaped % in {line}");
        let output = Command::new("/bin/sh")
            .arg("-c")
            .arg(&shell)
            .output()
            .unwrap();
        assert!(output.status.success(), "{shell}");
        let printed = String::from_utf8(output.stdout).unwrap();
        let wanted: String = args[1..].iter().map(|a| format!("[{a}]\n")).collect();
        assert_eq!(printed, wanted, "through cron and sh: {line}");
        // With a log, still one command and the output goes to the file.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("it's 100%.log");
        let log = log.to_str().unwrap();
        let (shell, stdin) = cron_reads(&append_log(&command_line(&["echo", "50%"]), log));
        assert_eq!(stdin, None);
        assert!(Command::new("/bin/sh")
            .arg("-c")
            .arg(&shell)
            .status()
            .unwrap()
            .success());
        assert_eq!(fs::read_to_string(log).unwrap(), "50%\n");
    }

    #[test]
    fn file_crontab_absent_then_installed_updated_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cron/ely.crontab");
        fs::create_dir(path.parent().unwrap()).unwrap();
        let crontab = Crontab::file(&path);
        assert_eq!(crontab.describe(), path.display().to_string());
        assert!(crontab.entries().unwrap().is_empty());
        assert!(!crontab.remove("k").unwrap());
        assert!(!path.exists(), "nothing to remove writes nothing");
        assert_eq!(
            crontab.install("k", "0 3 * * *", "true").unwrap(),
            Change::Added
        );
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "# BEGIN ely\n# ely: k\n0 3 * * * true\n# END ely\n"
        );
        let inode = fs::metadata(&path).unwrap().ino();
        assert_eq!(
            crontab.install("k", "0 3 * * *", "true").unwrap(),
            Change::Unchanged
        );
        assert_eq!(
            fs::metadata(&path).unwrap().ino(),
            inode,
            "unchanged is not rewritten"
        );
        assert_eq!(
            crontab.install("k", "@daily", "true").unwrap(),
            Change::Updated
        );
        assert_eq!(crontab.entries().unwrap()[0].cron, "@daily");
        assert!(crontab.remove("k").unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers.len(),
            2,
            "the crontab and its lock only: {leftovers:?}"
        );
    }

    #[test]
    fn file_crontab_keeps_permissions_and_follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.crontab");
        fs::write(&real, "MAILTO=\"\"\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.crontab");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        Crontab::file(&link)
            .install("k", "0 3 * * *", "true")
            .unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(fs::read_to_string(&real)
            .unwrap()
            .starts_with("MAILTO=\"\"\n# BEGIN ely\n"));
    }

    #[test]
    fn malformed_file_is_named_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crontab");
        let text = "0 1 * * * mine\n# BEGIN ely\n# ely: k\n0 3 * * * x\n";
        fs::write(&path, text).unwrap();
        let crontab = Crontab::file(&path);
        let e = crontab.install("j", "0 4 * * *", "y").unwrap_err();
        assert!(matches!(e, CrontabError::Malformed { .. }), "{e:?}");
        let message = e.to_string();
        assert!(
            message.starts_with(&format!(
                "{}, line 2: '# BEGIN ely' has no '# END ely'",
                path.display()
            )),
            "{message}"
        );
        assert!(message.contains("nothing was changed"), "{message}");
        assert!(crontab.remove("k").is_err());
        assert!(crontab.entries().is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), text);
        let e = crontab.install("j", "0 4 * *", "y").unwrap_err();
        assert!(matches!(e, CrontabError::Invalid(_)), "{e:?}");
    }

    #[test]
    fn concurrent_installs_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crontab");
        fs::write(&path, "0 1 * * * mine\n").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let crontab = Crontab::file(&path);
                    for i in 0..10 {
                        let key = format!("job {t}-{i}");
                        let command = command_line(&["echo", &key]);
                        assert_eq!(
                            crontab.install(&key, "*/5 * * * *", &command).unwrap(),
                            Change::Added
                        );
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("0 1 * * * mine\n# BEGIN ely\n"));
        let mut keys: Vec<String> = entries(&text).unwrap().into_iter().map(|e| e.key).collect();
        keys.sort();
        let mut wanted: Vec<String> = (0..8)
            .flat_map(|t| (0..10).map(move |i| format!("job {t}-{i}")))
            .collect();
        wanted.sort();
        assert_eq!(keys, wanted);
    }

    /// A stand-in for `crontab`: `-l` prints the stored crontab (or says there is none, as
    /// cronie does), `-` stores stdin; every call is logged.
    fn fake_crontab(dir: &Path) -> PathBuf {
        let program = dir.join("crontab");
        let script = format!(
            "#!/bin/sh\nstore='{0}/stored'\necho \"$@\" >> '{0}/calls'\ncase \"$1\" in\n\
             -l) if [ -f \"$store\" ]; then cat \"$store\"; else echo \"no crontab for tester\" >&2; exit 1; fi ;;\n\
             -) cat > \"$store\" ;;\n*) echo \"usage\" >&2; exit 2 ;;\nesac\n",
            dir.display()
        );
        fs::write(&program, script).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    #[test]
    fn system_crontab_through_the_crontab_program() {
        let dir = tempfile::tempdir().unwrap();
        let program = fake_crontab(dir.path());
        let crontab = Crontab::system_with(program, dir.path().join("state/crontab.lock"));
        assert!(crontab.describe().contains("crontab"));
        assert!(
            crontab.entries().unwrap().is_empty(),
            "no crontab for the user is empty"
        );
        assert!(!crontab.remove("k").unwrap());
        assert_eq!(
            crontab
                .install("k", "*/30 * * * *", "'ely-repo' 'sync'")
                .unwrap(),
            Change::Added
        );
        let stored = dir.path().join("stored");
        assert_eq!(
            fs::read_to_string(&stored).unwrap(),
            "# BEGIN ely\n# ely: k\n*/30 * * * * 'ely-repo' 'sync'\n# END ely\n"
        );
        // Lines the user added with crontab -e are kept.
        fs::write(
            &stored,
            format!("MAILTO=me\n{}", fs::read_to_string(&stored).unwrap()),
        )
        .unwrap();
        assert_eq!(
            crontab
                .install("k", "*/30 * * * *", "'ely-repo' 'sync'")
                .unwrap(),
            Change::Unchanged
        );
        assert_eq!(
            crontab.install("j", "@daily", "'ely-backup'").unwrap(),
            Change::Added
        );
        assert_eq!(crontab.entries().unwrap().len(), 2);
        assert!(crontab.remove("k").unwrap());
        assert!(crontab.remove("j").unwrap());
        assert_eq!(fs::read_to_string(&stored).unwrap(), "MAILTO=me\n");
        assert!(dir.path().join("state/crontab.lock").exists());
        let calls = fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(
            calls.lines().filter(|c| *c == "-").count(),
            4,
            "writes only on change: {calls}"
        );
    }

    #[test]
    fn missing_or_failing_crontab_program() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("lock");
        let missing = Crontab::system_with(dir.path().join("no-such-crontab"), lock.clone());
        let e = missing.install("k", "@daily", "true").unwrap_err();
        assert!(matches!(&e, CrontabError::NoCrontab { .. }), "{e:?}");
        assert!(e.to_string().contains("by hand"), "{e}");
        assert!(matches!(
            missing.entries(),
            Err(CrontabError::NoCrontab { .. })
        ));
        let failing = dir.path().join("failing");
        fs::write(
            &failing,
            "#!/bin/sh\necho 'crontab: permission denied' >&2\nexit 1\n",
        )
        .unwrap();
        fs::set_permissions(&failing, fs::Permissions::from_mode(0o755)).unwrap();
        let e = Crontab::system_with(failing, lock).entries().unwrap_err();
        assert!(matches!(&e, CrontabError::Failed { .. }), "{e:?}");
        assert!(e.to_string().contains("permission denied"), "{e}");
    }
}
