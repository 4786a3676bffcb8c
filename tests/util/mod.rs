//! Test helpers: a temporary work folder per test, running the real binaries with a clean
//! environment, and a seeded generator of ely streams.

#![allow(dead_code)]

pub mod tmux;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ely_stream::format::{control_line, write_f32};
use ely_stream::{Header, SectionHash};

/// A temporary folder in which a test runs binaries; removed when dropped.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir {
            dir: tempfile::Builder::new()
                .prefix("ely-test-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).expect("write test file");
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("reading {name}: {e}"))
    }

    /// Names of the files in the folder, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// A command for one of the root package's binaries, run in this folder with the user's
    /// ely and Weaviate settings removed, so they never change a result.
    pub fn command(&self, bin: &str) -> Command {
        let exe = match bin {
            "ely-convert" => env!("CARGO_BIN_EXE_ely-convert"),
            "ely-backup" => env!("CARGO_BIN_EXE_ely-backup"),
            "ely-restore" => env!("CARGO_BIN_EXE_ely-restore"),
            "ely-ingest" => env!("CARGO_BIN_EXE_ely-ingest"),
            "ely-catalog" => env!("CARGO_BIN_EXE_ely-catalog"),
            "ely-repo" => env!("CARGO_BIN_EXE_ely-repo"),
            other => panic!("unknown binary {other}"),
        };
        let mut cmd = Command::new(exe);
        cmd.current_dir(self.dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("ELY_") || k.starts_with("WEAVIATE_") {
                cmd.env_remove(k);
            }
        }
        cmd
    }

    /// Runs `bin args` with `stdin` and returns what it did.
    pub fn run(&self, bin: &str, args: &[&str], stdin: &[u8]) -> Run {
        self.run_env(bin, args, stdin, &[])
    }

    /// Like [`Workdir::run`], with these environment variables set.
    pub fn run_env(&self, bin: &str, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(bin);
        cmd.envs(env.iter().copied());
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn binary");
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.to_vec();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for binary");
        let _ = feeder.join();
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            out,
        }
    }
}

/// The outcome of one run; assertion helpers print the command, status and stderr on failure.
pub struct Run {
    pub args: Vec<String>,
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> &[u8] {
        &self.out.stdout
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "args: {:?}\nstderr: {}\nstdout (first 500 bytes): {}",
            self.args,
            self.stderr(),
            String::from_utf8_lossy(&self.out.stdout[..self.out.stdout.len().min(500)])
        );
        self
    }
    /// Asserts that stderr mentions `text`, showing stderr when it does not.
    #[track_caller]
    pub fn expect_stderr(&self, text: &str) -> &Self {
        assert!(
            self.stderr().contains(text),
            "args: {:?}\nstderr: {}",
            self.args,
            self.stderr()
        );
        self
    }
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }
}

pub use ely_bench::Rng;

/// A vector written as shortest float32 text.
pub fn vector_text(v: &[f32]) -> String {
    let mut out = Vec::new();
    out.push(b'[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_f32(&mut out, *x);
    }
    out.push(b']');
    String::from_utf8(out).expect("ascii")
}

/// `n` simple object lines of `class` with `dims`-dimensional vectors.
pub fn objects(rng: &mut Rng, class: &str, n: usize, dims: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let v: Vec<f32> = (0..dims).map(|_| rng.f32()).collect();
            format!(
                r#"{{"class":"{class}","id":"{}","properties":{{"n":{i},"title":{}}},"vector":{}}}"#,
                rng.uuid(),
                serde_json::to_string(&rng.text(20)).expect("string"),
                vector_text(&v)
            )
        })
        .collect()
}

/// A header line for `collection`, of format version 1 (whose trailer hashes the object
/// lines only, as [`trailer_line`] does): streams older ely wrote stay readable. ely's own
/// writers (ely-gen, ely-backup) write the current version.
pub fn header_line(collection: &str) -> String {
    let h = Header {
        version: 1,
        collection: collection.into(),
        class: Some(serde_json::json!({"class": collection, "vectorizer": "none"})),
        tenants: None,
        source: Some("test".into()),
        created: Some("2026-11-21T00:00:00Z".into()),
    };
    String::from_utf8(control_line("header", &h)).expect("utf8")
}

/// The trailer line for `lines` in `collection` (None: a headerless section).
pub fn trailer_line(collection: Option<&str>, lines: &[String]) -> String {
    let mut hash = SectionHash::default();
    for l in lines {
        hash.add(l.as_bytes());
    }
    String::from_utf8(control_line("trailer", &hash.trailer(collection))).expect("utf8")
}

/// A complete section: header, object lines, trailer, each ending in `\n`.
pub fn section(collection: &str, lines: &[String]) -> String {
    let mut s = header_line(collection);
    s.push('\n');
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&trailer_line(Some(collection), lines));
    s.push('\n');
    s
}

/// True when `tool` runs; in CI a missing tool is an error, since .ci/run installs it.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing in CI; .ci/run should install it"
        );
        eprintln!("skipping the part that needs {tool}: not installed");
    }
    found
}

/// Runs an external command on `input`, returning its stdout.
pub fn pipe_through(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let t = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("wait");
    t.join().expect("feeder").expect("feed");
    assert!(out.status.success(), "{tool} {args:?} failed");
    out.stdout
}

/// The property names of a class definition, in its order.
pub fn property_names(class: &serde_json::Value) -> Vec<String> {
    class["properties"]
        .as_array()
        .map(|props| {
            props
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `program args` in `dir` as the author `ely` (for git), returning stdout; fails the
/// test when it fails.
pub fn sh(dir: &std::path::Path, program: &std::path::Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ely")
        .env("GIT_AUTHOR_EMAIL", "ely@example.com")
        .env("GIT_COMMITTER_NAME", "ely")
        .env("GIT_COMMITTER_EMAIL", "ely@example.com")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} in {}: {}",
        program.display(),
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs git in `dir` ([`sh`]), returning its stdout as text.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&sh(dir, std::path::Path::new("git"), args)).into_owned()
}
