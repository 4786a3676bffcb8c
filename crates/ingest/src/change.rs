//! The change records ely-ingest reads, one per line, mixed freely in one stream
//! (../docs/INGEST.md): mgit's records as mgit 0.13 prints them, the designed three-tier
//! records, `new_changeset` records, plain paths, and the noise mgit prints around them.

use serde_json::{Map, Value};

/// What one input line is.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    File(FileRecord),
    /// How far a repository was read (`{"repo":..,"new_changeset":{"commit":..}}`).
    Changeset {
        repo: String,
        commit: String,
        branch: Option<String>,
    },
    /// A plain path (a path list's line), to be read from disk.
    Path(String),
    /// Not a record: a progress bar, a summary table, an empty line.
    Noise,
    /// JSON that is not a record ely-ingest knows, and why.
    Bad(String),
}

/// What happens to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Modify,
    Delete,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Modify => "modify",
            Op::Delete => "delete",
        }
    }
}

/// A file's change.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRecord {
    pub repo: String,
    pub op: Op,
    pub path: String,
    /// A rename's old path (mgit's `"old" -> "new"`): deleted, and `path` added.
    pub renamed_from: Option<String>,
    pub body: Body,
}

/// Where a file's content comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No content in the record: read the file from disk.
    Disk,
    /// `content`, with mgit's `content_hash` (SHA-256 of the file on disk) when it gave one:
    /// the text is the file only when its hash matches; otherwise the disk is read.
    Text { text: String, hash: Option<String> },
    /// `content_base64`.
    Base64(String),
    /// `content_ref`: a local path, read only inside the allowed roots.
    Ref(String),
    /// `content: null` (mgit's binaries and files it would not read): read from disk.
    Null,
    /// `content_error`: mgit could not read it; the disk is tried.
    Error(String),
    /// `skip_index: true`: known to exist, not to be indexed.
    SkipIndex,
}

/// Reads one input line. `paths`: plain lines are paths (a path list was asked for with
/// `--repo DIR`); otherwise they are noise.
pub fn parse(line: &[u8], paths: bool) -> Line {
    let text = String::from_utf8_lossy(line);
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.trim().is_empty() {
        return Line::Noise;
    }
    if !trimmed.trim_start().starts_with('{') {
        return if paths && !is_noise(trimmed) {
            // `git diff --name-only` quotes names as `git status` does.
            match take_path(trimmed) {
                Ok((path, "")) if trimmed.starts_with('"') => Line::Path(path),
                _ => Line::Path(trimmed.to_owned()),
            }
        } else {
            Line::Noise
        };
    }
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        Err(e) => return Line::Bad(format!("not JSON: {e}")),
    };
    let Value::Object(map) = value else {
        return Line::Bad("not a JSON object".into());
    };
    match record(map) {
        Ok(line) => line,
        Err(why) => Line::Bad(why),
    }
}

/// The repository a line names, read leniently from a line that is not a valid record (or
/// only the start of one, too long to keep), so that its rejection counts against it.
pub fn repo_of(line: &[u8]) -> Option<String> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(line) {
        return map.get("repo").and_then(Value::as_str).map(str::to_owned);
    }
    let at = memchr::memmem::find(line, b"\"repo\"")? + 6;
    let rest = &line[at..];
    let colon = rest.iter().position(|c| !c.is_ascii_whitespace())?;
    let rest = rest[colon..].strip_prefix(b":")?;
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<String>();
    values.next()?.ok()
}

/// A line of what mgit prints around its records: progress bars and summary tables.
fn is_noise(line: &str) -> bool {
    line.chars().any(|c| {
        matches!(c, '\u{2500}'..='\u{259F}' | '\u{1B}') // box drawing, blocks, escapes
    }) || line.starts_with(' ')
        || line.ends_with(" -:--:--")
}

