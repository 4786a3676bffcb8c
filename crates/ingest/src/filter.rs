//! Which files are indexed: `--include` and `--exclude` globs, the default excludes (folders
//! of dependencies and build output, minified files, lock files), `--max-file-size`, and
//! binary content. Each skip has a reason, which becomes the file's result.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Folders whose files are not source a user means to search.
pub const DEFAULT_EXCLUDED_DIRS: [&str; 7] = [
    ".git",
    "node_modules",
    "vendor",
    "target",
    "dist",
    "build",
    "__pycache__",
];

/// Files generated rather than written: minified code and package-manager lock files.
pub const DEFAULT_EXCLUDED_FILES: [&str; 16] = [
    "*.min.js",
    "*.min.css",
    "*.map",
    "Cargo.lock",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "flake.lock",
];

/// The file filters.
#[derive(Debug, Clone)]
pub struct Filters {
    include: Option<GlobSet>,
    exclude: GlobSet,
    defaults: Option<GlobSet>,
    /// Files larger than this are skipped.
    pub max_size: u64,
}

/// A glob as the user means it: with a `/`, against the path from the repository's root;
/// without one, against the file name in any folder (as `.gitignore` reads them).
fn glob(pattern: &str) -> Result<Glob, String> {
    let full = if pattern.contains('/') {
        pattern.trim_start_matches('/').to_owned()
    } else {
        format!("**/{pattern}")
    };
    GlobBuilder::new(&full)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("bad glob {pattern:?}: {e}"))
}

fn set(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(p)?);
    }
    b.build().map_err(|e| e.to_string())
}

impl Filters {
    /// Filters from `--include`, `--exclude`, whether the default excludes apply, and
    /// `--max-file-size`.
    pub fn new(
        include: &[String],
        exclude: &[String],
        default_excludes: bool,
        max_size: u64,
    ) -> Result<Filters, String> {
        let defaults = if default_excludes {
            let mut all: Vec<String> = DEFAULT_EXCLUDED_DIRS
                .iter()
                .map(|d| format!("**/{d}/**"))
                .collect();
            all.extend(DEFAULT_EXCLUDED_FILES.iter().map(|f| (*f).to_owned()));
            Some(set(&all)?)
        } else {
            None
        };
        Ok(Filters {
            include: (!include.is_empty()).then(|| set(include)).transpose()?,
            exclude: set(exclude)?,
            defaults,
            max_size,
        })
    }

    /// Why nothing in the folder at `path` is indexed, judged by its name (`--exclude` and
    /// the default excludes; `--include` is for the files in it); `None` when files in it
    /// may be.
    pub fn folder(&self, path: &str) -> Option<String> {
        let inside = format!("{}/_", path.trim_end_matches('/'));
        if self.exclude.is_match(&inside) {
            return Some("excluded by --exclude".into());
        }
        if self.defaults.as_ref().is_some_and(|d| d.is_match(&inside)) {
            return Some(
                "excluded by default (dependencies, build output; --no-default-excludes indexes them)"
                    .into(),
            );
        }
        None
    }

    /// Why the file at `path` (from the repository's root) is not indexed, judged by its
    /// name; `None` when it may be.
    pub fn by_name(&self, path: &str) -> Option<String> {
        if let Some(inc) = &self.include {
            if !inc.is_match(path) {
                return Some("not matched by --include".into());
            }
        }
        if self.exclude.is_match(path) {
            return Some("excluded by --exclude".into());
        }
        if self.defaults.as_ref().is_some_and(|d| d.is_match(path)) {
            return Some(
                "excluded by default (dependencies, build output, minified or lock files; --no-default-excludes indexes them)"
                    .into(),
            );
        }
        None
    }

    /// Why a file of `size` bytes is not indexed; `None` when it may be.
    pub fn by_size(&self, size: u64) -> Option<String> {
        (size > self.max_size).then(|| {
            format!(
                "{size} bytes, larger than --max-file-size ({} bytes)",
                self.max_size
            )
        })
    }
}

/// Whether content is binary: a NUL byte in its first 8000 bytes (as git decides).
pub fn is_binary(data: &[u8]) -> bool {
    data[..data.len().min(8000)].contains(&0)
}

/// A file's text: UTF-8 as it is; other bytes read as Latin-1 (every byte a character, so
/// nothing is lost and nothing fails).
pub fn text(data: Vec<u8>) -> String {
    match String::from_utf8(data) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&b| b as char).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_judged_by_excludes_not_includes() {
        let f = Filters::new(&["*.py".into()], &["docs/**".into()], true, 1 << 20).unwrap();
        assert_eq!(f.folder("nd/"), None);
        assert!(f.by_name("nd/").is_some(), "a folder is no *.py file");
        assert!(f.folder("web/node_modules/").is_some());
        assert!(f.folder("docs/").is_some());
    }

    #[test]
    fn globs_default_excludes_and_sizes() {
        let f = Filters::new(&[], &["*.txt".into(), "docs/gen/**".into()], true, 100).unwrap();
        assert_eq!(f.by_name("src/main.rs"), None);
        assert!(f.by_name("notes.txt").is_some());
        assert!(f.by_name("a/b/notes.txt").is_some());
        assert!(f.by_name("docs/gen/x.md").is_some());
        assert_eq!(f.by_name("docs/x.md"), None);
        for p in [
            "node_modules/x/index.js",
            "web/node_modules/y.js",
            "target/debug/a.rs",
            ".git/config",
            "static/app.min.js",
            "Cargo.lock",
            "sub/package-lock.json",
            "go.sum",
        ] {
            assert!(f.by_name(p).unwrap().contains("by default"), "{p}");
        }
        assert_eq!(
            f.by_name("src/build.rs"),
            None,
            "a file named build is fine"
        );
        let all = Filters::new(&[], &[], false, 100).unwrap();
        assert_eq!(all.by_name("node_modules/x.js"), None);
        let only = Filters::new(&["*.rs".into(), "src/**/*.py".into()], &[], true, 100).unwrap();
        assert_eq!(only.by_name("a/b.rs"), None);
        assert_eq!(only.by_name("src/x/y.py"), None);
        assert!(only.by_name("y.py").is_some());
        assert!(f.by_size(101).is_some());
        assert_eq!(f.by_size(100), None);
        assert!(Filters::new(&["a[".into()], &[], true, 1).is_err());
    }

    #[test]
    fn binary_and_latin1() {
        assert!(is_binary(b"ab\0cd"));
        assert!(!is_binary(b"plain"));
        assert_eq!(text(vec![b'c', 0xe9]), "cé");
        assert_eq!(text("ü".as_bytes().to_vec()), "ü");
    }
}
