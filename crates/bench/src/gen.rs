//! ely-gen: writes a sample ely stream (source-code-like objects with text properties and
//! float32 vectors) from a fixed seed, for demos and benchmarks. `--mode simple` (the
//! default) draws words from a small vocabulary; `--mode realistic` writes what an indexed
//! code base holds: files of indented lines, identifiers of a large vocabulary in Zipf
//! frequencies, literals and comments, and unit-length embedding vectors.

use std::path::PathBuf;

use clap::Parser;
use ely_bench::{Rng, DOMAIN_WORDS};
use ely_stream::{Compression, Header, StreamWriter, WriteOptions, FORMAT_VERSION};
use ely_vocab::float::write_f32;
use serde_json::json;

/// Write a sample ely stream: a header, N objects, a trailer.
#[derive(Parser)]
#[command(
    name = "ely-gen",
    after_help = "Example:\n  ely-gen --objects 10000 --dims 1536 -o sample.jsonl.zst"
)]
struct Args {
    /// Number of objects.
    #[arg(long, default_value_t = 1000)]
    objects: u64,
    /// Vector dimensions (0: no vectors).
    #[arg(long, default_value_t = 384)]
    dims: usize,
    /// Collection name.
    #[arg(long, default_value = "Code")]
    collection: String,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file (compression from the extension); stdout when absent.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Write objects only, with no header or trailer.
    #[arg(long)]
    plain: bool,
    /// simple: words of a small vocabulary, vector values uniform in [0, 0.2); realistic:
    /// code-like files (a large vocabulary in Zipf frequencies, lines, literals, comments) and
    /// unit-length embeddings.
    #[arg(long, default_value = "simple", value_parser = ["simple", "realistic"])]
    mode: String,
}

/// Rust keywords: the start of the vocabulary, and the choices for the first tag.
const KEYWORDS: &[&str] = &[
    "fn", "let", "mut", "impl", "struct", "return", "match", "self",
];
/// Text that needs escaping or is not ASCII: the end of the vocabulary.
const AWKWARD: &[&str] = &["é", "日本語", "\"quoted\"", "back\\slash", "tab\there"];
const LANGS: &[&str] = &["rust", "python", "go", "typescript", "markdown"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let compression = args
        .output
        .as_deref()
        .map_or(Compression::None, Compression::from_extension);
    let mut w = StreamWriter::create(
        args.output.as_deref(),
        WriteOptions {
            compression,
            level: None,
            threads: 1,
            plain: args.plain,
        },
    )?;
    let class = json!({
        "class": args.collection,
        "vectorizer": "none",
        "properties": [
            {"name": "path", "dataType": ["text"]},
            {"name": "content", "dataType": ["text"]},
            {"name": "language", "dataType": ["text"]},
            {"name": "lines", "dataType": ["int"]},
            {"name": "modified", "dataType": ["date"]},
            {"name": "tags", "dataType": ["text[]"]}
        ]
    });
    w.header(&Header {
        version: FORMAT_VERSION,
        collection: args.collection.clone(),
        class: Some(class),
        tenants: None,
        source: Some("ely-gen".into()),
        created: Some("2026-01-01T00:00:00Z".into()),
    })?;
    let vocabulary = [KEYWORDS, DOMAIN_WORDS, AWKWARD].concat();
    let realistic = args.mode == "realistic";
    let mut rng = Rng(args.seed);
    let identifiers = if realistic {
        identifiers(&mut rng, 5000)
    } else {
        Vec::new()
    };
    let mut vector = vec![0f32; args.dims];
    let mut line = Vec::with_capacity(16 * 1024);
    for i in 0..args.objects {
        let id = rng.uuid();
        let content = if realistic {
            code(&mut rng, &identifiers)
        } else {
            let words = 20 + rng.below(200) as usize;
            rng.words(&vocabulary, words)
        };
        let object = json!({
            "class": args.collection,
            "id": id,
            "properties": {
                "path": format!("src/module_{}/file_{i}.rs", i % 97),
                "content": content,
                "language": rng.pick(LANGS),
                "lines": rng.below(5000),
                "modified": format!("2026-{:02}-{:02}T12:{:02}:00Z", 1 + rng.below(12), 1 + rng.below(28), rng.below(60)),
                "tags": [rng.pick(KEYWORDS), rng.pick(&DOMAIN_WORDS[..8])],
            }
        });
        line.clear();
        serde_json::to_writer(&mut line, &object)?;
        if args.dims > 0 {
            line.pop();
            line.extend_from_slice(b",\"vector\":[");
            if realistic {
                embedding(&mut rng, &mut vector);
            } else {
                for v in vector.iter_mut() {
                    *v = rng.unit() * 0.2;
                }
            }
            for (d, v) in vector.iter().enumerate() {
                if d > 0 {
                    line.push(b',');
                }
                write_f32(&mut line, *v);
            }
            line.extend_from_slice(b"]}");
        }
        w.object(&line)?;
    }
    w.finish()?;
    Ok(())
}

