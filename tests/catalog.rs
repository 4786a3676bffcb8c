//! ely-catalog as users run it: manifests from real ely-backup runs, files added and scanned,
//! every filter, quick, deep and sampled verification of good and damaged files, retention
//! checked against an independent reading of restic's rules over two years of hourly
//! backups, concurrent adds, and backup plans run as cron runs them, with their alerts.

mod util;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;

use serde_json::Value;
use util::{objects, section, Rng, Workdir};

fn lines(out: &[u8]) -> Vec<Value> {
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

/// An embedded store `store.db` in `w` with collections Code (n objects) and Docs (n / 2).
fn store(w: &Workdir, n: usize) {
    let mut rng = Rng(7);
    let mut stream = section("Code", &objects(&mut rng, "Code", n, 4));
    stream.push_str(&section("Docs", &objects(&mut rng, "Docs", n / 2, 4)));
    w.run(
        "ely-restore",
        &["--store", "store.db", "--quiet"],
        stream.as_bytes(),
    )
    .ok();
}

/// Runs ely-catalog on the work folder's `cat.db`, in UTC (calendar buckets and ages do not
/// depend on the machine's zone).
fn catalog(w: &Workdir, args: &[&str], stdin: &[u8]) -> util::Run {
    let mut all = vec!["--catalog", "cat.db"];
    all.extend_from_slice(args);
    w.run_env("ely-catalog", &all, stdin, &[("TZ", "UTC")])
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["short_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn manifests_from_ely_backup_become_backups_and_adding_again_is_harmless() {
    let w = Workdir::new();
    store(&w, 40);
    std::fs::create_dir(w.path("b")).unwrap();
    let m = w.run(
        "ely-backup",
        &["--store", "store.db", "--all", "-o", "b/all.jsonl.zst"],
        b"",
    );
    m.ok();
    let added = catalog(
        &w,
        &["add", "--tag", "nightly", "--note", "first"],
        m.stdout(),
    );
    added.ok();
    let rec = lines(added.stdout());
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["ely"], "backup");
    assert_eq!(rec[0]["action"], "added");
    assert_eq!(rec[0]["objects"], 60);
    assert_eq!(rec[0]["format"], "jsonl");
    assert_eq!(rec[0]["compression"], "zstd");
    assert_eq!(rec[0]["tags"], serde_json::json!(["nightly"]));
    assert_eq!(rec[0]["short_id"].as_str().unwrap().len(), 8);
    let cols: Vec<(String, u64)> = rec[0]["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["objects"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(cols, vec![("Code".into(), 40), ("Docs".into(), 20)]);

    // The same manifest, and the file itself: the same backup, no second row.
    let again = catalog(&w, &["add"], m.stdout());
    again.ok();
    assert_eq!(lines(again.stdout())[0]["action"], "exists");
    let file = catalog(&w, &["add", "b/all.jsonl.zst", "--tag", "checked"], b"");
    file.ok();
    let rec2 = lines(file.stdout());
    assert_eq!(rec2[0]["action"], "exists");
    assert_eq!(rec2[0]["id"], rec[0]["id"]);
    assert_eq!(rec2[0]["tags"], serde_json::json!(["checked", "nightly"]));
    assert_eq!(rec2[0]["verified"]["mode"], "deep");
    let list = lines(catalog(&w, &["list"], b"").stdout());
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["status"], "ok");
    assert_eq!(list[0]["note"], "first");

    // Nothing on stdin (the backup before the pipe failed) is an error, not a quiet success.
    catalog(&w, &["add"], b"")
        .expect_code(2)
        .expect_stderr("no manifest line came on stdin");
    // A line that is not a manifest is rejected with its line number; the rest is added.
    std::fs::create_dir(w.path("c")).unwrap();
    let m2 = w.run(
        "ely-backup",
        &[
            "--store",
            "store.db",
            "--collection",
            "Docs",
            "-o",
            "c/docs.jsonl",
        ],
        b"",
    );
    let mut input = b"{\"not\":\"a manifest\"}\n".to_vec();
    input.extend_from_slice(m2.stdout());
    catalog(&w, &["add"], &input)
        .expect_code(1)
        .expect_stderr("<stdin> line 1: not a manifest line");
    assert_eq!(lines(catalog(&w, &["list"], b"").stdout()).len(), 2);

    // The file at a path overwritten by a newer backup replaces the old row.
    let m3 = w.run(
        "ely-backup",
        &[
            "--store",
            "store.db",
            "--collection",
            "Code",
            "-o",
            "c/docs.jsonl",
        ],
        b"",
    );
    let replaced = catalog(&w, &["add"], m3.stdout());
    replaced.ok();
    assert_eq!(lines(replaced.stdout())[0]["action"], "replaced");
    assert_eq!(lines(catalog(&w, &["list"], b"").stdout()).len(), 2);

    // Only 0600 for the catalog file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.path("cat.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn scan_finds_every_file_ely_wrote_in_any_form_and_skips_the_rest() {
    let w = Workdir::new();
    store(&w, 30);
    let d = w.path("d");
    std::fs::create_dir_all(d.join("deeper")).unwrap();
    for (out, extra) in [
        ("d/a.jsonl", Vec::<&str>::new()),
        ("d/b.jsonl.gz", vec![]),
        ("d/deeper/c.jsonl.lz4", vec![]),
        ("d/pq/", vec!["--format", "parquet", "--split-rows", "10"]),
    ] {
        let mut args = vec!["--store", "store.db", "--collection", "Code", "-o", out];
        args.extend(extra);
        w.run("ely-backup", &args, b"").ok();
    }
    std::fs::write(d.join("notes.txt"), "not a backup\n").unwrap();
    std::fs::write(d.join("data.json"), "{\"a\":1}\n").unwrap();
    let scanned = catalog(&w, &["add", "--scan", "d"], b"");
    scanned.ok();
    let rec = lines(scanned.stdout());
    let mut files: Vec<String> = rec
        .iter()
        .map(|r| {
            let f = r["file"].as_str().unwrap();
            f[f.find("/d/").unwrap() + 3..].to_owned()
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            "a.jsonl",
            "b.jsonl.gz",
            "deeper/c.jsonl.lz4",
            "pq/Code/part-00000.parquet",
            "pq/Code/part-00001.parquet",
            "pq/Code/part-00002.parquet"
        ],
        "{}",
        scanned.stderr()
    );
    let by_file: BTreeMap<String, &Value> = rec
        .iter()
        .map(|r| (r["file"].as_str().unwrap().to_owned(), r))
        .collect();
    for (f, r) in &by_file {
        if f.ends_with(".parquet") {
            assert_eq!(r["objects"], 10, "{f}");
            assert_eq!(r["format"], "parquet");
        } else {
            assert_eq!(r["objects"], 30, "{f}");
            assert_eq!(r["verified"]["ok"], true);
        }
    }
    // Every Parquet part verifies on its own.
    catalog(&w, &["verify", "--all", "--deep"], b"").ok();
    // The parts of the split backup (written last) share its start: stats add them up.
    let stats = lines(catalog(&w, &["stats"], b"").stdout());
    assert_eq!(stats[0]["objects"], 30, "{}", stats[0]);
    // A file named on the command line that is not ely's is an error, exit 1.
    catalog(&w, &["add", "d/notes.txt"], b"")
        .expect_code(1)
        .expect_stderr("not a file ely wrote");
}

/// Writes one empty file per time and its manifest: backups of `collection` from `source`
/// started at those times (seconds since the epoch).
fn history(w: &Workdir, dir: &str, collection: &str, source: &str, times: &[i64]) -> String {
    std::fs::create_dir_all(w.path(dir)).unwrap();
    let mut out = String::new();
    for (i, t) in times.iter().enumerate() {
        let file = w.path(&format!("{dir}/{collection}-{i:06}.jsonl"));
        std::fs::write(&file, b"").unwrap();
        let started = jiff::Timestamp::from_second(*t).unwrap().to_string();
        let m = serde_json::json!({
            "ely": "manifest", "file": file.display().to_string(), "format": "jsonl",
            "compression": "none", "collections": [{"name": collection, "objects": i, "tenants": 0}],
            "objects": i, "bytes": 0, "hash": "99aa06d3014798d86001c324468d497f", "algorithm": "xxh3-128",
            "schema_only": false, "filtered": false, "started": started, "finished": started,
            "source": source, "ely_version": "0.1.0"
        });
        out.push_str(&m.to_string());
        out.push('\n');
    }
    out
}

#[test]
fn every_filter_picks_what_it_says() {
    let w = Workdir::new();
    let day = 86_400;
    let base = 1_790_000_000; // 2026-09-21
    let code: Vec<i64> = (0..10).map(|i| base + i * day).collect();
    let docs: Vec<i64> = (0..5).map(|i| base + i * day + 3600).collect();
    let mut input = history(&w, "h", "Code", "http://a:8080", &code);
    catalog(&w, &["add", "--tag", "code"], input.as_bytes()).ok();
    input = history(&w, "h", "Docs", "http://b:8080", &docs);
    catalog(&w, &["add", "--tag", "docs"], input.as_bytes()).ok();

    let count = |args: &[&str]| {
        let mut all = vec!["list"];
        all.extend_from_slice(args);
        let r = catalog(&w, &all, b"");
        r.ok();
        lines(r.stdout())
    };
    assert_eq!(count(&[]).len(), 15);
    assert_eq!(count(&["--collection", "Code"]).len(), 10);
    assert_eq!(
        count(&["--collection", "Code", "--collection", "Docs"]).len(),
        15
    );
    assert_eq!(count(&["--source", "http://b:8080"]).len(), 5);
    assert_eq!(count(&["--tag", "docs"]).len(), 5);
    assert_eq!(count(&["--tag", "docs", "--tag", "code"]).len(), 0);
    let since = jiff::Timestamp::from_second(base + 5 * day)
        .unwrap()
        .to_string();
    assert_eq!(count(&["--collection", "Code", "--since", &since]).len(), 5);
    assert_eq!(count(&["--collection", "Code", "--until", &since]).len(), 5);
    let latest = count(&["--latest", "3"]);
    let want: Vec<String> = {
        let all = count(&[]);
        ids(&all[12..])
    };
    assert_eq!(
        ids(&latest),
        want,
        "--latest gives the newest, oldest first"
    );
    assert_eq!(count(&["--status", "unverified"]).len(), 15);
    // A file removed from disk shows as missing; nothing else changes.
    let first = &count(&["--collection", "Docs"])[0];
    std::fs::remove_file(first["file"].as_str().unwrap()).unwrap();
    let missing = count(&["--status", "missing"]);
    assert_eq!(ids(&missing), ids(std::slice::from_ref(first)));
    assert_eq!(count(&["--status", "missing", "--latest", "1"]).len(), 1);
    // search and show
    let found = lines(catalog(&w, &["search", "docs-000003"], b"").stdout());
    assert_eq!(found.len(), 1);
    assert_eq!(
        lines(catalog(&w, &["search", "nightly"], b"").stdout()).len(),
        0
    );
    assert_eq!(
        lines(catalog(&w, &["search", "b:8080"], b"").stdout()).len(),
        5
    );
    let id = first["short_id"].as_str().unwrap();
    let shown = lines(catalog(&w, &["show", &id[..5]], b"").stdout());
    assert_eq!(shown[0]["id"], first["id"]);
    assert_eq!(shown[0]["status"], "missing");
    catalog(&w, &["show", "zz"], b"")
        .expect_code(2)
        .expect_stderr("not a backup id");
    catalog(&w, &["show", "0000"], b"").expect_code(2);
    // stats: one line per collection.
    let stats = lines(catalog(&w, &["stats"], b"").stdout());
    assert_eq!(stats.len(), 2);
    assert_eq!(stats[0]["collection"], "Code");
    assert_eq!(stats[0]["backups"], 10);
    assert_eq!(stats[0]["objects"], 9);
    assert_eq!(stats[0]["growth_30d"], 9);
    // --since accepts a date and an age too; garbage is a usage error.
    // Base is 2026-09-21T14:13:20Z; from 2026-09-25 (midnight, UTC here) on: Code's days 4..9
    // and Docs' day 4 (one hour after Code's).
    assert_eq!(count(&["--since", "2026-09-25"]).len(), 7);
    // Every backup here is months older than 7 days, but not than 100 years.
    assert_eq!(count(&["--since", "7d"]).len(), 0);
    assert_eq!(count(&["--until", "100y"]).len(), 0);
    assert_eq!(count(&["--since", "100y"]).len(), 15);
    catalog(&w, &["list", "--since", "yesterday"], b"")
        .expect_code(2)
        .expect_stderr("not a time");
}

/// A catalog with one good backup of each format, as files ely-backup wrote.
fn three_backups(w: &Workdir) -> Vec<Value> {
    store(w, 50);
    std::fs::create_dir(w.path("v")).unwrap();
    let mut manifests = Vec::new();
    for (out, extra) in [
        ("v/a.jsonl.zst", Vec::<&str>::new()),
        ("v/b.jsonl", vec![]),
        ("v/c.parquet", vec![]),
    ] {
        let mut args = vec!["--store", "store.db", "--collection", "Code", "-o", out];
        args.extend(extra);
        let r = w.run("ely-backup", &args, b"");
        r.ok();
        manifests.extend_from_slice(r.stdout());
    }
    let added = catalog(w, &["add"], &manifests);
    added.ok();
    lines(added.stdout())
}

#[test]
fn quick_deep_and_sampled_verification_of_good_truncated_corrupt_and_missing_files() {
    let w = Workdir::new();
    let backups = three_backups(&w);
    assert_eq!(backups.len(), 3);
    let v = catalog(&w, &["verify", "--all"], b"");
    v.ok();
    let got = lines(v.stdout());
    assert!(got.iter().all(|r| r["ok"] == true && r["mode"] == "quick"));
    let v = catalog(&w, &["verify", "--all", "--deep"], b"");
    v.ok();
    assert!(lines(v.stdout()).iter().all(|r| r["mode"] == "deep"));
    // list shows the last verification.
    let list = lines(catalog(&w, &["list"], b"").stdout());
    assert!(list
        .iter()
        .all(|r| r["verified"]["mode"] == "deep" && r["status"] == "ok"));

    // A sample deep-checks its share, exactly.
    let v = catalog(&w, &["verify", "--all", "--sample", "34"], b"");
    v.ok();
    let modes: Vec<String> = lines(v.stdout())
        .iter()
        .map(|r| r["mode"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        modes.iter().filter(|m| *m == "deep").count(),
        2,
        "{modes:?}"
    );

    // Damage: one truncated, one with a byte changed (same size), one gone.
    let file = |i: usize| backups[i]["file"].as_str().unwrap().to_owned();
    let a = std::fs::read(file(0)).unwrap();
    std::fs::write(file(0), &a[..a.len() / 2]).unwrap();
    let mut b = std::fs::read(file(1)).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0x20;
    std::fs::write(file(1), &b).unwrap();
    std::fs::remove_file(file(2)).unwrap();
    let v = catalog(&w, &["verify", "--all"], b"");
    v.expect_code(4);
    for b in &backups {
        v.expect_stderr(b["short_id"].as_str().unwrap());
    }
    v.expect_stderr("3 of 3 backups failed verification");
    let errors: Vec<String> = lines(v.stdout())
        .iter()
        .map(|r| r["error"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        errors[0].contains("bytes; the catalog recorded"),
        "{errors:?}"
    );
    assert!(errors[1].contains("its bytes changed"), "{errors:?}");
    assert!(errors[2].contains("missing"), "{errors:?}");
    let list = lines(catalog(&w, &["list"], b"").stdout());
    let status: Vec<&str> = list.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(status, vec!["failed", "failed", "missing"]);
    // One backup by id: exit 4 names it; the others are not touched.
    catalog(&w, &["verify", &file_id(&backups[1])], b"")
        .expect_code(4)
        .expect_stderr(backups[1]["short_id"].as_str().unwrap());
}

fn file_id(r: &Value) -> String {
    r["short_id"].as_str().unwrap().to_owned()
}

#[test]
fn deep_verification_finds_damage_a_quick_one_cannot() {
    // A stream cut short whose manifest describes the cut file exactly: size and hash match,
    // only reading it shows the trailer is missing.
    let w = Workdir::new();
    let mut rng = Rng(3);
    let full = section("Code", &objects(&mut rng, "Code", 20, 4));
    let cut = &full.as_bytes()[..full.len() - 200];
    let path = w.write("cut.jsonl", cut);
    let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(cut));
    let m = serde_json::json!({
        "ely": "manifest", "file": path.display().to_string(), "format": "jsonl",
        "compression": "none", "collections": [{"name": "Code", "objects": 20, "tenants": 0}],
        "objects": 20, "bytes": cut.len(), "hash": hash, "algorithm": "xxh3-128",
        "schema_only": false, "filtered": false, "started": "2026-11-27T02:00:00Z",
        "finished": "2026-11-27T02:00:01Z", "source": "x", "ely_version": "0.1.0"
    });
    let added = catalog(&w, &["add"], format!("{m}\n").as_bytes());
    added.ok();
    let id = file_id(&lines(added.stdout())[0]);
    catalog(&w, &["verify", &id], b"").ok();
    let deep = catalog(&w, &["verify", "--deep", &id], b"");
    deep.expect_code(4);
    let r = &lines(deep.stdout())[0];
    assert!(r["error"].as_str().unwrap().contains("truncated"), "{r}");
}

/// restic's rules read independently: for each count rule, the newest unit of each of the
/// first N distinct calendar buckets (newest first), plus the oldest unit when fewer than
/// N buckets exist; `within` from the newest unit; pinned backups set aside and kept.
/// A calendar bucket of a time, as text.
type Bucketer<'a> = &'a dyn Fn(&jiff::Zoned) -> String;

fn expected_keep(
    units: &[(i64, Vec<String>)],
    rules: &[(usize, Bucketer<'_>)],
    last: usize,
    within_s: Option<i64>,
    tz: &jiff::tz::TimeZone,
) -> BTreeSet<String> {
    // units sorted newest first
    let mut keep = BTreeSet::new();
    let mut keep_unit = |u: &(i64, Vec<String>)| keep.extend(u.1.iter().cloned());
    for u in units.iter().take(last) {
        keep_unit(u);
    }
    if let (Some(w), Some(newest)) = (within_s, units.first()) {
        for u in units.iter().filter(|u| u.0 > newest.0 - w) {
            keep_unit(u);
        }
    }
    for (n, bucket) in rules {
        let mut seen: Vec<String> = Vec::new();
        for u in units {
            let z = jiff::Timestamp::from_second(u.0)
                .unwrap()
                .to_zoned(tz.clone());
            let b = bucket(&z);
            if !seen.contains(&b) {
                seen.push(b);
                if seen.len() <= *n {
                    keep_unit(u);
                }
            }
        }
        if seen.len() < *n {
            if let Some(oldest) = units.last() {
                keep_unit(oldest);
            }
        }
    }
    keep
}

#[test]
fn retention_over_two_years_of_hourly_backups_matches_an_independent_reading_of_the_rules() {
    let w = Workdir::new();
    let hour = 3600;
    let newest = 1_795_478_400; // 2026-11-24T00:00:00Z
    let mut times: Vec<i64> = (0..2 * 365 * 24).map(|i| newest - i * hour).collect();
    // Gaps (no backups for some days) and ties (two backups at one moment).
    times.retain(|t| !(newest - 40 * 86_400..newest - 30 * 86_400).contains(t));
    let ties: Vec<i64> = vec![times[5], times[100], times[5000]];
    times.extend(&ties);
    let input = history(&w, "h", "Code", "http://a:8080", &times);
    catalog(&w, &["add"], input.as_bytes()).ok();
    let all = lines(catalog(&w, &["list"], b"").stdout());
    assert_eq!(all.len(), times.len());
    // Pin a few, among them a tie's partner and the very oldest.
    let mut rng = Rng(11);
    let mut pinned: BTreeSet<String> = BTreeSet::new();
    for _ in 0..6 {
        let r = &all[rng.below(all.len() as u64) as usize];
        pinned.insert(file_id(r));
    }
    pinned.insert(file_id(&all[0]));
    let pin_args: Vec<&str> = std::iter::once("pin")
        .chain(pinned.iter().map(String::as_str))
        .collect();
    catalog(&w, &pin_args, b"").ok();

    // Units: unpinned backups by start time, newest first.
    let mut by_time: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in &all {
        let id = file_id(r);
        if pinned.contains(&id) {
            continue;
        }
        let t: jiff::Timestamp = r["started"].as_str().unwrap().parse().unwrap();
        by_time.entry(t.as_second()).or_default().push(id);
    }
    let units: Vec<(i64, Vec<String>)> = by_time.into_iter().rev().collect();
    assert!(
        units.iter().any(|u| u.1.len() == 2),
        "ties are in the history"
    );

    let hourly = |z: &jiff::Zoned| z.strftime("%Y-%m-%d %H").to_string();
    let daily = |z: &jiff::Zoned| z.strftime("%Y-%m-%d").to_string();
    let weekly = |z: &jiff::Zoned| {
        let w = z.date().iso_week_date();
        format!("{}-{}", w.year(), w.week())
    };
    let monthly = |z: &jiff::Zoned| z.strftime("%Y-%m").to_string();
    let yearly = |z: &jiff::Zoned| z.strftime("%Y").to_string();
    for tz_name in ["UTC", "America/New_York"] {
        let tz = jiff::tz::TimeZone::get(tz_name).unwrap();
        for (args, rules, last, within) in [
            (
                vec![
                    "--keep-daily",
                    "7",
                    "--keep-weekly",
                    "4",
                    "--keep-monthly",
                    "12",
                ],
                vec![
                    (7, &daily as &dyn Fn(&jiff::Zoned) -> String),
                    (4, &weekly),
                    (12, &monthly),
                ],
                0,
                None,
            ),
            (
                vec![
                    "--keep-last",
                    "5",
                    "--keep-hourly",
                    "30",
                    "--keep-yearly",
                    "5",
                ],
                vec![
                    (30, &hourly as &dyn Fn(&jiff::Zoned) -> String),
                    (5, &yearly),
                ],
                5,
                None,
            ),
            (
                vec!["--keep-within", "3d", "--keep-monthly", "30"],
                vec![(30, &monthly as Bucketer<'_>)],
                0,
                Some(3 * 86_400),
            ),
        ] {
            let mut cmd_args = vec!["cleanup", "--dry-run"];
            cmd_args.extend(args.iter().copied());
            let mut cmd = w.command("ely-catalog");
            cmd.args(["--catalog", "cat.db"])
                .args(&cmd_args)
                .env("TZ", tz_name);
            let out = cmd.output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let verdicts = lines(&out.stdout);
            assert_eq!(verdicts.len(), all.len());
            let kept: BTreeSet<String> = verdicts
                .iter()
                .filter(|v| v["action"] == "keep")
                .map(file_id)
                .collect();
            let mut want = expected_keep(&units, &rules, last, within, &tz);
            want.extend(pinned.iter().cloned());
            let extra: Vec<_> = kept.difference(&want).collect();
            let lacking: Vec<_> = want.difference(&kept).collect();
            assert!(
                extra.is_empty() && lacking.is_empty(),
                "TZ={tz_name} {args:?}: kept but not expected {extra:?}, expected but not kept {lacking:?}"
            );
            // Every verdict says why.
            for v in &verdicts {
                let reasons = v["reasons"].as_array().unwrap();
                assert!(!reasons.is_empty());
                if pinned.contains(&file_id(v)) {
                    assert_eq!(reasons[0], "pinned");
                }
            }
            if args[0] == "--keep-daily" {
                assert!(verdicts.iter().any(|v| v["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r.as_str().unwrap().starts_with("daily 2026-11-2"))));
            }
        }
    }
    // The dry runs changed nothing: every file is there and every row too.
    let after = lines(catalog(&w, &["list"], b"").stdout());
    assert_eq!(after.len(), all.len());
    assert!(after
        .iter()
        .all(|r| Path::new(r["file"].as_str().unwrap()).exists()));
}

#[test]
fn cleanup_removes_files_then_rows_and_pins_forget_and_older_than_behave() {
    let w = Workdir::new();
    let day = 86_400;
    let now = jiff::Timestamp::now().as_second();
    let times: Vec<i64> = (0..10).map(|i| now - i * day - 60).collect();
    let input = history(&w, "h", "Code", "s", &times);
    catalog(&w, &["add"], input.as_bytes()).ok();
    let all = lines(catalog(&w, &["list"], b"").stdout());
    // all[0] is the oldest (9 days); pin it, forget the second oldest.
    catalog(&w, &["pin", &file_id(&all[0])], b"").ok();
    catalog(&w, &["forget", &file_id(&all[1])], b"").ok();
    assert!(
        Path::new(all[1]["file"].as_str().unwrap()).exists(),
        "forget keeps the file"
    );
    let dry = catalog(&w, &["cleanup", "--older-than", "5d", "--dry-run"], b"");
    dry.ok();
    let verdicts = lines(dry.stdout());
    let removing: Vec<&Value> = verdicts
        .iter()
        .filter(|v| v["action"] == "remove")
        .collect();
    assert_eq!(
        removing.len(),
        3,
        "days 6, 7 and 8 (9 is pinned, 8's twin forgotten)"
    );
    assert!(removing.iter().all(|v| v["reasons"][0] == "older than 5d"));
    let run = catalog(&w, &["cleanup", "--older-than", "5d"], b"");
    run.ok();
    let left = lines(catalog(&w, &["list"], b"").stdout());
    assert_eq!(left.len(), 6);
    // stats follow removals and forgets.
    let stats = lines(catalog(&w, &["stats"], b"").stdout());
    assert_eq!(stats[0]["backups"], 6);
    assert_eq!(
        stats[0]["oldest"],
        left[0]["started"].as_str().unwrap().replace(".000", "")
    );
    for v in &removing {
        assert!(!Path::new(v["file"].as_str().unwrap()).exists());
    }
    assert!(
        Path::new(all[0]["file"].as_str().unwrap()).exists(),
        "pinned"
    );
    // Unpinned, it goes.
    catalog(&w, &["unpin", &file_id(&all[0])], b"").ok();
    catalog(&w, &["cleanup", "--older-than", "5d"], b"").ok();
    assert!(!Path::new(all[0]["file"].as_str().unwrap()).exists());
    // No rule is a usage error, not "remove everything".
    catalog(&w, &["cleanup"], b"")
        .expect_code(2)
        .expect_stderr("no retention rule");
    // Unknown ids change nothing.
    catalog(&w, &["pin", &file_id(&left[0]), "abcdef"], b"").expect_code(2);
    assert_eq!(
        lines(catalog(&w, &["list"], b"").stdout())[0]["pinned"],
        false
    );
}

#[test]
fn a_crash_between_marking_and_deleting_is_finished_by_the_next_cleanup() {
    let w = Workdir::new();
    let now = jiff::Timestamp::now().as_second();
    let times: Vec<i64> = (0..4).map(|i| now - i * 86_400 - 60).collect();
    let input = history(&w, "h", "Code", "s", &times);
    catalog(&w, &["add"], input.as_bytes()).ok();
    let all = lines(catalog(&w, &["list"], b"").stdout());
    // What a cleanup killed after marking leaves: a marked row, its file still there.
    let conn = rusqlite::Connection::open(w.path("cat.db")).unwrap();
    conn.execute(
        "UPDATE backups SET removing = 1 WHERE id = ?1",
        [all[0]["id"].as_str().unwrap()],
    )
    .unwrap();
    drop(conn);
    let listed = lines(catalog(&w, &["list", "--status", "removing"], b"").stdout());
    assert_eq!(listed.len(), 1);
    // The next cleanup (keeping everything else) finishes it.
    catalog(&w, &["cleanup", "--keep-last", "10"], b"").ok();
    assert!(!Path::new(all[0]["file"].as_str().unwrap()).exists());
    assert_eq!(lines(catalog(&w, &["list"], b"").stdout()).len(), 3);
}

#[test]
fn concurrent_adds_all_land() {
    let w = Workdir::new();
    let now = jiff::Timestamp::now().as_second();
    let times: Vec<i64> = (0..24).map(|i| now - i * 3600).collect();
    let input = history(&w, "h", "Code", "s", &times);
    let manifests: Vec<&str> = input.lines().collect();
    // Eight processes at once, three manifests each, and every one also adds the first
    // manifest (the same backup eight times).
    let children: Vec<std::process::Child> = (0..8)
        .map(|p| {
            let mut cmd = w.command("ely-catalog");
            cmd.args(["--catalog", "cat.db", "add"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            let mut text = format!("{}\n", manifests[0]);
            for m in &manifests[p * 3..p * 3 + 3] {
                text.push_str(m);
                text.push('\n');
            }
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            child
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all = lines(catalog(&w, &["list"], b"").stdout());
    assert_eq!(all.len(), 24);
}

/// A local HTTP listener that answers the first `fail_first` requests with 500 and the rest
/// with 200, and hands each body it received to the test.
fn webhook(fail_first: usize) -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/T0/SECRET-TOKEN",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut n = 0;
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            n += 1;
            let status = if n <= fail_first {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            if n > fail_first {
                let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            }
        }
    });
    (url, rx)
}

#[test]
fn a_plan_runs_backs_up_verifies_keeps_and_alerts_on_failure_and_recovery() {
    let w = Workdir::new();
    store(&w, 20);
    let crontab = w.write(
        "crontab",
        b"MAILTO=ops@example.com\n# my own job\n5 4 * * * /usr/bin/true\n",
    );
    let before = std::fs::read(&crontab).unwrap();
    let (url, alerts) = webhook(1);
    // A plan against a store that refuses connections.
    let add = catalog(
        &w,
        &[
            "schedule",
            "add",
            "nightly",
            "--collection",
            "Code",
            "--store",
            "http://127.0.0.1:9",
            "--every",
            "1d",
            "--to",
            "backups",
            "--keep-last",
            "2",
            "--alert-webhook",
            &url,
            "--crontab-file",
            "crontab",
        ],
        b"",
    );
    add.ok();
    let text = String::from_utf8(std::fs::read(&crontab).unwrap()).unwrap();
    assert!(
        text.starts_with("MAILTO=ops@example.com\n# my own job\n5 4 * * * /usr/bin/true\n"),
        "{text}"
    );
    assert!(
        text.contains("# BEGIN ely\n") && text.contains("# END ely"),
        "{text}"
    );
    assert!(text.contains("0 0 * * * "), "{text}");
    let key = format!(
        "# ely: ely-catalog schedule nightly ({})\n",
        w.path("cat.db").display()
    );
    assert!(text.contains(&key), "{text}");
    assert!(text.contains("'run' 'nightly' >> "), "{text}");
    assert!(
        !text.contains("SECRET-TOKEN"),
        "the webhook is not in the crontab"
    );

    let failed = catalog(&w, &["schedule", "run", "nightly"], b"");
    failed.expect_code(3);
    failed.expect_stderr("plan nightly");
    assert!(
        !failed.stderr().contains("SECRET-TOKEN"),
        "{}",
        failed.stderr()
    );
    let alert = alerts
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a failure alert");
    assert_eq!(alert["event"], "failed");
    assert_eq!(alert["plan"], "nightly");
    assert_eq!(alert["run"]["ok"], false);
    assert_eq!(alert["run"]["exit_code"], 3);
    assert!(
        alert["run"]["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{alert}"
    );
    let runs = lines(catalog(&w, &["schedule", "runs", "nightly"], b"").stdout());
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["ok"], false);
    assert!(
        runs[0]["alert"].as_str().unwrap().contains("sent"),
        "{}",
        runs[0]
    );

    // The store fixed: the plan replaced with the embedded store; the next runs succeed, the
    // first of them with a recovery alert, and retention keeps the plan's last two.
    catalog(
        &w,
        &[
            "schedule",
            "add",
            "nightly",
            "--replace",
            "--collection",
            "Code",
            "--store",
            "store.db",
            "--every",
            "0 2 * * *",
            "--to",
            "backups",
            "--keep-last",
            "2",
            "--alert-webhook",
            &url,
            "--crontab-file",
            "crontab",
        ],
        b"",
    )
    .ok();
    let text = String::from_utf8(std::fs::read(&crontab).unwrap()).unwrap();
    assert!(
        text.contains("0 2 * * * ") && !text.contains("0 0 * * * "),
        "{text}"
    );
    // The entry's command runs as cron runs it: by sh, with cron's bare environment, its
    // output going to the plan's log.
    let line = text.lines().find(|l| l.starts_with("0 2 * * * ")).unwrap();
    let command = line["0 2 * * * ".len()..].replace("\\%", "%");
    let status = std::process::Command::new("sh")
        .args(["-c", &command])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", w.path("home"))
        .env("SHELL", "/bin/sh")
        .current_dir("/")
        .status()
        .unwrap();
    assert!(status.success());
    let log = std::fs::read_to_string(w.path("logs/cat-nightly.log")).unwrap();
    // stdout's run record and stderr's messages, as cron leaves them.
    let record = log
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a run record");
    let run: Value = serde_json::from_str(record).unwrap();
    assert_eq!(run["ok"], true, "{log}");
    assert!(
        log.contains("ely-catalog: recovered alert sent to http://127.0.0.1:"),
        "{log}"
    );
    assert!(!log.contains("SECRET"), "{log}");
    assert_eq!(
        alerts
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("a recovery alert")["event"],
        "recovered"
    );
    assert_eq!(text.matches("'run' 'nightly'").count(), 1);
    let mut written = Vec::new();
    for _ in 0..2 {
        let ok = catalog(&w, &["schedule", "run", "nightly"], b"");
        ok.ok();
        let run = &lines(ok.stdout())[0];
        assert_eq!(run["ok"], true);
        written.push(run["backups"][0].as_str().unwrap().to_owned());
    }
    assert!(
        alerts.try_recv().is_err(),
        "no alert for a success after a success"
    );
    let list = lines(catalog(&w, &["list", "--plan", "nightly"], b"").stdout());
    assert_eq!(
        ids(&list),
        written,
        "the run by cron went, the last two stay"
    );
    assert!(list
        .iter()
        .all(|b| b["verified"]["mode"] == "quick" && b["status"] == "ok"));
    let files: Vec<_> = std::fs::read_dir(w.path("backups")).unwrap().collect();
    assert_eq!(files.len(), 2, "retention removed the oldest file");
    let stats = lines(catalog(&w, &["stats"], b"").stdout());
    assert_eq!(stats[0]["scheduled_runs"], 4);
    assert_eq!(stats[0]["success_rate"], 0.75);
    let plans = lines(catalog(&w, &["schedule", "list"], b"").stdout());
    assert_eq!(plans[0]["name"], "nightly");
    assert!(!plans[0].to_string().contains("SECRET-TOKEN"));
    assert!(
        plans[0]["next_run"].as_str().unwrap().contains("T"),
        "{}",
        plans[0]
    );

    // Removed: the crontab is as it was, byte for byte.
    catalog(&w, &["schedule", "remove", "nightly"], b"").ok();
    assert_eq!(std::fs::read(&crontab).unwrap(), before);
    assert!(lines(catalog(&w, &["schedule", "list"], b"").stdout()).is_empty());
    assert_eq!(
        lines(catalog(&w, &["list"], b"").stdout()).len(),
        2,
        "backups stay"
    );
}

#[test]
fn an_overlapping_run_stops_and_bad_plans_change_nothing() {
    let w = Workdir::new();
    store(&w, 5);
    catalog(
        &w,
        &[
            "schedule",
            "add",
            "p1",
            "--collection",
            "Code",
            "--store",
            "store.db",
            "--every",
            "30m",
            "--to",
            "out",
            "--crontab-file",
            "crontab",
        ],
        b"",
    )
    .ok();
    // Hold the plan's lock as a running run does.
    let lock = w.path("locks/cat-p1.lock");
    let held = ely_schedule::RunLock::try_acquire(&lock)
        .unwrap()
        .expect("lock");
    catalog(&w, &["schedule", "run", "p1"], b"")
        .expect_code(3)
        .expect_stderr("is still going");
    drop(held);
    catalog(&w, &["schedule", "run", "p1"], b"").ok();

    for (args, msg) in [
        (vec!["--every", "45m"], "--every"),
        (vec!["--every", "61 * * * *"], "--every"),
        (vec!["--format", "csv"], "--format"),
        (vec!["--alert-webhook", "ftp://x"], "--alert-webhook"),
        (vec!["--store", "http://user:pw@h:8080"], "no credentials"),
        (vec!["--store", "nowhere.db"], "no embedded store there"),
        (vec!["--collection", "Nope"], "no such collection"),
    ] {
        let mut all = vec![
            "schedule",
            "add",
            "p2",
            "--collection",
            "Code",
            "--to",
            "out",
            "--crontab-file",
            "crontab",
        ];
        if !args.contains(&"--every") {
            all.extend(["--every", "1h"]);
        }
        if !args.contains(&"--store") {
            all.extend(["--store", "store.db"]);
        }
        all.extend(args.iter().copied());
        let r = catalog(&w, &all, b"");
        r.expect_code(2).expect_stderr(msg);
        assert!(!r.stderr().contains("pw@"), "{}", r.stderr());
    }
    catalog(
        &w,
        &[
            "schedule",
            "add",
            "p1",
            "--collection",
            "Code",
            "--store",
            "store.db",
            "--every",
            "1h",
            "--to",
            "out",
            "--crontab-file",
            "crontab",
        ],
        b"",
    )
    .expect_code(2)
    .expect_stderr("exists already");
    let plans = lines(catalog(&w, &["schedule", "list"], b"").stdout());
    assert_eq!(plans.len(), 1);
    let text = std::fs::read_to_string(w.path("crontab")).unwrap();
    assert_eq!(text.matches("# ely: ").count(), 1, "{text}");
}

#[test]
fn relative_manifest_paths_are_kept_whole_and_a_bad_line_stops_nothing() {
    let w = Workdir::new();
    let now = jiff::Timestamp::now().as_second();
    let input = history(&w, "h", "Code", "s", &[now - 7200, now - 3600, now - 60]);
    let mut manifests: Vec<String> = input.lines().map(str::to_owned).collect();
    // The first as ely-backup run in this folder with a relative -o would say it.
    let abs = w.path("h").display().to_string();
    manifests[0] = manifests[0].replace(&abs, "h");
    assert!(manifests[0].contains("\"file\":\"h/"));
    // The second with a start time that is no time.
    let started = manifests[1].split("\"started\":\"").nth(1).unwrap();
    let started = &started[..started.find('"').unwrap()];
    manifests[1] = manifests[1].replace(started, "yesterday");
    let added = catalog(&w, &["add"], (manifests.join("\n") + "\n").as_bytes());
    added.expect_code(1).expect_stderr("<stdin> line 2");
    let rec = lines(added.stdout());
    assert_eq!(
        rec.len(),
        2,
        "the lines before and after the bad one are added"
    );
    assert_eq!(
        rec[0]["file"],
        w.path("h/Code-000000.jsonl").display().to_string()
    );
    // The same file by its absolute path is the same backup.
    let again = catalog(
        &w,
        &["add"],
        (input.lines().next().unwrap().to_owned() + "\n").as_bytes(),
    );
    again.ok();
    assert_eq!(lines(again.stdout())[0]["action"], "exists");
    // Listed from elsewhere, it is still there.
    let mut cmd = w.command("ely-catalog");
    cmd.args(["--catalog", &w.path("cat.db").display().to_string(), "list"])
        .current_dir("/");
    let out = cmd.output().unwrap();
    assert!(lines(&out.stdout).iter().all(|b| b["status"] != "missing"));
}

#[test]
fn cleanup_leaves_alone_a_file_that_replaced_a_backup() {
    let w = Workdir::new();
    let now = jiff::Timestamp::now().as_second();
    let input = history(
        &w,
        "h",
        "Code",
        "s",
        &[now - 9 * 86_400, now - 8 * 86_400, now - 60],
    );
    catalog(&w, &["add"], input.as_bytes()).ok();
    let all = lines(catalog(&w, &["list"], b"").stdout());
    let (a, b) = (
        all[0]["file"].as_str().unwrap(),
        all[1]["file"].as_str().unwrap(),
    );
    // Another file now at each path: one of another size, one of the same size written later.
    std::fs::write(a, b"something else").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(b, b"").unwrap();
    let run = catalog(&w, &["cleanup", "--older-than", "2d"], b"");
    run.ok();
    run.expect_stderr("is now another file");
    assert_eq!(std::fs::read(a).unwrap(), b"something else");
    assert!(Path::new(b).exists());
    assert_eq!(lines(catalog(&w, &["list"], b"").stdout()).len(), 1);
}

#[test]
fn a_cleanup_with_a_duration_that_means_nothing_is_refused() {
    let w = Workdir::new();
    let now = jiff::Timestamp::now().as_second();
    catalog(
        &w,
        &["add"],
        history(&w, "h", "Code", "s", &[now - 60]).as_bytes(),
    )
    .ok();
    catalog(&w, &["cleanup", "--keep-within", "0d"], b"")
        .expect_code(2)
        .expect_stderr("no time at all");
    catalog(&w, &["cleanup", "--older-than", "9000y9000y"], b"")
        .expect_code(2)
        .expect_stderr("before the calendar");
    catalog(&w, &["cleanup", "--keep-within", "30m"], b"")
        .expect_code(2)
        .expect_stderr("mo for months");
    assert_eq!(lines(catalog(&w, &["list"], b"").stdout()).len(), 1);
    // Read-only commands need a catalog: a mistyped path is an error, and creates nothing.
    w.run("ely-catalog", &["--catalog", "typo/cat.db", "list"], b"")
        .expect_code(2)
        .expect_stderr("no catalog at");
    assert!(!w.path("typo").exists());
}

#[test]
fn a_replace_whose_cron_entry_cannot_be_written_changes_nothing() {
    let w = Workdir::new();
    store(&w, 5);
    let add = |every: &str, to: &str, replace: bool| {
        let mut args = vec![
            "schedule",
            "add",
            "p1",
            "--collection",
            "Code",
            "--store",
            "store.db",
            "--every",
            every,
            "--to",
            to,
            "--crontab-file",
            "crontab",
        ];
        if replace {
            args.push("--replace");
        }
        catalog(&w, &args, b"")
    };
    add("1h", "out", false).ok();
    // Someone broke the block by hand.
    let mut text = std::fs::read_to_string(w.path("crontab")).unwrap();
    text = text.replace("# END ely\n", "");
    std::fs::write(w.path("crontab"), &text).unwrap();
    add("1d", "elsewhere", true)
        .expect_code(2)
        .expect_stderr("crontab");
    let plans = lines(catalog(&w, &["schedule", "list"], b"").stdout());
    assert_eq!(plans[0]["every"], "1h", "the old plan stays");
    assert!(
        !w.path("elsewhere").exists(),
        "no folder was made for the refused plan"
    );
    assert_eq!(std::fs::read_to_string(w.path("crontab")).unwrap(), text);
}
