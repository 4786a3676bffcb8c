//! The object: Weaviate's REST object shape, with vectors read straight from their decimal
//! text into float32 (never through f64, which could round a value differently) and written
//! in shortest float32 form, so that no vector bit changes on the way through.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One object, as Weaviate's REST API carries it (CONTRACT.md 5.1).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Object {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub class: String,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub properties: Map<String, Value>,
    /// The legacy single vector; an empty one is no vector, as in Weaviate.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "legacy_vector"
    )]
    pub vector: Option<Vec<f32>>,
    /// Named vectors, each a vector or a multi-vector.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "named_vectors"
    )]
    pub vectors: BTreeMap<String, Vector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time_unix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time_unix: Option<i64>,
}

/// A named vector: one float32 vector, or several (a multi-vector, ColBERT style).
#[derive(Debug, Clone, PartialEq)]
pub enum Vector {
    Single(Vec<f32>),
    Multi(Vec<Vec<f32>>),
}

impl Object {
    /// The object without vectors, as a store returns it when vectors were not asked for.
    pub fn without_vectors(mut self) -> Object {
        self.vector = None;
        self.vectors.clear();
        self
    }
}

impl Serialize for Vector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Vector::Single(v) => v.serialize(s),
            Vector::Multi(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Vector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Vector, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        parse_vector(raw.get()).map_err(D::Error::custom)
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

fn legacy_vector<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
    match Option::<Vector>::deserialize(d)? {
        None => Ok(None),
        Some(Vector::Single(v)) if v.is_empty() => Ok(None),
        Some(Vector::Single(v)) => Ok(Some(v)),
        Some(Vector::Multi(_)) => Err(D::Error::custom(
            "\"vector\" must be an array of numbers, not of arrays",
        )),
    }
}

fn named_vectors<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vector>, D::Error> {
    let map = Option::<BTreeMap<String, Option<Vector>>>::deserialize(d)?.unwrap_or_default();
    // `null` means "not provided" (CONTRACT.md 5.1).
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// Reads a vector (`[1, 0.5]`) or a multi-vector (`[[1, 0.5], [2, 3]]`) from JSON text,
/// each number parsed directly as float32. Values outside float32's range are errors.
pub fn parse_vector(text: &str) -> Result<Vector, String> {
    let mut p = Parser::new(text.as_bytes(), 0);
    let vector = p.vector()?;
    p.ws();
    if p.i != p.s.len() {
        return Err("unexpected text after the vector".into());
    }
    Ok(vector)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// The length of the last vector read: room to reserve for the next.
    hint: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a [u8], i: usize) -> Parser<'a> {
        Parser { s, i, hint: 0 }
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// A vector or a multi-vector, after optional whitespace.
    fn vector(&mut self) -> Result<Vector, String> {
        self.ws();
        let open = self.i;
        self.expect(b'[')?;
        self.ws();
        if self.peek() == Some(b'[') {
            let mut rows = Vec::new();
            loop {
                rows.push(self.row()?);
                if !self.comma_or_end()? {
                    break;
                }
                self.ws();
            }
            Ok(Vector::Multi(rows))
        } else {
            self.i = open;
            Ok(Vector::Single(self.row()?))
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "a vector must be an array of numbers (expected '{}' at byte {})",
                c as char,
                self.i + 1
            ))
        }
    }

    /// After an element: true when a comma follows, false at the closing bracket.
    fn comma_or_end(&mut self) -> Result<bool, String> {
        self.ws();
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                Ok(true)
            }
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            _ => Err(format!(
                "a vector must be an array of numbers (unexpected byte {})",
                self.i + 1
            )),
        }
    }

    /// `[n, n, ...]` of float32 values.
    fn row(&mut self) -> Result<Vec<f32>, String> {
        self.expect(b'[')?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(self.hint);
        loop {
            self.ws();
            // A number and what follows it, in one pass; anything odd is read again as a
            // token, for its message.
            if let Some((x, n)) = number_prefix(&self.s[self.i..]) {
                if !is_number_byte(self.s.get(self.i + n)) {
                    out.push(x);
                    self.i += n;
                    if !self.comma_or_end()? {
                        self.hint = out.len();
                        return Ok(out);
                    }
                    continue;
                }
            }
            let start = self.i;
            while is_number_byte(self.s.get(self.i)) {
                self.i += 1;
            }
            let token = &self.s[start..self.i];
            match json_f32(token) {
                Some(x) => out.push(x),
                None if !is_json_number(token) => {
                    return Err(format!(
                        "element {} of a vector must be a number",
                        out.len()
                    ))
                }
                None => {
                    return Err(format!(
                        "element {} of a vector ({}) is outside the float32 range",
                        out.len(),
                        String::from_utf8_lossy(token)
                    ))
                }
            }
            if !self.comma_or_end()? {
                return Ok(out);
            }
        }
    }
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
fn json_f32(b: &[u8]) -> Option<f32> {
    number_prefix(b)
        .filter(|&(_, n)| n == b.len())
        .map(|(x, _)| x)
}