/// `n` distinct identifiers made of syllables, in snake_case and CamelCase.
fn identifiers(rng: &mut Rng, n: usize) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "get", "set", "to", "from", "read", "write", "batch", "vec", "tor", "col", "lect", "ion",
        "store", "page", "size", "len", "buf", "fer", "id", "key", "map", "node", "tree", "ctx",
        "err", "res", "ult", "conf", "ig", "pars", "er", "tok", "en", "line", "file", "path",
        "name", "index", "count", "time", "out", "in", "new", "init", "run", "task", "hash",
        "shard", "tenant", "query", "filter", "score", "dim", "item", "list", "span", "chunk",
    ];
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let parts = 1 + rng.below(3) as usize;
        let pieces: Vec<&str> = (0..parts).map(|_| rng.pick(SYLLABLES)).collect();
        let id = if rng.below(4) == 0 {
            pieces
                .iter()
                .map(|p| {
                    let mut c = p.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<String>()
        } else {
            pieces.join("_")
        };
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    out
}

/// An index drawn with Zipf-like frequencies (rank r with weight about 1/r).
fn zipf(rng: &mut Rng, n: usize) -> usize {
    // Inverse of the continuous 1/x distribution over [1, n + 1).
    let u = f64::from(rng.unit() + 1.0) / 2.0;
    ((((n + 1) as f64).powf(u)) as usize)
        .saturating_sub(1)
        .min(n - 1)
}

/// A source file: 5 to 300 lines of indented statements, comments and literals.
fn code(rng: &mut Rng, ids: &[String]) -> String {
    let lines = 5 + rng.below(296) as usize;
    let mut s = String::with_capacity(lines * 40);
    let mut depth = 0usize;
    for _ in 0..lines {
        s.extend(std::iter::repeat_n("    ", depth));
        match rng.below(10) {
            0 => {
                s.push_str("// ");
                for i in 0..3 + rng.below(9) {
                    if i > 0 {
                        s.push(' ');
                    }
                    s.push_str(rng.pick(DOMAIN_WORDS));
                }
            }
            1 if depth < 4 => {
                s.push_str(rng.pick(&["fn ", "if ", "for ", "match ", "impl "]));
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push_str(" {");
                depth += 1;
            }
            2 if depth > 0 => {
                s.truncate(s.len() - 4);
                s.push('}');
                depth -= 1;
            }
            3 => {
                s.push_str("let ");
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push_str(" = \"");
                s.push_str(rng.pick(AWKWARD));
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push_str("\";");
            }
            _ => {
                s.push_str("let ");
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push_str(" = ");
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push('.');
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push('(');
                s.push_str(&ids[zipf(rng, ids.len())]);
                s.push_str(", ");
                s.push_str(&rng.below(100_000).to_string());
                s.push_str(");");
            }
        }
        s.push('\n');
    }
    s
}

/// A unit-length vector of roughly normal values, as embedding models give.
fn embedding(rng: &mut Rng, v: &mut [f32]) {
    let mut norm = 0f64;
    for x in v.iter_mut() {
        // The sum of four uniforms: close enough to a normal for a benchmark.
        let g: f32 = (0..4).map(|_| rng.unit()).sum();
        *x = g;
        norm += f64::from(g) * f64::from(g);
    }
    let scale = if norm > 0.0 { 1.0 / norm.sqrt() } else { 0.0 };
    for x in v.iter_mut() {
        *x = (f64::from(*x) * scale) as f32;
    }
}
