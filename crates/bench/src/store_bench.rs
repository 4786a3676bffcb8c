//! ely-store-bench: times ely's stores (the Weaviate client and the embedded store) on bulk
//! import and cursor export, for `scripts/bench-store.sh`.
//!
//! Objects are generated from a seed before the clock starts, so only the store's work is
//! timed; `gen` writes the very same objects as JSON lines for the Python side to load. Each
//! command prints one JSON line on stdout.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use clap::{Parser, Subcommand};
use ely_bench::{Rng, DOMAIN_WORDS};
use ely_store::{open, resolve, Object, OpenOptions, Outcome, Store};
use ely_vocab::float::write_f32s;
use serde_json::{json, Map, Value};

/// Time ely's stores on bulk import and cursor export.
#[derive(Parser)]
#[command(
    name = "ely-store-bench",
    after_help = "Examples:\n  \
        ely-store-bench import --store http://127.0.0.1:8089 --class Bench --objects 20000 --dims 1536\n  \
        ely-store-bench export --store http://127.0.0.1:8089 --class Bench --expect 20000 --verify\n  \
        ely-store-bench gen --objects 20000 --dims 1536 -o objects.jsonl"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// What the objects are: the same settings give the same objects.
#[derive(clap::Args, Clone)]
struct Data {
    /// Number of objects.
    #[arg(long, default_value_t = 20_000)]
    objects: usize,
    /// Vector dimensions.
    #[arg(long, default_value_t = 1536)]
    dims: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// What the objects look like: `generated` (short text, vector numbers uniform in
    /// [-1, 1)), or `weaviate`: as `curl .../v1/objects | jq -c '.objects[]'` gives them from
    /// a collection of source files (class and timestamps, files of 1-12 KB of code, and
    /// unit-length embedding vectors, whose numbers are small and long, as real ones are).
    #[arg(long, value_enum, default_value_t = Shape::Generated)]
    shape: Shape,
}

#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Generated,
    Weaviate,
}

