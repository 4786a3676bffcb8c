//! Git itself, for `--git DIR`: the repositories at or under a folder, what was committed
//! since a commit (`git diff --raw -z -M`), every tracked file of a commit (`git ls-tree`),
//! the working tree's changes (`git status --porcelain -z`), and the content of blobs, read
//! through one `git cat-file --batch` per repository.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{anyhow, bail, Context};

/// A repository found under a `--git` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRepo {
    /// The clone's folder name (what mgit calls the repository).
    pub name: String,
    pub dir: PathBuf,
}

/// Folders not searched for repositories.
const NOT_SEARCHED: [&str; 4] = ["node_modules", "vendor", "target", "dist"];

/// The git repositories at `dir` (when it is one) or under it (not inside one another), in
/// name order.
pub fn discover(dir: &Path) -> anyhow::Result<Vec<GitRepo>> {
    let dir = std::fs::canonicalize(dir).with_context(|| format!("--git {}", dir.display()))?;
    let repo = |d: &Path| GitRepo {
        name: d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into()),
        dir: d.to_path_buf(),
    };
    if dir.join(".git").exists() {
        return Ok(vec![repo(&dir)]);
    }
    let mut found = Vec::new();
    let mut stack = vec![(dir.clone(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || NOT_SEARCHED.contains(&name.as_ref()) {
                continue;
            }
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            if p.join(".git").exists() {
                found.push(repo(&p));
            } else if depth < 4 {
                stack.push((p, depth + 1));
            }
        }
    }
    if found.is_empty() {
        bail!(
            "--git {}: no git repository there or under it",
            dir.display()
        );
    }
    found.sort_by(|a, b| a.name.cmp(&b.name).then(a.dir.cmp(&b.dir)));
    Ok(found)
}

/// Runs git in `dir` and returns its stdout; a failure names the command and says git's
/// message.
fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow!("running git: {e} (is git installed?)"))?;
    if !out.status.success() {
        bail!(
            "{}: git {} failed: {}",
            dir.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

/// The commit HEAD points at; `None` in a repository without commits.
pub fn head(dir: &Path) -> anyhow::Result<Option<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| anyhow!("running git: {e} (is git installed?)"))?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

/// The branch checked out; `None` on a detached HEAD.
pub fn branch(dir: &Path) -> Option<String> {
    git(dir, &["symbolic-ref", "--short", "-q", "HEAD"])
        .ok()
        .map(|o| String::from_utf8_lossy(&o).trim().to_owned())
        .filter(|b| !b.is_empty())
}

/// Whether `old` is an ancestor of `new` (false also when `old` is unknown: history was
/// rewritten and the commit collected).
pub fn is_ancestor(dir: &Path, old: &str, new: &str) -> anyhow::Result<bool> {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["merge-base", "--is-ancestor", old, new])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| anyhow!("running git: {e} (is git installed?)"))?;
    Ok(status.success())
}

/// A file's change between two commits, or in the working tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Added or modified: its new blob (`None` for the working tree: read from disk) and
    /// mode.
    Upsert {
        path: String,
        blob: Option<String>,
        mode: String,
    },
    Delete {
        path: String,
    },
    Rename {
        from: String,
        path: String,
        blob: Option<String>,
        mode: String,
    },
}

/// What was committed from `old` to `new` (renames found as `git diff -M` finds them).
pub fn changes(dir: &Path, old: &str, new: &str) -> anyhow::Result<Vec<Change>> {
    let out = git(
        dir,
        &[
            "diff",
            "--raw",
            "-z",
            "-M",
            "--no-abbrev",
            "--no-ext-diff",
            "--no-textconv",
            old,
            new,
        ],
    )?;
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut changes = Vec::new();
    while let Some(meta) = fields.next() {
        // ":old_mode new_mode old_blob new_blob status"
        let meta = text(meta);
        let parts: Vec<&str> = meta.trim_start_matches(':').split(' ').collect();
        let [_, mode, _, blob, status] = parts[..] else {
            bail!("{}: cannot read git diff's line {meta:?}", dir.display());
        };
        let path = fields
            .next()
            .map(text)
            .ok_or_else(|| anyhow!("{}: git diff ended early", dir.display()))?;
        let blob = Some(blob.to_owned());
        let mode = mode.to_owned();
        match status.chars().next() {
            Some('D') => changes.push(Change::Delete { path }),
            Some('R') => {
                let to = fields
                    .next()
                    .map(text)
                    .ok_or_else(|| anyhow!("{}: git diff ended early", dir.display()))?;
                changes.push(Change::Rename {
                    from: path,
                    path: to,
                    blob,
                    mode,
                });
            }
            Some('C') => {
                let to = fields
                    .next()
                    .map(text)
                    .ok_or_else(|| anyhow!("{}: git diff ended early", dir.display()))?;
                changes.push(Change::Upsert {
                    path: to,
                    blob,
                    mode,
                });
            }
            _ => changes.push(Change::Upsert { path, blob, mode }),
        }
    }
    Ok(changes)
}

/// Every file tracked at `commit`, one at a time as `git ls-tree` lists them (a repository of
/// any size is never held whole): (path, blob, mode).
pub fn tracked(dir: &Path, commit: &str) -> anyhow::Result<Tracked> {
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-tree", "-r", "-z", "--full-tree", commit])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow!("running git: {e} (is git installed?)"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("git ls-tree: no pipe"))?;
    Ok(Tracked {
        child,
        out: BufReader::with_capacity(1 << 16, stdout),
        entry: Vec::new(),
        dir: dir.to_owned(),
    })
}

