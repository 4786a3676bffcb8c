//! Schedules as cron reads them: a duration such as `30m`, an `@daily` shortcut or a
//! five-field cron expression is parsed once into sets of minutes, hours, days and months, so
//! that the text written into a crontab and the times ely predicts for it (`next_after`) come
//! from the same reading. Parsing follows Vixie cron / cronie, including the rule that a day
//! matches when EITHER day field matches if both are restricted.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::AmbiguousOffset;
use jiff::Zoned;

/// A parsed schedule: when a job runs, in the wall-clock time of some time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The text as given (trimmed), shown back to the user.
    text: String,
    /// What goes into the crontab: five fields, or an `@` shortcut.
    cron: String,
    /// Bit n set when minute n matches (0-59).
    minutes: u64,
    /// Bit n set when hour n matches (0-23).
    hours: u64,
    /// Bit n set when day of month n matches (1-31).
    doms: u64,
    /// Bit n set when month n matches (1-12).
    months: u64,
    /// Bit n set when weekday n matches (0 = Sunday .. 6; a 7 is folded into 0).
    dows: u64,
    /// Whether the day-of-month field starts with `*` (cron's DOM_STAR).
    dom_star: bool,
    /// Whether the day-of-week field starts with `*` (cron's DOW_STAR).
    dow_star: bool,
}

/// One of the five fields: its name for messages, its range, and the names cron accepts.
struct Field {
    name: &'static str,
    low: u32,
    high: u32,
    /// Names standing for `low`, `low + 1`, ... (months start at 1, weekdays at 0).
    names: &'static [&'static str],
}

const MONTH_NAMES: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS_SHORT: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        low: 0,
        high: 59,
        names: &[],
    },
    Field {
        name: "hour",
        low: 0,
        high: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        low: 1,
        high: 31,
        names: &[],
    },
    Field {
        name: "month",
        low: 1,
        high: 12,
        names: &MONTH_NAMES,
    },
    Field {
        name: "day-of-week",
        low: 0,
        high: 7,
        names: &DAY_NAMES,
    },
];

const SHORTCUTS: [(&str, &str); 7] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// How many years `next_after` looks ahead. The Gregorian calendar repeats every 400 years
/// (weekdays included), so an expression that matches no day in 400 years never matches.
const SEARCH_YEARS: i16 = 400;

