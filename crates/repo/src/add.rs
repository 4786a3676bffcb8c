//! Putting a repository under sync: every check first (the name, the schedule, the store, the
//! source answering as git with its branch), then the clone, what it holds, the first sync
//! (which creates the collection), and the cron entry. A step that fails undoes the ones
//! before it: the clone, the state, a collection the first sync created, the entry.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::git::{self, Discovery};
use crate::state::{Repo, State, Sync};
use crate::sync::{self, Tools};

/// What `ely-repo add` is asked.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A URL (https, ssh, `file://`) or the path of a local clone.
    pub source: String,
    pub name: Option<String>,
    pub collection: Option<String>,
    pub schedule: String,
    pub store: Option<String>,
    pub branch: Option<String>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub max_file_size: Option<String>,
    pub vectorizer: Option<String>,
    pub model: Option<String>,
    pub webhook: Option<String>,
    pub crontab_file: Option<PathBuf>,
}

/// The repository's name from its source: the last part of the URL or path, without `.git`.
pub fn name_of(source: &str) -> String {
    let trimmed = source.trim_end_matches('/');
    let last = trimmed.rsplit(['/', ':']).next().unwrap_or(trimmed);
    last.strip_suffix(".git").unwrap_or(last).to_owned()
}

/// A repository name: letters, digits, `.`, `_` and `-` (it names a folder and a lock).
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "repository name {name:?}: use letters, digits, '.', '_' and '-' (give --name)"
        )),
    }
}

/// A collection name made from a repository name, valid for Weaviate (a capital first,
/// then letters, digits and `_`): `my-app` is `MyApp`, `2fa` is `Repo2fa`.
pub fn collection_of(name: &str) -> String {
    let mut out = String::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if !out.starts_with(|c: char| c.is_ascii_uppercase()) {
        out.insert_str(0, "Repo");
    }
    out
}

/// The first sync of an add failed (the add was undone): its exit code (3: the remote or the
/// store could not be reached; 1: files were rejected) and why.
#[derive(Debug)]
pub struct FirstSyncFailed {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for FirstSyncFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the first sync failed: {} (nothing was kept: run the same command again once that is fixed)",
            self.message
        )
    }
}

impl std::error::Error for FirstSyncFailed {}

/// Include and exclude globs as ely-ingest reads them: an error names the bad one.
pub fn check_globs(include: &[String], exclude: &[String]) -> Result<(), String> {
    ely_ingest::filter::Filters::new(include, exclude, true, u64::MAX)
        .map(|_| ())
        .map_err(|e| format!("--include/--exclude: {e}"))
}

/// A request checked, before anything is changed.
pub struct Checked {
    req: Request,
    url: String,
    branch: String,
    name: String,
    collection: String,
    schedule: ely_schedule::Schedule,
    store: String,
}

/// Checks everything before anything changes: the arguments, then the source answering as
/// git with its branch (`git ls-remote`).
pub fn check(req: &Request) -> Result<Checked> {
    let url = source_url(&req.source);
    if ely_store::has_credentials(&url) {
        bail!(
            "{}: give the URL without credentials; a token goes in GITHUB_TOKEN or GIT_TOKEN",
            ely_store::shown(&url)
        );
    }
    let name = req.name.clone().unwrap_or_else(|| name_of(&url));
    check_name(&name).map_err(anyhow::Error::msg)?;
    let collection = req
        .collection
        .clone()
        .unwrap_or_else(|| collection_of(&name));
    ely_store::names::check_class_name(&collection)
        .map_err(|e| anyhow::anyhow!("--collection {collection}: {e}"))?;
    let schedule = ely_schedule::Schedule::parse(&req.schedule)
        .map_err(|e| anyhow::anyhow!("--schedule: {e}"))?;
    let store = match ely_store::resolve(req.store.as_deref(), |k| std::env::var(k).ok())? {
        ely_store::Location::Weaviate(u) if ely_store::has_credentials(&u) => bail!(
            "--store {}: give the URL without credentials; the API key comes from WEAVIATE_API_KEY",
            ely_store::shown(&u)
        ),
        loc => loc.full(),
    };
    if let Some(w) = &req.webhook {
        ely_schedule::alert::check_url(w).map_err(anyhow::Error::msg)?;
    }
    // Globs ely-ingest could not read would only fail the first sync, after the clone.
    check_globs(&req.include, &req.exclude).map_err(anyhow::Error::msg)?;
    if req.model.is_some() && req.vectorizer.is_none() {
        bail!("--model names the model of --vectorizer: give both");
    }
    let branch = git::check_source(&url, req.branch.as_deref())?;
    // A Weaviate that does not answer would only fail the first sync, after the clone.
    let loc = ely_store::resolve(Some(&store), |_| None)?;
    if let ely_store::Location::Weaviate(_) = &loc {
        ely_store::open(&loc, &ely_store::OpenOptions::from_env())?
            .collections()
            .with_context(|| format!("the store {}", ely_store::shown(&store)))?;
    }
    Ok(Checked {
        req: req.clone(),
        url,
        branch,
        name,
        collection,
        schedule,
        store,
    })
}

