//! The bodies that carry vectors, without `serde_json::Value` trees for the vectors: a
//! reader that takes a batch body apart in one pass, reading each vector number from its
//! text straight to float32, and writers that print float32 numbers and vectors directly.
//!
//! The reader only accepts what it can read exactly as the `Value` path would; anything else
//! (a malformed body, a duplicate key, a vector that is not an array of float32 numbers)
//! makes it give up, and the caller takes the `Value` path, which answers with the exact
//! error.
//!
//! The float32 number parser here (`number_prefix`) is the server's own copy: ely-vocab has
//! its own, and the server deliberately shares no code with the client crates, so that a bug
//! in one cannot hide the same bug in the other. Do not deduplicate them.

use crate::floats::FloatFixups;
use crate::vector::Vector;
use serde_json::ser::{CompactFormatter, Formatter};
use serde_json::{Map, Value};
use std::io::Write;

/// A cursor over a JSON text.
struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    /// The length of the last vector read: room to reserve for the next.
    hint: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace.
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    /// Consumes `c` (after whitespace) if it is next.
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// One whole JSON value as serde_json reads it (same numbers, same strings).
    fn value(&mut self) -> Option<Value> {
        let mut stream =
            serde_json::Deserializer::from_slice(&self.s[self.i..]).into_iter::<Value>();
        let v = stream.next()?.ok()?;
        self.i += stream.byte_offset();
        Some(v)
    }

    /// A member name.
    fn key(&mut self) -> Option<String> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let mut stream =
            serde_json::Deserializer::from_slice(&self.s[self.i..]).into_iter::<String>();
        let k = stream.next()?.ok()?;
        self.i += stream.byte_offset();
        self.eat(b':').then_some(k)
    }

    /// After a member or element: true at a comma, false at `close`.
    fn next_or_end(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// `null`, if it is next.
    fn null(&mut self) -> bool {
        if self.peek().is_some() && self.s[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// A JSON number as the float32 nearest to its decimal text; `None` for anything that
    /// is not a JSON number within float32's range.
    fn f32(&mut self) -> Option<f32> {
        self.ws();
        let (x, n) = number_prefix(&self.s[self.i..])?;
        self.i += n;
        (!is_number_byte(self.s.get(self.i))).then_some(x)
    }

    /// `[n, n, ...]` of float32 numbers.
    fn row(&mut self) -> Option<Vec<f32>> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(Vec::new());
        }
        let mut out = Vec::with_capacity(self.hint);
        loop {
            out.push(self.f32()?);
            if !self.next_or_end(b']')? {
                self.hint = out.len();
                return Some(out);
            }
        }
    }

    /// A named vector: an array of numbers, or a non-empty array of arrays of numbers.
    fn vector(&mut self) -> Option<Vector> {
        let open = self.i;
        if !self.eat(b'[') {
            return None;
        }
        if self.peek() != Some(b'[') {
            self.i = open;
            return self.row().map(Vector::Single);
        }
        let mut rows = Vec::new();
        loop {
            rows.push(self.row()?);
            if !self.next_or_end(b']')? {
                return Some(Vector::Multi(rows));
            }
        }
    }

    /// `{"name": vector or null, ...}`; `null` entries are left out, as the `Value` path
    /// leaves them out.
    fn named_vectors(&mut self) -> Option<Vec<(String, Vector)>> {
        if !self.eat(b'{') {
            return None;
        }
        let mut out: Vec<(String, Vector)> = Vec::new();
        let mut names: Vec<String> = Vec::new();
        if self.eat(b'}') {
            return Some(out);
        }
        loop {
            let name = self.key()?;
            if names.contains(&name) {
                return None;
            }
            if !self.null() {
                out.push((name.clone(), self.vector()?));
            }
            names.push(name);
            if !self.next_or_end(b'}')? {
                return Some(out);
            }
        }
    }
}

