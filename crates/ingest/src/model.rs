//! The collection ely-ingest writes: one object per chunk of a file, its properties and their
//! types, object ids, and the languages named by file extensions.

use ely_vocab::id::v5;
use serde_json::{json, Value};
use uuid::Uuid;

/// The properties of a chunk object, with their data types. Names, paths and hashes are
/// tokenized as whole fields, so filters on them match exactly.
pub const PROPERTIES: [(&str, &str, &str); 15] = [
    ("repo", "text", "field"),
    ("path", "text", "field"),
    ("fileName", "text", "field"),
    ("extension", "text", "field"),
    ("language", "text", "field"),
    ("content", "text", "word"),
    ("chunkIndex", "int", ""),
    ("chunkCount", "int", ""),
    ("startLine", "int", ""),
    ("endLine", "int", ""),
    ("size", "int", ""),
    ("contentHash", "text", "field"),
    ("commit", "text", "field"),
    ("branch", "text", "field"),
    ("indexedAt", "date", ""),
];

/// The definition of one property; with a vectorizer, only the content is vectorized.
pub fn property(
    name: &str,
    data_type: &str,
    tokenization: &str,
    vectorizer: Option<&str>,
) -> Value {
    let mut p = json!({"name": name, "dataType": [data_type]});
    if !tokenization.is_empty() {
        p["tokenization"] = json!(tokenization);
    }
    if let Some(v) = vectorizer.filter(|v| *v != "none") {
        if name != "content" && data_type == "text" {
            p["moduleConfig"] = json!({ v: {"skip": true, "vectorizePropertyName": false} });
        }
    }
    p
}

/// Marks a collection's description with the id scheme it was made with.
pub fn scheme_marker(scheme: IdScheme) -> String {
    format!("[ely-ingest id-scheme={}]", scheme.name())
}

/// The id scheme a collection's description records, if any.
pub fn recorded_scheme(class: &Value) -> Option<IdScheme> {
    let d = class.get("description")?.as_str()?;
    let at = d.find("[ely-ingest id-scheme=")?;
    let rest = &d[at + "[ely-ingest id-scheme=".len()..];
    IdScheme::parse(rest.split(']').next()?).ok()
}

/// A new collection's definition.
pub fn class_definition(
    collection: &str,
    vectorizer: Option<&str>,
    model: Option<&str>,
    scheme: IdScheme,
) -> Value {
    let mut class = json!({
        "class": collection,
        "description": format!("Files of git repositories, one object per chunk, kept in step by ely-ingest {}", scheme_marker(scheme)),
        "properties": PROPERTIES.iter().map(|(n, t, k)| property(n, t, k, vectorizer)).collect::<Vec<_>>(),
    });
    if let Some(v) = vectorizer {
        class["vectorizer"] = json!(v);
        if let (Some(m), true) = (model, v != "none") {
            class["moduleConfig"] = json!({ v: {"model": m} });
        }
    }
    class
}

/// How object ids are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdScheme {
    /// UUIDv5 (URL namespace) of `ely-ingest/<len(repo)>/<repo>/<path>#<chunk>`: one id per
    /// repository, path and chunk, the same on every run.
    Ely,
    /// elysiactl's ids: UUIDv5 (DNS namespace) of `<collection>:<path>` for a file's first
    /// chunk (`<collection>:<path>#<n>` for its n-th), for collections elysiactl made.
    Elysiactl,
}

impl IdScheme {
    pub fn name(self) -> &'static str {
        match self {
            IdScheme::Ely => "ely",
            IdScheme::Elysiactl => "elysiactl",
        }
    }

    pub fn parse(s: &str) -> Result<IdScheme, String> {
        match s {
            "ely" => Ok(IdScheme::Ely),
            "elysiactl" => Ok(IdScheme::Elysiactl),
            _ => Err(format!("'{s}' is not an id scheme (ely, elysiactl)")),
        }
    }

    /// The id of chunk `chunk` of `path` in repository `repo`.
    pub fn id(self, collection: &str, repo: &str, path: &str, chunk: u64) -> String {
        let u = match self {
            IdScheme::Ely => v5(
                &Uuid::NAMESPACE_URL,
                format!("ely-ingest/{}/{repo}/{path}#{chunk}", repo.len()).as_bytes(),
            ),
            IdScheme::Elysiactl if chunk == 0 => v5(
                &Uuid::NAMESPACE_DNS,
                format!("{collection}:{path}").as_bytes(),
            ),
            IdScheme::Elysiactl => v5(
                &Uuid::NAMESPACE_DNS,
                format!("{collection}:{path}#{chunk}").as_bytes(),
            ),
        };
        u.hyphenated().to_string()
    }
}