impl Checked {
    /// What the add will do, as the rows of a preview: the source and branch, the clone's
    /// folder, the collection and store, the schedule and where its cron entry goes, the
    /// filters, the vectorizer and the webhook.
    pub fn preview(&self, home: &Path, state: &Path) -> Vec<(&'static str, String)> {
        let req = &self.req;
        let or_none = |v: &[String]| match v.is_empty() {
            true => "-".to_owned(),
            false => v.join(", "),
        };
        let file = req.crontab_file.as_ref().map(|f| f.display().to_string());
        let tab =
            ely_schedule::Crontab::for_job(file.as_deref(), &ely_store::sqlite::folder_of(state));
        vec![
            ("source", git::shown(&self.url)),
            ("branch", self.branch.clone()),
            ("name", self.name.clone()),
            (
                "clone into",
                home.join("repos").join(&self.name).display().to_string(),
            ),
            ("collection", self.collection.clone()),
            ("store", ely_store::shown(&self.store)),
            (
                "schedule",
                format!("{} ({})", self.schedule.describe(), self.schedule.cron()),
            ),
            ("cron entry", tab.describe()),
            ("include", or_none(&req.include)),
            ("exclude", or_none(&req.exclude)),
            (
                "max file size",
                req.max_file_size
                    .clone()
                    .unwrap_or_else(|| "ely-ingest's default".into()),
            ),
            (
                "vectorizer",
                match (&req.vectorizer, &req.model) {
                    (Some(v), Some(m)) => format!("{v} ({m})"),
                    (Some(v), None) => v.clone(),
                    _ => "none (vectors come from elsewhere)".into(),
                },
            ),
            (
                "alerts",
                req.webhook
                    .as_deref()
                    .map_or("-".into(), ely_schedule::alert::shown_url),
            ),
        ]
    }
}

/// What an add did.
pub struct Added {
    pub repo: Repo,
    pub discovery: Discovery,
    pub sync: Sync,
    /// Whether the cron entry is installed (false: no crontab command; the line to install
    /// by hand is `entry`).
    pub installed: bool,
    pub entry: String,
}

/// The source as git takes it: a local folder by its absolute path, anything else as given.
pub fn source_url(source: &str) -> String {
    let p = Path::new(source);
    if !source.contains("://") && p.exists() {
        return std::path::absolute(p)
            .unwrap_or_else(|_| p.to_owned())
            .display()
            .to_string();
    }
    source.to_owned()
}

