//! ely-ingest against real git repositories, the real mgit 0.13 (`mgit diff --embed-content`,
//! `mgit sync`), the embedded store and the test server: after each run the collection holds
//! exactly the repository's files, with their true contents, chunk by chunk.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ely_ingest::chunk::{chunks, Chunking};
use ely_store::{open, Location, OpenOptions, Store};
use fake_weaviate::{Config, Fault, Route, Server};
use serde_json::{json, Value};
use util::{sh, Workdir};

// --- helpers ---------------------------------------------------------------------------------

/// The real mgit: `ELY_MGIT`, else where ../shared/mgit/install.sh puts it, else on PATH.
/// In CI it must be there (.ci/run installs it); elsewhere its tests are skipped, saying so.
fn mgit() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("ELY_MGIT").map(PathBuf::from),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/ely-mgit/bin/mgit")),
        Some(PathBuf::from("mgit")),
    ];
    for c in candidates.into_iter().flatten() {
        let works = Command::new(&c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Some(c);
        }
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "mgit is missing in CI; .ci/run installs it with ../shared/mgit/install.sh"
    );
    eprintln!("skipping: mgit is not installed (../shared/mgit/install.sh installs it)");
    None
}

/// A git working copy.
struct Repo {
    dir: PathBuf,
}

impl Repo {
    fn init(dir: PathBuf) -> Repo {
        std::fs::create_dir_all(&dir).unwrap();
        let r = Repo { dir };
        r.git(&["init", "-q", "-b", "main"]);
        r
    }

    fn clone_from(remote: &Path, dir: PathBuf) -> Repo {
        let parent = dir.parent().unwrap();
        std::fs::create_dir_all(parent).unwrap();
        let url = format!("file://{}", remote.display());
        sh(
            parent,
            Path::new("git"),
            &["clone", "-q", &url, dir.to_str().unwrap()],
        );
        Repo { dir }
    }

    fn git(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&sh(&self.dir, Path::new("git"), args)).into_owned()
    }

    fn write(&self, rel: &str, data: impl AsRef<[u8]>) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", msg]);
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_owned()
    }

    /// Every file of the working tree (not .git), path to bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if e.file_name() == ".git" {
                    continue;
                }
                if e.file_type().unwrap().is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&self.dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        out
    }

    /// Every file committed at HEAD, path to bytes.
    fn committed(&self) -> BTreeMap<String, Vec<u8>> {
        let list = sh(&self.dir, Path::new("git"), &["ls-files", "-z"]);
        list.split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let p = String::from_utf8_lossy(p).into_owned();
                let spec = format!("HEAD:{p}");
                let data = sh(&self.dir, Path::new("git"), &["show", &spec]);
                (p, data)
            })
            .collect()
    }
}

/// The collection's objects: (repo, path) to its chunks' (index, count, content, hash).
type Held = BTreeMap<(String, String), Vec<(u64, u64, String, String)>>;

