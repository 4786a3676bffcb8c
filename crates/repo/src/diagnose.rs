//! `ely-repo diagnose NAME`: what could keep a repository from syncing, each with a verdict
//! and what to do about it: the remote and its credentials, the store, the collection and
//! its properties, objects against tracked files, disk space, the cron entry, recent errors.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::state::{Repo, State};

/// One check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub check: String,
    /// `ok`, `warn` or `fail`.
    pub verdict: String,
    pub detail: String,
    /// What to do; empty when nothing is to be done.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub advice: String,
}

impl ely_stream::Record for Finding {
    const KIND: &'static str = "check";
}

fn finding(check: &str, verdict: &str, detail: String, advice: &str) -> Finding {
    Finding {
        check: check.into(),
        verdict: verdict.into(),
        detail,
        advice: advice.into(),
    }
}

/// Every check of `repo`.
pub fn diagnose(state: &State, repo: &Repo) -> Vec<Finding> {
    let mut out = Vec::new();
    let branch = repo.branch.as_deref().unwrap_or("main");

    // The remote, and whether it takes the credentials.
    match crate::git::check_source(&repo.url, Some(branch)) {
        Ok(_) => {
            out.push(finding(
                "remote",
                "ok",
                format!(
                    "{} answers with branch {branch}",
                    crate::git::shown(&repo.url)
                ),
                "",
            ));
            out.push(finding(
                "credentials",
                "ok",
                "accepted (or none needed)".into(),
                "",
            ));
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let lower = msg.to_ascii_lowercase();
            let auth = [
                "authentication",
                "could not read username",
                "403",
                "401",
                "permission denied",
                "access denied",
            ]
            .iter()
            .any(|w| lower.contains(w));
            if auth {
                out.push(finding("remote", "ok", "answers".into(), ""));
                out.push(finding(
                    "credentials",
                    "fail",
                    msg,
                    "set GITHUB_TOKEN (github.com) or GIT_TOKEN to a token that may read the repository, in cron's environment too",
                ));
            } else {
                out.push(finding(
                    "remote",
                    "fail",
                    msg,
                    "check the URL and the network (git ls-remote URL); the next sync retries by itself",
                ));
            }
        }
    }

    // The store, the collection and its properties, and the objects in it.
    let loc = ely_store::resolve(Some(&repo.store), |_| None);
    let store = loc.map_err(|e| e.to_string()).and_then(|l| {
        ely_store::open_existing(&l, &ely_store::OpenOptions::from_env()).map_err(|e| e.to_string())
    });
    match store {
        Err(e) => out.push(finding(
            "store",
            "fail",
            e,
            "start the store or fix its address (WEAVIATE_API_KEY in cron's environment if it needs one), then ely-repo retry NAME",
        )),
        Ok(store) => {
            out.push(finding("store", "ok", ely_store::shown(&repo.store), ""));
            match store.class(&repo.collection) {
                Ok(Some(class)) => {
                    let have: Vec<String> = class
                        .get("properties")
                        .and_then(|p| p.as_array())
                        .map(|ps| {
                            ps.iter()
                                .filter_map(|p| p.get("name").and_then(|n| n.as_str()))
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default();
                    // The properties ely-ingest gives a collection.
                    let missing: Vec<&str> = ely_ingest::model::PROPERTIES
                        .iter()
                        .map(|(name, _, _)| *name)
                        .filter(|p| !have.iter().any(|h| h.eq_ignore_ascii_case(p)))
                        .collect();
                    if missing.is_empty() {
                        out.push(finding("collection", "ok", format!("{} has ely-ingest's properties", repo.collection), ""));
                    } else {
                        out.push(finding(
                            "collection",
                            "warn",
                            format!("{} lacks {}", repo.collection, missing.join(", ")),
                            "the next sync adds them (ely-ingest adds missing properties)",
                        ));
                    }
                    let objects = store.count(&repo.collection, None).unwrap_or(0);
                    let files = crate::git::discover(Path::new(&repo.path)).map(|d| d.files).unwrap_or(0);
                    let (verdict, advice) = if objects == 0 && files > 0 {
                        ("fail", "ely-repo retry NAME indexes the repository again")
                    } else {
                        ("ok", "")
                    };
                    out.push(finding(
                        "objects",
                        verdict,
                        format!("{objects} objects for {files} tracked files (a file is one object per chunk; binary, large and excluded files have none)"),
                        advice,
                    ));
                }
                Ok(None) => out.push(finding(
                    "collection",
                    "fail",
                    format!("{} is not in the store", repo.collection),
                    "ely-repo retry NAME creates it and indexes the repository again",
                )),
                Err(e) => out.push(finding("collection", "fail", e.to_string(), "check the store")),
            }
        }
    }

    // Disk space where the clone lives.
    out.push(disk(Path::new(&repo.path)));

    // The cron entry.
    let key = crate::add::cron_key(repo, state.path());
    let crontab = crate::add::crontab(repo, state.path());
    match crontab.entries() {
        Ok(entries) => {
            let present = entries.iter().any(|e| e.key == key);
            out.push(match (present, repo.paused) {
                (true, false) => finding(
                    "cron",
                    "ok",
                    format!("entry in {} ({})", crontab.describe(), repo.cron),
                    "",
                ),
                (false, true) => finding("cron", "ok", "paused: no entry, as expected".into(), ""),
                (true, true) => finding(
                    "cron",
                    "warn",
                    "paused, yet its entry is there".into(),
                    "ely-repo pause NAME again removes it",
                ),
                (false, false) => finding(
                    "cron",
                    "fail",
                    format!("no entry in {}", crontab.describe()),
                    "ely-repo pause NAME then ely-repo resume NAME installs it again",
                ),
            });
        }
        Err(ely_schedule::CrontabError::NoCrontab { .. }) => out.push(finding(
            "cron",
            "warn",
            "no crontab command here".into(),
            "install the entry by hand (ely-repo add printed it), or use --crontab-file",
        )),
        Err(e) => out.push(finding(
            "cron",
            "fail",
            e.to_string(),
            "repair the crontab's ely block",
        )),
    }

    // Recent errors.
    let recent = state.syncs(Some(&repo.name), 10).unwrap_or_default();
    let failed: Vec<_> = recent.iter().filter(|s| s.ok == Some(false)).collect();
    match failed.last() {
        None => out.push(finding(
            "recent syncs",
            "ok",
            format!("{} of the last {} succeeded", recent.len(), recent.len()),
            "",
        )),
        Some(last) => {
            let advice = match last.exit_code {
                Some(3) => {
                    "the remote or the store was unreachable: fix that, then ely-repo retry NAME"
                }
                Some(1) => "files were rejected: ely-repo logs NAME shows which and why",
                Some(130) => "a sync was killed: the next one redoes its work",
                _ => "ely-repo logs NAME shows the messages",
            };
            out.push(finding(
                "recent syncs",
                if recent.last().and_then(|s| s.ok) == Some(true) {
                    "warn"
                } else {
                    "fail"
                },
                format!(
                    "{} of the last {} failed; the last error: {}",
                    failed.len(),
                    recent.len(),
                    last.error.as_deref().unwrap_or("no message")
                ),
                advice,
            ));
        }
    }
    for f in &mut out {
        f.advice = f.advice.replace("NAME", &repo.name);
    }
    out
}

/// Free space on the file system holding `path` (`df -Pk`).
fn disk(path: &Path) -> Finding {
    let out = Command::new("df").arg("-Pk").arg(path).output();
    let free_kib = out.ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .nth(1)
            .and_then(|l| {
                l.split_whitespace()
                    .nth(3)
                    .and_then(|v| v.parse::<u64>().ok())
            })
    });
    match free_kib {
        None => finding(
            "disk",
            "warn",
            "df could not tell the free space".into(),
            "",
        ),
        Some(k) => {
            let free = ely_vocab::human::bytes(k * 1024);
            if k < 100 * 1024 {
                finding(
                    "disk",
                    "fail",
                    format!("{free} free"),
                    "free some space: git and the store need it",
                )
            } else if k < 1024 * 1024 {
                finding(
                    "disk",
                    "warn",
                    format!("{free} free"),
                    "less than 1 GiB left",
                )
            } else {
                finding("disk", "ok", format!("{free} free"), "")
            }
        }
    }
}
