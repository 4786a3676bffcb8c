//! ely-convert as a user runs it: round trips, detection, verification, bad lines, the
//! dead-letter file, closed pipes, interrupts, and vectors surviving re-serialization.

mod util;

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Deserialize;
use util::{have_tool, header_line, objects, pipe_through, section, trailer_line, Rng, Workdir};

const CONVERT: &str = "ely-convert";

/// The `--check` result line, pinned: unknown fields fail the test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckResult {
    input: String,
    compression: Option<String>,
    verified: bool,
    collections: Vec<CheckedCollection>,
    objects: u64,
    lines: u64,
    bad_lines: u64,
    bytes: u64,
    compressed_bytes: u64,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckedCollection {
    collection: Option<String>,
    objects: u64,
    verified: bool,
    /// `header and objects` (format version 2) or `objects` (version 1), when verified.
    #[serde(default)]
    proof: Option<String>,
}

/// The trailer line, pinned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrailerLine {
    ely: String,
    collection: Option<String>,
    objects: u64,
    hash: String,
    algorithm: String,
}

/// A dead-letter record, pinned.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadLetterRecord {
    ely: String,
    input: String,
    line: u64,
    reason: String,
    raw: Option<String>,
    raw_base64: Option<String>,
    bytes: Option<u64>,
}

fn sample(seed: u64, collections: &[(&str, usize)]) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut s = String::new();
    for (name, n) in collections {
        s.push_str(&section(name, &objects(&mut rng, name, *n, 8)));
    }
    s.into_bytes()
}

fn check(w: &Workdir, args: &[&str], stdin: &[u8]) -> (CheckResult, util::Run) {
    let mut all = vec!["--check"];
    all.extend_from_slice(args);
    let run = w.run(CONVERT, &all, stdin);
    let line = String::from_utf8(run.stdout().to_vec()).expect("utf8");
    let result: CheckResult = serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("check output {line:?}: {e}\n{}", run.stderr()));
    (result, run)
}

#[test]
fn round_trips_through_every_compression_byte_for_byte() {
    let w = Workdir::new();
    let input = sample(1, &[("Code", 300), ("Docs", 7)]);
    w.write("in.jsonl", &input);
    for (file, kind) in [
        ("a.jsonl.zst", "zstd"),
        ("a.jsonl.gz", "gzip"),
        ("a.jsonl.lz4", "lz4"),
        ("a.jsonl", "none"),
    ] {
        w.run(CONVERT, &["-i", "in.jsonl", "-o", file], b"").ok();
        let (r, _) = check(&w, &["-i", file], b"");
        assert_eq!(r.compression.as_deref(), Some(kind), "{file}");
        assert!(r.verified);
        assert_eq!(r.objects, 307);
        let back = w.run(CONVERT, &["-i", file], b"");
        back.ok();
        assert!(
            back.stdout() == input.as_slice(),
            "{file} did not come back byte for byte"
        );
    }
    // Through stdin and stdout, chained through all of them.
    let z = w.run(CONVERT, &["--compress", "zstd", "--level", "19"], &input);
    let g = w.run(
        CONVERT,
        &["--compress", "gzip", "--level", "1"],
        z.ok().stdout(),
    );
    let l = w.run(CONVERT, &["--compress", "lz4"], g.ok().stdout());
    let plain = w.run(CONVERT, &[], l.ok().stdout());
    assert!(plain.ok().stdout() == input.as_slice());
    // Multithreaded zstd writes the same data.
    let mt = w.run(CONVERT, &["--compress", "zstd", "--threads", "2"], &input);
    assert!(w.run(CONVERT, &[], mt.ok().stdout()).ok().stdout() == input.as_slice());
}

#[test]
fn compression_is_detected_from_content_not_name() {
    let w = Workdir::new();
    let input = sample(2, &[("Code", 50)]);
    w.write("in.jsonl", &input);
    // Each file's name claims another compression than it has.
    for (name, kind) in [
        ("zstd.gz", "zstd"),
        ("gzip.lz4", "gzip"),
        ("lz4.txt", "lz4"),
        ("plain.zst", "none"),
    ] {
        w.run(
            CONVERT,
            &["-i", "in.jsonl", "--compress", kind, "-o", name],
            b"",
        )
        .ok();
        let (r, _) = check(&w, &["-i", name], b"");
        assert_eq!(r.compression.as_deref(), Some(kind), "{name}");
        assert_eq!(r.objects, 50);
    }
    // xz and bzip2 are recognised and refused with a clear message.
    for (magic, what) in [(&b"\xFD7zXZ\0rest"[..], "xz"), (b"BZh91AY", "bzip2")] {
        let run = w.run(CONVERT, &[], magic);
        run.expect_code(2);
        run.expect_stderr(what);
    }
    // Parquet is read (tests/parquet.rs); what only starts like it is a damaged file.
    w.run(CONVERT, &[], b"PAR1\0\0")
        .expect_code(4)
        .expect_stderr("Parquet file");
}