/// The files `git ls-tree` lists, as it lists them.
pub struct Tracked {
    child: Child,
    out: BufReader<ChildStdout>,
    entry: Vec<u8>,
    dir: PathBuf,
}

impl Iterator for Tracked {
    type Item = anyhow::Result<(String, String, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.entry.clear();
            match self.out.read_until(0, &mut self.entry) {
                Ok(0) => {
                    return match self.child.wait() {
                        Ok(st) if st.success() => None,
                        Ok(st) => Some(Err(anyhow!(
                            "{}: git ls-tree failed ({st})",
                            self.dir.display()
                        ))),
                        Err(e) => Some(Err(anyhow!("{}: git ls-tree: {e}", self.dir.display()))),
                    };
                }
                Ok(_) => {}
                Err(e) => return Some(Err(anyhow!("{}: git ls-tree: {e}", self.dir.display()))),
            }
            if self.entry.last() == Some(&0) {
                self.entry.pop();
            }
            // "<mode> SP <type> SP <object> TAB <path>"
            let entry = String::from_utf8_lossy(&self.entry);
            let Some((meta, path)) = entry.split_once('\t') else {
                continue;
            };
            let parts: Vec<&str> = meta.split(' ').collect();
            if let [mode, "blob", blob] = parts[..] {
                return Some(Ok((path.to_owned(), blob.to_owned(), mode.to_owned())));
            }
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The paths whose working-tree or staged content differs from HEAD: every other tracked
/// file on disk is the committed file.
pub fn dirty(dir: &Path) -> anyhow::Result<Vec<String>> {
    let out = git(
        dir,
        &[
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=no",
        ],
    )?;
    let mut paths = Vec::new();
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        let entry = String::from_utf8_lossy(entry);
        if entry.len() < 4 {
            continue;
        }
        if entry[..2].contains(['R', 'C']) {
            if let Some(from) = fields.next() {
                paths.push(String::from_utf8_lossy(from).into_owned());
            }
        }
        paths.push(entry[3..].to_owned());
    }
    Ok(paths)
}

/// The working tree's changes against HEAD (untracked files included, folders listed file by
/// file).
pub fn uncommitted(dir: &Path) -> anyhow::Result<Vec<Change>> {
    let out = git(
        dir,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )?;
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    let mut changes = Vec::new();
    while let Some(entry) = fields.next() {
        let entry = String::from_utf8_lossy(entry);
        if entry.len() < 4 {
            continue;
        }
        let (xy, path) = (&entry[..2], entry[3..].to_owned());
        let mode = "100644".to_owned();
        if xy.contains('R') || xy.contains('C') {
            // With -z the path the file came from follows.
            let from = fields
                .next()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .unwrap_or_default();
            if xy.contains('R') {
                changes.push(Change::Rename {
                    from,
                    path,
                    blob: None,
                    mode,
                });
                continue;
            }
        }
        if xy.contains('D') {
            changes.push(Change::Delete { path });
        } else {
            changes.push(Change::Upsert {
                path,
                blob: None,
                mode,
            });
        }
    }
    Ok(changes)
}

/// What a blob read found.
pub enum Blob {
    Bytes(Vec<u8>),
    /// Larger than the limit: its size.
    TooLarge(u64),
}

/// Blob contents through one long-running `git cat-file --batch`.
pub struct Blobs {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    dir: PathBuf,
}

impl Blobs {
    pub fn open(dir: &Path) -> anyhow::Result<Blobs> {
        let mut child = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| anyhow!("running git: {e} (is git installed?)"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            bail!("git cat-file: no pipes");
        };
        Ok(Blobs {
            child,
            stdin,
            stdout: BufReader::with_capacity(1 << 20, stdout),
            dir: dir.to_owned(),
        })
    }

    /// The content of blob `id`, when at most `limit` bytes.
    pub fn read(&mut self, id: &str, limit: u64) -> anyhow::Result<Blob> {
        let fail = |what: String| anyhow!("{}: git cat-file: {what}", self.dir.display());
        writeln!(self.stdin, "{id}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| fail(e.to_string()))?;
        let mut header = String::new();
        self.stdout
            .read_line(&mut header)
            .map_err(|e| fail(e.to_string()))?;
        // "<id> <type> <size>" or "<id> missing"
        let parts: Vec<&str> = header.split_whitespace().collect();
        let [_, kind, size] = parts[..] else {
            return Err(fail(format!("object {id}: {}", header.trim())));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| fail(format!("bad header {header:?}")))?;
        let mut data = Vec::new();
        (&mut self.stdout)
            .take(size + 1)
            .read_to_end(&mut data)
            .map_err(|e| fail(e.to_string()))?;
        if data.len() as u64 != size + 1 {
            return Err(fail(format!("object {id} ended early")));
        }
        data.pop(); // the newline after the content
        if kind != "blob" {
            return Err(fail(format!("object {id} is a {kind}, not a blob")));
        }
        Ok(if size > limit {
            Blob::TooLarge(size)
        } else {
            Blob::Bytes(data)
        })
    }
}

impl Drop for Blobs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