impl std::str::FromStr for IdScheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        IdScheme::parse(s)
    }
}

/// The language a file extension (or, without one, a file name) names; empty when unknown.
pub fn language(file_name: &str, extension: &str) -> &'static str {
    match extension.to_ascii_lowercase().as_str() {
        "py" | "pyi" => "python",
        "rs" => "rust",
        "go" => "go",
        "ts" | "tsx" | "mts" | "cts" => "typescript",
        "js" | "jsx" | "mjs" | "cjs" => "javascript",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "scala" => "scala",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "php" => "php",
        "swift" => "swift",
        "m" | "mm" => "objective-c",
        "sh" | "bash" | "zsh" => "shell",
        "ps1" => "powershell",
        "sql" => "sql",
        "html" | "htm" => "html",
        "css" | "scss" | "sass" | "less" => "css",
        "vue" => "vue",
        "svelte" => "svelte",
        "md" | "markdown" => "markdown",
        "rst" => "restructuredtext",
        "txt" => "text",
        "json" | "jsonl" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "ini" | "cfg" | "conf" => "ini",
        "xml" => "xml",
        "proto" => "protobuf",
        "tf" | "hcl" => "hcl",
        "lua" => "lua",
        "r" => "r",
        "dart" => "dart",
        "ex" | "exs" => "elixir",
        "erl" => "erlang",
        "hs" => "haskell",
        "clj" => "clojure",
        "zig" => "zig",
        "" => match file_name {
            "Dockerfile" | "Containerfile" => "dockerfile",
            "Makefile" | "GNUmakefile" => "makefile",
            _ => "",
        },
        _ => "",
    }
}

/// A path's file name and extension (without its dot; empty when it has none, and for
/// dotfiles such as `.gitignore`).
pub fn name_and_extension(path: &str) -> (&str, &str) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = match name.rfind('.') {
        Some(0) | None => "",
        Some(at) => &name[at + 1..],
    };
    (name, ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_per_repository_path_and_chunk() {
        let a = IdScheme::Ely.id("Code", "app", "src/a.py", 0);
        assert_eq!(a, IdScheme::Ely.id("Other", "app", "src/a.py", 0));
        assert_ne!(a, IdScheme::Ely.id("Code", "lib", "src/a.py", 0));
        assert_ne!(a, IdScheme::Ely.id("Code", "app", "src/a.py", 1));
        // The repository's length keeps "a/b" + "c" apart from "a" + "b/c".
        assert_ne!(
            IdScheme::Ely.id("C", "a/b", "c", 0),
            IdScheme::Ely.id("C", "a", "b/c", 0)
        );
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, "ely-ingest/3/app/src/a.py#0")
        assert_eq!(a, "3b6d2412-fad6-5af9-a9fc-d90d43c3f268");
        // elysiactl: uuid.uuid5(uuid.NAMESPACE_DNS, "Code:src/a.py")
        assert_eq!(
            IdScheme::Elysiactl.id("Code", "app", "src/a.py", 0),
            "c8c96bac-1bae-589e-a394-ab6153ce5768"
        );
    }

    #[test]
    fn names_extensions_and_languages() {
        assert_eq!(name_and_extension("src/a.tar.gz"), ("a.tar.gz", "gz"));
        assert_eq!(name_and_extension(".gitignore"), (".gitignore", ""));
        assert_eq!(name_and_extension("Makefile"), ("Makefile", ""));
        assert_eq!(language("Makefile", ""), "makefile");
        assert_eq!(language("a.PY", "PY"), "python");
        let class = class_definition("Code", Some("text2vec-openai"), Some("m"), IdScheme::Ely);
        assert_eq!(recorded_scheme(&class), Some(IdScheme::Ely));
        assert_eq!(class["moduleConfig"]["text2vec-openai"]["model"], "m");
        assert_eq!(class["properties"].as_array().unwrap().len(), 15);
        assert_eq!(
            class["properties"][0]["moduleConfig"]["text2vec-openai"]["skip"],
            true
        );
        assert!(
            class["properties"][5].get("moduleConfig").is_none(),
            "content is vectorized"
        );
    }
}
