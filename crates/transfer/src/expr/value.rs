//! Reading the values that expressions and the migration share: UUIDs, written hyphenated or
//! as 32 hex digits, to their canonical form, and RFC 3339 dates to instants.
//!
//! The migration imports `canonical_uuid` and `parse_date` through `crate::expr`, so those
//! two (and `Instant`, which `parse_date` returns) are `pub(crate)`; the rest serves only the
//! parser and the evaluator.

/// Seconds since the Unix epoch (UTC) and nanoseconds.
pub(crate) type Instant = (i64, u32);

/// The canonical lowercase hyphenated form of a UUID written hyphenated or as 32 hex digits,
/// in either case, optionally in braces.
pub(crate) fn canonical_uuid(s: &str) -> Option<[u8; 36]> {
    let s = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(s);
    let b = s.as_bytes();
    let hyphens = match b.len() {
        36 => {
            if [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
                return None;
            }
            true
        }
        32 => false,
        _ => return None,
    };
    let mut out = [0u8; 36];
    let mut o = 0;
    for (i, &c) in b.iter().enumerate() {
        if hyphens && matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return None;
        }
        if matches!(o, 8 | 13 | 18 | 23) {
            out[o] = b'-';
            o += 1;
        }
        out[o] = c.to_ascii_lowercase();
        o += 1;
    }
    Some(out)
}

/// Whether `s` is a UUID written hyphenated, in either case: a string literal that is one
/// compares with stored strings case-insensitively.
pub(super) fn is_hyphenated_uuid(s: &str) -> bool {
    s.len() == 36 && canonical_uuid(s).is_some()
}

/// The instant of an RFC 3339 date-time (`2024-01-02T03:04:05.123+02:00`, `T` and `Z` in
/// either case), or, when `bare` is allowed, of a plain `2024-01-02` (midnight UTC).
/// Fields are range-checked (month 1-12, the month's days, hours < 24, minutes and seconds
/// < 60, offsets below 24:00); fractional seconds count to the nanosecond.
pub(crate) fn parse_date(s: &str, bare: bool) -> Option<Instant> {
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
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        return bare.then_some((days * 86_400, 0));
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
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
    Some((days * 86_400 + h * 3600 + mi * 60 + sec - offset, nanos))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::ID;

    #[test]
    fn canonical_uuids() {
        let c = |s: &str| canonical_uuid(s).map(|b| String::from_utf8_lossy(&b).into_owned());
        assert_eq!(c(ID).as_deref(), Some(ID));
        assert_eq!(c("6B29FC40CA471067B31D00DD010662DA").as_deref(), Some(ID));
        assert_eq!(
            c("{6B29FC40-CA47-1067-B31D-00DD010662DA}").as_deref(),
            Some(ID)
        );
        assert_eq!(c("6b29fc40-ca47-1067-b31d00-dd010662da"), None);
        assert_eq!(c("6b29fc40-ca47-1067-b31d-00dd010662dg"), None);
        assert_eq!(c("{6b29fc40"), None);
        assert_eq!(c("éééééééééééééééééé"), None);
    }
}
