//! What every binary offers at the command line, run as users type it: shell completions and
//! man pages, input given as a positional argument, and the README's instructions.

mod util;

use util::Workdir;

const BINARIES: [&str; 6] = [
    "ely-convert",
    "ely-backup",
    "ely-restore",
    "ely-ingest",
    "ely-catalog",
    "ely-repo",
];

#[test]
fn every_binary_generates_completions_and_its_man_page() {
    let w = Workdir::new();
    for bin in BINARIES {
        let bash = w.run(bin, &["--generate", "complete-bash"], b"");
        bash.ok();
        let text = String::from_utf8_lossy(bash.stdout()).into_owned();
        assert!(
            text.contains(&format!("complete -F _{}", bin.replace('-', "__")))
                || text.contains(bin),
            "{bin}: {text:.200}"
        );
        assert!(text.contains("--quiet"), "{bin}");
        let zsh = w.run(bin, &["--generate=complete-zsh"], b"");
        zsh.ok();
        assert!(String::from_utf8_lossy(zsh.stdout()).starts_with(&format!("#compdef {bin}")));
        let fish = w.run(bin, &["--generate", "complete-fish"], b"");
        fish.ok();
        assert!(String::from_utf8_lossy(fish.stdout()).contains(&format!("complete -c {bin}")));
        let man = w.run(bin, &["--generate", "man"], b"");
        man.ok();
        let page = String::from_utf8_lossy(man.stdout()).into_owned();
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "{bin}: {page:.200}"
        );
        assert!(page.contains(bin), "{bin}");
        w.run(bin, &["--generate", "powershell"], b"")
            .expect_code(2)
            .expect_stderr("--generate takes complete-bash, complete-zsh, complete-fish or man");
    }
    // Generating needs none of a run's required arguments (ely-backup needs -c or --all).
    w.run("ely-backup", &["--generate", "man"], b"").ok();
}

#[test]
fn the_readme_installs_locked_and_its_first_command_shows_the_build() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    assert!(
        readme.contains("cargo install --locked --path ."),
        "README install line"
    );
    assert!(
        readme.contains("--generate complete-bash"),
        "README completions"
    );
    let demo = std::fs::read_to_string(format!("{root}/scripts/demo.sh")).expect("demo.sh");
    let build = demo
        .lines()
        .find(|l| l.trim_start().starts_with("cargo build"))
        .expect("demo.sh builds");
    assert!(
        !build.contains("--quiet") && !build.contains(" -q"),
        "{build}"
    );
}

#[test]
fn the_input_file_can_be_given_without_dash_i() {
    let w = Workdir::new();
    let line =
        r#"{"class":"Pos","id":"6b29fc40-ca47-1067-b31d-00dd010662da","properties":{"n":1}}"#;
    w.write("in.jsonl", format!("{line}\n").as_bytes());
    w.run("ely-restore", &["--store", "s.db", "in.jsonl"], b"")
        .ok();
    let check = w.run("ely-convert", &["--check", "in.jsonl"], b"");
    check.ok();
    assert!(String::from_utf8_lossy(check.stdout()).contains(r#""input":"in.jsonl""#));
    w.run("ely-convert", &["-i", "in.jsonl", "in.jsonl"], b"")
        .expect_code(2)
        .expect_stderr("cannot be used with");
}

#[test]
fn a_stream_read_from_a_terminal_is_announced() {
    if !util::have_tool("script") || !util::have_tool("timeout") {
        assert!(
            std::env::var_os("CI").is_none(),
            "script and timeout are needed in CI"
        );
        eprintln!("skipped: script (util-linux) or timeout not found");
        return;
    }
    let w = Workdir::new();
    for (bin, exe, args) in [
        (
            "ely-restore",
            env!("CARGO_BIN_EXE_ely-restore"),
            "--store t.db",
        ),
        ("ely-convert", env!("CARGO_BIN_EXE_ely-convert"), "--check"),
    ] {
        // `script` gives the command a terminal for stdin; the command then waits for input,
        // which never comes: `timeout` ends it.
        let out = std::process::Command::new("timeout")
            .args(["3", "script", "-qec", &format!("{exe} {args}"), "/dev/null"])
            .current_dir(w.path("."))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("script");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("{bin}: reading a stream from the terminal")),
            "{bin}: {text}"
        );
    }
}

#[test]
fn a_read_never_creates_a_store() {
    let w = Workdir::new();
    w.run("ely-backup", &["--store", "typo/stor.db", "--all"], b"")
        .expect_code(2)
        .expect_stderr("embedded store typo/stor.db does not exist");
    assert!(!w.path("typo").exists(), "no folder was created");
}

#[test]
fn what_looks_like_a_url_but_is_not_http_is_an_error_that_hides_credentials() {
    let w = Workdir::new();
    for store in [
        "http:/localhost:8080",
        "ftp://me:hunter2@host/x",
        "weaviate://host",
    ] {
        for args in [
            ("ely-backup", vec!["--store", store, "--all"]),
            ("ely-restore", vec!["--store", store]),
        ] {
            let run = w.run(args.0, &args.1, b"");
            run.expect_code(2).expect_stderr("is not a store ely knows");
            assert!(!run.stderr().contains("hunter2"), "{}", run.stderr());
        }
    }
    assert_eq!(w.files(), Vec::<String>::new(), "no file named after a URL");
}
