//! float32 numbers as JSON text: written in the shortest form that reads back to the same
//! float32 (as Weaviate's Go server writes them), and read straight from their decimal text
//! to the nearest float32, never through f64 (which could round a value twice).
//!
//! The reader is hand-written because it is on every hot path (each vector number of every
//! object line, cursor page and batch body), checks JSON's number grammar in the same pass
//! (the standard library also takes `+1`, `.5` and `inf`), and is faster than
//! `str::parse::<f32>` on the numbers ely moves: `cargo bench -p ely-vocab --bench floats`
//! measured 15.5 against 22.4 ns a number on embedding-like values (1.44x) and 17.4 against
//! 20.5 ns on values uniform in [-1, 1) (1.18x); benches/README.md has the run. It falls back
//! to the standard library for the rare numbers its fast path cannot round exactly, and a
//! test checks it against the standard library on four hundred thousand numbers.

/// Writes `x` in the shortest decimal form that reads back to the same float32 (`1` rather
/// than `1.0`); vectors are always written through here, never through f64 text.
pub fn write_f32(out: &mut Vec<u8>, x: f32) {
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x);
    let s = s.strip_suffix(".0").unwrap_or(s);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a vector as a JSON array of shortest-form float32 numbers.
pub fn write_f32s(out: &mut Vec<u8>, v: &[f32]) {
    out.push(b'[');
    for (i, &x) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_f32(out, x);
    }
    out.push(b']');
}

/// Powers of ten that float64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A JSON number's text as the float32 nearest to its decimal value (what `str::parse::<f32>`
/// gives); `None` when the text is not a JSON number or the value is outside float32's range.
///
/// Most numbers take a fast path: with at most 19 significant digits `m` and a decimal
/// exponent `e` in -22..=22, `m` and `10^|e|` are exact in float64, so one multiplication or
/// division gives `m * 10^e` correctly rounded to float64. Rounding that to float32 gives
/// the float32 nearest to the exact value unless the float64 lies exactly halfway between
/// two float32 values (any other float32 midpoint between the two would be a float64 nearer
/// the exact value); those, and everything else, go to the standard library.
pub fn parse_f32(b: &[u8]) -> Option<f32> {
    number_prefix(b)
        .filter(|&(_, n)| n == b.len())
        .map(|(x, _)| x)
}

/// The JSON number at the start of `b` (it ends where JSON's grammar does), as [`parse_f32`]
/// reads it, and its length. `None` when `b` does not start with a JSON number (a `.` or an
/// exponent must be followed by digits) or the value is outside float32's range.
pub fn number_prefix(b: &[u8]) -> Option<(f32, usize)> {
    let neg = b.first() == Some(&b'-');
    let mut i = usize::from(neg);
    let mut mantissa: u64 = 0;
    // Significant digits in `mantissa`; 20 means a non-zero digit did not fit.
    let mut digits = 0;
    let mut exp10: i64 = 0;
    let int_start = i;
    while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if digits < 19 {
            mantissa = mantissa * 10 + u64::from(c - b'0');
            digits += usize::from(mantissa > 0);
        } else {
            exp10 += 1;
            if c != b'0' {
                digits = 20;
            }
        }
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        // Eight digits at a time while they fit in `mantissa` (embedding values carry eight
        // to ten fraction digits), then one at a time as below.
        while digits <= 11 {
            let Some(v) = eight_digits(b, i) else { break };
            if mantissa == 0 {
                digits += v.checked_ilog10().map_or(0, |l| l as usize + 1);
            } else {
                digits += 8;
            }
            mantissa = mantissa * 100_000_000 + v;
            exp10 -= 8;
            i += 8;
        }
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if digits < 19 {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                exp10 -= 1;
                digits += usize::from(mantissa > 0);
            } else if c != b'0' {
                digits = 20;
            }
            i += 1;
        }
        if i == frac_start {
            return None;
        }
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        let negative_exp = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if e < 100_000 {
                e = e * 10 + i64::from(c - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        exp10 += if negative_exp { -e } else { e };
    }
    if mantissa == 0 && digits < 20 {
        return Some((if neg { -0.0 } else { 0.0 }, i));
    }
    if digits <= 19 && mantissa <= 1 << 53 && (-22..=22).contains(&exp10) {
        let m = mantissa as f64;
        let d = if exp10 >= 0 {
            m * POW10[exp10 as usize]
        } else {
            m / POW10[exp10.unsigned_abs() as usize]
        };
        if d.to_bits() & 0x1fff_ffff != 0x1000_0000 {
            let f = d as f32;
            return Some((if neg { -f } else { f }, i));
        }
    }
    let x: f32 = std::str::from_utf8(&b[..i]).ok()?.parse().ok()?;
    x.is_finite().then_some((x, i))
}

