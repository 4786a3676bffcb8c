//! ely-schedule: what ely needs to run jobs unattended. `cron` reads schedules (durations
//! such as `30m`, `@daily`, five-field cron expressions) and predicts their next times;
//! `crontab` keeps ely's entries in a marked block of the user's crontab (or a crontab-format
//! file) and is the only code that writes cron entries; `lock` gives each job one lock so
//! overlapping runs never collide; `alert` POSTs a job's alert to a webhook, retried, its URL
//! never shown whole. `ely-catalog schedule` uses it for scheduled backups and
//! `ely-repo` for repository syncs.

pub mod alert;
pub mod cron;
pub mod crontab;
pub mod lock;

pub use cron::Schedule;
pub use crontab::{append_log, command_line, entry_line, Change, Crontab, CrontabError, Entry};
pub use lock::RunLock;

/// The ely binary `name` installed beside the running one (what an unattended job runs:
/// cron's PATH may not hold it), else `name` as the PATH finds it.
pub fn sibling(name: &str) -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .map(|e| e.with_file_name(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| std::path::PathBuf::from(name))
}
