//! Retention: which backups a policy keeps, and why, with restic's semantics (its
//! `ApplyPolicy`), so operators who know `restic forget` know what `ely-catalog cleanup` does:
//!
//! - backups are taken newest first; `--keep-hourly/daily/weekly/monthly/yearly N` keeps the
//!   newest backup of each of the N newest hours, days, ISO weeks, months, years that have
//!   one, in the local time zone (set `TZ` to choose another); `--keep-last N` the N newest;
//! - while a rule still has count left when the oldest backup is reached, the oldest is kept
//!   too (the longest history the counts allow);
//! - `--keep-within D` keeps every backup started within D of the newest one (not of now:
//!   a catalog whose backups stopped keeps them);
//! - `--older-than D` is ely's own: nothing started within D of now is removed.
//!
//! Two ely rules besides: pinned backups are kept and take no bucket from the others, and
//! backups of one group that started at the same moment (the parts of one split backup) are
//! one unit, kept or removed together.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};
use serde::{Deserialize, Serialize};

/// A duration in calendar units: `12h`, `30d`, `2w`, `6mo`, `1y`, or several (`1y6mo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Age {
    text: String,
    hours: i64,
    days: i64,
    weeks: i64,
    months: i64,
    years: i64,
}

impl Age {
    pub fn parse(text: &str) -> Result<Age, String> {
        let t = text.trim();
        let mut age = Age {
            text: t.to_owned(),
            hours: 0,
            days: 0,
            weeks: 0,
            months: 0,
            years: 0,
        };
        let mut rest = t;
        if rest.is_empty() {
            return Err("an empty duration: use e.g. 30d, 2w, 6mo, 1y".into());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit_end = rest[digits..]
                .find(|c: char| c.is_ascii_digit())
                .map_or(rest.len(), |i| digits + i);
            let n: i64 = rest[..digits]
                .parse()
                .map_err(|_| format!("'{t}' is not a duration (use e.g. 30d, 2w, 6mo, 1y)"))?;
            if n > 10_000 {
                return Err(format!("'{t}': {n} is too large"));
            }
            match &rest[digits..unit_end] {
                "h" => age.hours += n,
                "d" => age.days += n,
                "w" => age.weeks += n,
                "mo" => age.months += n,
                "y" => age.years += n,
                "m" => {
                    return Err(format!(
                        "'{t}': m is ambiguous here: use mo for months (or h for hours)"
                    ))
                }
                u => {
                    return Err(format!(
                        "'{t}': unknown unit '{u}' (use h, d, w, mo or y, e.g. 30d)"
                    ))
                }
            }
            rest = &rest[unit_end..];
        }
        if age.hours + age.days + age.weeks + age.months + age.years == 0 {
            return Err(format!(
                "'{t}' is no time at all: leave the flag out, or give e.g. 1d"
            ));
        }
        // Counted back from now it must still be a time (jiff's range ends at year -9999).
        if age.before(&Zoned::now()).is_none() {
            return Err(format!("'{t}' reaches back before the calendar's start"));
        }
        Ok(age)
    }

    /// `t` minus this age, in calendar terms in `t`'s zone.
    pub fn before(&self, t: &Zoned) -> Option<Zoned> {
        let span = Span::new()
            .try_years(self.years)
            .and_then(|s| s.try_months(self.months))
            .and_then(|s| s.try_weeks(self.weeks))
            .and_then(|s| s.try_days(self.days))
            .and_then(|s| s.try_hours(self.hours))
            .ok()?;
        t.checked_sub(span).ok()
    }
}

impl std::fmt::Display for Age {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl TryFrom<String> for Age {
    type Error = String;
    fn try_from(s: String) -> Result<Age, String> {
        Age::parse(&s)
    }
}

impl From<Age> for String {
    fn from(a: Age) -> String {
        a.text
    }
}

/// A retention policy. Counts of `None` or 0 keep nothing by that rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Age>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub older_than: Option<Age>,
}

impl Policy {
    /// No rule at all (cleanup refuses to run: it would remove everything).
    pub fn is_empty(&self) -> bool {
        let zero = |n: Option<u32>| n.unwrap_or(0) == 0;
        zero(self.last)
            && zero(self.hourly)
            && zero(self.daily)
            && zero(self.weekly)
            && zero(self.monthly)
            && zero(self.yearly)
            && self.within.is_none()
            && self.older_than.is_none()
    }

    /// The policy in words, for messages: `keep 7 daily, 4 weekly; within 30d`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.last, "last"),
            (self.hourly, "hourly"),
            (self.daily, "daily"),
            (self.weekly, "weekly"),
            (self.monthly, "monthly"),
            (self.yearly, "yearly"),
        ] {
            if let Some(n) = n.filter(|n| *n > 0) {
                parts.push(format!("{n} {what}"));
            }
        }
        if let Some(w) = &self.within {
            parts.push(format!("all within {w} of the newest"));
        }
        if let Some(o) = &self.older_than {
            parts.push(format!("all newer than {o}"));
        }
        format!("keep {}", parts.join(", "))
    }
}

