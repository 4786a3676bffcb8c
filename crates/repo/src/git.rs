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

/// The scheme and host of an https URL (`https://github.com`), for a setting that applies to
/// that host only; `None` for other URLs.
fn https_host(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://").or_else(|| {
        url.get(..8)
            .filter(|p| p.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
    })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit('@').next().unwrap_or(host);
    (!host.is_empty()).then(|| format!("https://{}", host.to_ascii_lowercase()))
}

/// A `git` command that never waits for a person (no prompt, ssh in batch mode, a transfer
/// that stalls for a minute gives up), with the token for `url`'s host in its environment:
/// `GITHUB_TOKEN` for github.com, `GIT_TOKEN` for any https host. git reads it as extra
/// configuration for that host only, so it never reaches another host, never appears in the
/// process's arguments, and is never printed.
fn git(url: Option<&str>) -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
        .env("GIT_HTTP_LOW_SPEED_TIME", "60")
        .stdin(Stdio::null());
    if std::env::var_os("GIT_SSH_COMMAND").is_none() {
        cmd.env(
            "GIT_SSH_COMMAND",
            // A connection that goes silent is dropped after a minute, as https transfers
            // are (a fetch that hangs would hold its repository's lock).
            "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4",
        );
    }
    let Some(host) = url.and_then(https_host) else {
        return cmd;
    };
    let var = |k: &str| std::env::var(k).ok().filter(|t| !t.trim().is_empty());
    let token = match host.as_str() {
        "https://github.com" => var("GITHUB_TOKEN").or_else(|| var("GIT_TOKEN")),
        _ => var("GIT_TOKEN"),
    };
    if let Some(token) = token {
        // Basic with the token as the password: what GitHub, GitLab and Gitea accept for
        // git over https.
        let basic = ely_vocab::base64(format!("x-access-token:{}", token.trim()).as_bytes());
        // After the user's own environment settings, if any.
        let n: usize = std::env::var("GIT_CONFIG_COUNT")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        cmd.env("GIT_CONFIG_COUNT", (n + 1).to_string())
            .env(
                format!("GIT_CONFIG_KEY_{n}"),
                format!("http.{host}/.extraHeader"),
            )
            .env(
                format!("GIT_CONFIG_VALUE_{n}"),
                format!("Authorization: Basic {basic}"),
            );
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
        // git's message of several lines, on one.
        let mut msg = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if !url.is_empty() {
            msg = msg.replace(url, &shown(url));
        }
        for var in ["GITHUB_TOKEN", "GIT_TOKEN"] {
            if let Ok(t) = std::env::var(var) {
                if !t.trim().is_empty() {
                    let basic =
                        ely_vocab::base64(format!("x-access-token:{}", t.trim()).as_bytes());
                    msg = msg.replace(t.trim(), "<token>").replace(&basic, "<token>");
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

/// How each path changed from `old` to `new` (`git diff --name-status -M`): `A` added, `D`
/// deleted, `M` modified; a rename is its new path, `M`, and its old path, `D`.
pub fn changed(dir: &Path, old: &str, new: &str) -> Result<BTreeMap<String, char>> {
    let mut cmd = git(None);
    cmd.arg("-C")
        .arg(dir)
        .args(["diff", "--name-status", "-z", "-M", old, new]);
    let out = run(cmd, "comparing commits", "")?;
    let mut map = BTreeMap::new();
    let mut fields = out.stdout.split(|b| *b == 0).filter(|f| !f.is_empty());
    while let Some(status) = fields.next() {
        let path = |f: Option<&[u8]>| f.map(|p| String::from_utf8_lossy(p).into_owned());
        match status.first() {
            Some(b'R') => {
                if let Some(from) = path(fields.next()) {
                    map.insert(from, 'D');
                }
                if let Some(to) = path(fields.next()) {
                    map.insert(to, 'M');
                }
            }
            Some(b'C') => {
                fields.next();
                if let Some(to) = path(fields.next()) {
                    map.insert(to, 'A');
                }
            }
            Some(c) => {
                if let Some(p) = path(fields.next()) {
                    map.insert(
                        p,
                        if *c == b'A' || *c == b'D' {
                            *c as char
                        } else {
                            'M'
                        },
                    );
                }
            }
            None => {}
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_to_their_host_only() {
        assert_eq!(
            https_host("https://github.com/org/app"),
            Some("https://github.com".into())
        );
        assert_eq!(
            https_host("HTTPS://GitHub.com/x"),
            Some("https://github.com".into())
        );
        assert_eq!(
            https_host("https://u@gitlab.example:8443/a.git"),
            Some("https://gitlab.example:8443".into())
        );
        assert_eq!(https_host("file:///srv/a.git"), None);
        assert_eq!(https_host("git@github.com:org/app.git"), None);
    }
}
