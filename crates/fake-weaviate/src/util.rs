//! Small value helpers the handlers share: UUIDs as Weaviate parses and prints them, server
//! time, float32 numbers in JSON, RFC3339 dates, base64, and Go's names for JSON types (which
//! appear verbatim in Weaviate's error messages).
//!
//! The UUID, RFC 3339 and base64 helpers here are the server's own copies: the client crates
//! have theirs in ely-vocab, and the two sides deliberately share no
//! code, so that a bug in one cannot hide the same bug in the other. Do not deduplicate them.

use serde_json::{Number, Value};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// An object id: the 16 bytes Weaviate uses as the store key, so that ordering by it is the
/// cursor's ascending UUID order.
pub(crate) type Uuid = [u8; 16];

/// Parses a UUID the way Go's `github.com/google/uuid.Parse` does (canonical, braces,
/// `urn:uuid:` prefix, or 32 bare hex digits), with its error texts.
pub(crate) fn parse_uuid(s: &str) -> Result<Uuid, String> {
    if !s.is_ascii() {
        // Every accepted form is ASCII; checking first also keeps the slicing below on
        // character boundaries.
        return Err(match s.len() {
            32 | 36 | 38 | 45 => "invalid UUID format".into(),
            n => format!("invalid UUID length: {n}"),
        });
    }
    let hex: String = match s.len() {
        36 => dashed(s)?,
        38 => {
            if !s.starts_with('{') || !s.ends_with('}') {
                return Err("invalid UUID format".into());
            }
            dashed(&s[1..37])?
        }
        45 => {
            if !s[..9].eq_ignore_ascii_case("urn:uuid:") {
                return Err(format!("invalid urn prefix: {:?}", &s[..9]));
            }
            dashed(&s[9..])?
        }
        32 => s.to_string(),
        n => return Err(format!("invalid UUID length: {n}")),
    };
    let bytes = hex.as_bytes();
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = hex_digit(bytes[2 * i]).ok_or("invalid UUID format")?;
        let lo = hex_digit(bytes[2 * i + 1]).ok_or("invalid UUID format")?;
        *byte = hi << 4 | lo;
    }
    Ok(out)
}

fn dashed(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err("invalid UUID format".into());
    }
    Ok(s.chars().filter(|&c| c != '-').collect())
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The swagger `format: uuid` check go-openapi runs before a handler sees the request: 8-4-4-4-12
/// hex with hyphens or 32 bare hex digits, any case.
pub(crate) fn is_swagger_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    let all_hex = |r: &[u8]| r.iter().all(|c| c.is_ascii_hexdigit());
    match b.len() {
        32 => all_hex(b),
        36 => {
            b[8] == b'-'
                && b[13] == b'-'
                && b[18] == b'-'
                && b[23] == b'-'
                && all_hex(&b[..8])
                && all_hex(&b[9..13])
                && all_hex(&b[14..18])
                && all_hex(&b[19..23])
                && all_hex(&b[24..])
        }
        _ => false,
    }
}

/// The lowercase canonical form every response uses.
pub(crate) fn format_uuid(id: &Uuid) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(36);
    for (i, b) in id.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// A random version-4 UUID for objects sent without an id. Randomness comes from the standard
/// library's per-process hash keys mixed with a counter and the clock: a test server needs
/// unique ids, not cryptographic ones.
pub(crate) fn random_uuid() -> Uuid {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    out
}

/// Server time in integer milliseconds, as `creationTimeUnix` and `lastUpdateTimeUnix` carry it.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A float32 as a JSON number that prints in the float32's shortest round-trip form (as Go's
/// `strconv` does for `float32`). serde_json only holds f64, so the number is the f64 nearest
/// to that shortest decimal, whose own shortest form is the same digits.
pub(crate) fn f32_json(x: f32) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x);
    match text.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) => Value::Number(n),
        None => Value::Null,
    }
}

pub(crate) fn f32s_json(xs: &[f32]) -> Value {
    Value::Array(xs.iter().map(|&x| f32_json(x)).collect())
}