/// A backup as retention sees it.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// The caller's handle on it.
    pub key: i64,
    /// When it started, microseconds since the Unix epoch.
    pub time_us: i64,
    pub pinned: bool,
}

/// What the policy decided for one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub key: i64,
    pub keep: bool,
    /// Why: `daily 2026-11-27`, `pinned`, `older than 30d`...
    pub reasons: Vec<String>,
}

/// The calendar buckets, in restic's order.
#[derive(Clone, Copy)]
enum Bucket {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Bucket {
    /// The bucket of `z` as a number (equal numbers, same bucket) and as words.
    fn of(self, z: &Zoned, nr: usize) -> (i64, String) {
        let (y, m, d, h) = (
            i64::from(z.year()),
            i64::from(z.month()),
            i64::from(z.day()),
            i64::from(z.hour()),
        );
        match self {
            Bucket::Last => (nr as i64, "last".to_owned()),
            Bucket::Hourly => (
                ((y * 100 + m) * 100 + d) * 100 + h,
                format!("hourly {y:04}-{m:02}-{d:02} {h:02}:00"),
            ),
            Bucket::Daily => (
                (y * 100 + m) * 100 + d,
                format!("daily {y:04}-{m:02}-{d:02}"),
            ),
            Bucket::Weekly => {
                let w = z.date().iso_week_date();
                let (wy, wn) = (i64::from(w.year()), i64::from(w.week()));
                (wy * 100 + wn, format!("weekly {wy:04}-W{wn:02}"))
            }
            Bucket::Monthly => (y * 100 + m, format!("monthly {y:04}-{m:02}")),
            Bucket::Yearly => (y, format!("yearly {y:04}")),
        }
    }
}

/// Applies `policy` to the backups of one group. `now` is the time `--older-than` counts
/// back from; calendar buckets are in `tz`. Every item gets a verdict, in the order given.
pub fn apply(items: &[Item], policy: &Policy, now: Timestamp, tz: &TimeZone) -> Vec<Verdict> {
    let mut verdicts: BTreeMap<i64, Verdict> = BTreeMap::new();
    // Units: the unpinned backups that started at one moment, newest first.
    let mut units: BTreeMap<std::cmp::Reverse<i64>, Vec<i64>> = BTreeMap::new();
    for it in items {
        if it.pinned {
            verdicts.insert(
                it.key,
                Verdict {
                    key: it.key,
                    keep: true,
                    reasons: vec!["pinned".into()],
                },
            );
        } else {
            units
                .entry(std::cmp::Reverse(it.time_us))
                .or_default()
                .push(it.key);
        }
    }
    let zoned = |us: i64| {
        Timestamp::from_microsecond(us)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(tz.clone())
    };
    // restic counts `within` back from the newest backup (pinned ones too) that is not in
    // the future.
    let latest = items
        .iter()
        .map(|it| it.time_us)
        .filter(|t| *t <= now.as_microsecond())
        .max()
        .unwrap_or(0);
    let within_from = policy
        .within
        .as_ref()
        .and_then(|w| w.before(&zoned(latest)))
        .map(|z| z.timestamp().as_microsecond());
    let newer_than = policy
        .older_than
        .as_ref()
        .and_then(|o| o.before(&now.to_zoned(tz.clone())))
        .map(|z| z.timestamp().as_microsecond());
    let mut buckets: Vec<(Bucket, u32, Option<i64>)> = [
        (Bucket::Last, policy.last),
        (Bucket::Hourly, policy.hourly),
        (Bucket::Daily, policy.daily),
        (Bucket::Weekly, policy.weekly),
        (Bucket::Monthly, policy.monthly),
        (Bucket::Yearly, policy.yearly),
    ]
    .into_iter()
    .filter_map(|(b, n)| n.filter(|n| *n > 0).map(|n| (b, n, None)))
    .collect();
    // A rule whose cut-off cannot be computed (a duration beyond the calendar) keeps
    // everything rather than nothing.
    let uncomputable = (policy.within.is_some() && within_from.is_none())
        || (policy.older_than.is_some() && newer_than.is_none());
    let count = units.len();
    for (nr, (time, keys)) in units.into_iter().enumerate() {
        let time = time.0;
        let z = zoned(time);
        let mut reasons = Vec::new();
        if within_from.is_some_and(|from| time > from) {
            reasons.push(format!(
                "within {}",
                policy
                    .within
                    .as_ref()
                    .map(Age::to_string)
                    .unwrap_or_default()
            ));
        }
        for (bucket, left, last) in &mut buckets {
            if *left == 0 {
                continue;
            }
            let (val, words) = bucket.of(&z, nr);
            let oldest = nr + 1 == count;
            if *last != Some(val) || oldest {
                reasons.push(match *last == Some(val) {
                    true => format!("{words} (oldest)"),
                    false => words,
                });
                *last = Some(val);
                *left -= 1;
            }
        }
        if newer_than.is_some_and(|from| time >= from) {
            reasons.push(format!(
                "newer than {}",
                policy
                    .older_than
                    .as_ref()
                    .map(Age::to_string)
                    .unwrap_or_default()
            ));
        }
        if uncomputable {
            reasons.push("a duration of the policy reaches before the calendar".into());
        }
        let keep = !reasons.is_empty();
        if !keep {
            reasons.push(match &policy.older_than {
                Some(o) => format!("older than {o}"),
                None => "no rule keeps it".into(),
            });
        }
        for key in keys {
            verdicts.insert(
                key,
                Verdict {
                    key,
                    keep,
                    reasons: reasons.clone(),
                },
            );
        }
    }
    items
        .iter()
        .filter_map(|it| verdicts.remove(&it.key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_microsecond()
    }

    fn kept(items: &[Item], p: &Policy, now: &str) -> Vec<i64> {
        apply(items, p, now.parse().unwrap(), &TimeZone::UTC)
            .into_iter()
            .filter(|v| v.keep)
            .map(|v| v.key)
            .collect()
    }

    #[test]
    fn ages_parse_in_calendar_units() {
        assert!(Age::parse("30d").is_ok());
        assert!(Age::parse("1y6mo").is_ok());
        assert!(Age::parse("5m").unwrap_err().contains("mo for months"));
        assert!(Age::parse("5x").unwrap_err().contains("unknown unit"));
        assert!(Age::parse("").is_err());
        assert!(Age::parse("d").is_err());
        assert!(Age::parse("0d").unwrap_err().contains("no time at all"));
        assert!(Age::parse("9000y9000y")
            .unwrap_err()
            .contains("before the calendar"));
    }

    #[test]
    fn within_counts_from_the_newest_backup_pinned_or_not() {
        let items = vec![
            Item {
                key: 1,
                time_us: at("2026-11-27T00:00:00Z"),
                pinned: true,
            },
            Item {
                key: 2,
                time_us: at("2026-11-22T00:00:00Z"),
                pinned: false,
            },
            Item {
                key: 3,
                time_us: at("2026-11-25T00:00:00Z"),
                pinned: false,
            },
        ];
        let p = Policy {
            within: Some(Age::parse("3d").unwrap()),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, "2026-11-28T00:00:00Z"), vec![1, 3]);
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_and_the_oldest_while_counts_last() {
        let items: Vec<Item> = [
            "2026-11-27T23:00:00Z",
            "2026-11-27T01:00:00Z",
            "2026-11-26T12:00:00Z",
        ]
        .iter()
        .enumerate()
        .map(|(i, t)| Item {
            key: i as i64,
            time_us: at(t),
            pinned: false,
        })
        .collect();
        let p = Policy {
            daily: Some(1),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, "2026-11-28T00:00:00Z"), vec![0]);
        // Five days asked for, two found: the oldest backup is kept too.
        let p = Policy {
            daily: Some(5),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, "2026-11-28T00:00:00Z"), vec![0, 2]);
        let v = apply(
            &items,
            &p,
            "2026-11-28T00:00:00Z".parse().unwrap(),
            &TimeZone::UTC,
        );
        assert_eq!(v[1].reasons, vec!["no rule keeps it"]);
        assert_eq!(v[0].reasons, vec!["daily 2026-11-27"]);
    }