impl Schedule {
    /// Reads a duration (`30m`, `2h`, `1d`, `1w`), an `@` shortcut (`@daily`) or a five-field
    /// cron expression (`minute hour day-of-month month day-of-week`).
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "empty schedule: give a duration such as 30m, 1h or 1d, a shortcut \
                 such as @daily, or a cron expression such as '0 3 * * *'"
                    .to_string(),
            );
        }
        if text.starts_with('@') {
            return parse_shortcut(text);
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() == 1 && looks_like_duration(text) {
            let cron = duration_to_cron(text)?;
            let mut schedule = parse_fields(&cron.split_whitespace().collect::<Vec<_>>())?;
            schedule.text = text.to_string();
            return Ok(schedule);
        }
        if fields.len() != 5 {
            return Err(format!(
                "'{text}' has {} field{} but a cron expression has 5 (minute hour \
                 day-of-month month day-of-week), e.g. '0 3 * * *'; durations such as 30m, \
                 2h, 1d and shortcuts such as @daily work too",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            ));
        }
        let mut schedule = parse_fields(&fields)?;
        schedule.text = text.to_string();
        Ok(schedule)
    }

    /// The schedule as it goes into a crontab line: five fields, or the `@` shortcut.
    pub fn cron(&self) -> &str {
        &self.cron
    }

    /// The first time strictly after `t` at which the schedule fires, in `t`'s time zone, or
    /// None when the expression names no real day (`0 0 31 2 *`) or the search leaves jiff's
    /// range of years.
    ///
    /// The fields are matched against wall-clock time in `t`'s zone, as cron does:
    ///
    /// - A wall-clock time that does not exist (the hour skipped when clocks spring forward)
    ///   does not fire; the next existing matching time is returned. Cron differs for
    ///   fixed-time jobs (no `*` at the start of the minute or hour field): it runs those
    ///   right after the change, so on that one day `30 2 * * *` in Europe/Berlin really runs
    ///   at 03:00 while this reports 02:30 the next day.
    /// - A wall-clock time that happens twice (the hour repeated when clocks fall back)
    ///   fires once, at the earlier instant. Cron agrees for fixed-time jobs; jobs with `*`
    ///   in the minute or hour field are run again by cron during the repeated hour, and
    ///   those second runs are not reported here.
    pub fn next_after(&self, t: &Zoned) -> Option<Zoned> {
        let tz = t.time_zone();
        let after = t.timestamp();
        let now = t.datetime();
        let last_year = now.year().saturating_add(SEARCH_YEARS);
        let (mut year, mut month, mut day) = (now.year(), now.month(), now.day());
        // On the first day only the times after t's minute count; later days start at 00:00.
        let mut first = true;
        loop {
            if year > last_year {
                return None;
            }
            if !bit(self.months, month as u32) {
                // Skip a month that cannot match as a whole rather than day by day.
                (year, month, day) = next_month(year, month)?;
                first = false;
                continue;
            }
            let date = Date::new(year, month, day).ok()?;
            if self.day_matches(date) {
                for hour in 0..24i8 {
                    if !bit(self.hours, hour as u32) || (first && hour < now.hour()) {
                        continue;
                    }
                    for minute in 0..60i8 {
                        if !bit(self.minutes, minute as u32)
                            || (first && hour == now.hour() && minute <= now.minute())
                        {
                            continue;
                        }
                        let civil = date.at(hour, minute, 0, 0);
                        let ambiguous = tz.to_ambiguous_timestamp(civil);
                        if let AmbiguousOffset::Gap { .. } = ambiguous.offset() {
                            continue;
                        }
                        // In a fold the earlier instant is the one that fires; when t lies
                        // in the repeated hour, the times it already passed once are skipped
                        // here because their earlier instant is not after t.
                        let instant = ambiguous.earlier().ok()?;
                        if instant > after {
                            return Some(instant.to_zoned(tz.clone()));
                        }
                    }
                }
            }
            first = false;
            if day < date.days_in_month() {
                day += 1;
            } else {
                (year, month, day) = next_month(year, month)?;
            }
        }
    }

    /// A short description for people: "every 30 minutes", "daily at 00:00", "weekly on
    /// Sunday at 00:00"; the cron text itself when nothing shorter says the same.
    pub fn describe(&self) -> String {
        let minutes = members(self.minutes, 0, 59);
        let hours = members(self.hours, 0, 23);
        let doms = members(self.doms, 1, 31);
        let dows = members(self.dows, 0, 6);
        let months = members(self.months, 1, 12);
        let and_rule = self.dom_star || self.dow_star;
        let every_day = if and_rule {
            doms.len() == 31 && dows.len() == 7
        } else {
            doms.len() == 31 || dows.len() == 7
        };
        if every_day && months.len() == 12 {
            if hours.len() == 24 {
                if minutes.len() == 60 {
                    return "every minute".to_string();
                }
                if let Some(step) = even_step(&minutes, 60) {
                    return format!("every {step} minutes");
                }
                if let [minute] = minutes[..] {
                    return match minute {
                        0 => "every hour".to_string(),
                        _ => format!("every hour at :{minute:02}"),
                    };
                }
            } else if let [minute] = minutes[..] {
                if let [hour] = hours[..] {
                    return format!("daily at {hour:02}:{minute:02}");
                }
                if let Some(step) = even_step(&hours, 24) {
                    return match minute {
                        0 => format!("every {step} hours"),
                        _ => format!("every {step} hours at :{minute:02}"),
                    };
                }
            }
        }
        if let ([minute], [hour], true) = (&minutes[..], &hours[..], and_rule) {
            let at = format!("{hour:02}:{minute:02}");
            match (&doms[..], &dows[..], &months[..]) {
                (d, [w], m) if d.len() == 31 && m.len() == 12 => {
                    return format!("weekly on {} at {at}", WEEKDAYS[*w as usize]);
                }
                ([d], w, m) if w.len() == 7 && m.len() == 12 => {
                    return format!("monthly on day {d} at {at}");
                }
                ([d], w, [m]) if w.len() == 7 => {
                    return format!("yearly on {} {d} at {at}", MONTHS_SHORT[*m as usize - 1]);
                }
                _ => {}
            }
        }
        self.cron.clone()
    }

    /// Whether a date matches the day fields, by cron's rule: when both day fields are
    /// restricted (neither starts with `*`) either may match, otherwise both must.
    fn day_matches(&self, date: Date) -> bool {
        let dom = bit(self.doms, date.day() as u32);
        let dow = bit(self.dows, date.weekday().to_sunday_zero_offset() as u32);
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Schedule, String> {
        Schedule::parse(text)
    }
}

fn bit(mask: u64, n: u32) -> bool {
    n < 64 && mask >> n & 1 == 1
}

fn members(mask: u64, low: u32, high: u32) -> Vec<u32> {
    (low..=high).filter(|&n| bit(mask, n)).collect()
}

/// The step when `values` are 0, step, 2*step, ... covering `span` evenly, e.g. the minutes
/// of `*/15`.
fn even_step(values: &[u32], span: u32) -> Option<u32> {
    let step = *values.get(1)? - values[0];
    let even = values[0] == 0
        && span.is_multiple_of(step)
        && values.len() as u32 == span / step
        && values.windows(2).all(|pair| pair[1] - pair[0] == step);
    even.then_some(step)
}

/// The first day of the month after `year`-`month`, None past jiff's last year.
fn next_month(year: i16, month: i8) -> Option<(i16, i8, i8)> {
    if month == 12 {
        Some((year.checked_add(1).filter(|&y| y <= 9999)?, 1, 1))
    } else {
        Some((year, month + 1, 1))
    }
}

fn parse_shortcut(text: &str) -> Result<Schedule, String> {
    let lower = text.to_ascii_lowercase();
    if lower == "@reboot" {
        return Err(
            "@reboot runs a job once at boot, not at times; give a schedule such as \
             @daily, 1h or '0 3 * * *'"
                .to_string(),
        );
    }
    let Some((name, fields)) = SHORTCUTS.iter().find(|(name, _)| *name == lower) else {
        return Err(format!(
            "unknown shortcut '{text}': use @hourly, @daily (or @midnight), @weekly, \
             @monthly or @yearly (or @annually)"
        ));
    };
    let mut schedule = parse_fields(&fields.split_whitespace().collect::<Vec<_>>())?;
    schedule.text = text.to_string();
    // Cron compares the shortcut names case-sensitively, so the crontab gets the lower case.
    schedule.cron = name.to_string();
    Ok(schedule)
}