/// The value of the eight ASCII digits at `b[i..i + 8]`, when there are eight digits there
/// (the SWAR method of simdjson and fast_float: eight bytes checked and combined at once).
pub(crate) fn eight_digits(b: &[u8], i: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    let v = u64::from_le_bytes(bytes);
    let all_digits = ((v & 0xF0F0_F0F0_F0F0_F0F0)
        | ((v.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4))
        == 0x3333_3333_3333_3333;
    if !all_digits {
        return None;
    }
    let v = v - 0x3030_3030_3030_3030;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let v = (v & 0x0000_00FF_0000_00FF)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(v)
}

/// Whether `c` can be part of a number's text.
pub(crate) fn is_number_byte(c: Option<&u8>) -> bool {
    matches!(c, Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// JSON's number grammar, which is stricter than Rust's float parser (no `+1`, `.5`, `1.`).
pub fn is_json_number(b: &[u8]) -> bool {
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_the_standard_library_reads_them() {
        let std_f32 = |t: &str| -> Option<u32> {
            let x: f32 = t.parse().ok()?;
            x.is_finite().then_some(x.to_bits())
        };
        let mut tokens: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "0e5",
            "1",
            "-1",
            "0.1",
            "1.0000000596046448",
            "1.00000005960464477539",
            "16777217",
            "9007199254740993",
            "1e22",
            "1e23",
            "1e-22",
            "1e-23",
            "7.038531e-26",
            "1e-45",
            "7e-46",
            "1e-46",
            "3.4028235e38",
            "3.4028236e38",
            "1e39",
            "123456789012345678901234567890",
            "0.000000000000000000000000000001",
            "1E+2",
            "2.5e-6",
            "12345678901234567890e-10",
        ]
        .map(String::from)
        .to_vec();
        let mut bits: u32 = 0x2545_f491;
        for _ in 0..100_000 {
            bits ^= bits << 13;
            bits ^= bits >> 17;
            bits ^= bits << 5;
            let x = f32::from_bits(bits);
            if x.is_finite() {
                tokens.push(format!("{x}"));
                tokens.push(format!("{x:e}"));
                tokens.push(format!("{}", f64::from(x)));
                tokens.push(format!("{:e}", f64::from(x) * 1.000_000_1));
            }
        }
        for t in &tokens {
            assert_eq!(parse_f32(t.as_bytes()).map(f32::to_bits), std_f32(t), "{t}");
        }
        for bad in [
            "", "-", "01", ".5", "1.", "+1", "1e", "1e+", "--1", "1x", "0x10", "inf",
        ] {
            assert_eq!(parse_f32(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn eight_digits_at_once() {
        for text in ["00000000", "12345678", "99999999", "01020304", "10000000"] {
            assert_eq!(
                eight_digits(text.as_bytes(), 0),
                Some(text.parse::<u64>().unwrap()),
                "{text}"
            );
        }
        for text in [
            "1234567", "1234567x", "123/5678", "12345:78", "-1234567", "1234 678",
        ] {
            assert_eq!(eight_digits(text.as_bytes(), 0), None, "{text}");
        }
        assert_eq!(eight_digits(b"x12345678", 1), Some(12_345_678));
    }

    #[test]
    fn f32_shortest_forms() {
        let cases: [(f32, &str); 6] = [
            (1.0, "1"),
            (0.1, "0.1"),
            (-0.0, "-0"),
            (1e-7, "1e-7"),
            (f32::MAX, "3.4028235e38"),
            (1.5, "1.5"),
        ];
        for (x, want) in cases {
            let mut out = Vec::new();
            write_f32(&mut out, x);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want);
            assert_eq!(want.parse::<f32>().unwrap().to_bits(), x.to_bits());
        }
    }
}