/// Adds a checked repository; `say` is told of each step. A repository of that name whose
/// add was interrupted (still pending) is cleared away first.
pub fn add(
    state: &State,
    checked: Checked,
    home: &Path,
    exe: &Path,
    say: &mut dyn FnMut(String),
    progress: Option<std::sync::Arc<ely_stream::Counters>>,
) -> Result<Added> {
    let Checked {
        req,
        url,
        branch,
        name,
        collection,
        schedule,
        store,
    } = checked;
    let req = &req;
    if let Some(old) = state.repo(&name)? {
        if !old.pending {
            bail!("a repository named {name:?} is under sync already (see `ely-repo status {name}`; give --name for another)");
        }
        say(format!(
            "clearing away an add of {name} that was interrupted"
        ));
        state.remove(&name)?;
        Tools::beside(state.path()).forget_ingest_state(&name);
        let _ = std::fs::remove_dir_all(&old.path);
    }
    say(format!(
        "source {} answers; branch {branch}",
        git::shown(&url)
    ));

    let dest = home.join("repos").join(&name);
    if dest.exists() {
        bail!(
            "{} exists already: remove it, or give --name for another folder",
            dest.display()
        );
    }
    // Clones of private code: for this user only.
    let repos = home.join("repos");
    std::fs::create_dir_all(&repos).with_context(|| format!("creating {}", repos.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&repos, std::fs::Permissions::from_mode(0o700));
    }
    let repo = Repo {
        name: name.clone(),
        url: url.clone(),
        path: dest.display().to_string(),
        collection,
        store,
        branch: Some(branch.clone()),
        include: req.include.clone(),
        exclude: req.exclude.clone(),
        max_file_size: req.max_file_size.clone(),
        vectorizer: req.vectorizer.clone(),
        model: req.model.clone(),
        schedule: req.schedule.clone(),
        cron: schedule.cron().to_owned(),
        webhook: req.webhook.clone(),
        crontab_file: req.crontab_file.as_ref().map(|f| {
            std::path::absolute(f)
                .unwrap_or(f.clone())
                .display()
                .to_string()
        }),
        paused: false,
        pending: true,
    };
    // From here on, a failure undoes what was done (an interrupt leaves the repository
    // pending, and the next add of it clears it away).
    let collection_existed = collection_exists(&repo);
    let mut undo = Undo {
        state,
        repo: &repo,
        clone: false,
        saved: false,
        collection: false,
    };
    git::clone(&url, &branch, &dest)?;
    undo.clone = true;
    let discovery = git::discover(&dest)?;
    let some = |n: u64, one: &str, many: &str| {
        format!(
            "{} {}",
            ely_vocab::human::count(n),
            if n == 1 { one } else { many }
        )
    };
    say(format!(
        "cloned into {}: {} in {}, {}",
        dest.display(),
        some(discovery.files, "file", "files"),
        some(discovery.directories, "folder", "folders"),
        ely_vocab::human::bytes(discovery.bytes)
    ));
    if !discovery.languages.is_empty() {
        say(format!("languages: {}", languages(&discovery)));
    }
    say(estimate(state, discovery.files));
    state.save(&repo, false)?;
    undo.saved = true;
    let mut tools = Tools::beside(state.path());
    if let Some(p) = progress {
        p.objects
            .store(discovery.files, std::sync::atomic::Ordering::Relaxed);
        tools.progress = Some(p);
    }
    say(format!("first sync into collection {}", repo.collection));
    undo.collection = !collection_existed.unwrap_or(true);
    let (first, code) = sync::sync(state, &repo, "add", &tools)?;
    if code != 0 {
        return Err(FirstSyncFailed {
            code,
            message: first.error.unwrap_or_else(|| "no message".into()),
        }
        .into());
    }
    let key = cron_key(&repo, state.path());
    let command = cron_command(&repo, exe, state.path());
    let entry = ely_schedule::entry_line(schedule.cron(), &command);
    let tab = crontab(&repo, state.path());
    let installed = match tab.install(&key, schedule.cron(), &command) {
        Ok(_) => {
            say(format!(
                "cron entry installed in {}: {}",
                tab.describe(),
                schedule.describe()
            ));
            true
        }
        Err(ely_schedule::CrontabError::NoCrontab { .. }) => false,
        Err(e) => bail!("installing the cron entry: {e}"),
    };
    undo.disarm();
    drop(undo);
    let mut repo = repo;
    repo.pending = false;
    state.save(&repo, true)?;
    Ok(Added {
        repo,
        discovery,
        sync: first,
        installed,
        entry,
    })
}

/// The languages of a clone, most files first: `Rust 120, Markdown 14, TOML 3, 2 more`.
pub fn languages(d: &Discovery) -> String {
    let mut by: Vec<(&String, &u64)> = d.languages.iter().collect();
    by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut parts: Vec<String> = by.iter().take(6).map(|(l, n)| format!("{l} {n}")).collect();
    if by.len() > 6 {
        parts.push(format!("{} more", by.len() - 6));
    }
    parts.join(", ")
}