/// Powers of ten that float64 holds exactly.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The JSON number at the start of `b` (it ends where JSON's grammar does) as the float32
/// nearest to its decimal value (what `str::parse::<f32>` gives), and its length; `None` when
/// `b` does not start with a JSON number (a `.` or an exponent must be followed by digits) or
/// the value is outside float32's range.
///
/// Most numbers take a fast path: with at most 19 significant digits `m` and a decimal
/// exponent `e` in -22..=22, `m` and `10^|e|` are exact in float64, so one multiplication or
/// division gives `m * 10^e` correctly rounded to float64. Rounding that to float32 gives
/// the float32 nearest to the exact value unless the float64 lies exactly halfway between
/// two float32 values (any other float32 midpoint between the two would be a float64 nearer
/// the exact value); those, and everything else, go to the standard library.
fn number_prefix(b: &[u8]) -> Option<(f32, usize)> {
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

/// Whether `c` can be part of a number's text.
fn is_number_byte(c: Option<&u8>) -> bool {
    matches!(c, Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
}

/// One object of a batch body, read by [`batch_objects`].
pub(crate) struct BatchObject<'a> {
    /// Every member but `vector` and `vectors`, in order.
    pub fields: Map<String, Value>,
    pub vector: Option<Vec<f32>>,
    pub vectors: Vec<(String, Vector)>,
    /// The text of `vector` and of `vectors` when not `null`, for the answer to an object
    /// that fails, which shows them as sent.
    pub vector_text: Option<&'a [u8]>,
    pub vectors_text: Option<&'a [u8]>,
}

/// Reads a `POST /v1/batch/objects` body: `{"objects": [{...}, ...], ...}`. `None` when the
/// body is not one this reader takes exactly as the `Value` path does (see the module
/// comment), including bodies the handler refuses as a whole. The float fixups cover the
/// numbers of every object's `properties` (geo coordinates are read from there).
pub(crate) fn batch_objects(body: &[u8]) -> Option<(Vec<BatchObject<'_>>, FloatFixups)> {
    let mut r = Reader {
        s: body,
        i: 0,
        hint: 0,
    };
    let mut objects = None;
    let mut keys: Vec<String> = Vec::new();
    let mut fixups = FloatFixups::default();
    if !r.eat(b'{') || r.eat(b'}') {
        return None;
    }
    loop {
        let key = r.key()?;
        if keys.contains(&key) {
            return None;
        }
        if key == "objects" {
            objects = Some(object_list(&mut r, &mut fixups)?);
        } else {
            r.value()?;
        }
        keys.push(key);
        if !r.next_or_end(b'}')? {
            break;
        }
    }
    r.ws();
    if r.i != body.len() {
        return None;
    }
    objects
        .filter(|o: &Vec<BatchObject>| !o.is_empty())
        .map(|o| (o, fixups))
}

fn object_list<'a>(r: &mut Reader<'a>, fixups: &mut FloatFixups) -> Option<Vec<BatchObject<'a>>> {
    if !r.eat(b'[') {
        return None;
    }
    let mut out = Vec::new();
    if r.eat(b']') {
        return Some(out);
    }
    loop {
        out.push(batch_object(r, fixups)?);
        if !r.next_or_end(b']')? {
            return Some(out);
        }
    }
}

