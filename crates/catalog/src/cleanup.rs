//! Cleanup: the retention policy applied to the catalog's backups, group by group (by
//! collection and source unless `--group-by` says otherwise), and the removal of what it does
//! not keep. A backup is marked in the catalog before its file is deleted and its row
//! dropped after, so a crash in between leaves a row that says `removing`, which the next
//! cleanup finishes; a dry run changes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::db::{mtime_ns, Backup, Catalog, Filter, Status};
use crate::policy::{apply, Item, Policy};

/// What backups are grouped by; each group gets the policy on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Collection,
    Source,
    Plan,
}

/// `collection,source` (the default), any of collection, source and plan, or `none` (one
/// group).
pub fn parse_group_by(s: &str) -> Result<Vec<GroupBy>, String> {
    if s.trim().is_empty() || s.trim() == "none" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| match p.trim() {
            "collection" | "collections" => Ok(GroupBy::Collection),
            "source" => Ok(GroupBy::Source),
            "plan" => Ok(GroupBy::Plan),
            other => Err(format!(
                "'{other}' is not a grouping: use collection, source, plan (comma-separated) or none"
            )),
        })
        .collect()
}

/// A backup and what the policy decided for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub short_id: String,
    pub file: String,
    pub started: String,
    pub group: String,
    /// `keep` or `remove`.
    pub action: String,
    pub reasons: Vec<String>,
    /// The backup's status now: a `missing` or `failed` backup still counts for the policy,
    /// which the operator should know before trusting what is kept.
    pub status: Status,
    #[serde(skip)]
    pub seq: i64,
    #[serde(skip)]
    pub bytes: u64,
    #[serde(skip)]
    pub mtime_ns: i64,
}

impl ely_stream::Record for Decision {
    const KIND: &'static str = "verdict";
}

impl Decision {
    pub fn keep(&self) -> bool {
        self.action == "keep"
    }
}

fn group_key(b: &Backup, by: &[GroupBy]) -> String {
    by.iter()
        .map(|g| match g {
            GroupBy::Collection => format!("collection={}", b.group),
            GroupBy::Source => format!("source={}", b.source),
            GroupBy::Plan => format!("plan={}", b.plan.as_deref().unwrap_or("")),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The verdict on every backup `filter` picks (those being removed already excepted), group
/// by group, oldest first within a group.
pub fn decide(
    catalog: &Catalog,
    filter: &Filter,
    policy: &Policy,
    by: &[GroupBy],
    now: Timestamp,
    tz: &TimeZone,
) -> Result<Vec<Decision>> {
    let mut groups: BTreeMap<String, Vec<Backup>> = BTreeMap::new();
    for mut b in catalog.rows(filter, false)? {
        if b.removing {
            continue;
        }
        b.refresh_status();
        groups.entry(group_key(&b, by)).or_default().push(b);
    }
    let mut out = Vec::new();
    for (group, backups) in groups {
        let items: Vec<Item> = backups
            .iter()
            .map(|b| Item {
                key: b.seq,
                time_us: b.time_us,
                pinned: b.pinned,
            })
            .collect();
        let verdicts = apply(&items, policy, now, tz);
        for (b, v) in backups.into_iter().zip(verdicts) {
            out.push(Decision {
                id: b.id,
                short_id: b.short_id,
                file: b.file,
                started: b.started,
                group: group.clone(),
                action: if v.keep { "keep" } else { "remove" }.into(),
                reasons: v.reasons,
                status: b.status,
                seq: b.seq,
                bytes: b.bytes,
                mtime_ns: b.mtime_ns,
            });
        }
    }
    Ok(out)
}

/// What a removal did.
#[derive(Debug, Default)]
pub struct Removed {
    /// Backups whose files are gone and rows dropped.
    pub removed: Vec<String>,
    /// Backups whose file could not be deleted (the row stays, marked), and why.
    pub failed: Vec<(String, String)>,
    /// Backups whose path now holds another file (size or modification time differ): the
    /// file is kept, the row dropped.
    pub replaced: Vec<(String, String)>,
}

/// Removes the backups `decisions` do not keep, after finishing what an earlier cleanup
/// left marked.
pub fn remove(catalog: &mut Catalog, decisions: &[Decision]) -> Result<Removed> {
    let mut todo: Vec<(i64, String, String, u64, i64)> = catalog
        .unfinished_removals()?
        .into_iter()
        .map(|b| (b.seq, b.short_id, b.file, b.bytes, b.mtime_ns))
        .collect();
    let doomed: Vec<&Decision> = decisions.iter().filter(|d| !d.keep()).collect();
    // Pinned since the policy was applied: not marked, not removed.
    let marked = catalog.mark_removing(&doomed.iter().map(|d| d.seq).collect::<Vec<_>>())?;
    todo.extend(doomed.iter().filter(|d| marked.contains(&d.seq)).map(|d| {
        (
            d.seq,
            d.short_id.clone(),
            d.file.clone(),
            d.bytes,
            d.mtime_ns,
        )
    }));
    let mut out = Removed::default();
    for (seq, short_id, file, bytes, mtime) in todo {
        let path = Path::new(&file);
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.len() != bytes || (mtime != 0 && mtime_ns(&meta) != mtime) {
                catalog.forget(seq)?;
                out.replaced.push((short_id, file));
                continue;
            }
        }
        match remove_file(path) {
            Ok(()) => {
                catalog.forget(seq)?;
                out.removed.push(short_id);
            }
            Err(e) => out.failed.push((short_id, format!("{file}: {e}"))),
        }
    }
    Ok(out)
}

/// Deletes a backup file (one already gone is fine), then the `tenant=<name>` folder of a
/// backup partitioned by tenant once it is empty.
fn remove_file(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(d) = path.parent().filter(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tenant="))
    }) {
        let _ = std::fs::remove_dir(d);
    }
    Ok(())
}