#[test]
fn interoperates_with_the_standard_compression_tools() {
    let w = Workdir::new();
    let input = sample(3, &[("Code", 40)]);
    for (tool, compress_args, decompress_args, kind) in [
        ("zstd", &["-q", "-c"][..], &["-d", "-q", "-c"][..], "zstd"),
        ("gzip", &["-c"], &["-d", "-c"], "gzip"),
        ("lz4", &["-q", "-c"], &["-d", "-q", "-c"], "lz4"),
    ] {
        if !have_tool(tool) {
            continue;
        }
        let theirs = pipe_through(tool, compress_args, &input);
        assert!(
            w.run(CONVERT, &[], &theirs).ok().stdout() == input.as_slice(),
            "reading {tool} output"
        );
        let ours = w.run(CONVERT, &["--compress", kind], &input);
        assert!(
            pipe_through(tool, decompress_args, ours.ok().stdout()) == input,
            "{tool} reading ely output"
        );
        // Concatenated frames (cat a.zst b.zst) read as one stream.
        let mut two = theirs.clone();
        two.extend_from_slice(&theirs);
        let (r, _) = check(&w, &[], &two);
        assert_eq!(r.objects, 80, "{tool} concatenated");
        assert_eq!(r.collections.len(), 2);
    }
}

#[test]
fn truncation_at_any_offset_is_caught_in_every_compression() {
    let w = Workdir::new();
    let input = sample(4, &[("Code", 40)]);
    let mut rng = Rng(99);
    for kind in ["none", "zstd", "gzip", "lz4"] {
        let packed = w
            .run(CONVERT, &["--compress", kind], &input)
            .ok()
            .stdout()
            .to_vec();
        let mut cuts: Vec<usize> = (0..25)
            .map(|_| 1 + rng.below(packed.len() as u64 - 2) as usize)
            .collect();
        cuts.extend([1, packed.len() / 2, packed.len() - 2]);
        for cut in cuts {
            let run = w.run(CONVERT, &["-o", "out.jsonl"], &packed[..cut]);
            run.expect_code(4);
            assert!(
                run.stderr().contains("ely-convert: error:"),
                "{kind} cut at {cut}: {}",
                run.stderr()
            );
            assert_eq!(
                w.files(),
                Vec::<String>::new(),
                "{kind} cut at {cut} left a file"
            );
        }
    }
}

#[test]
fn missing_trailer_altered_count_and_altered_bytes_are_caught() {
    let w = Workdir::new();
    let mut rng = Rng(5);
    let lines = objects(&mut rng, "Code", 10, 4);
    let good = section("Code", &lines);

    let no_trailer: String = good.lines().take(11).map(|l| format!("{l}\n")).collect();
    let run = w.run(CONVERT, &[], no_trailer.as_bytes());
    run.expect_code(4);
    run.expect_stderr("without the trailer of collection \"Code\" (header at line 1)");

    let bad_count = good.replace("\"objects\":10,", "\"objects\":11,");
    let run = w.run(CONVERT, &[], bad_count.as_bytes());
    run.expect_code(4);
    run.expect_stderr("counts 11 objects, but 10 were read");

    // One object dropped: the count disagrees.
    let mut fewer: Vec<&str> = good.lines().collect();
    fewer.remove(5);
    let run = w.run(CONVERT, &[], (fewer.join("\n") + "\n").as_bytes());
    run.expect_code(4);

    // A changed character inside a string keeps the JSON valid; only the hash sees it.
    let flipped = good.replacen("\"n\":3,", "\"n\":4,", 1);
    assert_ne!(flipped, good);
    let run = w.run(CONVERT, &[], flipped.as_bytes());
    run.expect_code(4);
    run.expect_stderr("do not match the hash");

    // A header while a section is open: the first section lost its trailer.
    let two = format!(
        "{}{}",
        no_trailer,
        section("Docs", &objects(&mut rng, "Docs", 2, 4))
    );
    let run = w.run(CONVERT, &[], two.as_bytes());
    run.expect_code(4);
    run.expect_stderr("no trailer before the next header at line 12");

    // --no-verify reads them anyway, warns, and writes correct trailers.
    for input in [&no_trailer, &bad_count, &flipped] {
        let run = w.run(CONVERT, &["--no-verify"], input.as_bytes());
        run.ok();
        let (r, _) = check(&w, &[], run.stdout());
        assert!(
            r.verified,
            "output of --no-verify must carry correct trailers"
        );
    }
    let run = w.run(CONVERT, &["--no-verify"], no_trailer.as_bytes());
    run.expect_stderr("warning");
}

