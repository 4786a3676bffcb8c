//! Where each repository is on disk, and reading files without leaving the places the user
//! allows: a repository's files only inside its folder, `content_ref` files only inside the
//! allowed roots, symbolic links and `..` included.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Repository names to folders.
#[derive(Debug, Clone, Default)]
pub struct Repos {
    /// `--repo NAME=DIR` and the repositories `--git` found: name to folder.
    named: BTreeMap<String, PathBuf>,
    /// `--root DIR`: a repository `NAME` is `DIR/NAME`.
    roots: Vec<PathBuf>,
    /// `--allow-root DIR`: where `content_ref` may point (default: every repository root).
    allowed: Vec<PathBuf>,
}

/// What reading a file found.
#[derive(Debug)]
pub enum Found {
    /// Its bytes (when at most the limit).
    Bytes(Vec<u8>),
    /// Larger than the limit: its size.
    TooLarge(u64),
    /// A folder (mgit lists an untracked folder as `dir/`).
    Folder(PathBuf),
    /// Not there: deleted.
    Missing,
    /// Not to be read, and why (a link or a submodule in a commit, a record's `skip_index`).
    Skip(String),
}

impl Repos {
    pub fn new(allowed: Vec<PathBuf>) -> Repos {
        Repos {
            allowed,
            ..Repos::default()
        }
    }

    /// `NAME` is at `dir`. A second folder for one name is an error.
    pub fn add(&mut self, name: &str, dir: &Path) -> Result<(), String> {
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if let Some(old) = self.named.get(name) {
            if *old != dir {
                return Err(format!(
                    "two repositories are named {name}: {} and {} (name them with --repo NAME=DIR)",
                    old.display(),
                    dir.display()
                ));
            }
        }
        self.named.insert(name.to_owned(), dir);
        Ok(())
    }

    /// Repositories are folders under `dir`.
    pub fn add_root(&mut self, dir: &Path) -> Result<(), String> {
        let dir = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.roots.push(dir);
        Ok(())
    }

    /// The folder of repository `name`, if known.
    pub fn dir(&self, name: &str) -> Option<PathBuf> {
        if let Some(d) = self.named.get(name) {
            return Some(d.clone());
        }
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return None;
        }
        self.roots.iter().map(|r| r.join(name)).find(|d| d.is_dir())
    }

    /// Whether any repository folder is known (a record's file can be read from disk).
    pub fn any(&self) -> bool {
        !self.named.is_empty() || !self.roots.is_empty()
    }

    /// The roots `content_ref` may point into: `--allow-root`, else every repository folder
    /// and root.
    fn allowed_roots(&self) -> Vec<PathBuf> {
        if !self.allowed.is_empty() {
            return self
                .allowed
                .iter()
                .filter_map(|d| std::fs::canonicalize(d).ok())
                .collect();
        }
        self.named.values().chain(&self.roots).cloned().collect()
    }

    /// Reads `rel` (a path from the repository's root) of repository `name`, at most `limit`
    /// bytes.
    pub fn read(&self, name: &str, rel: &str, limit: u64) -> Result<Found, String> {
        let Some(dir) = self.dir(name) else {
            return Err(format!(
                "repository {name} is not on this machine as far as ely-ingest knows (give --root DIR or --repo {name}=DIR)"
            ));
        };
        if Path::new(rel).is_absolute()
            || Path::new(rel)
                .components()
                .any(|c| matches!(c, Component::ParentDir))
        {
            return Err(format!("path {rel:?} leaves the repository"));
        }
        let path = dir.join(rel);
        // A link is not a file of the repository (git keeps the link, not its target), as
        // git's own listing says of committed links.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(Found::Skip("a symbolic link".into()));
        }
        read_inside(&path, &[dir], limit)
    }

    /// Reads a `content_ref` path, which must be inside an allowed root, at most `limit` bytes.
    pub fn read_ref(&self, path: &str, limit: u64) -> Result<Found, String> {
        let roots = self.allowed_roots();
        if roots.is_empty() {
            return Err(format!(
                "content_ref {path:?} is outside every allowed root (none given: --allow-root DIR)"
            ));
        }
        match read_inside(Path::new(path), &roots, limit)? {
            Found::Missing => Err(format!("content_ref {path:?} does not exist")),
            other => Ok(other),
        }
    }
}