/// A single token of digits then letters (`30m`, `2h`, `90s`, `1.5h`) is meant as a duration.
fn looks_like_duration(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    digits.len() < text.len()
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.starts_with(|c: char| c.is_ascii_digit())
}

/// The cron expression that runs every `text` (`30m` -> `*/30 * * * *`), or why cron cannot.
fn duration_to_cron(text: &str) -> Result<String, String> {
    let unit_at = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let Ok(n) = number.parse::<u64>() else {
        return Err(format!(
            "'{text}': the number must be whole, e.g. 30m rather than 0.5h"
        ));
    };
    if !matches!(unit, "m" | "h" | "d" | "w") {
        let why = if unit == "s" {
            "; cron runs jobs at most once a minute"
        } else {
            ""
        };
        return Err(format!(
            "'{text}': unknown unit '{unit}'; use m (minutes), h (hours), d (days) or w \
             (weeks){why}"
        ));
    }
    if n == 0 {
        return Err(format!("'{text}' is no interval: give at least 1{unit}"));
    }
    let cron = match (unit, n) {
        ("m", 1) => Some("* * * * *".to_string()),
        ("m", n) if n < 60 && 60u64.is_multiple_of(n) => Some(format!("*/{n} * * * *")),
        ("h", 1) => Some("0 * * * *".to_string()),
        ("h", n) if n < 24 && 24u64.is_multiple_of(n) => Some(format!("0 */{n} * * *")),
        ("d", 1) => Some("0 0 * * *".to_string()),
        ("d", 7) | ("w", 1) => Some("0 0 * * 0".to_string()),
        _ => None,
    };
    if let Some(cron) = cron {
        return Ok(cron);
    }
    // Equal intervals that have a spelling cron can run.
    let same = match (unit, n) {
        ("m", n) if n.is_multiple_of(60) => Some(format!("{}h", n / 60)),
        ("h", n) if n.is_multiple_of(24) => Some(format!("{}d", n / 24)),
        _ => None,
    };
    if let Some(same) = same {
        if Schedule::parse(&same).is_ok() {
            return Err(format!("'{text}': write {same} instead"));
        }
    }
    let list = |step: u64, span: u64| {
        let values: Vec<String> = (0..span)
            .step_by(step as usize)
            .map(|v| v.to_string())
            .collect();
        values.join(",")
    };
    let (why, allowed, example) = match unit {
        "m" if n < 60 => (
            format!(
                "{n} does not divide 60, so the minutes would not repeat evenly across the hour"
            ),
            "1m, 2m, 3m, 4m, 5m, 6m, 10m, 12m, 15m, 20m or 30m",
            format!("{} * * * *", list(n, 60)),
        ),
        "m" => (
            "cron picks minutes within the hour and hours within the day, so a longer \
             interval must be whole hours dividing 24"
                .to_string(),
            "1h, 2h, 3h, 4h, 6h, 8h or 12h",
            "0 */2 * * *".to_string(),
        ),
        "h" if n < 24 => (
            format!("{n} does not divide 24, so the hours would not repeat evenly across the day"),
            "1h, 2h, 3h, 4h, 6h, 8h or 12h",
            format!("0 {} * * *", list(n, 24)),
        ),
        "w" => (
            "cron has no interval longer than a week".to_string(),
            "1w",
            "0 0 1,15 * *".to_string(),
        ),
        _ => {
            let days = if unit == "h" { n.div_ceil(24) } else { n };
            (
                "cron picks days within the month and months differ in length, so day steps \
                 restart every month"
                    .to_string(),
                "1d or 1w (7d)",
                match days {
                    2..=15 => format!("0 0 */{days} * *"),
                    _ => "0 0 1 * *".to_string(),
                },
            )
        }
    };
    Err(format!(
        "cron cannot run a job every {text} evenly: {why}. Use {allowed}, or give a cron \
         expression with the exact times instead, such as '{example}' (minute hour \
         day-of-month month day-of-week)"
    ))
}

fn parse_fields(fields: &[&str]) -> Result<Schedule, String> {
    let mut masks = [0u64; 5];
    for ((text, field), mask) in fields.iter().zip(FIELDS.iter()).zip(masks.iter_mut()) {
        *mask = parse_field(text, field)?;
    }
    // Both 0 and 7 are Sunday; keep it as 0 only.
    if bit(masks[4], 7) {
        masks[4] = (masks[4] & !(1 << 7)) | 1;
    }
    Ok(Schedule {
        text: fields.join(" "),
        cron: fields.join(" "),
        minutes: masks[0],
        hours: masks[1],
        doms: masks[2],
        months: masks[3],
        dows: masks[4],
        dom_star: fields[2].starts_with('*'),
        dow_star: fields[4].starts_with('*'),
    })
}