    #[test]
    fn pins_are_kept_and_take_no_bucket_and_ties_are_one_unit() {
        let items = vec![
            Item {
                key: 1,
                time_us: at("2026-11-27T10:00:00Z"),
                pinned: true,
            },
            Item {
                key: 2,
                time_us: at("2026-11-27T09:00:00Z"),
                pinned: false,
            },
            Item {
                key: 3,
                time_us: at("2026-11-27T09:00:00Z"),
                pinned: false,
            },
            Item {
                key: 4,
                time_us: at("2026-11-27T08:00:00Z"),
                pinned: false,
            },
        ];
        let p = Policy {
            last: Some(1),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, "2026-11-28T00:00:00Z"), vec![1, 2, 3]);
    }

    #[test]
    fn older_than_removes_only_what_is_older() {
        let items: Vec<Item> = (0..10)
            .map(|d| Item {
                key: d,
                time_us: at("2026-11-28T00:00:00Z") - d * 86_400_000_000,
                pinned: false,
            })
            .collect();
        let p = Policy {
            older_than: Some(Age::parse("3d").unwrap()),
            ..Policy::default()
        };
        assert_eq!(kept(&items, &p, "2026-11-28T00:00:00Z"), vec![0, 1, 2, 3]);
        let p = Policy {
            within: Some(Age::parse("2d").unwrap()),
            ..Policy::default()
        };
        // Within counts back from the newest backup, and keeps only what is after that.
        assert_eq!(kept(&items, &p, "2027-01-01T00:00:00Z"), vec![0, 1]);
    }
}