/// Reads `path` when it resolves (links followed) inside one of `roots` (canonical).
fn read_inside(path: &Path, roots: &[PathBuf], limit: u64) -> Result<Found, String> {
    let real = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Gone, or a link to nowhere: either way nothing to index.
            return Ok(Found::Missing);
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    if !roots.iter().any(|r| real.starts_with(r)) {
        return Err(format!(
            "{} is outside the allowed roots ({})",
            path.display(),
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        return Ok(Found::Folder(real));
    }
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > limit {
        return Ok(Found::TooLarge(meta.len()));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(&real)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut data))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() as u64 > limit {
        return Ok(Found::TooLarge(data.len() as u64));
    }
    Ok(Found::Bytes(data))
}

/// The files under `dir` (a folder inside repository folder `repo_dir`), as paths from the
/// repository's root, sorted; folders named in `skip` are not entered.
pub fn files_under(repo_dir: &Path, dir: &Path, skip: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !skip.iter().any(|s| e.file_name() == **s) {
                    stack.push(p);
                }
            } else if ft.is_file() {
                if let Ok(rel) = p.strip_prefix(repo_dir) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stay_inside_their_roots() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("ws/demo");
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        std::fs::write(repo.join("sub/a.py"), "x = 1\n").unwrap();
        std::fs::write(tmp.path().join("secret"), "key").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("secret"), repo.join("leak")).unwrap();
        let mut repos = Repos::new(Vec::new());
        repos.add_root(&tmp.path().join("ws")).unwrap();
        assert!(
            matches!(repos.read("demo", "sub/a.py", 100).unwrap(), Found::Bytes(b) if b == b"x = 1\n")
        );
        assert!(matches!(
            repos.read("demo", "sub/a.py", 3).unwrap(),
            Found::TooLarge(6)
        ));
        assert!(matches!(
            repos.read("demo", "gone.py", 100).unwrap(),
            Found::Missing
        ));
        assert!(matches!(
            repos.read("demo", "sub", 100).unwrap(),
            Found::Folder(_)
        ));
        assert!(repos.read("demo", "../../secret", 100).is_err());
        // A link is skipped as git's listing skips committed links; a path through a linked
        // folder that leads outside is refused.
        assert!(matches!(
            repos.read("demo", "leak", 100).unwrap(),
            Found::Skip(why) if why == "a symbolic link"
        ));
        std::os::unix::fs::symlink(tmp.path(), repo.join("out")).unwrap();
        assert!(repos
            .read("demo", "out/secret", 100)
            .unwrap_err()
            .contains("outside"));
        assert!(repos
            .read("other", "a.py", 100)
            .unwrap_err()
            .contains("--root"));
        // content_ref: inside the repository roots by default, else refused.
        let inside = repo.join("sub/a.py");
        assert!(matches!(
            repos.read_ref(inside.to_str().unwrap(), 100).unwrap(),
            Found::Bytes(_)
        ));
        let outside = tmp.path().join("secret");
        assert!(repos.read_ref(outside.to_str().unwrap(), 100).is_err());
        let dotdot = format!("{}/../../secret", repo.display());
        assert!(repos.read_ref(&dotdot, 100).is_err());
        assert!(repos
            .read_ref(repo.join("leak").to_str().unwrap(), 100)
            .is_err());
        // --allow-root replaces the default.
        let only = Repos::new(vec![tmp.path().to_path_buf()]);
        assert!(matches!(
            only.read_ref(outside.to_str().unwrap(), 100).unwrap(),
            Found::Bytes(_)
        ));
        assert_eq!(
            files_under(&repo, &repo, &[]),
            ["sub/a.py"],
            "links are not followed"
        );
    }
}
