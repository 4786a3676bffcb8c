//! ely-repo's library: repositories put under continuous sync into a collection. The binary
//! (`crates/core/repo.rs`) parses arguments and prints; the work is here:
//!
//! - [`state`]: the state file (repositories, their settings, the history of syncs);
//! - [`git`]: the source checked, cloned and brought up to date; what a clone holds;
//! - [`sync`]: one sync (lock, fetch, ely-ingest's git mode, record, alert);
//! - [`add`]: a repository added with every check first and nothing half-made;
//! - [`diagnose`]: what could keep a repository from syncing, and what to do;
//! - [`status`]: how a repository is doing, as `status`, `list` and the dashboard show it.
//!
//! Cron entries, locks and alerts come from `ely-schedule`, as ely-catalog's schedules do.
//! docs/REPO.md describes it for users.

pub mod add;
pub mod dashboard;
pub mod diagnose;
pub mod git;
pub mod state;
pub mod status;
pub mod sync;

pub use state::{Repo, State, Sync};

/// What a repository's health is, from its last syncs: `pending` (its add did not finish),
/// `paused`, `healthy` (the last sync succeeded, or none ran yet), `retrying` (the last one
/// or two failed), or `failing` (three or more failed in a row).
pub fn health(repo: &Repo, failures: u32) -> &'static str {
    if repo.pending {
        return "pending";
    }
    match (repo.paused, failures) {
        (true, _) => "paused",
        (false, 0) => "healthy",
        (false, 1 | 2) => "retrying",
        _ => "failing",
    }
}