#[derive(Subcommand)]
enum Command {
    /// (Re)create a class and time the upsert of generated objects into it.
    Import {
        /// A Weaviate URL (http://, https://) or the path of an embedded store.
        #[arg(long)]
        store: String,
        /// The class to create (deleted first if it exists).
        #[arg(long, default_value = "Bench")]
        class: String,
        #[command(flatten)]
        data: Data,
        /// Batch requests in flight at once (Weaviate only).
        #[arg(long, default_value_t = 4)]
        in_flight: usize,
        /// Objects per `upsert` call; 0: all in one call (the Weaviate client splits them into
        /// requests of 100 itself; the embedded store writes one transaction per call).
        #[arg(long, default_value_t = 0)]
        chunk: usize,
    },
    /// Time a cursor scan with vectors over a whole class, until an empty page.
    Export {
        #[arg(long)]
        store: String,
        #[arg(long, default_value = "Bench")]
        class: String,
        /// Objects per cursor page.
        #[arg(long, default_value_t = 1000)]
        page: usize,
        /// The number of objects the class must hold (by default: the store's count).
        #[arg(long)]
        expect: Option<u64>,
        /// After the clock stops, compare every object with the generated ones (ids,
        /// properties, vector bits); --objects, --dims and --seed must match the import.
        #[arg(long)]
        verify: bool,
        #[command(flatten)]
        data: Data,
    },
    /// Delete a class (to free the server's memory between runs).
    Drop {
        #[arg(long)]
        store: String,
        #[arg(long, default_value = "Bench")]
        class: String,
    },
    /// Write the generated objects as JSON lines ({"id","properties","vector"}; with --shape
    /// weaviate also "class", "creationTimeUnix" and "lastUpdateTimeUnix").
    Gen {
        #[command(flatten)]
        data: Data,
        /// Output file; stdout when absent.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Plain English, and text that needs escaping or is not ASCII: the vocabulary after the
/// domain words.
const OTHER_WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "a",
    "to",
    "in",
    "is",
    "for",
    "with",
    "search",
    "index",
    "embedding",
    "query",
    "café",
    "naïve",
    "日本語",
    "\"quoted\"",
    "back\\slash",
];
const CATEGORIES: &[&str] = &["docs", "code", "issue", "email", "note", "paper"];

/// The class every run creates: no vectorizer, a few text and int properties (those of the
/// generated objects, in their order; `scripts/bench_store.py` derives the same class from
/// the objects `gen` writes).
fn class_def(class: &str) -> Value {
    json!({
        "class": class,
        "vectorizer": "none",
        "properties": [
            {"name": "title", "dataType": ["text"]},
            {"name": "body", "dataType": ["text"]},
            {"name": "category", "dataType": ["text"]},
            {"name": "rank", "dataType": ["int"]},
            {"name": "words", "dataType": ["int"]}
        ]
    })
}

/// The objects for `data`.
fn generate(class: &str, data: &Data) -> Vec<Object> {
    match data.shape {
        Shape::Generated => generate_plain(class, data),
        Shape::Weaviate => generate_files(class, data),
    }
}

/// Short text properties and float32 vectors uniform in [-1, 1).
fn generate_plain(class: &str, data: &Data) -> Vec<Object> {
    let vocabulary = [DOMAIN_WORDS, OTHER_WORDS].concat();
    let mut rng = Rng(data.seed);
    (0..data.objects)
        .map(|_| {
            let id = rng.uuid();
            let title_words = 3 + rng.below(8) as usize;
            let body_words = 20 + rng.below(200) as usize;
            let mut properties = Map::new();
            properties.insert("title".into(), json!(rng.words(&vocabulary, title_words)));
            properties.insert("body".into(), json!(rng.words(&vocabulary, body_words)));
            properties.insert("category".into(), json!(rng.pick(CATEGORIES)));
            properties.insert("rank".into(), json!(rng.below(1_000_000)));
            properties.insert("words".into(), json!(body_words));
            let vector = (0..data.dims).map(|_| rng.unit()).collect();
            Object {
                class: class.to_owned(),
                id,
                properties,
                vector: Some(vector),
                ..Object::default()
            }
        })
        .collect()
}

const LANGUAGES: &[(&str, &str)] = &[
    ("rust", "rs"),
    ("python", "py"),
    ("go", "go"),
    ("typescript", "ts"),
    ("markdown", "md"),
];

/// Objects as a collection of source files holds them: a path, the file's text (1 to 12 KB
/// of code-like lines: indentation, quotes, braces, escapes, some non-ASCII), its language,
/// size and line count, and a unit-length embedding (numbers near N(0, 1/dims), written in
/// their shortest float32 form, mostly 9 to 11 characters each).
fn generate_files(class: &str, data: &Data) -> Vec<Object> {
    let vocabulary = [DOMAIN_WORDS, OTHER_WORDS].concat();
    let mut rng = Rng(data.seed);
    let created = 1_750_000_000_000i64;
    (0..data.objects)
        .map(|i| {
            let id = rng.uuid();
            let (language, ext) = rng.pick(LANGUAGES);
            let target = 1024 + rng.below(11 * 1024) as usize;
            let mut content = String::with_capacity(target + 128);
            let mut lines = 0;
            while content.len() < target {
                let indent = rng.below(4) as usize * 4;
                content.extend(std::iter::repeat_n(' ', indent));
                let line = match rng.below(6) {
                    0 => format!(
                        "fn {}({}: &str) -> Result<(), Error> {{",
                        rng.pick(&vocabulary),
                        rng.pick(&vocabulary)
                    ),
                    1 => format!(
                        "let {} = \"{}\";",
                        rng.pick(DOMAIN_WORDS),
                        rng.words(&vocabulary, 4)
                    ),
                    2 => {
                        let n = 6 + rng.below(8) as usize;
                        format!("// {}", rng.words(&vocabulary, n))
                    }
                    3 => "}".to_owned(),
                    _ => format!(
                        "{}({}, {});",
                        rng.pick(DOMAIN_WORDS),
                        rng.below(1000),
                        rng.pick(&vocabulary)
                    ),
                };
                content.push_str(&line);
                content.push('\n');
                lines += 1;
            }
            let mut properties = Map::new();
            properties.insert(
                "path".into(),
                json!(format!(
                    "src/{}/{}_{i}.{ext}",
                    rng.pick(DOMAIN_WORDS),
                    rng.pick(DOMAIN_WORDS)
                )),
            );
            properties.insert("language".into(), json!(language));
            properties.insert("size".into(), json!(content.len()));
            properties.insert("lines".into(), json!(lines));
            properties.insert("content".into(), json!(content));
            // A sum of uniforms is near-normal; the vector is then scaled to unit length.
            let mut vector: Vec<f32> = (0..data.dims)
                .map(|_| rng.unit() + rng.unit() + rng.unit())
                .collect();
            let norm = vector
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::MIN_POSITIVE);
            vector.iter_mut().for_each(|x| *x /= norm);
            let updated = created + rng.below(86_400_000) as i64;
            Object {
                class: class.to_owned(),
                id,
                properties,
                vector: Some(vector),
                creation_time_unix: Some(created),
                last_update_time_unix: Some(updated),
                ..Object::default()
            }
        })
        .collect()
}

