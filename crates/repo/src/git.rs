//! Git for ely-repo: checking that a source answers (`git ls-remote`), cloning it, bringing
//! a clone to the remote branch's newest commit (a force push and a branch switch
//! included), and what a clone holds (files, folders, bytes, languages). A token from
//! `GITHUB_TOKEN` or `GIT_TOKEN` goes to git for https sources through git's environment
//! (never an argument, never printed); git never prompts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

/// A source as it may be shown: credentials in it replaced.
pub fn shown(url: &str) -> String {
    ely_store::shown(url)
}

/// A `git` command for `url`, with the token (for https) in its environment.
fn git(url: Option<&str>) -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .stdin(Stdio::null());
    let token = std::env::var("GITHUB_TOKEN")
        .or_else(|_| std::env::var("GIT_TOKEN"))
        .ok()
        .filter(|t| !t.trim().is_empty());
    if let (Some(token), Some(url)) = (token, url) {
        if url.to_ascii_lowercase().starts_with("https://") {
            // git reads extra configuration from its environment: the header stays out of
            // the process's arguments, where any user could see it.
            cmd.env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env(
                    "GIT_CONFIG_VALUE_0",
                    format!("Authorization: Bearer {}", token.trim()),
                );
        }
    }
    cmd
}

/// Runs a git command; an error carries git's own message, with any credentials of `url`
/// and the token hidden.
fn run(mut cmd: Command, what: &str, url: &str) -> Result<Output> {
    let out = cmd
        .output()
        .map_err(|e| anyhow!("running git: {e} (is git installed?)"))?;
    if !out.status.success() {
        let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if !url.is_empty() {
            msg = msg.replace(url, &shown(url));
        }
        for var in ["GITHUB_TOKEN", "GIT_TOKEN"] {
            if let Ok(t) = std::env::var(var) {
                if !t.trim().is_empty() {
                    msg = msg.replace(t.trim(), "<token>");
                }
            }
        }
        bail!("{what}: {msg}");
    }
    Ok(out)
}

/// Checks that `url` answers as a git repository with `branch` (when given); returns the
/// branch to sync (the remote's default when none is given).
pub fn check_source(url: &str, branch: Option<&str>) -> Result<String> {
    let mut cmd = git(Some(url));
    cmd.args(["ls-remote", "--symref", "--", url]);
    if let Some(b) = branch {
        cmd.arg(format!("refs/heads/{b}"));
    } else {
        cmd.arg("HEAD");
    }
    let out = run(
        cmd,
        &format!("{} does not answer as a git repository", shown(url)),
        url,
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    match branch {
        Some(b) => {
            if text.trim().is_empty() {
                bail!("{} has no branch {b}", shown(url));
            }
            Ok(b.to_owned())
        }
        None => text
            .lines()
            .find_map(|l| l.strip_prefix("ref: refs/heads/"))
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("{} has no default branch (give --branch)", shown(url))),
    }
}

/// Clones `url`'s `branch` into `dest` (which must not exist).
pub fn clone(url: &str, branch: &str, dest: &Path) -> Result<()> {
    let mut cmd = git(Some(url));
    cmd.args([
        "clone",
        "--quiet",
        "--single-branch",
        "--branch",
        branch,
        "--",
        url,
    ])
    .arg(dest);
    run(cmd, &format!("cloning {}", shown(url)), url)?;
    Ok(())
}

/// Brings the clone to the newest commit of `branch` on its remote, whatever happened there
/// (a force push rewrites the clone's branch too; a branch not checked out before is
/// checked out). Returns the commit.
pub fn update(dir: &Path, url: &str, branch: &str) -> Result<String> {
    let mut fetch = git(Some(url));
    fetch
        .arg("-C")
        .arg(dir)
        .args(["fetch", "--quiet", "--prune", "--force", "--", url])
        .arg(format!("+refs/heads/{branch}:refs/remotes/origin/{branch}"));
    run(fetch, &format!("fetching {}", shown(url)), url)?;
    let mut checkout = git(None);
    checkout
        .arg("-C")
        .arg(dir)
        .args(["checkout", "--quiet", "--force", "-B", branch])
        .arg(format!("refs/remotes/origin/{branch}"));
    run(checkout, &format!("checking out {branch}"), "")?;
    head(dir)
}

/// The commit HEAD points at.
pub fn head(dir: &Path) -> Result<String> {
    let mut cmd = git(None);
    cmd.arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "HEAD^{commit}"]);
    let out = run(cmd, "reading the clone's HEAD", "")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// What a clone holds at HEAD.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Discovery {
    pub files: u64,
    pub directories: u64,
    pub bytes: u64,
    /// Files per language (by extension), most first when shown.
    pub languages: BTreeMap<String, u64>,
}

/// Counts the clone's tracked files, folders, bytes and languages (`git ls-tree -r -l`).
pub fn discover(dir: &Path) -> Result<Discovery> {
    let mut cmd = git(None);
    cmd.arg("-C")
        .arg(dir)
        .args(["ls-tree", "-r", "-l", "-z", "--full-tree", "HEAD"]);
    let out = run(cmd, "listing the clone's files", "")?;
    let mut d = Discovery::default();
    let mut dirs = std::collections::HashSet::new();
    for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let Some(tab) = entry.iter().position(|b| *b == b'\t') else {
            continue;
        };
        let meta = String::from_utf8_lossy(&entry[..tab]);
        let path = String::from_utf8_lossy(&entry[tab + 1..]);
        let mut fields = meta.split_whitespace();
        let (_, kind, _, size) = (fields.next(), fields.next(), fields.next(), fields.next());
        if kind != Some("blob") {
            continue;
        }
        d.files += 1;
        d.bytes += size.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        let mut p = Path::new(path.as_ref()).parent();
        while let Some(dir) = p.filter(|p| !p.as_os_str().is_empty()) {
            if !dirs.insert(dir.to_owned()) {
                break;
            }
            p = dir.parent();
        }
        // Languages as ely-ingest's `language` property names them.
        let (name, ext) = ely_ingest::model::name_and_extension(&path);
        let lang = ely_ingest::model::language(name, ext);
        *d.languages.entry(lang.to_owned()).or_default() += 1;
    }
    d.directories = dirs.len() as u64;
    Ok(d)
}

/// Files added, modified (renames included) and deleted from `old` to `new`
/// (`git diff --name-status -M`).
pub fn changed(dir: &Path, old: &str, new: &str) -> Result<(u64, u64, u64)> {
    let mut cmd = git(None);
    cmd.arg("-C")
        .arg(dir)
        .args(["diff", "--name-status", "-z", "-M", old, new]);
    let out = run(cmd, "comparing commits", "")?;
    let (mut added, mut modified, mut deleted) = (0, 0, 0);
    let mut fields = out.stdout.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(status) = fields.next() {
        let paths = if matches!(status.first(), Some(b'R' | b'C')) {
            2
        } else {
            1
        };
        for _ in 0..paths {
            fields.next();
        }
        match status.first() {
            Some(b'A' | b'C') => added += 1,
            Some(b'D') => deleted += 1,
            _ => modified += 1,
        }
    }
    Ok((added, modified, deleted))
}
