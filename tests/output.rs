//! Where output files go: `-o` onto a symbolic link, a FIFO or a device, an existing file's
//! permissions, extensions of formats ely does not write, and a full disk.

mod util;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use util::Workdir;

const LINE: &str =
    r#"{"class":"Out","id":"6b29fc40-ca47-1067-b31d-00dd010662da","properties":{"n":1}}"#;

fn input(w: &Workdir) {
    w.write("in.jsonl", format!("{LINE}\n").as_bytes());
}

#[test]
fn unknown_output_extensions_are_errors_that_list_what_ely_writes() {
    let w = Workdir::new();
    input(&w);
    // (.parquet is a format ely-convert writes: tests/parquet.rs.)
    for name in ["out.xz", "out.bz2", "out.jsonl.7z"] {
        w.run("ely-convert", &["-i", "in.jsonl", "-o", name], b"")
            .expect_code(2)
            .expect_stderr("it writes zstd (.zst), gzip (.gz), lz4 (.lz4) or plain JSONL");
        assert!(!w.path(name).exists(), "{name}");
    }
    w.run(
        "ely-backup",
        &["--store", "s.db", "--all", "-o", "all.xz"],
        b"",
    )
    .expect_code(2)
    .expect_stderr("ely does not write .xz files");
    // Names that say nothing of a compression are plain JSONL, and --compress decides.
    w.run("ely-convert", &["-i", "in.jsonl", "-o", "out.ndjson"], b"")
        .ok();
    assert!(w.read("out.ndjson").starts_with(b"{"));
    w.run(
        "ely-convert",
        &["-i", "in.jsonl", "-o", "out.xz", "--compress", "zstd"],
        b"",
    )
    .ok();
}

#[test]
fn a_full_disk_is_an_error_naming_the_file() {
    let w = Workdir::new();
    input(&w);
    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    w.run("ely-convert", &["-i", "in.jsonl", "-o", "/dev/full"], b"")
        .expect_code(2)
        .expect_stderr("/dev/full: No space left on device");
    let meta = std::fs::metadata("/dev/full").expect("/dev/full");
    assert!(
        meta.file_type().is_char_device(),
        "/dev/full is still a device"
    );
}

#[test]
fn output_onto_links_fifos_and_devices_keeps_what_they_are() {
    let w = Workdir::new();
    input(&w);
    // A symbolic link: its target is replaced, the link stays, the target keeps its mode.
    w.write("target.jsonl", b"old\n");
    std::fs::set_permissions(
        w.path("target.jsonl"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("target.jsonl", w.path("link.jsonl")).unwrap();
    w.run("ely-convert", &["-i", "in.jsonl", "-o", "link.jsonl"], b"")
        .ok();
    let link = std::fs::symlink_metadata(w.path("link.jsonl")).unwrap();
    assert!(link.file_type().is_symlink(), "the link is still a link");
    assert!(String::from_utf8_lossy(&w.read("target.jsonl")).starts_with(LINE));
    let mode = std::fs::metadata(w.path("target.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // An existing file keeps its mode too.
    w.write("plain.jsonl", b"old\n");
    std::fs::set_permissions(
        w.path("plain.jsonl"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    w.run("ely-convert", &["-i", "in.jsonl", "-o", "plain.jsonl"], b"")
        .ok();
    let mode = std::fs::metadata(w.path("plain.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // A FIFO is written into, and stays a FIFO.
    let fifo = w.path("pipe");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(status.is_ok_and(|s| s.success()), "mkfifo makes a FIFO");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap_or_default())
    };
    w.run("ely-convert", &["-i", "in.jsonl", "-o", "pipe"], b"")
        .ok();
    let got = reader.join().unwrap();
    assert!(String::from_utf8_lossy(&got).starts_with(LINE));
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo(), "the FIFO is still a FIFO");
    // A character device (a null device of the test's own) is written into and stays one.
    let null = w.path("null");
    let made = std::process::Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .status();
    if made.is_ok_and(|s| s.success()) {
        w.run("ely-convert", &["-i", "in.jsonl", "-o", "null"], b"")
            .ok();
        let meta = std::fs::symlink_metadata(&null).unwrap();
        assert!(
            meta.file_type().is_char_device(),
            "the device is still a device"
        );
    } else {
        eprintln!("skipped the device: mknod needs privileges");
    }
}

#[test]
fn dash_o_dev_stdout_appends_to_a_log_that_stdout_appends_to() {
    let w = Workdir::new();
    input(&w);
    let log = w.write("log.jsonl", b"earlier\n");
    // As `ely-convert -i in.jsonl -o /dev/stdout >> log.jsonl` runs it.
    let out = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let status = w
        .command("ely-convert")
        .args(["-i", "in.jsonl", "-o", "/dev/stdout"])
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .status()
        .unwrap();
    assert!(status.success());
    let got = String::from_utf8(w.read("log.jsonl")).unwrap();
    assert!(
        got.starts_with("earlier\n"),
        "the log keeps what it had: {got}"
    );
    assert!(got.contains(LINE), "and gets the output: {got}");
    let meta = std::fs::symlink_metadata(&log).unwrap();
    assert!(meta.file_type().is_file());
    assert!(
        !w.files().iter().any(|f| f.contains("ely-tmp")),
        "no temporary file is left: {:?}",
        w.files()
    );
}