fn open_store(store: &str, in_flight: usize) -> Result<Box<dyn Store>> {
    let location = resolve(Some(store), |_| None)?;
    let opts = OpenOptions {
        in_flight,
        ..OpenOptions::from_env()
    };
    Ok(open(&location, &opts)?)
}

fn kind(store: &str) -> &'static str {
    let s = store.to_ascii_lowercase();
    if s.starts_with("http://") || s.starts_with("https://") {
        "weaviate"
    } else {
        "embedded"
    }
}

/// This process's CPU time so far (user + system, all threads), in seconds, from
/// `/proc/self/stat` (in USER_HZ ticks, 100 a second on Linux); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; `rest` starts at field 3.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The CPU time spent since `start` (a [`cpu_seconds`] reading).
fn cpu_since(start: Option<f64>) -> Option<f64> {
    Some(cpu_seconds()? - start?)
}

fn rate(n: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

fn import(store: &str, class: &str, data: &Data, in_flight: usize, chunk: usize) -> Result<()> {
    let s = open_store(store, in_flight)?;
    s.delete_class(class)?;
    s.create_class(&class_def(class))?;
    let objects = generate(class, data);
    let chunk = if chunk == 0 {
        objects.len().max(1)
    } else {
        chunk
    };

    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut outcomes = Vec::with_capacity(objects.len());
    for part in objects.chunks(chunk) {
        outcomes.extend(s.upsert(part)?);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_since(cpu);

    let rejected: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Written => None,
            Outcome::Rejected(why) => Some(why),
        })
        .collect();
    if let Some(first) = rejected.first() {
        bail!(
            "{} of {} objects were rejected; the first: {first}",
            rejected.len(),
            objects.len()
        );
    }
    ensure!(
        outcomes.len() == objects.len(),
        "{} outcomes for {} objects",
        outcomes.len(),
        objects.len()
    );
    let count = s.count(class, None)?;
    ensure!(
        count == objects.len() as u64,
        "the store counts {count} objects after writing {}",
        objects.len()
    );
    println!(
        "{}",
        json!({
            "tool": "ely",
            "store": kind(store),
            "op": "import",
            "objects": objects.len(),
            "dims": data.dims,
            "in_flight": (kind(store) == "weaviate").then_some(in_flight),
            "chunk": chunk,
            "seconds": secs,
            "cpu_seconds": cpu,
            "objects_per_sec": rate(objects.len(), secs),
        })
    );
    Ok(())
}