/// The JSON number at the start of `b` (it ends where JSON's grammar does), as [`json_f32`]
/// reads it, and its length. `None` when `b` does not start with a JSON number (a `.` or an
/// exponent must be followed by digits) or the value is outside float32's range.
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

// ---------------------------------------------------------------------------------------------
// Objects in one pass

impl Parser<'_> {
    /// The next byte after whitespace.
    fn next_byte(&mut self) -> Option<u8> {
        self.ws();
        self.peek()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.next_byte() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// One JSON value, read by serde_json where it stands.
    fn value<T: DeserializeOwned>(&mut self) -> Option<T> {
        let mut stream = serde_json::Deserializer::from_slice(&self.s[self.i..]).into_iter::<T>();
        let v = stream.next()?.ok()?;
        self.i += stream.byte_offset();
        Some(v)
    }

    /// A member name and its colon.
    fn key(&mut self) -> Option<String> {
        if self.next_byte() != Some(b'"') {
            return None;
        }
        let k = self.value::<String>()?;
        self.eat(b':').then_some(k)
    }

    /// After a member or element: true at a comma, false at `close`.
    fn more(&mut self, close: u8) -> Option<bool> {
        match self.next_byte()? {
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

    fn null(&mut self) -> bool {
        if self.next_byte() == Some(b'n') && self.s[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// `{...}`: calls `member` with each member's name, the parser standing at its value,
    /// which `member` reads. `None` when the text is not an object or `member` gives `None`.
    fn members(&mut self, mut member: impl FnMut(&mut Self, String) -> Option<()>) -> Option<()> {
        if !self.eat(b'{') {
            return None;
        }
        let mut more = !self.eat(b'}');
        while more {
            let key = self.key()?;
            member(self, key)?;
            more = self.more(b'}')?;
        }
        Some(())
    }

    /// `{...}`: members in any order, unknown ones skipped; a repeated member or a missing
    /// `id` is `None`, as it is an error for `Object`'s `Deserialize`.
    fn object(&mut self) -> Option<Object> {
        let mut o = Object::default();
        let mut seen: Vec<String> = Vec::new();
        self.members(|p, key| {
            let known = matches!(
                key.as_str(),
                "class"
                    | "id"
                    | "tenant"
                    | "properties"
                    | "vector"
                    | "vectors"
                    | "creationTimeUnix"
                    | "lastUpdateTimeUnix"
            );
            if known && seen.contains(&key) {
                return None;
            }
            match key.as_str() {
                "class" => o.class = p.value()?,
                "id" => o.id = p.value()?,
                "tenant" => o.tenant = p.value()?,
                "properties" => {
                    o.properties = p.value::<Option<Map<String, Value>>>()?.unwrap_or_default()
                }
                "vector" => {
                    o.vector = if p.null() {
                        None
                    } else {
                        match p.vector().ok()? {
                            Vector::Single(v) if v.is_empty() => None,
                            Vector::Single(v) => Some(v),
                            Vector::Multi(_) => return None,
                        }
                    }
                }
                "vectors" => {
                    if !p.null() {
                        o.vectors = p.named_vectors()?;
                    }
                }
                "creationTimeUnix" => o.creation_time_unix = p.value()?,
                "lastUpdateTimeUnix" => o.last_update_time_unix = p.value()?,
                _ => {
                    p.value::<IgnoredAny>()?;
                }
            }
            if known {
                seen.push(key);
            }
            Some(())
        })?;
        seen.iter().any(|k| k == "id").then_some(o)
    }

    /// `{"name": vector or null, ...}`, `null` entries left out.
    fn named_vectors(&mut self) -> Option<BTreeMap<String, Vector>> {
        let mut out = BTreeMap::new();
        let mut seen: Vec<String> = Vec::new();
        self.members(|p, name| {
            if seen.contains(&name) {
                return None;
            }
            if !p.null() {
                out.insert(name.clone(), p.vector().ok()?);
            }
            seen.push(name);
            Some(())
        })?;
        Some(out)
    }

    /// Skips one value. An array of numbers (a vector) is checked number by number here;
    /// anything else is skipped by serde_json.
    fn skip(&mut self) -> Option<()> {
        if self.next_byte() == Some(b'[') {
            let open = self.i;
            if self.skip_numbers().is_some() {
                return Some(());
            }
            self.i = open;
        }
        self.value::<IgnoredAny>().map(|_| ())
    }

    /// `[n, n, ...]`, the numbers checked against JSON's grammar but not converted.
    fn skip_numbers(&mut self) -> Option<()> {
        if !self.eat(b'[') {
            return None;
        }
        if self.eat(b']') {
            return Some(());
        }
        loop {
            self.ws();
            self.number_text()?;
            if !self.more(b']')? {
                return Some(());
            }
        }
    }

    /// Passes over one number, checking it against JSON's grammar in the same pass.
    fn number_text(&mut self) -> Option<()> {
        // 0 start, 1 after '-', 2 a leading 0, 3 integer digits, 4 after '.', 5 fraction
        // digits, 6 after 'e', 7 after the exponent's sign, 8 exponent digits.
        let mut state = 0u8;
        while let Some(&c) = self.s.get(self.i) {
            state = match (state, c) {
                (0, b'-') => 1,
                (0 | 1, b'0') => 2,
                (0 | 1, b'1'..=b'9') | (3, b'0'..=b'9') => 3,
                (2 | 3, b'.') => 4,
                (4 | 5, b'0'..=b'9') => 5,
                (2 | 3 | 5, b'e' | b'E') => 6,
                (6, b'+' | b'-') => 7,
                (6..=8, b'0'..=b'9') => 8,
                (_, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') => return None,
                _ => break,
            };
            self.i += 1;
        }
        matches!(state, 2 | 3 | 5 | 8).then_some(())
    }

    /// Only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }
}

/// Reads the `objects` of a `GET /v1/objects` answer (`{"objects": [...], ...}`; a missing
/// or `null` list is empty) in one pass: each vector number goes from its text to float32
/// once, and the other members are read by serde_json where they stand. `None` when the text
/// is not one this reader takes exactly as `Object`'s `Deserialize` would; the caller then
/// uses that, for its result or its error.
pub(crate) fn read_object_list(body: &[u8]) -> Option<Vec<Object>> {
    let mut p = Parser::new(body, 0);
    let mut objects = None;
    let mut seen = false;
    p.members(|p, key| {
        if key == "objects" {
            if seen {
                return None;
            }
            seen = true;
            if !p.null() {
                if !p.eat(b'[') {
                    return None;
                }
                let readers = std::thread::available_parallelism()
                    .map_or(1, usize::from)
                    .min(MAX_READERS)
                    .min((body.len() - p.i) / PARALLEL_MIN_BYTES);
                objects = Some(p.object_array(readers)?);
            }
        } else {
            p.value::<IgnoredAny>()?;
        }
        Some(())
    })?;
    p.at_end().then(|| objects.unwrap_or_default())
}

/// Arrays of objects smaller than this are read on one thread.
const PARALLEL_MIN_BYTES: usize = 1 << 20;
/// The most threads one array is read on.
const MAX_READERS: usize = 8;

impl Parser<'_> {
    /// The objects of an array whose `[` was just read, up to and including its `]`. With
    /// more than one reader the rest of the text is cut into runs of about equal length, read
    /// on that many threads at once. A cut is made before an object that starts with
    /// `"class"` (as Weaviate writes objects), found by its text `},{"class":`; it holds only
    /// if the run before it ends exactly there, on an element of this array. If one does
    /// not, the array is read again on one thread.
    fn object_array(&mut self, readers: usize) -> Option<Vec<Object>> {
        const MARK: &[u8] = b"},{\"class\":";
        let start = self.i;
        let mut cuts: Vec<usize> = Vec::new();
        for k in 1..readers {
            let from = start + (self.s.len() - start) * k / readers;
            let from = from.max(cuts.last().map_or(start, |c| c + 1));
            if let Some(at) = find(&self.s[from.min(self.s.len())..], MARK) {
                cuts.push(from + at + 2);
            }
        }
        if !cuts.is_empty() {
            let runs: Vec<(usize, Option<usize>)> = std::iter::once(start)
                .chain(cuts.iter().copied())
                .zip(cuts.iter().copied().map(Some).chain([None]))
                .collect();
            let s = self.s;
            let read = |&(from, to): &(usize, Option<usize>)| Parser::new(s, from).run(to);
            let results: Vec<Option<(Vec<Object>, usize)>> = std::thread::scope(|scope| {
                // A thread that cannot be started leaves its run unread (and the array to
                // one thread).
                let others: Vec<_> = runs[1..]
                    .iter()
                    .map(|run| {
                        std::thread::Builder::new()
                            .spawn_scoped(scope, move || read(run))
                            .ok()
                    })
                    .collect();
                let first = read(&runs[0]);
                std::iter::once(first)
                    .chain(
                        others
                            .into_iter()
                            .map(|h| h.and_then(|h| h.join().ok()).flatten()),
                    )
                    .collect()
            });
            if results.iter().all(Option::is_some) {
                let mut objects = Vec::new();
                for (list, end) in results.into_iter().flatten() {
                    objects.extend(list);
                    self.i = end;
                }
                return Some(objects);
            }
        }
        self.i = start;
        self.run(None).map(|(list, _)| list)
    }

    /// Elements of an array from here: up to the element starting at `to` (excluded; `None`
    /// when the run goes past it), or with `to` `None` through the array's `]`. Also where
    /// the run ended.
    fn run(&mut self, to: Option<usize>) -> Option<(Vec<Object>, usize)> {
        let mut list = Vec::new();
        if to.is_none() && self.eat(b']') {
            return Some((list, self.i));
        }
        loop {
            list.push(self.object()?);
            if !self.more(b']')? {
                return to.is_none().then_some((list, self.i));
            }
            if let Some(to) = to {
                self.ws();
                if self.i >= to {
                    return (self.i == to).then_some((list, self.i));
                }
            }
        }
    }
}

/// Where `needle` first appears in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads the answer to `POST /v1/batch/objects` (an array with one item per object) for the
/// verdicts only: each item's `id` and its `result` as `R`, everything else (the echoed
/// properties and vectors) skipped. `None` when the text is not one this reader takes
/// exactly as serde_json would read items of `{"id": Option<String>, "result": Option<R>}`
/// (unknown members ignored); the caller then uses serde_json.
pub(crate) fn read_batch_answer<R: DeserializeOwned>(
    body: &[u8],
) -> Option<Vec<(Option<String>, Option<R>)>> {
    let mut p = Parser::new(body, 0);
    if !p.eat(b'[') {
        return None;
    }
    let mut items = Vec::new();
    let mut more = !p.eat(b']');
    while more {
        let (mut id, mut result) = (None, None);
        let (mut seen_id, mut seen_result) = (false, false);
        p.members(|p, key| {
            match key.as_str() {
                "id" if !seen_id => {
                    seen_id = true;
                    id = p.value()?;
                }
                "result" if !seen_result => {
                    seen_result = true;
                    result = p.value()?;
                }
                "id" | "result" => return None,
                _ => p.skip()?,
            }
            Some(())
        })?;
        items.push((id, result));
        more = p.more(b']')?;
    }
    p.at_end().then_some(items)
}

/// Reads one object (`GET /v1/objects/{c}/{id}`) the way [`read_object_list`] reads each.
pub(crate) fn read_object(body: &[u8]) -> Option<Object> {
    let mut p = Parser::new(body, 0);
    let o = p.object()?;
    p.at_end().then_some(o)
}

/// The lowercase hyphenated form of a UUID given with or without hyphens, in either case.
pub fn canonical_id(id: &str) -> Option<String> {
    let hyphens: &[usize] = match id.len() {
        36 => &[8, 13, 18, 23],
        32 => &[],
        _ => return None,
    };
    let mut out = String::with_capacity(36);
    for (i, c) in id.bytes().enumerate() {
        if hyphens.contains(&i) {
            if c != b'-' {
                return None;
            }
            continue;
        }
        if !c.is_ascii_hexdigit() {
            return None;
        }
        if matches!(out.len(), 8 | 13 | 18 | 23) {
            out.push('-');
        }
        out.push(char::from(c.to_ascii_lowercase()));
    }
    Some(out)
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
            assert_eq!(json_f32(t.as_bytes()).map(f32::to_bits), std_f32(t), "{t}");
        }
        for bad in [
            "", "-", "01", ".5", "1.", "+1", "1e", "1e+", "--1", "1x", "0x10", "inf",
        ] {
            assert_eq!(json_f32(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn vectors_parse_straight_to_f32() {
        // 1.00000005960464477539 lies exactly between two float32 values; through f64 it
        // would round once to f64 and again to f32.
        let v = parse_vector("[1.0000000596046448, -0.0, 1e-45, 3.4028235e38, 0]").unwrap();
        let Vector::Single(v) = v else { panic!() };
        assert_eq!(v[0], 1.0 + f32::EPSILON);
        assert_eq!("1.0000000596046448".parse::<f64>().unwrap() as f32, 1.0);
        assert_eq!(v[1].to_bits(), (-0.0f32).to_bits());
        assert_eq!(v[2].to_bits(), 1);
        assert_eq!(v[3], f32::MAX);
        assert!(
            matches!(parse_vector("[[1,2],[3]]"), Ok(Vector::Multi(m)) if m == vec![vec![1.0, 2.0], vec![3.0]])
        );
        assert!(matches!(parse_vector(" [ ] "), Ok(Vector::Single(v)) if v.is_empty()));
        for bad in [
            "[1e39]", "[\"a\"]", "[1,]", "[.5]", "[+1]", "[1] x", "{}", "[[1],2]",
        ] {
            assert!(parse_vector(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_read_in_one_pass_as_serde_reads_them() {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            objects: Option<Vec<Object>>,
        }
        let serde = |body: &str| -> Option<Vec<Object>> {
            serde_json::from_str::<Page>(body)
                .ok()
                .map(|p| p.objects.unwrap_or_default())
        };
        let pages = [
            r#"{"deprecations":[],"objects":[],"totalResults":0}"#,
            r#"{"deprecations":null}"#,
            r#"{"objects":null}"#,
            r#" { "objects" : [ { "id" : "x" , "class" : "A\"b\u00e9" } ] } "#,
            r#"{"deprecations":[],"objects":[{"class":"A","creationTimeUnix":1723190400000,"id":"6b29fc40-ca47-1067-b31d-00dd010662da","lastUpdateTimeUnix":1723190400001,"properties":{"n":9007199254740993,"t":"x","r":[{"beacon":"b","href":"h"}]},"tenant":"t1","vector":[0.1,1.0,-0.0,1e-45,3.4028235e+38,1.0000000596046448,7.038531e-26,0.0000015,1e+16],"vectors":{"m":[[1,2],[3.5]],"s":[3],"e":[],"z":null},"additional":{"x":[1e400]}},{"id":"b","properties":null,"vector":null,"vectors":null,"tenant":null,"creationTimeUnix":null},{"id":"c","vector":[]}],"totalResults":3}"#,
        ];
        for body in pages {
            let want = serde(body).expect("serde reads it");
            assert_eq!(read_object_list(body.as_bytes()), Some(want), "{body}");
        }
        let bits = |o: &Object| {
            o.vector
                .as_ref()
                .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        };
        let read = read_object_list(pages[4].as_bytes()).unwrap();
        assert_eq!(bits(&read[0]), bits(&serde(pages[4]).unwrap()[0]));
        assert_eq!(read[0].vector.as_ref().unwrap()[5], 1.0 + f32::EPSILON);
        // What serde refuses, or reads otherwise, is left to serde.
        for body in [
            r#"{"objects":[{"class":"A"}]}"#,
            r#"{"objects":[{"id":"a","id":"b"}]}"#,
            r#"{"objects":[{"id":"a","vector":[[1]]}]}"#,
            r#"{"objects":[{"id":"a","vector":[1e39]}]}"#,
            r#"{"objects":[{"id":"a","vector":["1"]}]}"#,
            r#"{"objects":[{"id":"a","vectors":{"v":[1],"v":[2]}}]}"#,
            r#"{"objects":[{"id":"a","class":null}]}"#,
            r#"{"objects":[{"id":"a","creationTimeUnix":1.5}]}"#,
            r#"{"objects":[],"objects":[]}"#,
            r#"{"objects":[]} x"#,
            r#"{"objects":{}}"#,
            r#"[]"#,
            "",
        ] {
            assert_eq!(read_object_list(body.as_bytes()), None, "{body}");
        }
        let one = r#"{"class":"A","id":"a","vector":[0.5],"x":{}}"#;
        assert_eq!(
            read_object(one.as_bytes()),
            serde_json::from_str::<Object>(one).ok()
        );
    }

    #[test]
    fn arrays_read_on_several_threads_as_on_one() {
        let object = |i: usize, nested: bool| {
            let props = if nested {
                // Text that looks like a cut, inside an object's properties.
                format!(
                    r#"{{"n":{i},"list":[{{"class":"x"}},{{"class":"y"}}],"t":"}},{{\"class\":"}}"#
                )
            } else {
                format!(r#"{{"n":{i}}}"#)
            };
            format!(
                r#"{{"class":"A","id":"{i:08x}-0000-4000-8000-000000000000","properties":{props},"vector":[{i}.5,-0.0,1e-45]}}"#
            )
        };
        for (count, nested_every) in [(0, 0), (1, 0), (2, 0), (7, 0), (50, 0), (50, 7), (50, 1)] {
            let items: Vec<String> = (0..count)
                .map(|i| object(i, nested_every > 0 && i % nested_every == 0))
                .collect();
            let body = format!(
                r#"{{"objects":[{}],"totalResults":{count}}}"#,
                items.join(",")
            );
            let want = read_object_list(body.as_bytes()).expect("one thread");
            assert_eq!(want.len(), count);
            for readers in [2, 3, 8, 64] {
                let mut p = Parser::new(body.as_bytes(), body.find('[').unwrap() + 1);
                assert_eq!(
                    p.object_array(readers).as_ref(),
                    Some(&want),
                    "{readers} {body}"
                );
                assert_eq!(
                    &body[p.i..],
                    r#","totalResults":COUNT}"#.replace("COUNT", &count.to_string())
                );
            }
        }
    }

    #[test]
    fn batch_answers_read_for_their_verdicts_as_serde_reads_them() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Item {
            #[serde(default)]
            id: Option<String>,
            #[serde(default)]
            result: Option<Value>,
        }
        let serde = |body: &str| -> Option<Vec<(Option<String>, Option<Value>)>> {
            serde_json::from_str::<Vec<Item>>(body)
                .ok()
                .map(|items| items.into_iter().map(|i| (i.id, i.result)).collect())
        };
        for body in [
            "[]",
            r#" [ { } ] "#,
            r#"[{"class":"A","creationTimeUnix":1,"id":"a","properties":{"t":"]},{"},"vector":[0.1,-0.0,1e-45,3.4028235e+38,1E2],"vectors":{"m":[[1,2],[3]]},"deprecations":null,"result":{"status":"SUCCESS"}},{"id":null,"result":{"errors":{"error":[{"message":"no"}]},"status":"FAILED"},"vector":[]},{"result":null,"vector":[[1]]}]"#,
        ] {
            assert_eq!(
                read_batch_answer::<Value>(body.as_bytes()),
                Some(serde(body).expect("serde reads it")),
                "{body}"
            );
        }
        for body in [
            r#"[{"id":"a","id":"b"}]"#,
            r#"[{"result":{},"result":{}}]"#,
            r#"[{"vector":[1,]}]"#,
            r#"[{"vector":[01]}]"#,
            r#"[{"vector":[1 2]}]"#,
            r#"[{"id":5}]"#,
            r#"[] x"#,
            r#"{}"#,
            "",
        ] {
            assert_eq!(read_batch_answer::<Value>(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn numbers_are_checked_in_one_pass_as_the_grammar_says() {
        let chars = b"-+.eE019";
        // Every text of up to five of these characters.
        let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let longer: Vec<Vec<u8>> = texts
                .iter()
                .filter(|t| t.len() == texts.last().map_or(0, Vec::len))
                .flat_map(|t| {
                    chars.iter().map(move |&c| {
                        let mut t = t.clone();
                        t.push(c);
                        t
                    })
                })
                .collect();
            texts.extend(longer);
        }
        for t in &texts {
            let mut p = Parser::new(t, 0);
            let passed = p.number_text().is_some() && p.i == t.len();
            assert_eq!(passed, is_json_number(t), "{}", String::from_utf8_lossy(t));
        }
    }

    #[test]
    fn objects_round_trip_through_json() {
        let line = r#"{"class":"A","id":"6B29FC40CA471067B31D00DD010662DA","properties":{"n":9007199254740993,"x":null},"vector":[0.1,-0.0],"vectors":{"m":[[1,2]],"s":[3],"z":null},"creationTimeUnix":5,"result":{}}"#;
        let o: Object = serde_json::from_str(line).unwrap();
        assert_eq!(o.properties["n"].as_u64(), Some(9007199254740993));
        assert_eq!(o.vectors.len(), 2);
        let again: Object = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(again, o);
        assert_eq!(
            canonical_id(&o.id).as_deref(),
            Some("6b29fc40-ca47-1067-b31d-00dd010662da")
        );
        assert_eq!(canonical_id("6b29fc40-ca47-1067-b31d00-dd010662da"), None);
    }
}
