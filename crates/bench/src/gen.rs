//! ely-gen: writes a realistic sample ely stream (source-code-like objects with text
//! properties and float32 vectors) from a fixed seed, for demos and benchmarks.

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
    let mut rng = Rng(args.seed);
    let mut line = Vec::with_capacity(16 * 1024);
    for i in 0..args.objects {
        let id = rng.uuid();
        let words = 20 + rng.below(200) as usize;
        let content = rng.words(&vocabulary, words);
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
            for d in 0..args.dims {
                if d > 0 {
                    line.push(b',');
                }
                write_f32(&mut line, rng.unit() * 0.2);
            }
            line.extend_from_slice(b"]}");
        }
        w.object(&line)?;
    }
    w.finish()?;
    Ok(())
}