fn batch_object<'a>(r: &mut Reader<'a>, fixups: &mut FloatFixups) -> Option<BatchObject<'a>> {
    if !r.eat(b'{') {
        return None;
    }
    let mut o = BatchObject {
        fields: Map::new(),
        vector: None,
        vectors: Vec::new(),
        vector_text: None,
        vectors_text: None,
    };
    let (mut saw_vector, mut saw_vectors) = (false, false);
    if r.eat(b'}') {
        return Some(o);
    }
    loop {
        let key = r.key()?;
        r.ws();
        let start = r.i;
        match key.as_str() {
            "vector" if !saw_vector => {
                saw_vector = true;
                if !r.null() {
                    o.vector = Some(r.row()?);
                    o.vector_text = Some(&r.s[start..r.i]);
                }
            }
            "vectors" if !saw_vectors => {
                saw_vectors = true;
                if !r.null() {
                    o.vectors = r.named_vectors()?;
                    o.vectors_text = Some(&r.s[start..r.i]);
                }
            }
            "vector" | "vectors" => return None,
            _ => {
                if o.fields.contains_key(&key) {
                    return None;
                }
                let v = r.value()?;
                if key == "properties" {
                    fixups.add(&r.s[start..r.i]);
                }
                o.fields.insert(key, v);
            }
        }
        if !r.next_or_end(b'}')? {
            return Some(o);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Writes a float32 in its shortest round-trip digits, laid out as serde_json prints the
/// float64 nearest to those digits (the form `util::f32_json` values print in): fixed
/// notation for decimal exponents -5 to 15 (`0.00001`, `100000000000000.0`), otherwise
/// `1e-6`, `1e+16`. Non-finite values, which no stored vector holds, print as `null`.
pub(crate) fn write_f32(out: &mut Vec<u8>, x: f32) {
    let a = x.abs();
    if (1.1e-5..9e12).contains(&a) || a == 0.0 {
        // Decimal exponents -5 to 12, where serde_json's float32 form is already that one.
        let _ = CompactFormatter.write_f32(out, x);
        return;
    }
    if !x.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let mut buf = ryu::Buffer::new();
    let s = buf.format_finite(x).as_bytes();
    // ryu's float32 layout differs from that only for decimal exponents -6 and 13 or more.
    let (sign, body) = match s.split_first() {
        Some((b'-', rest)) => (&s[..1], rest),
        _ => (&s[..0], s),
    };
    if let Some(e) = body.iter().position(|&c| c == b'e') {
        let (mantissa, exp) = (&body[..e], &body[e + 1..]);
        if exp.first() == Some(&b'-') {
            out.extend_from_slice(s);
            return;
        }
        let n = exp
            .iter()
            .fold(0usize, |a, &d| a * 10 + usize::from(d.wrapping_sub(b'0')));
        out.extend_from_slice(sign);
        if n <= 15 {
            // 1.2345e14 -> 123450000000000.0
            let mut digits = 0;
            for &c in mantissa.iter().filter(|&&c| c != b'.') {
                out.push(c);
                digits += 1;
            }
            out.resize(out.len() + (n + 1).saturating_sub(digits), b'0');
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(mantissa);
            out.extend_from_slice(b"e+");
            out.extend_from_slice(exp);
        }
        return;
    }
    if let Some(digits) = body.strip_prefix(b"0.00000") {
        // 0.0000015 -> 1.5e-6
        out.extend_from_slice(sign);
        if let Some((first, rest)) = digits.split_first() {
            out.push(*first);
            if !rest.is_empty() {
                out.push(b'.');
                out.extend_from_slice(rest);
            }
        }
        out.extend_from_slice(b"e-6");
        return;
    }
    out.extend_from_slice(s);
}

pub(crate) fn write_f32s(out: &mut Vec<u8>, xs: &[f32]) {
    out.push(b'[');
    for (i, &x) in xs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_f32(out, x);
    }
    out.push(b']');
}

pub(crate) fn write_vector(out: &mut Vec<u8>, v: &Vector) {
    match v {
        Vector::Single(xs) => write_f32s(out, xs),
        Vector::Multi(rows) => {
            out.push(b'[');
            for (i, row) in rows.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_f32s(out, row);
            }
            out.push(b']');
        }
    }
}

/// A string with JSON escapes. Writing into a `Vec` cannot fail, and strings and `Value`s
/// always serialise.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A `Value`, as `serde_json::to_vec` writes it.
pub(crate) fn write_value(out: &mut Vec<u8>, v: &Value) {
    let _ = serde_json::to_writer(&mut *out, v);
}

/// A JSON object's members, as `serde_json::to_vec` writes the object.
pub(crate) fn write_map(out: &mut Vec<u8>, m: &Map<String, Value>) {
    let _ = serde_json::to_writer(&mut *out, m);
}

