//! RFC 3339 dates, as Weaviate takes them (`2024-01-02T03:04:05.123+02:00`, `T` and `Z` in
//! either case, fields range-checked) and as ely writes them (UTC, milliseconds). `jiff`
//! does the calendar; the grammar checked here by hand is Weaviate's, which is narrower than
//! what a general date parser accepts (no space for `T`, no `+0200` offsets, no leap second).

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// An instant: seconds since the Unix epoch and nanoseconds.
pub type Instant = (i64, u32);

/// Now, as `2026-11-21T09:30:00.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339(Timestamp::now().as_millisecond())
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC text with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let t = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    let d = t.to_zoned(TimeZone::UTC).datetime();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.subsec_nanosecond() / 1_000_000
    )
}

/// Microseconds since the epoch as RFC 3339 UTC, the fraction without trailing zeros (as
/// Weaviate writes dates).
pub fn rfc3339_micros(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let Ok(t) = Timestamp::from_second(secs) else {
        return String::new();
    };
    let d = t.to_zoned(TimeZone::UTC).datetime();
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
    if micros != 0 {
        let frac = format!("{micros:06}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Whether `s` is an RFC 3339 date-time Weaviate accepts for a `date` property.
pub fn is_date(s: &str) -> bool {
    parse(s, false).is_some()
}

/// The instant of an RFC 3339 date-time (`2024-01-02T03:04:05.123+02:00`, `T` and `Z` in
/// either case), or, when `bare` is allowed, of a plain `2024-01-02` (midnight UTC).
/// Fields are range-checked (month 1-12, the month's days, hours < 24, minutes and seconds
/// < 60, offsets below 24:00); fractional seconds count to the nanosecond.
pub fn parse(s: &str, bare: bool) -> Option<Instant> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for i in r {
            let c = *b.get(i)?;
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let utc_seconds = |h: i64, mi: i64, sec: i64| -> Option<i64> {
        let dt = DateTime::new(
            i16::try_from(y).ok()?,
            i8::try_from(m).ok()?,
            i8::try_from(d).ok()?,
            i8::try_from(h).ok()?,
            i8::try_from(mi).ok()?,
            i8::try_from(sec).ok()?,
            0,
        )
        .ok()?;
        Some(dt.to_zoned(TimeZone::UTC).ok()?.timestamp().as_second())
    };
    if b.len() == 10 {
        return if bare {
            Some((utc_seconds(0, 0, 0)?, 0))
        } else {
            None
        };
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // jiff would take a leap second (60) as 59; Weaviate refuses it.
    if sec > 59 {
        return None;
    }
    let base = utc_seconds(h, mi, sec)?;
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..9 {
            nanos *= 10;
        }
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some((base - offset, nanos))
}

/// A date as Weaviate stores and gives it back: `T` uppercased, the fraction's trailing zeros
/// trimmed, and a zero offset written `Z` (`2024-01-02t03:04:05.500+00:00` is stored as
/// `2024-01-02T03:04:05.5Z`). `s` is a date [`is_date`] accepts.
pub fn stored_form(s: &str) -> String {
    let upper = s.replacen('t', "T", 1);
    let (main, zone) = match upper
        .rfind(['Z', 'z', '+'])
        .or_else(|| upper.rfind('-').filter(|&i| i > 10))
    {
        Some(i) => upper.split_at(i),
        None => return s.to_owned(),
    };
    let zone = match zone {
        "Z" | "z" | "+00:00" | "-00:00" => "Z",
        z => z,
    };
    let main = match main.split_once('.') {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                secs.to_owned()
            } else {
                format!("{secs}.{frac}")
            }
        }
        None => main.to_owned(),
    };
    format!("{main}{zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_723_190_400_123), "2024-08-09T08:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(now_rfc3339().len(), 24);
    }

    #[test]
    fn dates_are_checked_field_by_field() {
        assert!(parse("2024-02-29T00:00:00Z", false).is_some());
        assert!(parse("2023-02-29T00:00:00Z", false).is_none());
        assert!(parse("2024-13-01T00:00:00Z", false).is_none());
        assert!(parse("2024-01-01T24:00:00Z", false).is_none());
        assert!(parse("2024-01-01T23:59:60Z", false).is_none());
        assert!(parse("2024-01-01T00:00:00+24:00", false).is_none());
        assert!(parse("2024-01-01T00:00:00", false).is_none());
        assert!(parse("2024-01-01T00:00:00.Z", false).is_none());
        assert!(parse("2024-01-01 00:00:00Z", false).is_none());
        assert!(parse("2024-01-01T00:00:00+0200", false).is_none());
        assert!(parse("2024-01-01", false).is_none());
        assert_eq!(parse("1970-01-01", true), Some((0, 0)));
        assert_eq!(
            parse("1970-01-01t00:00:01.5z", false),
            Some((1, 500_000_000))
        );
        assert_eq!(parse("1969-12-31T23:00:00-01:00", false), Some((0, 0)));
        assert_eq!(
            parse("2000-03-01T00:00:00.123456789123Z", false),
            Some((951_868_800, 123_456_789))
        );
        assert!(is_date("2024-01-02T03:04:05.5+01:00"));
        assert_eq!(
            stored_form("2024-01-02t03:04:05.500+00:00"),
            "2024-01-02T03:04:05.5Z"
        );
        assert_eq!(
            stored_form("2024-01-02T03:04:05.000-02:00"),
            "2024-01-02T03:04:05-02:00"
        );
        assert!(!is_date("2024-02-30T03:04:05Z"));
    }
}