fn held(store: &dyn Store, class: &str) -> Held {
    let mut out: Held = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .scan(class, None, after.as_deref(), 500, false)
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for o in page {
            let p = &o.properties;
            let s = |k: &str| {
                p.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(u64::MAX);
            out.entry((s("repo"), s("path"))).or_default().push((
                n("chunkIndex"),
                n("chunkCount"),
                s("content"),
                s("contentHash"),
            ));
        }
    }
    for chunks in out.values_mut() {
        chunks.sort();
    }
    out
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Asserts that the collection holds exactly `files` of `repo` (besides other repositories'
/// objects), each as its chunks with their true text.
#[track_caller]
fn assert_holds(store: &dyn Store, class: &str, repo: &str, files: &BTreeMap<String, Vec<u8>>) {
    let all = held(store, class);
    let got: Vec<&String> = all
        .keys()
        .filter(|(r, _)| r == repo)
        .map(|(_, p)| p)
        .collect();
    let want: Vec<&String> = files.keys().collect();
    assert_eq!(got, want, "the paths of {repo} in {class}");
    for (path, data) in files {
        let text = String::from_utf8(data.clone()).expect("test files are UTF-8");
        let expected = chunks(&text, Chunking::default());
        let stored = &all[&(repo.to_owned(), path.clone())];
        assert_eq!(stored.len(), expected.len(), "chunks of {path}");
        for (i, ((index, count, content, hash), want)) in stored.iter().zip(&expected).enumerate() {
            assert_eq!(*index, i as u64, "{path}");
            assert_eq!(*count, expected.len() as u64, "{path}");
            assert_eq!(content, want.text, "chunk {i} of {path} is the file's text");
            assert_eq!(hash, &sha256(data), "{path}");
        }
    }
}

/// The result lines of a run.
fn results(run: &util::Run) -> Vec<Value> {
    run.stdout()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a result line is JSON"))
        .collect()
}

fn actions(run: &util::Run) -> BTreeMap<String, String> {
    results(run)
        .iter()
        .filter_map(|r| {
            Some((
                r.get("path")?.as_str()?.to_owned(),
                r["action"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Text of `lines` numbered lines, each `width` characters.
fn text_lines(prefix: &str, lines: usize, width: usize) -> String {
    (0..lines)
        .map(|i| {
            let head = format!("{prefix} line {i} ");
            format!(
                "{head}{}\n",
                "x".repeat(width.saturating_sub(head.len() + 1))
            )
        })
        .collect()
}

/// Where to ingest into: the embedded store, or the test server.
enum Target {
    Embedded(PathBuf),
    Server(Server),
}

impl Target {
    fn both(w: &Workdir) -> [Target; 2] {
        [
            Target::Embedded(w.path("store.db")),
            Target::Server(Server::start(Config::default()).expect("test server")),
        ]
    }
    fn arg(&self) -> String {
        match self {
            Target::Embedded(p) => p.display().to_string(),
            Target::Server(s) => s.url(),
        }
    }
    fn store(&self) -> Box<dyn Store> {
        let loc = match self {
            Target::Embedded(p) => Location::Embedded(p.clone()),
            Target::Server(s) => Location::Weaviate(s.url()),
        };
        open(&loc, &OpenOptions::default()).unwrap()
    }
}

/// The files of `all` that ely-ingest indexes by default: not binary, at most 1 MiB.
fn indexed(all: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    all.into_iter()
        .filter(|(_, d)| !d[..d.len().min(8000)].contains(&0) && d.len() <= 1 << 20)
        .collect()
}

/// The arguments of a run into the test server at `url` with state `st.db`, collection Code,
/// one worker, no retries, batches of `batch`, then `more`.
fn server_args<'a>(url: &'a str, batch: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--store",
        url,
        "--state",
        "st.db",
        "-c",
        "Code",
        "--batch-size",
        batch,
        "--workers",
        "1",
        "--retries",
        "0",
    ];
    args.extend_from_slice(more);
    args
}

/// Runs ely-ingest into the embedded store `s.db` (state `st.db`), collection Code.
fn embedded(w: &Workdir, args: &[&str], stdin: &[u8]) -> util::Run {
    let all = [
        &["--store", "s.db", "--state", "st.db", "-c", "Code"][..],
        args,
    ]
    .concat();
    w.run("ely-ingest", &all, stdin)
}

// --- mgit diff --------------------------------------------------------------------------------

#[test]
fn mgit_diff_records_leave_exactly_the_working_tree_with_true_contents() {
    let Some(mgit) = mgit() else { return };
    let w = Workdir::new();
    for target in Target::both(&w) {
        let ws = w.path(&format!("ws-{}", matches!(target, Target::Server(_))));
        let app = Repo::init(ws.join("app"));
        app.write("a.py", "print('hello')\n");
        app.write("b c.txt", "spaces in the name\n");
        app.write("conf.json", "{\"a\": 1}\n");
        app.write("big.py", text_lines("big", 300, 60)); // ~18 KB: mgit sends a sample
        app.write("notes.txt", "short notes\n"); // .txt: mgit always sends a summary
        app.write("dir ü/x.rs", "fn main() {}\n");
        app.write("huge.log", text_lines("log", 20000, 80)); // 1.6 MB: over the limit
        app.write("bin.dat", b"\x00\x01\x02binary");
        app.commit("first");
        let state = w.path(&format!("state-{}.db", target.arg().len()));
        let store = target.arg();
        let st = state.to_str().unwrap();
        let ws_arg = ws.to_str().unwrap();
        // The first run indexes what is committed.
        w.run(
            "ely-ingest",
            &[
                "--store", &store, "--state", st, "-c", "Code", "--git", ws_arg,
            ],
            b"",
        )
        .ok();
        assert_holds(&*target.store(), "Code", "app", &indexed(app.committed()));
        // Then the working tree changes, and mgit reports them.
        app.write("a.py", "print('hello')\n# changed\n");
        app.git(&["rm", "-q", "conf.json"]);
        app.git(&["mv", "b c.txt", "renamed c.txt"]);
        app.write("big.py", text_lines("bigger", 500, 60));
        app.write("notes.txt", text_lines("notes", 40, 30));
        app.write("new.md", "# New\n");
        app.write("ünï cödé.py", "x = 1\n");
        app.write("sp dir/f.py", "y = 2\n");
        app.write("bin2.dat", b"\x00new binary");
        let records = sh(&ws, &mgit, &["diff", ws_arg, "--embed-content"]);
        let text = String::from_utf8_lossy(&records);
        assert!(
            text.contains(r#""\"b c.txt\" -> \"renamed c.txt\"""#),
            "{text}"
        );
        assert!(
            text.contains("File: notes.txt"),
            "mgit sends a summary: {text}"
        );
        let run = w.run(
            "ely-ingest",
            &[
                "--store", &store, "--state", st, "-c", "Code", "--root", ws_arg,
            ],
            &records,
        );
        run.ok();
        let acts = actions(&run);
        assert_eq!(acts["renamed c.txt"], "upserted");
        assert_eq!(acts["conf.json"], "deleted");
        assert_eq!(acts["bin2.dat"], "skipped");
        assert_eq!(acts["notes.txt"], "upserted");
        assert_eq!(acts["sp dir/f.py"], "upserted");
        assert_eq!(acts["ünï cödé.py"], "upserted");
        assert!(results(&run)
            .iter()
            .any(|r| r["op"] == "changeset" && r["action"] == "remembered"));
        run.expect_stderr("not records (progress bars, tables)");
        let files = indexed(app.files());
        assert!(files.contains_key("renamed c.txt") && !files.contains_key("b c.txt"));
        assert_holds(&*target.store(), "Code", "app", &files);
        // The same records again change nothing: nothing is sent to the store.
        let before = match &target {
            Target::Server(s) => s.requests(Route::Batch),
            Target::Embedded(_) => 0,
        };
        let again = w.run(
            "ely-ingest",
            &[
                "--store", &store, "--state", st, "-c", "Code", "--root", ws_arg,
            ],
            &records,
        );
        again.ok();
        for (path, action) in actions(&again) {
            assert!(
                ["unchanged", "skipped", "deleted"].contains(&action.as_str()),
                "{path}: {action}"
            );
        }
        if let Target::Server(s) = &target {
            assert_eq!(
                s.requests(Route::Batch),
                before,
                "a repeated run writes nothing"
            );
        }
        assert_holds(&*target.store(), "Code", "app", &files);
    }
}

#[test]
fn a_record_whose_content_is_a_summary_is_rejected_when_the_file_cannot_be_read() {
    let w = Workdir::new();
    let summary = "File: big.txt\nType: text/plain\nSize: 14185 bytes\n";
    let records = format!(
        "{}\n{}\n{}\n",
        json!({"repo": "far", "op": "modify", "path": "big.txt", "content": summary,
               "content_hash": "8c95".repeat(16), "size_bytes": 14185}),
        json!({"repo": "far", "op": "add", "path": "ok.py", "content": "x = 1\n",
               "content_hash": sha256(b"x = 1\n")}),
        json!({"repo": "far", "new_changeset": {"commit": "a".repeat(40), "branch": "main"}}),
    );
    let run = embedded(
        &w,
        &["-i", "-", "--dead-letter", "dead.jsonl"],
        records.as_bytes(),
    );
    run.expect_code(1).expect_stderr("1 change(s) rejected");
    let r = results(&run);
    assert_eq!(r[0]["action"], "rejected");
    let reason = r[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not the file") && reason.contains("--root"),
        "{reason}"
    );
    assert_eq!(
        r[1]["action"], "upserted",
        "a verified content is used as it is"
    );
    assert_eq!(r[2]["action"], "kept", "{:?}", r[2]);
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    let all = held(&*store, "Code");
    assert_eq!(all.len(), 1, "the summary was never indexed");
    assert_eq!(all[&("far".into(), "ok.py".into())][0].2, "x = 1\n");
    // The dead-letter file holds the record as it came, with the reason, and is input again.
    let dead = String::from_utf8(w.read("dead.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 1);
    assert!(dead.contains("not the file"), "{dead}");
}

// --- git itself and mgit sync ----------------------------------------------------------------

#[test]
fn mgit_sync_then_git_ingests_what_was_committed_since_the_last_run() {
    let Some(mgit) = mgit() else { return };
    let w = Workdir::new();
    let remote = w.path("remote.git");
    std::fs::create_dir_all(&remote).unwrap();
    sh(
        &remote,
        Path::new("git"),
        &["init", "-q", "--bare", "-b", "main"],
    );
    let dev = Repo::clone_from(&remote, w.path("dev"));
    dev.write("src/a.py", "a = 1\n");
    dev.write("src/b.py", text_lines("b", 450, 40)); // three chunks
    dev.write("README.md", "# app\n");
    dev.write("old name.rs", "fn old() {}\n");
    dev.commit("first");
    dev.git(&["push", "-q", "origin", "main"]);
    let ws = w.path("ws");
    let app = Repo::clone_from(&remote, ws.join("app"));
    let server = Server::start(Config::default()).expect("test server");
    let url = server.url();
    let ws_arg = ws.to_str().unwrap();
    let cron = || {
        let sync = sh(&w.path("."), &mgit, &["sync", ws_arg]);
        w.run(
            "ely-ingest",
            &[
                "--store", &url, "--state", "st.db", "-c", "Code", "--git", ws_arg,
            ],
            &sync,
        )
    };
    let first = cron();
    first.ok().expect_stderr("were not records");
    let store = open(&Location::Weaviate(url.clone()), &OpenOptions::default()).unwrap();
    assert_holds(&*store, "Code", "app", &app.committed());
    // Upstream moves on: a change, a delete, a rename, a new file, a file that shrinks.
    dev.write("src/a.py", "a = 2\n");
    dev.git(&["rm", "-q", "README.md"]);
    dev.git(&["mv", "old name.rs", "new name.rs"]);
    dev.write("src/c.go", "package c\n");
    dev.write("src/b.py", "b = 'short now'\n");
    dev.commit("second");
    dev.git(&["push", "-q", "origin", "main"]);
    let second = cron();
    second.ok();
    assert_eq!(app.head(), dev.head(), "mgit sync pulled");
    let r = results(&second);
    let rename = r
        .iter()
        .find(|x| x["path"] == "new name.rs")
        .expect("rename result");
    assert_eq!(rename["from"], "old name.rs");
    assert_eq!(rename["action"], "upserted");
    let shrunk = r.iter().find(|x| x["path"] == "src/b.py").unwrap();
    assert_eq!(shrunk["removed"], 2, "the stale chunks went");
    assert_eq!(
        r.iter().filter(|x| x.get("path").is_some()).count(),
        5,
        "only what the commit changed: {r:?}"
    );
    assert_holds(&*store, "Code", "app", &app.committed());
    // Nothing new upstream: nothing written.
    let batches = server.requests(Route::Batch);
    let third = cron();
    third.ok();
    assert_eq!(server.requests(Route::Batch), batches);
    assert!(results(&third).iter().all(|x| x.get("path").is_none()));
}

#[test]
fn a_force_push_or_a_branch_switch_reindexes_and_removes_what_is_gone() {
    let w = Workdir::new();
    let app = Repo::init(w.path("ws/app"));
    app.write("keep.py", "k = 1\n");
    app.write("feature.py", "f = 1\n");
    app.commit("one");
    app.write("later.py", "l = 1\n");
    app.commit("two");
    let args = [
        "--store", "s.db", "--state", "st.db", "-c", "Code", "--git", "ws",
    ];
    w.run("ely-ingest", &args, b"").ok();
    let store = || open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    assert_holds(&*store(), "Code", "app", &app.committed());
    // History rewritten: the remembered commit is no longer an ancestor of HEAD.
    app.git(&["reset", "-q", "--hard", "HEAD~1"]);
    app.write("rewritten.py", "r = 1\n");
    app.commit("two, again");
    let run = w.run("ely-ingest", &args, b"");
    run.ok();
    assert_eq!(actions(&run)["later.py"], "deleted");
    assert_holds(&*store(), "Code", "app", &app.committed());
    // A branch that does not hold the remembered commit: the same.
    app.git(&["checkout", "-q", "--orphan", "other"]);
    app.git(&["rm", "-q", "-r", "--cached", "."]);
    std::fs::remove_file(app.dir.join("feature.py")).unwrap();
    std::fs::remove_file(app.dir.join("rewritten.py")).unwrap();
    app.write("other.rs", "fn other() {}\n");
    app.commit("orphan");
    w.run("ely-ingest", &args, b"").ok();
    assert_holds(&*store(), "Code", "app", &app.committed());
    // Back to main (a commit the state does not descend from) and on with --uncommitted.
    app.git(&["checkout", "-q", "-f", "main"]);
    app.write("wip.py", "w = 1\n");
    let mut with = args.to_vec();
    with.push("--uncommitted");
    w.run("ely-ingest", &with, b"").ok();
    assert_holds(&*store(), "Code", "app", &app.files());
}

#[test]
fn a_store_failing_mid_run_keeps_the_old_commit_and_the_rerun_completes() {
    let w = Workdir::new();
    let app = Repo::init(w.path("ws/app"));
    for i in 0..30 {
        app.write(&format!("f{i}.py"), text_lines(&format!("f{i}"), 10, 20));
    }
    app.commit("one");
    let server = Server::start(Config::default()).expect("test server");
    let url = server.url();
    let args = server_args(&url, "5", &["--git", "ws"]);
    w.run("ely-ingest", &args, b"").ok();
    let store = open(&Location::Weaviate(url.clone()), &OpenOptions::default()).unwrap();
    // New commits; the store fails after two batches.
    for i in 0..30 {
        app.write(&format!("f{i}.py"), text_lines(&format!("g{i}"), 10, 20));
    }
    app.commit("two");
    server.fail_after(Route::Batch, 2, 1000, Fault::Status(503));
    let failed = w.run("ely-ingest", &args, b"");
    failed.expect_code(3);
    assert!(
        !results(&failed).iter().any(|r| r["op"] == "changeset"),
        "the commit is not remembered"
    );
    server.clear_faults();
    // The rerun reads from the old commit again and completes.
    let rerun = w.run("ely-ingest", &args, b"");
    rerun.ok();
    let upserted = actions(&rerun)
        .values()
        .filter(|a| *a == "upserted")
        .count();
    assert!(
        upserted > 0,
        "the rerun wrote what the failed run could not"
    );
    assert_holds(&*store, "Code", "app", &app.committed());
}

#[test]
fn a_file_written_in_part_is_written_whole_by_the_next_run() {
    let w = Workdir::new();
    let app = Repo::init(w.path("ws/app"));
    app.write("big.txt", text_lines("one", 1000, 40));
    app.write("small.py", "x = 1\n");
    app.commit("one");
    let server = Server::start(Config::default()).expect("test server");
    let url = server.url();
    let args = server_args(&url, "1", &["--git", "ws"]);
    w.run("ely-ingest", &args, b"").ok();
    let store = open(&Location::Weaviate(url.clone()), &OpenOptions::default()).unwrap();
    let big = ("app".to_owned(), "big.txt".to_owned());
    assert!(held(&*store, "Code")[&big].len() >= 5);
    // The file shrinks, and the store fails once the new first chunk is written.
    let two = text_lines("two", 300, 40);
    app.write("big.txt", &two);
    app.commit("two");
    server.fail_after(Route::Batch, 1, 1000, Fault::Status(503));
    w.run("ely-ingest", &args, b"").expect_code(3);
    let part = &held(&*store, "Code")[&big];
    assert_eq!(part[0].3, sha256(two.as_bytes()), "the first chunk is new");
    assert!(
        part.len() > 2,
        "stale chunks are still there: written in part"
    );
    server.clear_faults();
    // The rerun does not take the new first chunk for the whole file.
    let rerun = w.run("ely-ingest", &args, b"");
    rerun.ok();
    assert_eq!(actions(&rerun)["big.txt"], "upserted");
    assert_holds(&*store, "Code", "app", &app.committed());
    // Once the repository was written whole, first chunks are trusted again.
    let batches = server.requests(Route::Batch);
    app.write("small.py", "x = 2\n");
    app.commit("three");
    let next = w.run("ely-ingest", &args, b"");
    next.ok();
    assert_eq!(actions(&next).len(), 1, "only small.py");
    assert_eq!(server.requests(Route::Batch) - batches, 1);
}

#[test]
fn a_resumed_run_keeps_what_was_rejected_before_and_a_moved_head_is_another_input() {
    let w = Workdir::new();
    let server = Server::start(Config::default()).expect("test server");
    let url = server.url();
    let mut records = vec![
        json!({"repo": "r", "op": "add", "path": "bad.py", "content_ref": "/etc/hostname"})
            .to_string(),
    ];
    for i in 0..30 {
        records.push(json!({"repo": "r", "op": "add", "path": format!("f{i:02}.py"), "content": format!("x = {i}\n")}).to_string());
    }
    records.push(json!({"repo": "r", "new_changeset": {"commit": "c".repeat(40)}}).to_string());
    w.write("changes.jsonl", (records.join("\n") + "\n").as_bytes());
    let args = server_args(
        &url,
        "5",
        &["-i", "changes.jsonl", "--checkpoint", "cp.json"],
    );
    server.fail_after(Route::Batch, 3, 1000, Fault::Status(503));
    w.run("ely-ingest", &args, b"").expect_code(3);
    server.clear_faults();
    let rerun = w.run("ely-ingest", &args, b"");
    rerun.expect_code(1).expect_stderr("keep");
    let last = results(&rerun).pop().unwrap();
    assert_eq!(last["action"], "kept", "{last}");
    // Without the checkpoint the run starts over, meets the rejection again, and keeps it.
    let again = w.run("ely-ingest", &args, b"");
    again.expect_code(1);
    assert_eq!(results(&again).pop().unwrap()["action"], "kept");

    // With --git, a checkpoint belongs to the commits it was made for.
    let app = Repo::init(w.path("ws/app"));
    for i in 0..20 {
        app.write(&format!("f{i}.py"), format!("f = {i}\n"));
    }
    app.commit("one");
    let git_args = server_args(&url, "5", &["--git", "ws", "--checkpoint", "git-cp.json"]);
    server.fail_after(Route::Batch, 1, 1000, Fault::Status(503));
    w.run("ely-ingest", &git_args, b"").expect_code(3);
    server.clear_faults();
    app.write("new.py", "n = 1\n");
    app.commit("two");
    w.run("ely-ingest", &git_args, b"")
        .expect_code(2)
        .expect_stderr("belongs to another input");
}

#[test]
fn a_checkpoint_lets_a_failed_run_continue_where_it_stopped() {
    let w = Workdir::new();
    let server = Server::start(Config::default()).expect("test server");
    let url = server.url();
    let records: String = (0..40)
        .map(|i| {
            json!({"repo": "r", "op": "add", "path": format!("f{i:02}.py"), "content": format!("x = {i}\n")})
                .to_string()
                + "\n"
        })
        .collect();
    w.write("changes.jsonl", records.as_bytes());
    let args = server_args(
        &url,
        "5",
        &["-i", "changes.jsonl", "--checkpoint", "cp.json", "--stats"],
    );
    server.fail_after(Route::Batch, 3, 1000, Fault::Status(503));
    w.run("ely-ingest", &args, b"").expect_code(3);
    assert!(
        w.path("cp.json").exists(),
        "the checkpoint stays for the rerun"
    );
    server.clear_faults();
    let batches = server.requests(Route::Batch);
    let rerun = w.run("ely-ingest", &args, b"");
    rerun.ok().expect_stderr("\"resumed\":15");
    assert_eq!(
        results(&rerun).len(),
        25,
        "only what the failed run had not done"
    );
    assert_eq!(server.requests(Route::Batch) - batches, 5);
    assert!(!w.path("cp.json").exists(), "a complete run removes it");
    let store = open(&Location::Weaviate(url.clone()), &OpenOptions::default()).unwrap();
    assert_eq!(held(&*store, "Code").len(), 40);
    // A checkpoint is refused for another input.
    server.fail_after(Route::Batch, 0, 1000, Fault::Status(503));
    w.write("other.jsonl", records.replace("x = ", "y = ").as_bytes());
    let mut other = args.to_vec();
    if let Some(at) = other.iter().position(|a| *a == "changes.jsonl") {
        other[at] = "other.jsonl";
    }
    w.run("ely-ingest", &other, b"").expect_code(3);
    server.clear_faults();
    w.run("ely-ingest", &args, b"")
        .expect_code(2)
        .expect_stderr("belongs to another input");
}

// --- three-tier records, path lists, ids ------------------------------------------------------

#[test]
fn content_ref_is_read_only_inside_the_allowed_roots() {
    let w = Workdir::new();
    let repo = w.path("srv/A");
    std::fs::create_dir_all(repo.join("docs")).unwrap();
    std::fs::write(repo.join("docs/guide.md"), "# Guide\n").unwrap();
    std::fs::write(w.path("secret.txt"), "password=hunter2\n").unwrap();
    std::os::unix::fs::symlink(w.path("secret.txt"), repo.join("link.txt")).unwrap();
    let inside = repo.join("docs/guide.md");
    let records = [
        json!({"repo": "A", "op": "add", "path": "docs/guide.md", "content_ref": inside}),
        json!({"repo": "A", "op": "add", "path": "s.txt", "content_ref": w.path("secret.txt")}),
        json!({"repo": "A", "op": "add", "path": "l.txt", "content_ref": repo.join("link.txt")}),
        json!({"repo": "A", "op": "add", "path": "d.txt", "content_ref": format!("{}/docs/../../../secret.txt", repo.display())}),
        json!({"repo": "A", "op": "add", "path": "config.json", "content": "{\"api\": \"v2\"}", "size": 13}),
        json!({"repo": "A", "op": "modify", "path": "src/auth.py", "content_base64": "aW1wb3J0IG9zCg=="}),
        json!({"repo": "A", "op": "add", "path": "manual.pdf", "content_ref": "/srv/A/manual.pdf", "skip_index": true}),
        json!({"repo": "A", "new_changeset": {"commit": "c".repeat(40), "branch": "main"}}),
    ];
    let input: String = records.iter().map(|r| format!("{r}\n")).collect();
    w.write("records.jsonl", input.as_bytes());
    let run = embedded(&w, &["--repo", "A=srv/A", "-i", "records.jsonl"], b"");
    run.expect_code(1);
    let r = results(&run);
    let by_path = |p: &str| r.iter().find(|x| x["path"] == p).unwrap().clone();
    assert_eq!(by_path("docs/guide.md")["action"], "upserted");
    for p in ["s.txt", "l.txt", "d.txt"] {
        let x = by_path(p);
        assert_eq!(x["action"], "rejected", "{p}");
        assert!(x["reason"].as_str().unwrap().contains("outside"), "{x}");
    }
    assert_eq!(by_path("config.json")["action"], "upserted");
    assert_eq!(by_path("src/auth.py")["action"], "upserted");
    assert_eq!(by_path("manual.pdf")["action"], "skipped");
    assert_eq!(r.last().unwrap()["action"], "kept");
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    let all = held(&*store, "Code");
    let contents: Vec<&str> = all.values().map(|c| c[0].2.as_str()).collect();
    assert!(
        !contents.iter().any(|c| c.contains("hunter2")),
        "{contents:?}"
    );
    assert_eq!(all[&("A".into(), "src/auth.py".into())][0].2, "import os\n");
    // Rejected records went to the dead-letter file beside the input, as they came.
    let dead = String::from_utf8(w.read("records.jsonl.rejected.jsonl")).unwrap();
    assert_eq!(dead.lines().count(), 3);
    // The dead-letter file is input as it is: with --allow-root widened, its records go in.
    let root = w.path(".");
    let again = embedded(
        &w,
        &[
            "--repo",
            "A=srv/A",
            "--allow-root",
            root.to_str().unwrap(),
            "-i",
            "records.jsonl.rejected.jsonl",
            "--dead-letter",
            "again.jsonl",
        ],
        b"",
    );
    again.ok();
    let acts = actions(&again);
    for p in ["s.txt", "l.txt", "d.txt"] {
        assert_eq!(acts[p], "upserted", "{p}");
    }
}

#[test]
fn an_existing_collection_gets_the_properties_it_lacks() {
    let w = Workdir::new();
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    store
        .create_class(&json!({"class": "Code", "vectorizer": "none",
            "properties": [{"name": "path", "dataType": ["text"]}, {"name": "notes", "dataType": ["text"]}]}))
        .unwrap();
    let record = json!({"repo": "r", "op": "add", "path": "a.py", "content": "a = 1\n"});
    let run = embedded(&w, &["--stats"], format!("{record}\n").as_bytes());
    run.ok().expect_stderr("\"properties_added\":14");
    let class = store.class("Code").unwrap().unwrap();
    let names = util::property_names(&class);
    for (name, _, _) in ely_ingest::model::PROPERTIES {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert!(names.iter().any(|n| n == "notes"), "what it had stays");
}

#[test]
fn path_lists_are_read_from_disk_and_a_missing_path_is_a_delete() {
    let w = Workdir::new();
    let app = Repo::init(w.path("app"));
    app.write("src/a.py", "a = 1\n");
    app.write("src/b.py", "b = 1\n");
    app.write("node_modules/x/index.js", "module.exports = 1\n");
    let args = [
        "--store", "s.db", "--state", "st.db", "-c", "Code", "--repo", "app",
    ];
    let run = w.run(
        "ely-ingest",
        &args,
        b"./src/a.py\nsrc/b.py\nnode_modules/x/index.js\n",
    );
    run.ok();
    let acts = actions(&run);
    assert_eq!(acts["src/a.py"], "upserted");
    assert_eq!(acts["node_modules/x/index.js"], "skipped");
    std::fs::remove_file(app.dir.join("src/b.py")).unwrap();
    let abs = app.dir.join("src/b.py");
    let run = w.run(
        "ely-ingest",
        &args,
        format!("{}\n", abs.display()).as_bytes(),
    );
    run.ok();
    assert_eq!(actions(&run)["src/b.py"], "deleted");
    // git quotes names with spaces or non-ASCII characters in its path lists too.
    app.write("\u{fc} n.py", "u = 1\n");
    app.commit("one");
    app.write("\u{fc} n.py", "u = 2\n");
    let list = app.git(&["diff", "--name-only"]);
    assert!(list.starts_with('"'), "{list}");
    let run = w.run("ely-ingest", &args, list.as_bytes());
    run.ok();
    assert_eq!(actions(&run)["\u{fc} n.py"], "upserted");
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    let mut files = BTreeMap::new();
    files.insert("src/a.py".to_owned(), b"a = 1\n".to_vec());
    files.insert("\u{fc} n.py".to_owned(), b"u = 2\n".to_vec());
    assert_holds(&*store, "Code", "app", &files);
}

#[test]
fn two_repositories_never_collide_and_id_schemes_are_not_mixed() {
    let w = Workdir::new();
    let line = |repo: &str, text: &str| {
        json!({"repo": repo, "op": "add", "path": "main.py", "content": text}).to_string() + "\n"
    };
    let input = line("one", "print(1)\n") + &line("two", "print(2)\n");
    let args = ["--store", "s.db", "--state", "st.db", "-c", "Code"];
    w.run("ely-ingest", &args, input.as_bytes()).ok();
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    let all = held(&*store, "Code");
    assert_eq!(all.len(), 2);
    assert_eq!(all[&("two".into(), "main.py".into())][0].2, "print(2)\n");
    // The collection records its scheme; another is refused before anything is written.
    let mut other = args.to_vec();
    other.extend(["--id-scheme", "elysiactl"]);
    w.run("ely-ingest", &other, input.as_bytes())
        .expect_code(2)
        .expect_stderr("was written with --id-scheme ely");
    // A collection of elysiactl's gets elysiactl's ids: uuid5(DNS, "<collection>:<path>").
    let mut old = vec![
        "--store",
        "s.db",
        "--state",
        "st.db",
        "-c",
        "Legacy",
        "--id-scheme",
        "elysiactl",
    ];
    w.run("ely-ingest", &old, line("one", "x\n").as_bytes())
        .ok();
    let got = store.scan("Legacy", None, None, 10, false).unwrap();
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "Legacy:main.py")
    assert_eq!(got[0].id, "8b517802-9c92-5653-bc00-a94bc8eb500d");
    old.truncate(6);
    w.run("ely-ingest", &old, line("one", "x\n").as_bytes())
        .expect_code(2)
        .expect_stderr("was written with --id-scheme elysiactl");
}

#[test]
fn bad_lines_are_rejected_with_their_line_and_a_dry_run_writes_nothing() {
    let w = Workdir::new();
    let input = concat!(
        "Detecting changes...   0% -:--:--\n",
        "{\"repo\":\"r\",\"op\":\"add\",\"path\":\"a.py\",\"content\":\"a\\n\"}\n",
        "{\"repo\":\"r\",\"op\":\"move\",\"path\":\"b.py\"}\n",
        "{not json\n",
    );
    let args = [
        "--store",
        "s.db",
        "--state",
        "st.db",
        "-c",
        "Code",
        "--dry-run",
    ];
    let run = w.run("ely-ingest", &args, input.as_bytes());
    run.expect_code(1);
    let r = results(&run);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["action"], "upserted");
    assert_eq!(r[0]["dry_run"], true);
    assert_eq!(
        (r[1]["line"].as_u64(), r[1]["action"].as_str()),
        (Some(3), Some("rejected"))
    );
    assert!(r[1]["reason"].as_str().unwrap().contains("\"move\""));
    assert_eq!(r[2]["line"], 4);
    assert_eq!(
        r[1]["repo"], "r",
        "a bad record counts against its repository"
    );
    assert!(!w.path("s.db").exists(), "a dry run creates no store");
    assert!(!w.path("st.db").exists(), "and no state file");
}

#[test]
fn folders_are_filtered_file_by_file_and_damaged_input_is_exit_4() {
    let w = Workdir::new();
    std::fs::create_dir_all(w.path("ws/app/nd/deep")).unwrap();
    std::fs::create_dir_all(w.path("ws/app/empty")).unwrap();
    w.write("ws/app/nd/q.py", b"q = 1\n");
    w.write("ws/app/nd/deep/r.txt", b"r\n");
    let records = [
        json!({"repo": "app", "op": "add", "path": "nd/"}),
        json!({"repo": "app", "op": "add", "path": "empty/"}),
        json!({"repo": "app", "op": "rename", "path": "x.py"}),
        json!({"repo": "app", "new_changeset": {"commit": "c".repeat(40)}}),
    ];
    let input: String = records.iter().map(|r| format!("{r}\n")).collect();
    let run = embedded(&w, &["--root", "ws", "--include", "*.py"], input.as_bytes());
    run.expect_code(1);
    let r = results(&run);
    let by_path = |p: &str| r.iter().find(|x| x["path"] == p).unwrap().clone();
    assert_eq!(by_path("nd/q.py")["action"], "upserted");
    assert_eq!(by_path("nd/deep/r.txt")["action"], "skipped");
    let empty = by_path("empty/");
    assert_eq!(
        (empty["action"].as_str(), empty["reason"].as_str()),
        (Some("skipped"), Some("a folder with no files to index"))
    );
    assert_eq!(r[r.len() - 2]["action"], "rejected");
    assert_eq!(r[r.len() - 2]["repo"], "app");
    assert_eq!(
        r[r.len() - 1]["action"],
        "kept",
        "a bad record keeps its repository's commit"
    );
    // Compressed input that ends early fails verification.
    if util::have_tool("gzip") {
        let many: String = (0..3000)
            .map(|i| format!("{}\n", json!({"repo": "app", "op": "add", "path": format!("g{i}.py"), "content": format!("g = {i} # {}\n", "y".repeat(i % 97))})))
            .collect();
        let gz = util::pipe_through("gzip", &["-c"], many.as_bytes());
        w.write("cut.jsonl.gz", &gz[..gz.len() / 2]);
        embedded(&w, &["--root", "ws", "-i", "cut.jsonl.gz"], b"")
            .expect_code(4)
            .expect_stderr("truncated or corrupt");
    }
}

#[test]
fn a_repository_git_cannot_read_fails_alone() {
    let w = Workdir::new();
    let bad = Repo::init(w.path("ws/a-bad"));
    bad.write("b.py", "b = 1\n");
    bad.commit("one");
    let good = Repo::init(w.path("ws/good"));
    good.write("g.py", "g = 1\n");
    good.commit("one");
    // The tree of the bad repository's HEAD is lost.
    let tree = bad.git(&["rev-parse", "HEAD^{tree}"]).trim().to_owned();
    std::fs::remove_file(
        bad.dir
            .join(format!(".git/objects/{}/{}", &tree[..2], &tree[2..])),
    )
    .unwrap();
    let run = embedded(&w, &["--git", "ws"], b"");
    run.expect_code(1);
    let r = results(&run);
    let bad_line = r.iter().find(|x| x["repo"] == "a-bad").unwrap();
    assert_eq!(bad_line["action"], "rejected", "{bad_line}");
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    assert_holds(&*store, "Code", "good", &good.committed());
}

#[test]
fn what_uncommitted_indexed_goes_back_to_head_when_the_working_tree_does() {
    let w = Workdir::new();
    let app = Repo::init(w.path("ws/app"));
    app.write("a.py", "a = 1\n");
    app.commit("one");
    let with = ["--git", "ws", "--uncommitted"];
    embedded(&w, &with, b"").ok();
    app.write("a.py", "a = 2\n");
    app.write("scratch.py", "s = 1\n");
    w.write("outside.txt", b"password=hunter2\n");
    std::os::unix::fs::symlink(w.path("outside.txt"), app.dir.join("link.py")).unwrap();
    let run = embedded(&w, &with, b"");
    run.ok();
    let acts = actions(&run);
    assert_eq!(acts["a.py"], "upserted");
    assert_eq!(acts["scratch.py"], "upserted");
    assert_eq!(acts["link.py"], "skipped", "a link is not followed");
    let store = open(&Location::Embedded(w.path("s.db")), &OpenOptions::default()).unwrap();
    let mut now = BTreeMap::new();
    now.insert("a.py".to_owned(), b"a = 2\n".to_vec());
    now.insert("scratch.py".to_owned(), b"s = 1\n".to_vec());
    assert_holds(&*store, "Code", "app", &now);
    // The scratch file is removed, the edit undone: the collection follows.
    std::fs::remove_file(app.dir.join("scratch.py")).unwrap();
    std::fs::remove_file(app.dir.join("link.py")).unwrap();
    app.git(&["checkout", "a.py"]);
    let run = embedded(&w, &with, b"");
    run.ok();
    let acts = actions(&run);
    assert_eq!(acts["scratch.py"], "deleted");
    assert_eq!(acts["a.py"], "upserted");
    assert_holds(&*store, "Code", "app", &app.committed());
    // Without --uncommitted, what it indexed of an edit goes back to the commit.
    app.write("a.py", "a = 3\n");
    embedded(&w, &with, b"").ok();
    embedded(&w, &["--git", "ws"], b"").ok();
    assert_holds(&*store, "Code", "app", &app.committed());
}