/// One field: a comma list of `*`, `n`, `a-b`, `*/step` or `a-b/step`, as cron reads it.
fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let name = field.name;
    let mut mask = 0u64;
    for part in text.split(',') {
        if part.is_empty() {
            return Err(format!(
                "{name} field '{text}' has an empty item in its list"
            ));
        }
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (part, None),
        };
        let (low, high) = if range == "*" {
            (field.low, field.high)
        } else if let Some((a, b)) = range.split_once('-') {
            let (low, high) = (value(a, part, field)?, value(b, part, field)?);
            if low > high {
                let fix = if field.high == 7 && high == 0 {
                    format!("'{low}-7' (7 is Sunday too)")
                } else {
                    format!("'{low}-{},{}-{high}'", field.high, field.low)
                };
                return Err(format!(
                    "{name} range '{range}' runs backwards ({low} > {high}); cron ranges go \
                     from low to high, so write {fix}"
                ));
            }
            (low, high)
        } else {
            let single = value(range, part, field)?;
            if let Some(step) = step {
                return Err(format!(
                    "{name} '{part}': cron takes a step only after '*' or a range, e.g. \
                     '*/{step}' or '{single}-{}/{step}'",
                    field.high
                ));
            }
            (single, single)
        };
        let step = match step {
            None => 1,
            Some(step) if is_digits(step) => match step.parse::<u32>() {
                Ok(0) => return Err(format!("{name} '{part}': the step must be at least 1")),
                Ok(step) => step,
                // Larger than any range: only the first value is hit, as in cron.
                Err(_) => u32::MAX,
            },
            Some(_) => {
                return Err(format!(
                    "{name} '{part}': the step after '/' must be a number"
                ))
            }
        };
        for n in (low..=high).step_by(step as usize) {
            mask |= 1 << n;
        }
    }
    Ok(mask)
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// A number or (for months and weekdays) a three-letter name, checked against the range.
fn value(text: &str, part: &str, field: &Field) -> Result<u32, String> {
    let name = field.name;
    if is_digits(text) {
        let n = text.parse::<u32>().unwrap_or(u32::MAX);
        if n < field.low || n > field.high {
            return Err(format!(
                "{name} {text} is out of range {}-{}",
                field.low, field.high
            ));
        }
        return Ok(n);
    }
    if let Some(i) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        return Ok(field.low + i as u32);
    }
    let hint = match field.names.first() {
        Some(first) => format!(" or a name such as {first}"),
        None => String::new(),
    };
    if text.is_empty() {
        Err(format!("{name} '{part}': a number is missing"))
    } else {
        Err(format!(
            "{name} '{text}' is not a number {}-{}{hint}",
            field.low, field.high
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use jiff::civil::DateTime;
    use jiff::tz::TimeZone;
    use jiff::Timestamp;

    fn zoned(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    fn next(expr: &str, from: &str) -> Option<String> {
        Schedule::parse(expr)
            .unwrap()
            .next_after(&zoned(from))
            .map(|z| z.to_string())
    }

    fn error(expr: &str) -> String {
        match Schedule::parse(expr) {
            Ok(s) => panic!("{expr:?} parsed as {s:?}"),
            Err(e) => e,
        }
    }

    /// The time zone database, or None (with a note) on a system without one.
    fn tz(name: &str) -> Option<TimeZone> {
        if !Path::new("/usr/share/zoneinfo").is_dir() {
            eprintln!("skipped: no /usr/share/zoneinfo for {name}");
            return None;
        }
        Some(TimeZone::get(name).unwrap())
    }

    #[test]
    fn durations_become_cron() {
        for (text, cron) in [
            ("1m", "* * * * *"),
            ("2m", "*/2 * * * *"),
            ("5m", "*/5 * * * *"),
            ("15m", "*/15 * * * *"),
            ("30m", "*/30 * * * *"),
            ("1h", "0 * * * *"),
            ("2h", "0 */2 * * *"),
            ("6h", "0 */6 * * *"),
            ("12h", "0 */12 * * *"),
            ("1d", "0 0 * * *"),
            ("7d", "0 0 * * 0"),
            ("1w", "0 0 * * 0"),
        ] {
            let schedule = Schedule::parse(text).unwrap();
            assert_eq!(schedule.cron(), cron, "{text}");
            assert_eq!(schedule.to_string(), text);
            // The duration and its cron text are the same schedule.
            let direct = Schedule::parse(cron).unwrap();
            assert_eq!(
                (schedule.minutes, schedule.hours, schedule.dows),
                (direct.minutes, direct.hours, direct.dows)
            );
        }
    }

    #[test]
    fn uneven_durations_are_refused_with_a_cron_suggestion() {
        for (text, wanted) in [
            ("45m", "'0,45 * * * *'"),
            ("7m", "cron cannot run a job every 7m evenly"),
            ("90m", "'0 */2 * * *'"),
            ("48h", "'0 0 */2 * *'"),
            ("25h", "cron picks days within the month"),
            ("5h", "'0 0,5,10,15,20 * * *'"),
            ("3d", "'0 0 */3 * *'"),
            ("40d", "'0 0 1 * *'"),
            ("2w", "cron expression"),
            ("14d", "1d or 1w"),
            ("60m", "write 1h instead"),
            ("24h", "write 1d instead"),
            ("0m", "at least 1m"),
            ("30s", "at most once a minute"),
            ("30min", "unknown unit 'min'"),
            ("1.5h", "whole"),
        ] {
            let e = error(text);
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }

    #[test]
    fn shortcuts() {
        for (text, fields) in [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
        ] {
            let schedule = Schedule::parse(text).unwrap();
            assert_eq!(schedule.cron(), text);
            assert_eq!(schedule.to_string(), text);
            let same = Schedule::parse(fields).unwrap();
            assert_eq!(
                schedule.next_after(&zoned("2024-05-17T10:20:30Z[UTC]")),
                same.next_after(&zoned("2024-05-17T10:20:30Z[UTC]")),
                "{text}"
            );
        }
        assert_eq!(Schedule::parse("@Daily").unwrap().cron(), "@daily");
        assert!(error("@reboot").contains("not at times"));
        assert!(error("@often").contains("unknown shortcut"));
        assert_eq!(
            next("@weekly", "2024-05-17T10:00:00Z[UTC]").unwrap(),
            "2024-05-19T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("@monthly", "2024-05-17T10:00:00Z[UTC]").unwrap(),
            "2024-06-01T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("@yearly", "2024-05-17T10:00:00Z[UTC]").unwrap(),
            "2025-01-01T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("@hourly", "2024-05-17T10:00:00Z[UTC]").unwrap(),
            "2024-05-17T11:00:00+00:00[UTC]"
        );
    }

    #[test]
    fn real_expressions_parse() {
        for text in [
            "0 3 * * *",
            "*/5 * * * *",
            "0 9-17 * * mon-fri",
            "0 9-17 * * MON-FRI",
            "15,45 */2 * * *",
            "0 0 1 jan,jul *",
            "0 0 1 JAN *",
            "30 4 1,15 * 5",
            "0 22 * * 1-5",
            "23 0-20/2 * * *",
            "5 4 * * sun",
            "0 0,12 1 */2 *",
            "0 0 * * 7",
            "0 0 * * 0-7",
            "0 0 * * 5-7",
            "*/90 * * * *",
            "0-59/15 0-23 1-31 1-12 0-6",
            "00 05 01 01 00",
            "1,2,3-5,10-20/5,*/30 * * * *",
            "0 12 * feb-apr/2 tue,thu",
            "  0\t3   *  *  *  ",
        ] {
            let schedule = Schedule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                schedule.cron(),
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
        let s = Schedule::parse("1,2,3-5,10-20/5,*/30 0 * * *").unwrap();
        assert_eq!(
            members(s.minutes, 0, 59),
            [0, 1, 2, 3, 4, 5, 10, 15, 20, 30]
        );
        let s = Schedule::parse("0 0 * feb-apr/2 5-7").unwrap();
        assert_eq!(members(s.months, 1, 12), [2, 4]);
        assert_eq!(members(s.dows, 0, 7), [0, 5, 6]);
        assert_eq!(
            members(Schedule::parse("*/90 * * * *").unwrap().minutes, 0, 59),
            [0]
        );
    }

    #[test]
    fn bad_expressions_are_refused_clearly() {
        for (text, wanted) in [
            ("61 * * * *", "minute 61 is out of range 0-59"),
            ("* 24 * * *", "hour 24 is out of range 0-23"),
            ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
            ("* * 32 * *", "day-of-month 32 is out of range 1-31"),
            ("* * * 13 *", "month 13 is out of range 1-12"),
            ("* * * 0 *", "month 0 is out of range 1-12"),
            ("* * * * 8", "day-of-week 8 is out of range 0-7"),
            ("99999999999 * * * *", "minute 99999999999 is out of range"),
            ("* * * *", "has 4 fields"),
            ("0 0 * * * *", "has 6 fields"),
            ("0 3 * * * /usr/bin/backup", "has 6 fields"),
            ("daily", "has 1 field but"),
            ("", "empty schedule"),
            ("5-1 * * * *", "runs backwards"),
            ("* * * * mon-sun", "'1-7' (7 is Sunday too)"),
            ("*/0 * * * *", "at least 1"),
            ("5/15 * * * *", "a step only after '*' or a range"),
            ("*/x * * * *", "the step after '/' must be a number"),
            ("*/ * * * *", "the step after '/' must be a number"),
            ("a * * * *", "minute 'a' is not a number 0-59"),
            (
                "* * * foo *",
                "month 'foo' is not a number 1-12 or a name such as jan",
            ),
            ("* * * * monday", "day-of-week 'monday'"),
            ("jan * * * *", "minute 'jan'"),
            ("1,,2 * * * *", "empty item"),
            ("1, * * * *", "empty item"),
            ("*5 * * * *", "minute '*5'"),
            ("-5 * * * *", "minute '-5': a number is missing"),
            ("* * 1- * *", "day-of-month '1-': a number is missing"),
            ("* * * * /2", "day-of-week '/2': a number is missing"),
            ("? * * * *", "minute '?'"),
            ("L * * * *", "minute 'L'"),
        ] {
            let e = error(text);
            assert!(e.contains(wanted), "{text:?}: {e}");
        }
    }

    #[test]
    fn describes() {
        for (text, wanted) in [
            ("1m", "every minute"),
            ("* * * * *", "every minute"),
            ("30m", "every 30 minutes"),
            ("*/15 * * * *", "every 15 minutes"),
            ("0,20,40 * * * *", "every 20 minutes"),
            ("1h", "every hour"),
            ("@hourly", "every hour"),
            ("5 * * * *", "every hour at :05"),
            ("6h", "every 6 hours"),
            ("30 */4 * * *", "every 4 hours at :30"),
            ("1d", "daily at 00:00"),
            ("@midnight", "daily at 00:00"),
            ("30 3 * * *", "daily at 03:30"),
            ("1w", "weekly on Sunday at 00:00"),
            ("0 0 * * 7", "weekly on Sunday at 00:00"),
            ("15 2 * * fri", "weekly on Friday at 02:15"),
            ("@monthly", "monthly on day 1 at 00:00"),
            ("@yearly", "yearly on Jan 1 at 00:00"),
            ("0 0 29 2 *", "yearly on Feb 29 at 00:00"),
            ("0 9-17 * * mon-fri", "0 9-17 * * mon-fri"),
            ("*/7 * * * *", "*/7 * * * *"),
            ("0 0 13 * 5", "0 0 13 * 5"),
            // Both day fields restricted and one of them always true: every day.
            ("0 4 1-31 * 1", "daily at 04:00"),
        ] {
            assert_eq!(Schedule::parse(text).unwrap().describe(), wanted, "{text}");
        }
    }

    #[test]
    fn next_after_basics() {
        let cases = [
            (
                "*/15 * * * *",
                "2024-05-17T10:14:59Z[UTC]",
                "2024-05-17T10:15:00+00:00[UTC]",
            ),
            // Strictly after: a firing time itself is not its own next.
            (
                "*/15 * * * *",
                "2024-05-17T10:15:00Z[UTC]",
                "2024-05-17T10:30:00+00:00[UTC]",
            ),
            (
                "*/15 * * * *",
                "2024-05-17T10:15:00.5Z[UTC]",
                "2024-05-17T10:30:00+00:00[UTC]",
            ),
            (
                "0 3 * * *",
                "2024-12-31T03:00:00Z[UTC]",
                "2025-01-01T03:00:00+00:00[UTC]",
            ),
            (
                "0 9-17 * * mon-fri",
                "2024-05-17T17:30:00Z[UTC]",
                "2024-05-20T09:00:00+00:00[UTC]",
            ),
            (
                "59 23 31 12 *",
                "2024-01-01T00:00:00Z[UTC]",
                "2024-12-31T23:59:00+00:00[UTC]",
            ),
            (
                "0 0 31 * *",
                "2024-04-15T00:00:00Z[UTC]",
                "2024-05-31T00:00:00+00:00[UTC]",
            ),
            // In the zone of the start time, on its wall clock.
            (
                "0 3 * * *",
                "2024-07-01T12:00:00+09:00[Asia/Tokyo]",
                "2024-07-02T03:00:00+09:00[Asia/Tokyo]",
            ),
        ];
        for (expr, from, wanted) in cases {
            if from.contains("Tokyo") && tz("Asia/Tokyo").is_none() {
                continue;
            }
            assert_eq!(
                next(expr, from).as_deref(),
                Some(wanted),
                "{expr} after {from}"
            );
        }
    }

    #[test]
    fn february_29_and_impossible_days() {
        let from = "2025-03-01T00:00:00Z[UTC]";
        assert_eq!(
            next("0 0 29 2 *", from).unwrap(),
            "2028-02-29T00:00:00+00:00[UTC]"
        );
        // 2100 is no leap year: eight years between two Feb 29.
        assert_eq!(
            next("0 0 29 2 *", "2096-03-01T00:00:00Z[UTC]").unwrap(),
            "2104-02-29T00:00:00+00:00[UTC]"
        );
        // Feb 29 on a Sunday (both must match: the weekday field starts with '*').
        assert_eq!(
            next("0 0 29 2 */7", from).unwrap(),
            "2032-02-29T00:00:00+00:00[UTC]"
        );
        for expr in [
            "0 0 31 2 *",
            "0 0 30 2 *",
            "0 0 31 4,6,9,11 *",
            "0 0 30,31 feb *",
        ] {
            let started = std::time::Instant::now();
            assert_eq!(next(expr, from), None, "{expr}");
            assert!(
                started.elapsed().as_secs() < 2,
                "{expr} took {:?}",
                started.elapsed()
            );
        }
        // Near the end of jiff's years the search ends without a panic.
        assert_eq!(next("0 0 29 2 *", "9999-03-01T00:00:00Z[UTC]"), None);
        let last = Timestamp::MAX.to_zoned(TimeZone::UTC);
        assert_eq!(
            Schedule::parse("* * * * *").unwrap().next_after(&last),
            None
        );
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // 2024-09-01 is a Sunday; Friday the 6th comes before the 13th.
        let from = "2024-09-01T12:00:00Z[UTC]";
        assert_eq!(
            next("0 0 13 * 5", from).unwrap(),
            "2024-09-06T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 0 13 * 5", "2024-09-10T00:00:00Z[UTC]").unwrap(),
            "2024-09-13T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 0 13 * 5", "2024-09-13T00:00:00Z[UTC]").unwrap(),
            "2024-09-20T00:00:00+00:00[UTC]"
        );
        // A field starting with '*' makes both required: Fridays among days 1, 14, 27.
        assert_eq!(
            next("0 0 */13 * 5", from).unwrap(),
            "2024-09-27T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 0 13 * */5", from).unwrap(),
            "2024-09-13T00:00:00+00:00[UTC]"
        );
        // Either rule with an impossible day-of-month still runs on the weekday, in February.
        assert_eq!(
            next("0 0 31 2 mon", from).unwrap(),
            "2025-02-03T00:00:00+00:00[UTC]"
        );
        assert_eq!(
            next("0 0 31 * mon", from).unwrap(),
            "2024-09-02T00:00:00+00:00[UTC]"
        );
        // Sunday as 7.
        assert_eq!(
            next("0 0 * * 7", from).unwrap(),
            "2024-09-08T00:00:00+00:00[UTC]"
        );
    }

    #[test]
    fn spring_forward_gap_is_skipped() {
        let Some(berlin) = tz("Europe/Berlin") else {
            return;
        };
        let at = |text: &str| zoned(text).with_time_zone(berlin.clone());
        let s = |text: &str| Schedule::parse(text).unwrap();
        // 2024-03-31: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that day.
        let from = at("2024-03-30T12:00:00+01:00[Europe/Berlin]");
        assert_eq!(
            s("30 2 * * *").next_after(&from).unwrap().to_string(),
            "2024-04-01T02:30:00+02:00[Europe/Berlin]"
        );
        let from = at("2024-03-31T01:50:00+01:00[Europe/Berlin]");
        assert_eq!(
            s("*/15 * * * *").next_after(&from).unwrap().to_string(),
            "2024-03-31T03:00:00+02:00[Europe/Berlin]"
        );
        // One instant before the change: the skipped hour does not fire.
        let from = at("2024-03-31T01:59:59+01:00[Europe/Berlin]");
        assert_eq!(
            s("* * * * *").next_after(&from).unwrap().to_string(),
            "2024-03-31T03:00:00+02:00[Europe/Berlin]"
        );
        let Some(new_york) = tz("America/New_York") else {
            return;
        };
        let from = zoned("2024-03-09T12:00:00-05:00[America/New_York]").with_time_zone(new_york);
        assert_eq!(
            s("0 2 * * *").next_after(&from).unwrap().to_string(),
            "2024-03-11T02:00:00-04:00[America/New_York]"
        );
    }

    #[test]
    fn fall_back_fold_fires_once_at_the_earlier_instant() {
        let Some(berlin) = tz("Europe/Berlin") else {
            return;
        };
        let s = |text: &str| Schedule::parse(text).unwrap();
        // 2024-10-27: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happens twice.
        let from = zoned("2024-10-27T00:00:00+02:00[Europe/Berlin]").with_time_zone(berlin.clone());
        let first = s("30 2 * * *").next_after(&from).unwrap();
        assert_eq!(
            first.to_string(),
            "2024-10-27T02:30:00+02:00[Europe/Berlin]"
        );
        let second = s("30 2 * * *").next_after(&first).unwrap();
        assert_eq!(
            second.to_string(),
            "2024-10-28T02:30:00+01:00[Europe/Berlin]"
        );
        // From the first pass, every-30-minutes skips the repeated hour entirely.
        let from = zoned("2024-10-27T02:30:00+02:00[Europe/Berlin]");
        assert_eq!(
            s("*/30 * * * *").next_after(&from).unwrap().to_string(),
            "2024-10-27T03:00:00+01:00[Europe/Berlin]"
        );

        let Some(_) = tz("America/New_York") else {
            return;
        };
        // 2024-11-03: 02:00 EDT becomes 01:00 EST.
        let from = zoned("2024-11-03T00:00:00-04:00[America/New_York]");
        let first = s("30 1 * * *").next_after(&from).unwrap();
        assert_eq!(
            first.to_string(),
            "2024-11-03T01:30:00-04:00[America/New_York]"
        );
        assert_eq!(
            s("30 1 * * *").next_after(&first).unwrap().to_string(),
            "2024-11-04T01:30:00-05:00[America/New_York]"
        );
        // Starting inside the second pass: times already passed once are not repeated.
        let from = zoned("2024-11-03T01:10:00-05:00[America/New_York]");
        assert_eq!(
            s("*/15 * * * *").next_after(&from).unwrap().to_string(),
            "2024-11-03T02:00:00-05:00[America/New_York]"
        );
        let from = zoned("2024-11-03T01:10:00-04:00[America/New_York]");
        assert_eq!(
            s("*/15 * * * *").next_after(&from).unwrap().to_string(),
            "2024-11-03T01:15:00-04:00[America/New_York]"
        );
    }

    /// xorshift64*: a small seeded generator, so failures repeat.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u32) -> u32 {
            (self.next() % n as u64) as u32
        }

        fn between(&mut self, low: u32, high: u32) -> u32 {
            low + self.below(high - low + 1)
        }
    }

    /// A random field for the range, often '*' for the day fields so most expressions fire
    /// within weeks.
    fn random_field(
        rng: &mut Rng,
        low: u32,
        high: u32,
        names: &[&str],
        star_weight: u32,
    ) -> String {
        let name = |rng: &mut Rng, n: u32| -> String {
            let index = n - low;
            if !names.is_empty() && (index as usize) < names.len() && rng.below(3) == 0 {
                names[index as usize].to_uppercase()
            } else {
                n.to_string()
            }
        };
        if rng.below(10) < star_weight {
            return "*".to_string();
        }
        let item = |rng: &mut Rng| -> String {
            let a = rng.between(low, high);
            let b = rng.between(a, high);
            let step = rng.between(1, (high - low + 1).min(20));
            match rng.below(4) {
                0 => name(rng, a),
                1 => format!("{}-{}", name(rng, a), name(rng, b)),
                2 => format!("*/{step}"),
                _ => format!("{}-{}/{step}", name(rng, a), name(rng, b)),
            }
        };
        let count = 1 + rng.below(3);
        (0..count).map(|_| item(rng)).collect::<Vec<_>>().join(",")
    }

    fn random_expression(rng: &mut Rng) -> String {
        [
            random_field(rng, 0, 59, &[], 2),
            random_field(rng, 0, 23, &[], 3),
            random_field(rng, 1, 31, &[], 6),
            random_field(rng, 1, 12, &MONTH_NAMES, 6),
            random_field(rng, 0, 7, &DAY_NAMES, 6),
        ]
        .join(" ")
    }

    /// Whether `value` is in the cron field `text`, read directly from the text (not through
    /// the parser's bit sets).
    fn naive_in(text: &str, value: u32, low: u32, high: u32, names: &[&str]) -> bool {
        let number = |s: &str| -> u32 {
            match names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                Some(i) => low + i as u32,
                None => s.parse().unwrap(),
            }
        };
        text.split(',').any(|item| {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => (r, s.parse::<u32>().unwrap()),
                None => (item, 1),
            };
            let (a, b) = match range.split_once('-') {
                _ if range == "*" => (low, high),
                Some((a, b)) => (number(a), number(b)),
                None => (number(range), number(range)),
            };
            a <= value && value <= b && (value - a).is_multiple_of(step)
        })
    }

    /// An independent reading of an expression: a matcher for wall-clock minutes. Each field
    /// is read once into a table of the values it contains, so the search stays fast.
    fn naive_matcher(expr: &str) -> impl Fn(DateTime) -> bool {
        let f: Vec<&str> = expr.split_whitespace().collect();
        let table = |text: &str, low, high, names: &[&str]| -> Vec<bool> {
            (0..=high)
                .map(|v| v >= low && naive_in(text, v, low, high, names))
                .collect()
        };
        let (minutes, hours) = (table(f[0], 0, 59, &[]), table(f[1], 0, 23, &[]));
        let (doms, months) = (table(f[2], 1, 31, &[]), table(f[3], 1, 12, &MONTH_NAMES));
        let dows = table(f[4], 0, 7, &DAY_NAMES);
        let either = !f[2].starts_with('*') && !f[4].starts_with('*');
        move |dt: DateTime| {
            let weekday = dt.weekday().to_sunday_zero_offset() as usize;
            let dom = doms[dt.day() as usize];
            let dow = dows[weekday] || (weekday == 0 && dows[7]);
            let day = if either { dom || dow } else { dom && dow };
            day && minutes[dt.minute() as usize]
                && hours[dt.hour() as usize]
                && months[dt.month() as usize]
        }
    }

    /// Minute by minute from `t` for at most `limit_minutes`, in `t`'s zone: an instant fires
    /// when its wall-clock minute matches and it is the earlier instant of that wall-clock
    /// time (so a repeated hour fires once; a skipped hour never shows up).
    fn brute_force(expr: &str, t: &Zoned, limit_minutes: i64) -> Option<Timestamp> {
        let matches = naive_matcher(expr);
        let tz = t.time_zone();
        let start = t.timestamp().as_second().div_euclid(60) * 60;
        for i in 1..=limit_minutes {
            let instant = Timestamp::from_second(start + i * 60).ok()?;
            let civil = tz.to_datetime(instant);
            if matches(civil) && tz.to_ambiguous_timestamp(civil).earlier().ok()? == instant {
                return Some(instant);
            }
        }
        None
    }

    fn compare_with_brute_force(
        tz: &TimeZone,
        seed: u64,
        cases: usize,
        limit_minutes: i64,
        near: &[Timestamp],
    ) {
        let mut rng = Rng(seed);
        let year_start = Timestamp::from_second(1_704_067_200).unwrap(); // 2024-01-01T00:00Z
        let mut found = 0;
        for case in 0..cases {
            let expr = random_expression(&mut rng);
            let schedule = Schedule::parse(&expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            let base = if !near.is_empty() && rng.below(2) == 0 {
                near[rng.below(near.len() as u32) as usize].as_second() - 2 * 86_400
                    + rng.below(4 * 86_400) as i64
            } else {
                year_start.as_second() + rng.below(366 * 86_400) as i64
            };
            let seconds = if rng.below(4) == 0 {
                base - base % 60
            } else {
                base
            };
            let t = Timestamp::new(
                seconds,
                rng.below(1_000_000_000) as i32 * (rng.below(2) as i32),
            )
            .unwrap()
            .to_zoned(tz.clone());
            let want = brute_force(&expr, &t, limit_minutes);
            let got = schedule.next_after(&t);
            match want {
                Some(want) => {
                    found += 1;
                    let got = got.unwrap_or_else(|| {
                        panic!("case {case}: '{expr}' after {t}: None, want {want}")
                    });
                    assert_eq!(got.timestamp(), want, "case {case}: '{expr}' after {t}");
                    assert_eq!(got.time_zone(), tz, "case {case}");
                }
                None => {
                    if let Some(got) = got {
                        let bound = t.timestamp().as_second() + limit_minutes * 60;
                        assert!(
                            got.timestamp().as_second() > bound,
                            "case {case}: '{expr}' after {t}: {got} missed by brute force"
                        );
                    }
                }
            }
        }
        assert!(
            found > cases / 2,
            "only {found} of {cases} random cases fired within the limit"
        );
    }

    #[test]
    fn next_after_matches_brute_force_in_utc() {
        compare_with_brute_force(&TimeZone::UTC, 0x5eed_0001, 1500, 2 * 366 * 1440, &[]);
    }

    #[test]
    fn next_after_matches_brute_force_across_dst() {
        for (name, seed) in [
            ("Europe/Berlin", 0x5eed_0002),
            ("America/New_York", 0x5eed_0003),
        ] {
            let Some(zone) = tz(name) else { return };
            // The 2024 transitions, to start near them half of the time.
            let mut near = Vec::new();
            let mut at = Timestamp::from_second(1_704_067_200).unwrap();
            while let Some(transition) = zone.following(at).next() {
                if transition.timestamp().as_second() > 1_735_689_600 {
                    break;
                }
                near.push(transition.timestamp());
                at = transition.timestamp();
            }
            assert_eq!(near.len(), 2, "{name} transitions in 2024");
            compare_with_brute_force(&zone, seed, 300, 40 * 1440, &near);
        }
    }
}
