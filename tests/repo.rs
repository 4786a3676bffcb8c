//! ely-repo as users run it, against `file://` bare repositories made here (commits, pushes,
//! a force push, a deleted and a renamed file), the embedded store and a crontab file: add
//! and its rollback, status and list, syncs that leave the collection equal to the
//! repository's tracked files, pause and resume, overlapping syncs, a failing store with its
//! alerts, and remove.

mod util;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;

use serde_json::Value;
use util::{git, Workdir};

/// A bare repository `origin.git` and a working copy `work` that pushes to it.
struct Upstream {
    bare: PathBuf,
    work: PathBuf,
}

impl Upstream {
    fn new(w: &Workdir) -> Upstream {
        Upstream::named(w, "origin", "work")
    }

    /// `NAME.git` and its working copy `work`.
    fn named(w: &Workdir, name: &str, work: &str) -> Upstream {
        let bare = w.path(&format!("{name}.git"));
        let work = w.path(work);
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Upstream { bare, work }
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.work.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn push(&self, msg: &str) {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", msg]);
        git(&self.work, &["push", "-q", "origin", "main"]);
    }

    fn tracked(&self) -> BTreeSet<String> {
        git(&self.work, &["ls-files"])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn repo_cmd(w: &Workdir, args: &[&str]) -> util::Run {
    let home = w.path("home");
    let mut all = vec![];
    all.extend_from_slice(args);
    w.run_env(
        "ely-repo",
        &all,
        b"",
        &[("ELY_HOME", home.to_str().unwrap()), ("TZ", "UTC")],
    )
}

fn lines(out: &[u8]) -> Vec<Value> {
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

/// The paths the collection holds objects of.
fn paths_in(store: &Path, collection: &str) -> BTreeSet<String> {
    let loc = ely_store::Location::Embedded(store.to_owned());
    let s = ely_store::open_existing(&loc, &ely_store::OpenOptions::default()).unwrap();
    let mut out = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .scan(collection, None, after.as_deref(), 500, false)
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for o in page {
            out.insert(o.properties["path"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn add(w: &Workdir, up: &Upstream, extra: &[&str]) -> util::Run {
    let store = w.path("store.db");
    let crontab = w.path("crontab");
    let url = up.url();
    let mut args = vec![
        "add",
        url.as_str(),
        "--name",
        "app",
        "--store",
        store.to_str().unwrap(),
        "--crontab-file",
        crontab.to_str().unwrap(),
        "--schedule",
        "30m",
    ];
    args.extend_from_slice(extra);
    repo_cmd(w, &args)
}

#[test]
fn a_repository_is_added_synced_after_pushes_and_removed() {
    let w = Workdir::new();
    std::fs::write(w.path("crontab"), "MAILTO=ops@example.com\n").unwrap();
    let up = Upstream::new(&w);
    up.write("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n");
    up.write("README.md", "# App\n");
    up.write("docs/old name.md", "a doc\n");
    up.push("one");
    let added = add(&w, &up, &[]);
    added.ok();
    added.expect_stderr("answers; branch main");
    let status = &lines(added.stdout())[0];
    assert_eq!(status["name"], "app");
    assert_eq!(status["collection"], "App");
    assert_eq!(status["status"], "healthy");
    assert_eq!(status["documents"], 3);
    let crontab = std::fs::read_to_string(w.path("crontab")).unwrap();
    assert!(
        crontab.starts_with("MAILTO=ops@example.com\n# BEGIN ely\n"),
        "{crontab}"
    );
    assert!(crontab.contains("*/30 * * * * "), "{crontab}");
    assert!(crontab.contains("'sync' '--cron' 'app'"), "{crontab}");
    assert_eq!(paths_in(&w.path("store.db"), "App"), up.tracked());

    // Changes pushed: an edit, a new file, a delete, a rename.
    up.write("src/main.rs", "fn main() {}\n");
    up.write("src/lib.rs", "pub fn f() {}\n");
    git(&up.work, &["rm", "-q", "README.md"]);
    git(&up.work, &["mv", "docs/old name.md", "docs/new name.md"]);
    up.push("two");
    let synced = repo_cmd(&w, &["sync", "app"]);
    synced.ok();
    let s = &lines(synced.stdout())[0];
    assert_eq!(s["ok"], true);
    assert_eq!(
        (
            s["added"].as_u64(),
            s["modified"].as_u64(),
            s["deleted"].as_u64()
        ),
        (Some(1), Some(2), Some(1)),
        "{s}"
    );
    assert_eq!(paths_in(&w.path("store.db"), "App"), up.tracked());

    // A force push that drops the last commit: the collection follows.
    git(&up.work, &["reset", "-q", "--hard", "HEAD~1"]);
    git(&up.work, &["push", "-q", "--force", "origin", "main"]);
    repo_cmd(&w, &["sync", "--all", "--cron"]).ok();
    assert_eq!(paths_in(&w.path("store.db"), "App"), up.tracked());
    assert!(up.tracked().contains("README.md"));

    // Nothing new: a sync writes nothing.
    let again = repo_cmd(&w, &["sync", "app"]);
    again.ok();
    assert_eq!(lines(again.stdout())[0]["objects"], 0);

    // The history and the status.
    let logs = lines(repo_cmd(&w, &["logs", "app"]).stdout());
    let triggers: Vec<&str> = logs
        .iter()
        .map(|l| l["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(triggers, vec!["add", "manual", "cron", "manual"]);
    let st = &lines(repo_cmd(&w, &["status", "app"]).stdout())[0];
    assert_eq!(st["syncs"], 4);
    assert_eq!(st["success_rate"], 1.0);
    assert_eq!(
        st["commit"].as_str().unwrap(),
        git(&up.work, &["rev-parse", "HEAD"]).trim()
    );

    // Pause and resume change the cron block; remove takes the entry and the clone.
    repo_cmd(&w, &["pause", "app"]).ok();
    assert_eq!(
        std::fs::read_to_string(w.path("crontab")).unwrap(),
        "MAILTO=ops@example.com\n"
    );
    assert_eq!(
        lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["status"],
        "paused"
    );
    let skipped = repo_cmd(&w, &["sync", "--all", "--cron"]);
    skipped.ok();
    assert!(
        lines(skipped.stdout()).is_empty(),
        "a paused repository is not synced by cron"
    );
    repo_cmd(&w, &["resume", "app"]).ok();
    assert!(std::fs::read_to_string(w.path("crontab"))
        .unwrap()
        .contains("'app'"));
    repo_cmd(&w, &["remove", "app"]).ok();
    assert_eq!(
        std::fs::read_to_string(w.path("crontab")).unwrap(),
        "MAILTO=ops@example.com\n"
    );
    assert!(!w.path("home/repos/app").exists());
    assert!(lines(repo_cmd(&w, &["list"]).stdout()).is_empty());
    assert_eq!(
        paths_in(&w.path("store.db"), "App"),
        up.tracked(),
        "the collection stays"
    );

    // Added again, then removed with its collection.
    add(&w, &up, &[]).ok();
    assert_eq!(
        paths_in(&w.path("store.db"), "App"),
        up.tracked(),
        "a fresh first sync"
    );
    repo_cmd(&w, &["remove", "app", "--delete-collection", "--yes"]).ok();
    let loc = ely_store::Location::Embedded(w.path("store.db"));
    let s = ely_store::open_existing(&loc, &ely_store::OpenOptions::default()).unwrap();
    assert!(s.class("App").unwrap().is_none());
}

#[test]
fn an_add_that_fails_leaves_nothing_behind() {
    let w = Workdir::new();
    std::fs::write(w.path("crontab"), "MAILTO=ops@example.com\n").unwrap();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.push("one");
    // Refused before anything changes: not even the state file is made.
    let bad = repo_cmd(
        &w,
        &[
            "add",
            "file:///nonexistent/x.git",
            "--store",
            "s.db",
            "--crontab-file",
            "crontab",
        ],
    );
    bad.expect_code(2)
        .expect_stderr("does not answer as a git repository");
    add(&w, &up, &["--branch", "nope"])
        .expect_code(2)
        .expect_stderr("has no branch nope");
    add(&w, &up, &["--schedule", "45m"])
        .expect_code(2)
        .expect_stderr("--schedule");
    add(&w, &up, &["--model", "m"])
        .expect_code(2)
        .expect_stderr("--vectorizer");
    add(&w, &up, &["--include", "["])
        .expect_code(2)
        .expect_stderr("bad glob");
    let secret = repo_cmd(&w, &["add", "https://me:hunter2@example.com/a.git"]);
    secret.expect_code(2).expect_stderr("without credentials");
    assert!(!secret.stderr().contains("hunter2"));
    let store_secret = repo_cmd(
        &w,
        &[
            "add",
            &up.url(),
            "--store",
            "http://me:pw@localhost:1",
            "--crontab-file",
            "crontab",
        ],
    );
    store_secret
        .expect_code(2)
        .expect_stderr("without credentials");
    assert!(
        !w.path("home").exists(),
        "nothing made before the checks passed"
    );
    // A store the first sync cannot write (its folder is a file): the clone, the state and
    // ely-ingest's memory are undone, and no entry is installed.
    std::fs::write(w.path("afile"), "").unwrap();
    let failed = repo_cmd(
        &w,
        &[
            "add",
            &up.url(),
            "--store",
            w.path("afile/store.db").to_str().unwrap(),
            "--crontab-file",
            w.path("crontab").to_str().unwrap(),
        ],
    );
    failed.expect_code(2).expect_stderr("the first sync failed");
    assert!(!w.path("home/repos/origin").exists(), "no clone left");
    assert!(!w.path("home/ingest/origin.db").exists(), "no memory left");
    assert_eq!(
        std::fs::read_to_string(w.path("crontab")).unwrap(),
        "MAILTO=ops@example.com\n"
    );
    assert!(lines(repo_cmd(&w, &["list"]).stdout()).is_empty());
    // Then it works, once.
    add(&w, &up, &[]).ok();
    add(&w, &up, &[])
        .expect_code(2)
        .expect_stderr("under sync already");
}

#[test]
fn overlapping_syncs_never_collide() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.push("one");
    add(&w, &up, &[]).ok();
    // A sync holding the repository's lock, as a running one does.
    let lock = w.path("home/locks/repo-app.lock");
    let held = ely_schedule::RunLock::try_acquire(&lock)
        .unwrap()
        .expect("lock");
    repo_cmd(&w, &["sync", "app"])
        .expect_code(3)
        .expect_stderr("is still going");
    drop(held);
    up.write("b.rs", "fn b() {}\n");
    up.push("two");
    // Two at once: both finish (one after the other, or one stops at the lock), the new
    // file is written once in all, and the collection is the repository's files.
    let a = repo_start(&w, &["sync", "app"]);
    let b = repo_start(&w, &["sync", "app"]);
    let mut written = 0;
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || code == 3,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for s in lines(&out.stdout) {
            written += s["objects"].as_u64().unwrap();
        }
    }
    assert_eq!(written, 1, "b.rs written once");
    assert_eq!(paths_in(&w.path("store.db"), "App"), up.tracked());
    let loc = ely_store::Location::Embedded(w.path("store.db"));
    let s = ely_store::open_existing(&loc, &ely_store::OpenOptions::default()).unwrap();
    assert_eq!(s.count("App", None).unwrap(), 2);
}

fn repo_start(w: &Workdir, args: &[&str]) -> std::process::Child {
    let mut cmd = w.command("ely-repo");
    cmd.args(args)
        .env("ELY_HOME", w.path("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

/// A local HTTP listener that answers 200 and hands each body it got to the test.
fn webhook() -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook/SECRET", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
    });
    (url, rx)
}

#[test]
fn a_failing_store_makes_the_repository_retrying_then_failing_and_alerts_on_recovery() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.push("one");
    let (url, alerts) = webhook();
    add(&w, &up, &["--alert-webhook", &url]).ok();
    // The store becomes unusable: a folder where its file was.
    std::fs::rename(w.path("store.db"), w.path("store.bak")).unwrap();
    std::fs::create_dir(w.path("store.db")).unwrap();
    up.write("b.rs", "fn b() {}\n");
    up.push("two");
    let good = lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["commit"].clone();
    let failed = repo_cmd(&w, &["sync", "app"]);
    assert_ne!(failed.code(), 0);
    assert!(!failed.stderr().contains("SECRET"), "{}", failed.stderr());
    assert_eq!(
        lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["commit"],
        good,
        "the collection is still at the last good commit"
    );
    let a = alerts
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a failure alert");
    assert_eq!(a["event"], "failed");
    assert_eq!(a["repo"], "app");
    assert_eq!(
        lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["status"],
        "retrying"
    );
    // Cron's next run waits for the backoff; retry does not.
    let waiting = repo_cmd(&w, &["sync", "--all", "--cron"]);
    waiting.ok();
    waiting.expect_stderr("the next try is after");
    repo_cmd(&w, &["retry", "app"]);
    repo_cmd(&w, &["retry", "app"]);
    assert_eq!(
        lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["status"],
        "failing"
    );
    for _ in 0..2 {
        alerts
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("failure alerts");
    }
    // Fixed: the next sync succeeds, with a recovery alert, and catches up.
    std::fs::remove_dir(w.path("store.db")).unwrap();
    std::fs::rename(w.path("store.bak"), w.path("store.db")).unwrap();
    repo_cmd(&w, &["retry", "app"]).ok();
    let r = alerts
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a recovery alert");
    assert_eq!(r["event"], "recovered");
    assert_eq!(
        lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["status"],
        "healthy"
    );
    assert_eq!(paths_in(&w.path("store.db"), "App"), up.tracked());
    let logs = lines(repo_cmd(&w, &["logs", "app"]).stdout());
    let last = logs.last().unwrap();
    assert_eq!(
        (last["added"].as_u64(), last["ok"].as_bool()),
        (Some(1), Some(true)),
        "{last}"
    );
}

#[test]
fn a_collection_two_repositories_share_is_not_deleted_under_either() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.push("one");
    add(&w, &up, &["--collection", "Shared"]).ok();
    let store = w.path("store.db");
    let crontab = w.path("crontab");
    repo_cmd(
        &w,
        &[
            "add",
            &up.url(),
            "--name",
            "app2",
            "--collection",
            "Shared",
            "--store",
            store.to_str().unwrap(),
            "--crontab-file",
            crontab.to_str().unwrap(),
        ],
    )
    .ok();
    repo_cmd(&w, &["remove", "app", "--delete-collection", "--yes"])
        .expect_code(2)
        .expect_stderr("also synced from app2");
    assert_eq!(
        lines(repo_cmd(&w, &["list"]).stdout()).len(),
        2,
        "nothing removed"
    );
    // The collection deleted behind ely-repo's back: the next sync indexes it all again.
    let loc = ely_store::Location::Embedded(store.clone());
    ely_store::open_existing(&loc, &ely_store::OpenOptions::default())
        .unwrap()
        .delete_class("Shared")
        .unwrap();
    repo_cmd(&w, &["sync", "app"]).ok();
    assert_eq!(paths_in(&store, "Shared"), up.tracked());
}

#[test]
fn update_switches_branch_and_schedule_and_diagnose_says_what_is_wrong() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.write("b.rs", "fn b() {}\n");
    up.push("one");
    // A branch `dev` without b.rs and with c.rs.
    git(&up.work, &["checkout", "-q", "-b", "dev"]);
    git(&up.work, &["rm", "-q", "b.rs"]);
    up.write("c.rs", "fn c() {}\n");
    git(&up.work, &["add", "-A"]);
    git(&up.work, &["commit", "-q", "-m", "dev"]);
    git(&up.work, &["push", "-q", "origin", "dev"]);
    add(&w, &up, &[]).ok();
    let store = w.path("store.db");
    assert!(paths_in(&store, "App").contains("b.rs"));

    // Healthy: every check passes.
    let d = repo_cmd(&w, &["diagnose", "app"]);
    d.ok();
    let checks: Vec<(String, String)> = lines(d.stdout())
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_owned(),
                f["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for name in [
        "remote",
        "credentials",
        "store",
        "collection",
        "objects",
        "cron",
        "recent syncs",
    ] {
        assert!(
            checks.contains(&(name.into(), "ok".into())),
            "{name}: {checks:?}"
        );
    }

    // A branch that does not exist changes nothing; dev does, and the next sync follows it.
    repo_cmd(&w, &["update", "app", "--branch", "nope"]).expect_code(2);
    repo_cmd(
        &w,
        &["update", "app", "--branch", "dev", "--schedule", "1h"],
    )
    .ok();
    let crontab = std::fs::read_to_string(w.path("crontab")).unwrap();
    assert!(
        crontab.contains("0 * * * * ") && !crontab.contains("*/30"),
        "{crontab}"
    );
    repo_cmd(&w, &["sync", "app"]).ok();
    let want: BTreeSet<String> = ["a.rs", "c.rs"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        paths_in(&store, "App"),
        want,
        "the branch switch removed b.rs and added c.rs"
    );

    // Broken: the entry gone by hand and the store unusable.
    std::fs::write(w.path("crontab"), "").unwrap();
    std::fs::rename(&store, w.path("store.bak")).unwrap();
    std::fs::create_dir(&store).unwrap();
    let d = repo_cmd(&w, &["diagnose", "app"]);
    d.expect_code(3);
    let findings = lines(d.stdout());
    let verdict = |name: &str| {
        findings
            .iter()
            .find(|f| f["check"] == name)
            .map(|f| {
                (
                    f["verdict"].as_str().unwrap().to_owned(),
                    f["advice"].as_str().unwrap_or("").to_owned(),
                )
            })
            .unwrap()
    };
    assert_eq!(verdict("store").0, "fail");
    assert!(
        verdict("store").1.contains("ely-repo retry app"),
        "{:?}",
        verdict("store")
    );
    assert_eq!(verdict("cron").0, "fail");
    assert!(verdict("cron").1.contains("resume app"));
}

#[test]
fn add_batch_adds_each_line_and_one_bad_line_stops_nothing() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.push("one");
    let list = format!(
        "# repositories\n{url} name=one collection=One\n{url} name=two speed=fast\nfile:///nonexistent/x.git name=three\n{url} name=four schedule=1h include=*.rs\n",
        url = up.url()
    );
    w.write("list.txt", list.as_bytes());
    let run = repo_cmd(
        &w,
        &[
            "add-batch",
            "list.txt",
            "--store",
            w.path("store.db").to_str().unwrap(),
            "--crontab-file",
            w.path("crontab").to_str().unwrap(),
        ],
    );
    run.expect_code(1);
    run.expect_stderr("line 3: unknown key \"speed\"");
    let results = lines(run.stdout());
    let oks: Vec<(u64, bool)> = results
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(oks, vec![(2, true), (3, false), (4, false), (5, true)]);
    let names: Vec<String> = lines(repo_cmd(&w, &["list"]).stdout())
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["four", "one"]);
    let crontab = std::fs::read_to_string(w.path("crontab")).unwrap();
    assert_eq!(
        crontab.matches("# ely: ely-repo sync").count(),
        2,
        "{crontab}"
    );
}

/// `ely-repo add` in a real terminal (tmux), without --yes: the wizard's command line.
fn wizard(w: &Workdir, up: &Upstream) -> util::tmux::Tmux {
    let command = format!(
        "env -u ELY_STORE -u WEAVIATE_URL ELY_HOME={} TZ=UTC {} add {} --store {} --crontab-file {}; echo EXIT=$?; sleep 600",
        w.path("home").display(),
        env!("CARGO_BIN_EXE_ely-repo"),
        up.url(),
        w.path("store.db").display(),
        w.path("crontab").display(),
    );
    util::tmux::Tmux::start(150, 50, &command)
}

#[test]
fn on_a_terminal_add_asks_checks_answers_shows_a_preview_and_adds_on_enter() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("src/main.rs", "fn main() {}\n");
    up.write("README.md", "# app\n");
    up.push("one");
    let t = wizard(&w, &up);
    // Each suggestion is taken with Enter; a bad answer is refused and asked again.
    t.wait_for("Repository name [origin]:", 15);
    // The arrow keys do not edit an answer: one typed with them is asked again.
    t.keys(&["a", "Left", "Enter"]);
    t.wait_for("control characters", 5);
    t.line("app");
    t.wait_for("Collection [App]:", 5);
    t.line("not valid");
    t.wait_for("is not a valid class name", 5);
    t.line("Code");
    t.wait_for("Sync schedule", 5);
    t.line("5x");
    t.wait_for("unknown unit", 5);
    t.line("1h");
    t.wait_for("Branch", 5);
    t.keys(&["Enter"]);
    t.wait_for("Alert webhook", 5);
    t.keys(&["Enter"]);
    // The preview, then the choice: arrows move, Enter accepts.
    let screen = t.wait_for("Add it?", 15);
    for want in [
        "collection     Code",
        "every hour (0 * * * *)",
        "branch         main",
        "home/repos/app",
    ] {
        assert!(
            screen.contains(want),
            "{want:?} not in the preview:\n{screen}"
        );
    }
    assert!(
        screen.contains("> Yes, add it"),
        "Yes is not the default:\n{screen}"
    );
    t.keys(&["Right"]);
    t.wait_for("> No, cancel", 5);
    t.keys(&["Left"]);
    t.wait_for("> Yes, add it", 5);
    t.keys(&["Enter"]);
    let screen = t.wait_for("EXIT=", 60);
    assert!(screen.contains("EXIT=0"), "{screen}");
    assert!(
        screen.contains("app is under sync: collection Code holds 2 objects"),
        "{screen}"
    );
    assert!(screen.contains("languages: "), "{screen}");
    // What was asked is what was added.
    let status = repo_cmd(&w, &["status", "app", "--json"]);
    status.ok();
    let s = &lines(status.stdout())[0];
    assert_eq!(s["collection"], "Code");
    assert_eq!(s["schedule"], "1h");
    assert_eq!(s["status"], "healthy");
    let tab = std::fs::read_to_string(w.path("crontab")).unwrap();
    assert!(tab.contains("0 * * * * "), "{tab}");
    assert_eq!(paths_in(&w.path("store.db"), "Code"), up.tracked());
}

#[test]
fn on_a_terminal_choosing_no_adds_nothing() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.py", "print(1)\n");
    up.push("one");
    let t = wizard(&w, &up);
    for prompt in [
        "Repository name",
        "Collection",
        "Sync schedule",
        "Branch",
        "Alert webhook",
    ] {
        t.wait_for(prompt, 15);
        t.keys(&["Enter"]);
    }
    t.wait_for("> Yes, add it", 15);
    t.keys(&["Right"]);
    t.wait_for("> No, cancel", 5);
    t.keys(&["Enter"]);
    let screen = t.wait_for("EXIT=", 15);
    assert!(screen.contains("nothing was added"), "{screen}");
    assert!(screen.contains("EXIT=0"), "{screen}");
    // Nothing was made: no state, no clone, no cron entry, no collection.
    assert!(!w.path("home").exists());
    assert!(!w.path("crontab").exists());
    assert!(!w.path("store.db").exists());
    drop(t);
    // End of input (Ctrl-D) at a question: no answer, nothing added.
    let t = wizard(&w, &up);
    t.wait_for("Repository name", 15);
    t.keys(&["C-d"]);
    let screen = t.wait_for("EXIT=", 15);
    assert!(
        screen.contains("no answer (end of input): nothing was added"),
        "{screen}"
    );
    assert!(screen.contains("EXIT=2"), "{screen}");
    assert!(!w.path("home").exists());
}

#[test]
fn logs_follow_shows_each_sync_as_it_ends_and_a_second_add_estimates_its_first_sync() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.py", "print(1)\n");
    up.push("one");
    let first = add(&w, &up, &[]);
    first.ok();
    assert!(
        first.stderr().contains("no earlier syncs here to estimate"),
        "{}",
        first.stderr()
    );
    assert!(
        first.stderr().contains("languages: python 1"),
        "{}",
        first.stderr()
    );
    // Each follower's lines, as they come.
    let follower = |tail: &str| {
        let mut child = repo_start(&w, &["logs", "app", "--follow", "--json", "--tail", tail]);
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    };
    let next = |rx: &mpsc::Receiver<String>| -> Value {
        serde_json::from_str(&rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap()).unwrap()
    };
    let (mut one, rx_one) = follower("1");
    let (mut none, rx_none) = follower("0");
    // The add's own sync first, where one was asked for.
    assert_eq!(next(&rx_one)["trigger"], "add");
    up.write("b.py", "print(2)\n");
    up.push("two");
    repo_cmd(&w, &["sync", "app"]).ok();
    for rx in [&rx_one, &rx_none] {
        // Then the new sync, and no old one again.
        let s = next(rx);
        assert_eq!(s["trigger"], "manual");
        assert_eq!(s["added"], 1);
        assert_eq!(s["ok"], true);
    }
    for child in [&mut one, &mut none] {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Another repository's add estimates its first sync from the syncs made here.
    let other = Upstream::named(&w, "other", "other-work");
    other.write("c.rs", "fn c() {}\n");
    other.push("one");
    let url = other.url();
    let second = repo_cmd(
        &w,
        &[
            "add",
            &url,
            "--store",
            w.path("store.db").to_str().unwrap(),
            "--crontab-file",
            w.path("crontab").to_str().unwrap(),
        ],
    );
    second.ok();
    assert!(
        second.stderr().contains("the first sync should take ")
            && second
                .stderr()
                .contains("files/s over 2 earlier syncs here"),
        "{}",
        second.stderr()
    );
}

#[test]
fn a_repository_syncs_into_the_test_server_and_a_hung_sync_stops_at_its_time_limit() {
    use fake_weaviate::{Config, Route, Server};
    let server = Server::start(Config::default()).expect("test server");
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.write("docs/b.md", "# b\n");
    up.push("one");
    let url = up.url();
    let store = server.url();
    let crontab = w.path("crontab");
    repo_cmd(
        &w,
        &[
            "add",
            &url,
            "--name",
            "app",
            "--store",
            &store,
            "--crontab-file",
            crontab.to_str().unwrap(),
            "--yes",
        ],
    )
    .ok();
    assert_eq!(server.object_count("App", None), 2);
    let good = lines(repo_cmd(&w, &["status", "app"]).stdout())[0]["commit"].clone();
    // The store stops answering in time: the sync is stopped at its limit, not left holding
    // the lock.
    up.write("c.rs", "fn c() {}\n");
    up.push("two");
    server.delay(Route::Batch, std::time::Duration::from_secs(60));
    let started = std::time::Instant::now();
    let hung = repo_cmd(&w, &["sync", "app", "--time-limit", "2s"]);
    hung.expect_code(3);
    hung.expect_stderr("ran longer than the time limit (2.0s) and was stopped");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let s = &lines(repo_cmd(&w, &["status", "app"]).stdout())[0];
    assert_eq!(s["status"], "retrying");
    assert_eq!(s["commit"], good, "still at the last good commit");
    // The store answers again: the retry brings the collection to the pushed commit.
    server.clear_faults();
    repo_cmd(&w, &["retry", "app"]).ok();
    assert_eq!(server.object_count("App", None), 3);
    let s = &lines(repo_cmd(&w, &["status", "app"]).stdout())[0];
    assert_eq!(s["status"], "healthy");
    assert_eq!(s["documents"], 3);
}

#[test]
fn new_filters_apply_to_every_file_and_a_failing_repository_shows_when_cron_tries_next() {
    let w = Workdir::new();
    let up = Upstream::new(&w);
    up.write("a.rs", "fn a() {}\n");
    up.write("notes.md", "# notes\n");
    up.write("big.txt", &"x".repeat(4000));
    up.push("one");
    add(&w, &up, &["--max-file-size", "1KB"]).ok();
    let store = w.path("store.db");
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(paths_in(&store, "App"), set(&["a.rs", "notes.md"]));
    // Filters ely-ingest could not read are refused before anything changes.
    repo_cmd(&w, &["update", "app", "--include", "["])
        .expect_code(2)
        .expect_stderr("bad glob");
    repo_cmd(&w, &["update", "app", "--max-file-size", "lots"]).expect_code(2);
    repo_cmd(&w, &["sync", "app", "--time-limit", "0s"]).expect_code(2);
    let unchanged = repo_cmd(&w, &["sync", "app"]);
    unchanged.ok();
    // No new commit: new filters still reach files already seen, both ways.
    repo_cmd(
        &w,
        &[
            "update",
            "app",
            "--exclude",
            "*.md",
            "--max-file-size",
            "1MB",
        ],
    )
    .ok()
    .expect_stderr("the next sync goes over every file");
    repo_cmd(&w, &["sync", "app"]).ok();
    assert_eq!(paths_in(&store, "App"), set(&["a.rs", "big.txt"]));
    // A failing repository: its next sync is cron's first time after its wait (5 minutes
    // after one failure), not the next minute.
    repo_cmd(&w, &["update", "app", "--schedule", "* * * * *"]).ok();
    std::fs::rename(&store, w.path("store.bak")).unwrap();
    std::fs::create_dir(&store).unwrap();
    up.write("b.rs", "fn b() {}\n");
    up.push("two");
    assert_ne!(repo_cmd(&w, &["sync", "app"]).code(), 0);
    let s = &lines(repo_cmd(&w, &["status", "app"]).stdout())[0];
    let last: jiff::Timestamp = s["last_sync"].as_str().unwrap().parse().unwrap();
    let next: jiff::Timestamp = s["next_sync"].as_str().unwrap().parse().unwrap();
    assert!(
        next >= last
            .checked_add(jiff::SignedDuration::from_mins(5))
            .unwrap(),
        "next {next} is within the 5-minute wait after {last}"
    );
}