/// An integer.
pub(crate) fn write_int(out: &mut Vec<u8>, n: i64) {
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::f32_json;

    /// A whole text as one number.
    fn json_f32(b: &[u8]) -> Option<f32> {
        number_prefix(b)
            .filter(|&(_, n)| n == b.len())
            .map(|(x, _)| x)
    }

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
                tokens.push(ryu::Buffer::new().format_finite(x).to_string());
                tokens.push(format!("{}", f64::from(x)));
                tokens.push(format!("{:e}", f64::from(x) * 1.000_000_1));
            }
        }
        for t in &tokens {
            assert_eq!(json_f32(t.as_bytes()).map(f32::to_bits), std_f32(t), "{t}");
        }
        for bad in [
            "", "-", "01", ".5", "1.", "+1", "1e", "1e+", "--1", "1x", "0x10", "inf",
        ] {
            assert_eq!(json_f32(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn floats_print_as_their_json_values_do() {
        // Bit patterns across every exponent, and the layout boundaries.
        let mut xs: Vec<f32> = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-45,
            1e-7,
            9.99999e-7,
            1e-6,
            1.5e-6,
            1e-5,
            1.5e-5,
            1e13,
            1e14,
            1.2345e14,
            1e15,
            9.999999e15,
            1e16,
            1.2345e16,
            3e38,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            16_777_216.0,
            123_456_790.0,
        ];
        let mut bits: u32 = 0x1234_5678;
        for _ in 0..200_000 {
            bits ^= bits << 13;
            bits ^= bits >> 17;
            bits ^= bits << 5;
            xs.push(f32::from_bits(bits));
        }
        let mut out = Vec::new();
        for x in xs.into_iter().filter(|x| x.is_finite()) {
            out.clear();
            write_f32(&mut out, x);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                f32_json(x).to_string(),
                "{:08x}",
                x.to_bits()
            );
        }
    }

    #[test]
    fn batch_bodies_read_exactly_or_not_at_all() {
        let body = br#" {"fields":["ALL"],"objects":[
            {"class":"A","id":"x","properties":{"g":{"latitude":7.038531e-26}},
             "vector":[7.038531e-26, -0, 1E+2, 0.1],"tenant":"t"},
            {"class":"B","vector":null,"vectors":{"a":[[1,2],[3]],"b":null,"c":[]}}
        ]} "#;
        let (objects, fixups) = batch_objects(body).expect("read");
        assert_eq!(objects.len(), 2);
        let v = objects[0].vector.as_ref().unwrap();
        let bits: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
        assert_eq!(bits, [7.038531e-26_f32, -0.0, 100.0, 0.1].map(f32::to_bits));
        assert_eq!(
            objects[0].vector_text,
            Some(&b"[7.038531e-26, -0, 1E+2, 0.1]"[..])
        );
        assert_eq!(objects[0].fields["tenant"], "t");
        assert!(!objects[0].fields.contains_key("vector"));
        let lat = &objects[0].fields["properties"]["g"]["latitude"];
        assert_eq!(
            fixups.f32(lat).map(f32::to_bits),
            Some(7.038531e-26_f32.to_bits())
        );
        assert!(objects[1].vector.is_none() && objects[1].vector_text.is_none());
        assert_eq!(
            objects[1].vectors,
            [
                (
                    "a".to_string(),
                    Vector::Multi(vec![vec![1.0, 2.0], vec![3.0]])
                ),
                ("c".to_string(), Vector::Single(Vec::new())),
            ]
        );
        for bad in [
            &br#"{"objects":[]}"#[..],
            br#"{"objects":null}"#,
            br#"{}"#,
            br#"[]"#,
            br#""#,
            br#"{"objects":[{"vector":[1e39]}]}"#,
            br#"{"objects":[{"vector":[1e400]}]}"#,
            br#"{"objects":[{"vector":["1"]}]}"#,
            br#"{"objects":[{"vector":[[1]]}]}"#,
            br#"{"objects":[{"vector":[01]}]}"#,
            br#"{"objects":[{"vector":[1,]}]}"#,
            br#"{"objects":[{"vector":[1],"vector":[2]}]}"#,
            br#"{"objects":[{"id":"a","id":"b"}]}"#,
            br#"{"objects":[{"vectors":{"a":[1],"a":[2]}}]}"#,
            br#"{"objects":[{"vectors":{"a":[[1],2]}}]}"#,
            br#"{"objects":[{"vectors":[1]}]}"#,
            br#"{"objects":[1]}"#,
            br#"{"objects":[{}]} x"#,
            br#"{"objects":[{}],"objects":[{}]}"#,
            br#"{"objects":[{}],"x":1e400}"#,
        ] {
            assert!(
                batch_objects(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
