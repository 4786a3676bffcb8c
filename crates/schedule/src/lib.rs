//! ely-schedule: what ely needs to run jobs unattended. `cron` reads schedules (durations
//! such as `30m`, `@daily`, five-field cron expressions) and predicts their next times;
//! `crontab` keeps ely's entries in a marked block of the user's crontab (or a crontab-format
//! file) and is the only code that writes cron entries; `lock` gives each job one lock so
//! overlapping runs never collide. `ely-catalog schedule` uses it for scheduled backups and
//! `ely-repo` for repository syncs.

pub mod cron;
pub mod crontab;
pub mod lock;

pub use cron::Schedule;
pub use crontab::{append_log, command_line, entry_line, Change, Crontab, CrontabError, Entry};
pub use lock::RunLock;
