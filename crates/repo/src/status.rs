//! A repository's status as `status`, `list` and the dashboard show it.

use anyhow::Result;
use ely_stream::Record;

use crate::{Repo, State, Sync};

/// When the repository syncs next (RFC 3339): its schedule's next time, after the wait of a
/// failing repository (`waits_until`, see [`crate::sync::waits_until`]); `None` when paused or
/// pending (cron leaves it alone).
pub fn next_sync(repo: &Repo, waits_until: Option<jiff::Timestamp>) -> Option<String> {
    if repo.paused || repo.pending {
        return None;
    }
    let s = ely_schedule::Schedule::parse(&repo.cron).ok()?;
    let from = match waits_until {
        Some(t) => t.to_zoned(jiff::tz::TimeZone::system()),
        None => jiff::Zoned::now(),
    };
    // RFC 3339, as every time in ely's records; tables show it in local time.
    s.next_after(&from).map(|t| t.timestamp().to_string())
}

/// A repository's status, as `status` and `list` print it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Status {
    pub name: String,
    pub status: String,
    pub url: String,
    pub collection: String,
    pub store: String,
    pub branch: Option<String>,
    /// Objects in the collection (`None` when the store cannot be asked).
    pub documents: Option<u64>,
    pub last_sync: Option<String>,
    pub last_ok: Option<bool>,
    pub last_error: Option<String>,
    pub commit: Option<String>,
    pub next_sync: Option<String>,
    pub schedule: String,
    pub syncs: u64,
    pub success_rate: Option<f64>,
}

impl Record for Status {
    const KIND: &'static str = "repo";
}

/// How `repo` is doing, from its history and its store.
pub fn status_of(state: &State, repo: &Repo) -> Result<Status> {
    let mut s = recorded(state, repo)?;
    s.documents = crate::add::documents(repo);
    Ok(s)
}

/// How `repo` is doing from its history alone, without asking its store (`documents` is
/// `None`): what a view refreshed every second can afford.
pub fn recorded(state: &State, repo: &Repo) -> Result<Status> {
    let (failures, last_end) = state.failures(&repo.name)?;
    let history = state.syncs(Some(&repo.name), 100)?;
    let finished: Vec<&Sync> = history.iter().filter(|s| s.ok.is_some()).collect();
    let last = finished.last();
    let ok = finished.iter().filter(|s| s.ok == Some(true)).count();
    Ok(Status {
        name: repo.name.clone(),
        status: crate::health(repo, failures).into(),
        url: crate::git::shown(&repo.url),
        collection: repo.collection.clone(),
        store: ely_store::shown(&repo.store),
        branch: repo.branch.clone(),
        documents: None,
        last_sync: last.and_then(|s| s.finished.clone()),
        last_ok: last.and_then(|s| s.ok),
        // The error of the last sync, when it failed (an old error is in `logs`).
        last_error: last
            .filter(|s| s.ok == Some(false))
            .and_then(|s| s.error.clone()),
        // The commit the collection is at: the last good sync's.
        commit: history
            .iter()
            .rev()
            .filter(|s| s.ok == Some(true))
            .find_map(|s| s.commit.clone()),
        next_sync: next_sync(
            repo,
            crate::sync::waits_until(failures, last_end.as_deref()),
        ),
        schedule: repo.schedule.clone(),
        syncs: finished.len() as u64,
        success_rate: (!finished.is_empty()).then(|| ok as f64 / finished.len() as f64),
    })
}