/// Checks a date the way Go's `time.Parse(time.RFC3339, s)` does and returns it as Go would
/// print the parsed time (RFC3339Nano: trailing fractional zeros dropped, a zero offset as `Z`).
pub(crate) fn normalize_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut frac = String::new();
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Go keeps nanoseconds: digits past the ninth are dropped.
        frac = s[start..i.min(start + 9)].trim_end_matches('0').to_string();
    }
    let zone = match &b[i..] {
        [b'Z'] => "Z".to_string(),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let oh = u32::from(h1 - b'0') * 10 + u32::from(h2 - b'0');
            let om = u32::from(m1 - b'0') * 10 + u32::from(m2 - b'0');
            if oh > 23 || om > 59 {
                return None;
            }
            if oh == 0 && om == 0 {
                "Z".to_string()
            } else {
                format!("{}{:02}:{:02}", *sign as char, oh, om)
            }
        }
        _ => return None,
    };
    let mut out = s[..19].to_string();
    if !frac.is_empty() {
        out.push('.');
        out.push_str(&frac);
    }
    out.push_str(&zone);
    Some(out)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The current time in Go's `time.ANSIC` layout (`Mon Jan _2 15:04:05 2006`, UTC), which
/// auto-schema writes into the descriptions it generates.
pub(crate) fn ansic_now() -> String {
    let secs = now_ms().div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// Days since 1970-01-01 to a (year, month, day) civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Standard, padded base64, as Weaviate requires for `blob` values.
pub(crate) fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return false;
    }
    b[..b.len() - pad]
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// Class names get their first letter uppercased on every path (CONTRACT.md §1.2).
pub(crate) fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Property names get their first letter lowercased (CONTRACT.md §1.2).
pub(crate) fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Go's name for the type a JSON value decodes to, as Weaviate's messages print it.
pub(crate) fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(_) => "json.Number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A JSON value printed as Go's `%v` would print the decoded value, for "the given value is
/// '...'" messages.
pub(crate) fn go_display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]{0,max_rest}$` style checks, which every Weaviate name rule is.
pub(crate) fn name_matches(s: &str, first: fn(u8) -> bool, max_len: usize) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= max_len
        && first(b[0])
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_parse_like_go() {
        let id = parse_uuid("C9E5B4D8-64B6-4B6B-9D7C-0A1F7F0D2B10").unwrap();
        assert_eq!(format_uuid(&id), "c9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b10");
        assert_eq!(
            parse_uuid("{c9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b10}").unwrap(),
            id
        );
        assert_eq!(
            parse_uuid("urn:uuid:c9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b10").unwrap(),
            id
        );
        assert_eq!(parse_uuid("c9e5b4d864b64b6b9d7c0a1f7f0d2b10").unwrap(), id);
        assert_eq!(parse_uuid("xyz").unwrap_err(), "invalid UUID length: 3");
        assert!(parse_uuid("g9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b10").is_err());
        assert!(parse_uuid("urn:uui\u{e9}c9e5b4d8-64b6-4b6b-9d7c-0a1f7f0d2b1").is_err());
        let r = random_uuid();
        assert_eq!(r[6] >> 4, 4);
        assert_ne!(random_uuid(), r);
    }

    #[test]
    fn dates_normalise_like_go() {
        assert_eq!(
            normalize_rfc3339("2024-01-02T03:04:05Z").unwrap(),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            normalize_rfc3339("2024-01-02T03:04:05.500000+00:00").unwrap(),
            "2024-01-02T03:04:05.5Z"
        );
        assert_eq!(
            normalize_rfc3339("2024-01-02T03:04:05.000-05:30").unwrap(),
            "2024-01-02T03:04:05-05:30"
        );
        assert!(normalize_rfc3339("2024-02-30T00:00:00Z").is_none());
        assert!(normalize_rfc3339("2024-01-02 03:04:05Z").is_none());
        assert!(normalize_rfc3339("yesterday").is_none());
    }

    #[test]
    fn floats_print_in_float32_form() {
        assert_eq!(f32_json(0.1).to_string(), "0.1");
        assert_eq!(f32_json(-0.0).to_string(), "-0.0");
        assert_eq!(f32_json(f32::from_bits(1)).to_string(), "1e-45");
        assert_eq!(f32_json(0.123_456_79).to_string(), "0.12345679");
    }

    #[test]
    fn base64_and_ansic() {
        assert!(is_base64("aGVsbG8="));
        assert!(!is_base64("aGVsbG8"));
        assert!(!is_base64("a$=="));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(ansic_now().len(), 24);
    }
}