#[test]
fn each_kind_of_bad_line_is_named_with_its_line_number() {
    let w = Workdir::new();
    let mut rng = Rng(6);
    let good = objects(&mut rng, "Code", 3, 2);
    let id = rng.uuid();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"id\":\"\xff\xfe\"}".to_vec(), "invalid UTF-8"),
        (b"{\"id\": oops}".to_vec(), "invalid JSON"),
        (b"{\"id\":\"a\"} trailing".to_vec(), "invalid JSON"),
        (
            b"{\"class\":\"Code\",\"properties\":{}}".to_vec(),
            "no \"id\"",
        ),
        (b"{\"id\":\"not-a-uuid\"}".to_vec(), "not a UUID"),
        (b"[1,2,3]".to_vec(), "must be a JSON object"),
        (
            format!("{{\"id\":\"{id}\",\"n\":1\u{0}}}").into_bytes(),
            "control character 0x00",
        ),
        (
            format!("{{\"id\":\"{id}\",\"vector\":[1,\"x\"]}}").into_bytes(),
            "element 1 must be a number",
        ),
        (
            format!("{{\"id\":\"{id}\",\"vector\":[1e39]}}").into_bytes(),
            "float32 range",
        ),
        (
            format!("{{\"id\":\"{id}\",\"properties\":[1]}}").into_bytes(),
            "\"properties\" must be an object",
        ),
        (
            format!("{{\"id\":\"{id}\",\"vectors\":{{\"a\":\"x\"}}}}").into_bytes(),
            "\"vectors\".\"a\"",
        ),
        (b"{\"ely\":\"party\"}".to_vec(), "bad control line"),
        (
            trailer_line(Some("Other"), &[]).into_bytes(),
            "out of place",
        ),
    ];
    for (bad, want) in &cases {
        // Two good lines, a blank line, then the bad one: it is line 4.
        let mut input = format!("{}\n{}\n\n", good[0], good[1]).into_bytes();
        input.extend_from_slice(bad);
        input.extend_from_slice(format!("\n{}\n", good[2]).as_bytes());
        let run = w.run(CONVERT, &[], &input);
        run.expect_code(2);
        let err = run.stderr();
        assert!(
            err.starts_with("ely-convert: error: <stdin>: line 4: "),
            "{want}: {err}"
        );
        assert!(err.contains(want), "wanted {want:?} in: {err}");
        assert!(
            err.contains("--skip-bad"),
            "the message says what to do: {err}"
        );
    }
    // An object of another class inside a collection's section.
    let other = objects(&mut rng, "Other", 1, 2);
    let mixed = format!("{}\n{}\n{}\n", header_line("Code"), good[0], other[0]);
    let run = w.run(CONVERT, &[], mixed.as_bytes());
    run.expect_code(2);
    run.expect_stderr("line 3: object of class \"Other\"");
    // A trailer with nothing before it.
    let run = w.run(
        CONVERT,
        &[],
        format!("{}\n", trailer_line(None, &[])).as_bytes(),
    );
    run.expect_code(2);
    run.expect_stderr("line 1: trailer out of place");
}

#[test]
fn lines_over_the_limit_are_bad_lines_without_being_held_in_memory() {
    let w = Workdir::new();
    let mut rng = Rng(7);
    let good = objects(&mut rng, "Code", 2, 2);
    let huge = format!(
        "{{\"id\":\"{}\",\"properties\":{{\"x\":\"{}\"}}}}",
        rng.uuid(),
        "y".repeat(200_000)
    );
    let input = format!("{}\n{huge}\n{}\n", good[0], good[1]);
    let run = w.run(CONVERT, &["--max-line-bytes", "64K"], input.as_bytes());
    run.expect_code(2);
    run.expect_stderr("line 2: line is 200");
    run.expect_stderr("--max-line-bytes (65536)");
    // Under the default limit the same line is fine.
    let run = w.run(CONVERT, &[], input.as_bytes());
    run.ok();
    // Skipped, it is recorded with its length and first bytes.
    let run = w.run(
        CONVERT,
        &[
            "--max-line-bytes",
            "64K",
            "--skip-bad",
            "--dead-letter",
            "dl.jsonl",
            "--plain",
        ],
        input.as_bytes(),
    );
    run.expect_code(1);
    assert_eq!(
        run.stdout(),
        format!("{}\n{}\n", good[0], good[1]).as_bytes()
    );
    let rec: DeadLetterRecord = serde_json::from_slice(&w.read("dl.jsonl")).expect("record");
    assert_eq!((rec.line, rec.bytes), (2, Some(huge.len() as u64)));
    assert!(huge.starts_with(rec.raw.as_deref().expect("prefix")));
}