/// What the first sync of `files` files should take, from the files per second that earlier
/// syncs here settled.
pub fn estimate(state: &State, files: u64) -> String {
    match state.throughput() {
        Ok(Some((rate, syncs))) if rate > 0.0 => {
            let secs = files as f64 / rate;
            format!(
                "the first sync should take {} ({:.0} files/s over {syncs} earlier sync{} here)",
                match secs < 1.0 {
                    true => "under a second".to_owned(),
                    false => format!("about {}", ely_vocab::human::duration(secs)),
                },
                rate,
                if syncs == 1 { "" } else { "s" }
            )
        }
        _ => "no earlier syncs here to estimate the first one's time from".into(),
    }
}

/// Whether the repository's collection exists in its store (`None` when the store cannot
/// be asked).
pub fn collection_exists(repo: &Repo) -> Option<bool> {
    let loc = ely_store::resolve(Some(&repo.store), |_| None).ok()?;
    if let ely_store::Location::Embedded(p) = &loc {
        if !p.exists() {
            return Some(false);
        }
    }
    let store = ely_store::open(&loc, &ely_store::OpenOptions::from_env()).ok()?;
    store.class(&repo.collection).ok().map(|c| c.is_some())
}

/// The objects in the repository's collection (`None` when the store cannot be asked).
pub fn documents(repo: &Repo) -> Option<u64> {
    let loc = ely_store::resolve(Some(&repo.store), |_| None).ok()?;
    let store = ely_store::open_existing(&loc, &ely_store::OpenOptions::from_env()).ok()?;
    store.count(&repo.collection, None).ok()
}

/// Undoes an add that failed halfway, in reverse.
struct Undo<'a> {
    state: &'a State,
    repo: &'a Repo,
    clone: bool,
    saved: bool,
    collection: bool,
}

impl Undo<'_> {
    fn disarm(&mut self) {
        self.clone = false;
        self.saved = false;
        self.collection = false;
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.collection {
            if let Ok(loc) = ely_store::resolve(Some(&self.repo.store), |_| None) {
                if let Ok(store) =
                    ely_store::open_existing(&loc, &ely_store::OpenOptions::from_env())
                {
                    let _ = store.delete_class(&self.repo.collection);
                }
            }
        }
        if self.saved {
            let _ = self.state.remove(&self.repo.name);
            Tools::beside(self.state.path()).forget_ingest_state(&self.repo.name);
        }
        if self.clone {
            let _ = std::fs::remove_dir_all(&self.repo.path);
        }
    }
}

/// The key of a repository's cron entry (the repository in its state file).
pub fn cron_key(repo: &Repo, state: &Path) -> String {
    format!("ely-repo sync {} ({})", repo.name, state.display())
}

/// What cron runs: this binary and the state file by their full paths, output appended to
/// the repository's log beside the state file.
pub fn cron_command(repo: &Repo, exe: &Path, state: &Path) -> String {
    let dir = ely_store::sqlite::folder_of(state);
    let log = dir.join("logs").join(format!("repo-{}.log", repo.name));
    let _ = std::fs::create_dir_all(dir.join("logs"));
    ely_schedule::append_log(
        &ely_schedule::command_line(&[
            &exe.display().to_string(),
            "--state",
            &state.display().to_string(),
            "sync",
            "--cron",
            &repo.name,
        ]),
        &log.display().to_string(),
    )
}

/// The crontab a repository's entry lives in.
pub fn crontab(repo: &Repo, state: &Path) -> ely_schedule::Crontab {
    ely_schedule::Crontab::for_job(
        repo.crontab_file.as_deref(),
        &ely_store::sqlite::folder_of(state),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_collections_come_from_the_source() {
        assert_eq!(name_of("https://github.com/org/my-app.git"), "my-app");
        assert_eq!(name_of("git@github.com:org/app.git"), "app");
        assert_eq!(name_of("file:///srv/git/tool/"), "tool");
        assert_eq!(name_of("../work/ely"), "ely");
        assert_eq!(collection_of("my-app"), "MyApp");
        assert_eq!(collection_of("ely"), "Ely");
        assert_eq!(collection_of("2fa"), "Repo2fa");
        assert_eq!(collection_of("a.b_c"), "ABC");
        assert!(check_name("my-app").is_ok());
        assert!(check_name("../x").is_err());
        assert!(check_name("").is_err());
    }
}