fn string(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("\"{key}\" must be a string, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn record(map: Map<String, Value>) -> Result<Line, String> {
    let repo = string(&map, "repo")?.unwrap_or_default();
    if let Some(cs) = map.get("new_changeset") {
        let Value::Object(cs) = cs else {
            return Err("\"new_changeset\" must be an object".into());
        };
        if repo.is_empty() {
            return Err("a new_changeset record needs \"repo\"".into());
        }
        let commit = string(cs, "commit")?.ok_or("\"new_changeset\" has no \"commit\"")?;
        return Ok(Line::Changeset {
            repo,
            commit,
            branch: string(cs, "branch")?,
        });
    }
    if map.contains_key("ely") {
        return Err("an ely stream's line, not a change record (ely-restore reads those)".into());
    }
    let op = match string(&map, "op")?.as_deref() {
        Some("add") => Op::Add,
        Some("modify") => Op::Modify,
        Some("delete") => Op::Delete,
        Some(other) => return Err(format!("\"op\" {other:?} is not add, modify or delete")),
        None => return Err("no \"op\" (add, modify or delete)".into()),
    };
    let raw_path = string(&map, "path")?.ok_or("no \"path\"")?;
    if repo.is_empty() {
        return Err("no \"repo\"".into());
    }
    let (renamed_from, path) = split_rename(&raw_path)?;
    if path.is_empty() {
        return Err("an empty \"path\"".into());
    }
    let body = if map.get("skip_index") == Some(&Value::Bool(true)) {
        Body::SkipIndex
    } else if let Some(e) = string(&map, "content_error")? {
        Body::Error(e)
    } else if let Some(b) = string(&map, "content_base64")? {
        Body::Base64(b)
    } else if let Some(r) = string(&map, "content_ref")? {
        Body::Ref(r)
    } else {
        match map.get("content") {
            None => Body::Disk,
            Some(Value::Null) => Body::Null,
            Some(Value::String(t)) => Body::Text {
                text: t.clone(),
                hash: string(&map, "content_hash")?,
            },
            Some(other) => {
                return Err(format!(
                    "\"content\" must be a string or null, found {}",
                    kind(other)
                ))
            }
        }
    };
    Ok(Line::File(FileRecord {
        repo,
        op,
        path,
        renamed_from,
        body,
    }))
}

/// A path as `git status --porcelain` prints it: C-quoted when it has spaces, quotes,
/// backslashes, control or non-ASCII characters, and a rename as `old -> new` (each side
/// quoted or not). Returns (the old path of a rename, the path).
pub fn split_rename(raw: &str) -> Result<(Option<String>, String), String> {
    let (first, rest) = take_path(raw)?;
    match rest.strip_prefix(" -> ") {
        Some(second) => {
            let (to, tail) = take_path(second)?;
            if !tail.is_empty() {
                return Err(format!("cannot read path {raw:?}"));
            }
            Ok((Some(first), to))
        }
        None if rest.is_empty() => Ok((None, first)),
        None => Err(format!("cannot read path {raw:?}")),
    }
}

/// One path from the start of `s` and what follows it: a C-quoted string, or bare text up to
/// ` -> ` (bare paths never hold spaces in porcelain output, so that cannot be part of one).
fn take_path(s: &str) -> Result<(String, &str), String> {
    let Some(body) = s.strip_prefix('"') else {
        return Ok(match s.find(" -> ") {
            Some(at) => (s[..at].to_owned(), &s[at..]),
            None => (s.to_owned(), ""),
        });
    };
    let bytes = body.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let text = String::from_utf8(out)
                    .map_err(|_| format!("path {s:?} is not UTF-8 once unquoted"))?;
                return Ok((text, &body[i + 1..]));
            }
            b'\\' => {
                let Some(&c) = bytes.get(i + 1) else { break };
                i += 2;
                let simple = match c {
                    b'a' => Some(7),
                    b'b' => Some(8),
                    b't' => Some(b'\t'),
                    b'n' => Some(b'\n'),
                    b'v' => Some(11),
                    b'f' => Some(12),
                    b'r' => Some(b'\r'),
                    b'"' | b'\\' => Some(c),
                    _ => None,
                };
                match simple {
                    Some(b) => out.push(b),
                    None if (b'0'..=b'3').contains(&c) => {
                        let digits = bytes
                            .get(i..i + 2)
                            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
                        let Some(d) = digits else { break };
                        out.push((c - b'0') * 64 + (d[0] - b'0') * 8 + (d[1] - b'0'));
                        i += 2;
                    }
                    None => break,
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Err(format!("cannot read quoted path {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_paths_are_unquoted_and_renames_split() {
        assert_eq!(split_rename("a.py").unwrap(), (None, "a.py".into()));
        assert_eq!(
            split_rename(r#""b c.txt" -> "renamed c.txt""#).unwrap(),
            (Some("b c.txt".into()), "renamed c.txt".into())
        );
        assert_eq!(
            split_rename("old.rs -> new.rs").unwrap(),
            (Some("old.rs".into()), "new.rs".into())
        );
        assert_eq!(
            split_rename(r#""\303\274n\303\257 c\303\266d\303\251.py""#).unwrap(),
            (None, "ünï cödé.py".into())
        );
        assert_eq!(
            split_rename(r#""a\"q\\b\tc""#).unwrap(),
            (None, "a\"q\\b\tc".into())
        );
        assert!(split_rename(r#""open"#).is_err());
        assert!(split_rename(r#""a" junk"#).is_err());
        assert!(split_rename(r#""\9""#).is_err());
    }

    #[test]
    fn mgit_records_three_tier_records_paths_and_noise() {
        let line = |s: &str| parse(s.as_bytes(), false);
        match line(r#"{"repo":"demo","op":"modify","path":"\"b c.txt\" -> \"renamed c.txt\""}"#) {
            Line::File(f) => {
                assert_eq!(f.op, Op::Modify);
                assert_eq!(f.renamed_from.as_deref(), Some("b c.txt"));
                assert_eq!(f.path, "renamed c.txt");
                assert_eq!(f.body, Body::Disk);
            }
            other => panic!("{other:?}"),
        }
        match line(r#"{"repo":"d","op":"add","path":"x","content":"hi","content_hash":"ab"}"#) {
            Line::File(f) => assert_eq!(
                f.body,
                Body::Text {
                    text: "hi".into(),
                    hash: Some("ab".into())
                }
            ),
            other => panic!("{other:?}"),
        }
        match line(r#"{"repo":"d","op":"add","path":"x","content":null}"#) {
            Line::File(f) => assert_eq!(f.body, Body::Null),
            other => panic!("{other:?}"),
        }
        match line(
            r#"{"repo":"A","op":"add","path":"m.pdf","content_ref":"/srv/m.pdf","skip_index":true}"#,
        ) {
            Line::File(f) => assert_eq!(f.body, Body::SkipIndex),
            other => panic!("{other:?}"),
        }
        match line(r#"{"repo":"A","op":"modify","path":"a.py","content_base64":"aGk="}"#) {
            Line::File(f) => assert_eq!(f.body, Body::Base64("aGk=".into())),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            line(r#"{"repo":"demo","new_changeset":{"commit":"94b5","branch":"master"}}"#),
            Line::Changeset {
                repo: "demo".into(),
                commit: "94b5".into(),
                branch: Some("master".into())
            }
        );
        assert_eq!(
            line("Detecting changes...                                            0% -:--:--"),
            Line::Noise
        );
        assert_eq!(line("┃ Result              ┃ Count ┃"), Line::Noise);
        assert_eq!(line("src/main.rs"), Line::Noise);
        assert_eq!(
            parse(b"src/main.rs\n", true),
            Line::Path("src/main.rs".into())
        );
        assert_eq!(
            parse(b"\"\\303\\274 n.py\"\n", true),
            Line::Path("\u{fc} n.py".into()),
            "git diff --name-only quotes names"
        );
        assert_eq!(parse(b"a b.py", true), Line::Path("a b.py".into()));
        assert_eq!(parse(b"  Worker 1: idle   0% 0:00:00", true), Line::Noise);
        assert_eq!(
            repo_of(br#"{"repo":"demo","op":"move","path":"x"}"#).as_deref(),
            Some("demo")
        );
        assert_eq!(
            repo_of(br#"{"repo" : "d\u00e9mo","content":"cut sh"#).as_deref(),
            Some("d\u{e9}mo")
        );
        assert_eq!(repo_of(b"{\"op\":\"add\"}"), None);
        assert!(
            matches!(line(r#"{"repo":"d","op":"move","path":"x"}"#), Line::Bad(m) if m.contains("\"move\""))
        );
        assert!(matches!(line(r#"{"op":"add","path":"x"}"#), Line::Bad(m) if m.contains("repo")));
        assert!(matches!(
            line(r#"{"repo":"d","op":"add","path":"x","content":5}"#),
            Line::Bad(_)
        ));
        assert!(
            matches!(line(r#"{"repo":"d","op":"add""#), Line::Bad(m) if m.starts_with("not JSON"))
        );
    }
}