/// A producer's trailer counts every line it wrote as an object line, including lines ely
/// then refuses: skipping them must not make the input look corrupt (exit 1, not 4).
#[test]
fn skipped_lines_still_count_in_the_trailer_they_came_with() {
    let w = Workdir::new();
    let mut rng = Rng(17);
    let good = objects(&mut rng, "Code", 3, 2);
    let huge = |rng: &mut Rng, n: usize| {
        format!(
            "{{\"id\":\"{}\",\"properties\":{{\"x\":\"{}\"}}}}",
            rng.uuid(),
            "é".repeat(n)
        )
    };
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "a bad first line",
            vec![
                "{\"class\":\"Code\"}".into(),
                good[0].clone(),
                good[1].clone(),
            ],
            "\n",
        ),
        (
            "too-long first line",
            vec![huge(&mut rng, 300_000), good[0].clone()],
            "\n",
        ),
        (
            "too-long lines, CRLF",
            vec![
                good[0].clone(),
                huge(&mut rng, 3_000_000),
                good[1].clone(),
                huge(&mut rng, 70_000),
                good[2].clone(),
            ],
            "\r\n",
        ),
    ];
    let args = [
        "--max-line-bytes",
        "64K",
        "--skip-bad",
        "--dead-letter",
        "dl.jsonl",
        "--plain",
    ];
    for (what, lines, eol) in cases {
        for bom in [false, true] {
            let mut input = if bom {
                "\u{feff}".to_owned()
            } else {
                String::new()
            };
            for l in &lines {
                input.push_str(l);
                input.push_str(eol);
            }
            input.push_str(&trailer_line(None, &lines));
            input.push_str(eol);
            let run = w.run(CONVERT, &args, input.as_bytes());
            run.expect_code(1);
            let kept: Vec<&String> = lines.iter().filter(|l| good.contains(l)).collect();
            let out = String::from_utf8(run.stdout().to_vec()).unwrap();
            assert_eq!(out.lines().collect::<Vec<_>>(), kept, "{what}");
            // Change one kept byte and the same trailer catches it.
            let damaged = input.replacen("\"properties\":{\"n\":0", "\"properties\":{\"n\":9", 1);
            assert_ne!(damaged, input);
            let run = w.run(CONVERT, &args, damaged.as_bytes());
            run.expect_code(4);
        }
    }
}