fn export(
    store: &str,
    class: &str,
    page: usize,
    expect: Option<u64>,
    verify: bool,
    data: &Data,
) -> Result<()> {
    ensure!(page > 0, "--page must be at least 1");
    let s = open_store(store, 1)?;
    let expected = match expect {
        Some(n) => n,
        None => s.count(class, None)?,
    };

    // Pages are kept (moved, not copied), as an exporter holds a page while writing it.
    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut pages: Vec<Vec<Object>> = Vec::new();
    let mut after: Option<String> = None;
    let mut requests = 0;
    loop {
        let objects = s.scan(class, None, after.as_deref(), page, true)?;
        requests += 1;
        match objects.last() {
            None => break,
            Some(last) => after = Some(last.id.clone()),
        }
        pages.push(objects);
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_since(cpu);

    let got: Vec<&Object> = pages.iter().flatten().collect();
    ensure!(
        got.len() as u64 == expected,
        "the cursor gave {} objects, expected {expected}",
        got.len()
    );
    for pair in got.windows(2) {
        ensure!(
            pair[0].id < pair[1].id,
            "the cursor's ids are not ascending: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }
    if let Some(o) = got.iter().find(|o| o.vector.is_none()) {
        bail!("object {} came back without its vector", o.id);
    }
    if verify {
        verify_objects(class, data, &got)?;
    }
    println!(
        "{}",
        json!({
            "tool": "ely",
            "store": kind(store),
            "op": "export",
            "objects": got.len(),
            "page": page,
            "requests": requests,
            "verified": verify,
            "seconds": secs,
            "cpu_seconds": cpu,
            "objects_per_sec": rate(got.len(), secs),
        })
    );
    Ok(())
}

/// Every generated object came back once, with the same properties and vector bits.
fn verify_objects(class: &str, data: &Data, got: &[&Object]) -> Result<()> {
    let want = generate(class, data);
    ensure!(
        want.len() == got.len(),
        "{} objects exported, {} generated",
        got.len(),
        want.len()
    );
    let by_id: HashMap<&str, &Object> = want.iter().map(|o| (o.id.as_str(), o)).collect();
    for o in got {
        let w = by_id
            .get(o.id.as_str())
            .with_context(|| format!("object {} was not generated", o.id))?;
        ensure!(
            o.properties == w.properties,
            "object {}: properties differ",
            o.id
        );
        let bits = |v: &Option<Vec<f32>>| {
            v.as_ref()
                .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        };
        ensure!(
            bits(&o.vector) == bits(&w.vector),
            "object {}: vector differs",
            o.id
        );
    }
    Ok(())
}

fn drop_class(store: &str, class: &str) -> Result<()> {
    open_store(store, 1)?.delete_class(class)?;
    Ok(())
}

fn gen(data: &Data, output: Option<&PathBuf>) -> Result<()> {
    let out: Box<dyn Write> = match output {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    // No class: the Python side names it; objects shaped as Weaviate answers have one, and
    // their members in its order.
    let class = match data.shape {
        Shape::Generated => "",
        Shape::Weaviate => "Code",
    };
    for o in generate(class, data) {
        if data.shape == Shape::Weaviate {
            let head = json!({
                "class": o.class,
                "creationTimeUnix": o.creation_time_unix,
                "id": o.id,
                "lastUpdateTimeUnix": o.last_update_time_unix,
                "properties": o.properties,
            });
            let mut line = serde_json::to_vec(&head)?;
            line.pop();
            line.extend_from_slice(b",\"vector\":");
            write_f32s(&mut line, o.vector.as_deref().unwrap_or_default());
            line.push(b'}');
            out.write_all(&line)?;
        } else {
            serde_json::to_writer(&mut out, &o)?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Import {
            store,
            class,
            data,
            in_flight,
            chunk,
        } => import(&store, &class, &data, in_flight, chunk),
        Command::Export {
            store,
            class,
            page,
            expect,
            verify,
            data,
        } => export(&store, &class, page, expect, verify, &data),
        Command::Drop { store, class } => drop_class(&store, &class),
        Command::Gen { data, output } => gen(&data, output.as_ref()),
    }
}