#[test]
fn skip_bad_sets_exactly_the_bad_lines_aside() {
    let w = Workdir::new();
    let mut rng = Rng(8);
    let good = objects(&mut rng, "Code", 6, 3);
    let bad: Vec<Vec<u8>> = vec![
        b"{not json".to_vec(),
        b"{\"class\":\"Code\"}".to_vec(),
        b"\xc3\x28 broken utf8".to_vec(),
        b"{\"id\":\"x\"}".to_vec(),
    ];
    let mut input = Vec::new();
    let mut expected_good = String::new();
    let mut bad_numbers = Vec::new();
    let mut line = 0;
    for (i, g) in good.iter().enumerate() {
        line += 1;
        input.extend_from_slice(g.as_bytes());
        input.push(b'\n');
        expected_good.push_str(g);
        expected_good.push('\n');
        if let Some(b) = bad.get(i) {
            line += 1;
            input.extend_from_slice(b);
            input.push(b'\n');
            bad_numbers.push(line);
        }
    }
    let inp = w.write("in.jsonl", &input);
    let run = w.run(
        CONVERT,
        &["-i", inp.to_str().unwrap(), "--skip-bad", "-o", "out.jsonl"],
        b"",
    );
    run.expect_code(1);
    run.expect_stderr("4 bad line(s) set aside in");
    // Good lines all kept, in order, under a trailer that verifies.
    let out = String::from_utf8(w.read("out.jsonl")).unwrap();
    assert!(out.starts_with(&expected_good), "{out}");
    check(&w, &["-i", "out.jsonl"], b"")
        .0
        .verified
        .then_some(())
        .expect("output verifies");
    // The default dead-letter file sits beside the input and holds exactly the bad lines.
    let records: Vec<DeadLetterRecord> = String::from_utf8(w.read("in.jsonl.rejected.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    assert_eq!(records.len(), bad.len());
    for ((rec, want), number) in records.iter().zip(&bad).zip(&bad_numbers) {
        assert_eq!(rec.ely, "rejected");
        assert_eq!(rec.line, *number);
        assert!(rec.input.ends_with("in.jsonl"));
        assert!(!rec.reason.is_empty());
        let raw = match (&rec.raw, &rec.raw_base64) {
            (Some(s), None) => s.as_bytes().to_vec(),
            (None, Some(b)) => base64_decode(b),
            other => panic!("record must carry the line once: {other:?}"),
        };
        assert_eq!(&raw, want);
    }
    // Without bad lines nothing is written and the exit code is 0.
    let run = w.run(
        CONVERT,
        &["--skip-bad", "--dead-letter", "none.jsonl"],
        expected_good.as_bytes(),
    );
    run.ok();
    assert!(!w.path("none.jsonl").exists());
    // On stdin the dead-letter file must be named.
    let run = w.run(CONVERT, &["--skip-bad"], &input);
    run.expect_code(2);
    run.expect_stderr("needs --dead-letter");
}

fn base64_decode(s: &str) -> Vec<u8> {
    let abc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let vals: Vec<u32> = s
        .bytes()
        .filter(|&c| c != b'=')
        .map(|c| abc.iter().position(|&a| a == c).unwrap() as u32)
        .collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (v << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

#[test]
fn crlf_bom_and_blank_lines_are_tolerated_and_verify() {
    let w = Workdir::new();
    let input = String::from_utf8(sample(9, &[("Code", 5)])).unwrap();
    let mut crlf = "\u{feff}".to_string();
    crlf.push_str(&input.replace('\n', "\r\n\r\n"));
    let (r, run) = check(&w, &[], crlf.as_bytes());
    run.ok();
    assert!(r.verified);
    assert_eq!(r.objects, 5);
    // Output has plain line endings and the same trailer.
    assert!(w.run(CONVERT, &[], crlf.as_bytes()).ok().stdout() == input.as_bytes());
}

#[test]
fn plain_object_streams_are_valid_and_gain_a_trailer() {
    let w = Workdir::new();
    let mut rng = Rng(10);
    let lines = objects(&mut rng, "Code", 5, 3);
    let plain: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let (r, run) = check(&w, &[], plain.as_bytes());
    run.ok();
    assert!(!r.verified, "nothing to verify without a trailer");
    assert_eq!((r.objects, r.collections.len()), (5, 1));
    assert_eq!(r.collections[0].collection, None);

    let out = w.run(CONVERT, &[], plain.as_bytes());
    let text = String::from_utf8(out.ok().stdout().to_vec()).unwrap();
    let last = text.lines().last().unwrap();
    let t: TrailerLine = serde_json::from_str(last).unwrap();
    assert_eq!(
        (
            t.ely.as_str(),
            t.collection,
            t.objects,
            t.algorithm.as_str()
        ),
        ("trailer", None, 5, "xxh3-128")
    );
    assert_eq!(t.hash.len(), 32);
    assert!(check(&w, &[], text.as_bytes()).0.verified);
    // --plain writes the objects alone again.
    assert!(w.run(CONVERT, &["--plain"], text.as_bytes()).ok().stdout() == plain.as_bytes());
    // Plain objects followed by a full section (cat plain.jsonl backup.jsonl) read fine.
    let joined = format!(
        "{plain}{}",
        section("Docs", &objects(&mut rng, "Docs", 2, 3))
    );
    let (r, run) = check(&w, &[], joined.as_bytes());
    run.ok();
    assert_eq!(r.collections.len(), 2);
    assert_eq!(r.collections[1].collection.as_deref(), Some("Docs"));
}

#[test]
fn check_reports_every_collection() {
    let w = Workdir::new();
    let input = sample(11, &[("Code", 12), ("Docs", 0), ("Notes", 3)]);
    let (r, run) = check(&w, &[], &input);
    run.ok();
    assert!(run.stdout().ends_with(b"}\n"));
    assert_eq!(r.input, "<stdin>");
    assert!(r.verified && r.error.is_none());
    let got: Vec<(Option<&str>, u64, bool)> = r
        .collections
        .iter()
        .map(|c| (c.collection.as_deref(), c.objects, c.verified))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("Code"), 12, true),
            (Some("Docs"), 0, true),
            (Some("Notes"), 3, true)
        ]
    );
    assert_eq!((r.objects, r.lines, r.bad_lines), (15, 21, 0));
    assert_eq!(r.bytes, input.len() as u64);
    assert_eq!(r.compressed_bytes, input.len() as u64);
    // A failed check still prints its result line, with the error.
    let cut = &input[..input.len() - 50];
    let (r, run) = check(&w, &[], cut);
    run.expect_code(4);
    assert!(!r.verified);
    assert!(r.error.as_deref().unwrap_or("").contains("truncated"));
}

#[test]
fn normalize_keeps_every_vector_bit_and_every_other_value() {
    let w = Workdir::new();
    let mut rng = Rng(12);
    let mut input = String::new();
    let mut expected = Vec::new();
    for i in 0..300 {
        let dims = [0, 1, 3, 17, 64][rng.below(5) as usize];
        let v: Vec<f32> = (0..dims).map(|_| rng.f32()).collect();
        let named: Vec<f32> = (0..4).map(|_| rng.f32()).collect();
        let multi: Vec<Vec<f32>> = (0..2)
            .map(|_| (0..3).map(|_| rng.f32()).collect())
            .collect();
        // Vectors written the way other tools write them: float64 text with every digit
        // (Python's json.dumps of float32 values), spaces after separators.
        let f64_text = |v: &[f32]| {
            format!(
                "[{}]",
                v.iter()
                    .map(|x| format!("{:?}", f64::from(*x)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let huge = if i % 100 == 0 {
            "x".repeat(300_000)
        } else {
            String::new()
        };
        let props = serde_json::json!({
            "title": rng.text(30),
            "empty": "",
            "huge": huge,
            "big": 9007199254740993u64,
            "neg": -42,
            "list": [1.5, "two", null, {"deep": [true]}],
        });
        let line = format!(
            r#"{{ "class": "Code", "id": "{}", "properties": {}, "vector": {}, "vectors": {{ "named": {}, "multi": [ {}, {} ] }} }}"#,
            rng.uuid(),
            serde_json::to_string_pretty(&props)
                .unwrap()
                .replace('\n', " "),
            f64_text(&v),
            f64_text(&named),
            f64_text(&multi[0]),
            f64_text(&multi[1]),
        );
        input.push_str(&line);
        input.push('\n');
        expected.push((props, v, named, multi));
    }
    let once = w.run(CONVERT, &["--normalize", "--plain"], input.as_bytes());
    once.ok();
    let text = String::from_utf8(once.stdout().to_vec()).unwrap();
    assert_eq!(text.lines().count(), expected.len());
    for (line, (props, v, named, multi)) in text.lines().zip(&expected) {
        assert!(
            !line.contains(": ") && !line.contains(", "),
            "not compact: {}",
            &line[..200.min(line.len())]
        );
        let obj: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(&obj["properties"], props);
        assert_eq!(
            bits(&raw_array(line, "\"vector\":")),
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(
            bits(&raw_array(line, "\"named\":")),
            named.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let m = &obj["vectors"]["multi"];
        assert_eq!(m.as_array().unwrap().len(), 2);
        let _ = multi;
    }
    // The big integer is kept as written, not rounded through a float.
    assert!(text.contains("\"big\":9007199254740993"));
    // Normalizing again changes nothing.
    let twice = w.run(CONVERT, &["--normalize", "--plain"], once.stdout());
    assert!(twice.ok().stdout() == once.stdout());
    // And normalized lines are what ely's writers produce: shortest float32 text.
    let lines = objects(&mut rng, "Code", 20, 32);
    let ours: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert!(
        w.run(CONVERT, &["--normalize", "--plain"], ours.as_bytes())
            .ok()
            .stdout()
            == ours.as_bytes()
    );
}

/// The numbers of the JSON array that follows `key` in `line`, as float32 parsed directly
/// from their text (never through f64).
fn raw_array(line: &str, key: &str) -> Vec<f32> {
    let start = line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
    let end = start + line[start..].find(']').unwrap();
    let body = &line[start + 1..end];
    if body.is_empty() {
        return Vec::new();
    }
    body.split(',')
        .map(|t| t.parse::<f32>().unwrap_or_else(|_| panic!("{t:?}")))
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_closed_stdout_ends_the_run_quietly_with_success() {
    let w = Workdir::new();
    let big = sample(13, &[("Code", 20_000)]);
    w.write("big.jsonl", &big);
    let mut child = w
        .command(CONVERT)
        .args(["-i", "big.jsonl"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 1000];
    out.read_exact(&mut first).unwrap();
    drop(out); // like `| head -c 1000`
    let result = child.wait_with_output().unwrap();
    assert_eq!(
        result.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        result.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn an_interrupt_exits_130_and_leaves_no_output_file() {
    let w = Workdir::new();
    let data = sample(14, &[("Code", 2000)]);
    let mut child = w
        .command(CONVERT)
        .args(["-o", "out.jsonl.zst", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Half the stream, then wait until the temporary output exists; stdin stays open.
    stdin.write_all(&data[..data.len() / 2]).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !w.files().iter().any(|f| f.contains(".ely-tmp-")) {
        assert!(
            Instant::now() < deadline,
            "no temporary file appeared: {:?}",
            w.files()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let result = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(
        result.status.code(),
        Some(130),
        "stderr: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert_eq!(
        w.files(),
        Vec::<String>::new(),
        "an interrupted run left files behind"
    );
}

#[test]
fn a_failed_run_leaves_no_output_and_keeps_an_existing_file() {
    let w = Workdir::new();
    w.write("out.jsonl", b"previous contents\n");
    let input = sample(15, &[("Code", 10)]);
    let run = w.run(CONVERT, &["-o", "out.jsonl"], &input[..input.len() - 20]);
    run.expect_code(4);
    assert_eq!(w.read("out.jsonl"), b"previous contents\n");
    assert_eq!(w.files(), vec!["out.jsonl".to_string()]);
}

#[test]
fn usage_errors_exit_2_with_the_prefix_and_help_shows_examples() {
    let w = Workdir::new();
    for args in [
        &["--bogus"][..],
        &["--compress", "brotli"],
        &["--compress", "lz4", "--level", "3"],
        &["--compress", "zstd", "--level", "30"],
        &["--check", "-o", "x.jsonl"],
        &["--max-line-bytes", "12Q"],
        &["--dead-letter", "d.jsonl"],
    ] {
        let run = w.run(CONVERT, args, b"");
        run.expect_code(2);
        assert!(
            run.stderr().starts_with("ely-convert: error: "),
            "{args:?}: {}",
            run.stderr()
        );
    }
    let run = w.run(CONVERT, &["-i", "missing.jsonl"], b"");
    run.expect_code(2);
    run.expect_stderr("missing.jsonl");

    let help = w.run(CONVERT, &["--help"], b"");
    help.ok();
    let text = String::from_utf8_lossy(help.stdout());
    for want in [
        "Examples:",
        "ely-convert -i code.jsonl.zst",
        "Exit codes:",
        "130",
    ] {
        assert!(text.contains(want), "--help lacks {want:?}");
    }
}

#[test]
fn an_empty_input_is_an_empty_stream() {
    let w = Workdir::new();
    assert!(w.run(CONVERT, &[], b"").ok().stdout().is_empty());
    let (r, _) = check(&w, &[], b"");
    assert!(!r.verified);
    assert_eq!(r.objects, 0);
}

#[test]
fn the_example_in_docs_format_md_verifies() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let start = doc.find("```\n{\"ely\":\"header\"").expect("example block") + 4;
    let end = start + doc[start..].find("```").unwrap();
    let w = Workdir::new();
    let (r, run) = check(&w, &[], &doc.as_bytes()[start..end]);
    run.ok();
    assert!(r.verified, "the documented example must verify");
    assert_eq!(r.objects, 2);
    // The dead-letter example parses as a record.
    let rec = doc
        .lines()
        .find(|l| l.starts_with("{\"ely\":\"rejected\""))
        .expect("dead-letter example");
    let rec: DeadLetterRecord = serde_json::from_str(rec).unwrap();
    assert_eq!(rec.line, 4);
}

#[test]
fn many_too_long_lines_in_a_row_do_not_stall_the_reader() {
    let w = Workdir::new();
    let mut rng = Rng(16);
    let big = format!(
        "{{\"id\":\"{}\",\"p\":\"{}\"}}\n",
        rng.uuid(),
        "z".repeat(40_000)
    );
    let input = big.repeat(30);
    // Every line both over the limit and longer than what one read holds at the start of a chunk.
    let run = w.run(
        CONVERT,
        &[
            "--skip-bad",
            "--dead-letter",
            "d.jsonl",
            "--max-line-bytes",
            "16K",
        ],
        input.as_bytes(),
    );
    run.expect_code(1);
    assert_eq!(
        String::from_utf8(w.read("d.jsonl"))
            .unwrap()
            .lines()
            .count(),
        30
    );
}

#[test]
fn the_line_limit_applies_to_every_line_not_only_long_reads() {
    let w = Workdir::new();
    let mut rng = Rng(17);
    let lines: Vec<String> = (0..5)
        .map(|_| {
            format!(
                "{{\"id\":\"{}\",\"p\":\"{}\"}}",
                rng.uuid(),
                "q".repeat(3000)
            )
        })
        .collect();
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let run = w.run(CONVERT, &["--max-line-bytes", "1K"], input.as_bytes());
    run.expect_code(2);
    run.expect_stderr("line 1: line is 3");
}

#[test]
fn no_verify_warns_when_a_trailer_disagrees() {
    let w = Workdir::new();
    let mut rng = Rng(18);
    let good = section("Code", &objects(&mut rng, "Code", 5, 2));
    let mut fewer: Vec<&str> = good.lines().collect();
    fewer.remove(2);
    let run = w.run(
        CONVERT,
        &["--no-verify"],
        (fewer.join("\n") + "\n").as_bytes(),
    );
    run.ok();
    run.expect_stderr("warning").expect_stderr("does not match");
}

#[test]
fn check_into_a_closed_pipe_exits_quietly() {
    let w = Workdir::new();
    let mut child = w
        .command(CONVERT)
        .args(["--check"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the result line is written
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&sample(20, &[("Code", 50)])).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_counts_a_collections_objects_as_it_counts_them_all() {
    // A line over --max-line-bytes is not an object: neither the collection's count nor the
    // total counts it, whether the run stops there or sets it aside.
    let w = Workdir::new();
    let stream = sample(3, &[("Code", 5)]);
    w.write("in.jsonl", &stream);
    for extra in [&[][..], &["--skip-bad", "--dead-letter", "bad.jsonl"][..]] {
        let args = [
            &["--check", "-i", "in.jsonl", "--max-line-bytes", "200"][..],
            extra,
        ]
        .concat();
        let run = w.run(CONVERT, &args, b"");
        let line = run
            .stdout()
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        let r: CheckResult = serde_json::from_slice(line).expect("check result");
        let in_sections: u64 = r.collections.iter().map(|c| c.objects).sum();
        assert_eq!(in_sections, r.objects, "{}", String::from_utf8_lossy(line));
        assert_eq!(r.objects, 0);
    }
}

#[test]
fn the_header_is_covered_by_the_trailer_from_format_version_2() {
    let w = Workdir::new();
    // A stream of the current format, as ely writes it: a flipped bit in the header fails
    // the trailer's check, as one in an object line does.
    let header = format!(
        r#"{{"ely":"header","version":{},"collection":"Code","class":{{"class":"Code","vectorizer":"none","properties":[{{"name":"lines","dataType":["int"]}}]}}}}"#,
        ely_stream::FORMAT_VERSION
    );
    let mut rng = Rng(9);
    let lines = objects(&mut rng, "Code", 5, 4);
    let mut hash =
        ely_stream::SectionHash::for_header(ely_stream::FORMAT_VERSION, header.as_bytes());
    for l in &lines {
        hash.add(l.as_bytes());
    }
    let trailer = String::from_utf8(ely_stream::format::control_line(
        "trailer",
        &hash.trailer(Some("Code")),
    ))
    .unwrap();
    let stream = format!("{header}\n{}\n{trailer}\n", lines.join("\n"));
    let (ok, _) = check(&w, &[], stream.as_bytes());
    assert!(ok.verified);
    assert_eq!(
        ok.collections[0].proof.as_deref(),
        Some("header and objects")
    );
    let flipped = stream.replacen("\"int\"", "\"mnt\"", 1);
    assert_ne!(flipped, stream);
    let (bad, run) = check(&w, &[], flipped.as_bytes());
    run.expect_code(4)
        .expect_stderr("the header and object lines do not match the hash in the trailer");
    assert!(!bad.verified);
    // A version 1 stream still verifies, and says its proof covers the objects only.
    let old = sample(5, &[("Code", 3)]);
    let (v1, _) = check(&w, &[], &old);
    assert!(v1.verified);
    assert_eq!(v1.collections[0].proof.as_deref(), Some("objects"));
    // A header whose fields have the wrong types is a damaged header: exit 4.
    let text = String::from_utf8(old).unwrap();
    let wrong = text.replacen(
        "\"class\":{\"class\":\"Code\",\"vectorizer\":\"none\"}",
        "\"class\":5",
        1,
    );
    assert_ne!(wrong, text);
    let (_, run) = check(&w, &[], wrong.as_bytes());
    run.expect_code(4)
        .expect_stderr("bad header: \"class\" must be an object");
    // A header longer than --max-line-bytes is no damage: the limit is too small (exit 2).
    let (_, run) = check(&w, &["--max-line-bytes", "100"], stream.as_bytes());
    run.expect_code(2)
        .expect_stderr("line 1: a header line is ")
        .expect_stderr("give a larger --max-line-bytes");
}
