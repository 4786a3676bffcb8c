//! A one-pass JSON reader for the shapes ely reads most: objects whose vectors go from their
//! text straight to float32 (each number read once, never through f64), with every other
//! member read by serde_json where it stands. It reads object lines of the stream and the
//! Weaviate client's answers (cursor pages, batch answers) alike.
//!
//! Every method that reads gives `None` (or an error) when the text is not what it expects;
//! callers then fall back to serde_json, for its result or its error message, so this reader
//! only ever takes what serde_json would take the same way.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Value};

use crate::float::{eight_digits, is_json_number, is_number_byte, number_prefix, parse_f32};
use crate::{Object, Vector};

/// An object line as [`Reader::object_line`] reads it: the object, whether the line has a
/// `class` member (it may be `""`), and where in the line the text of its `vector` and
/// `vectors` members is (when they hold vectors), so that a writer can pass the text on as
/// it is instead of writing every number again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectLine {
    pub object: Object,
    pub has_class: bool,
    pub vector_text: Option<std::ops::Range<usize>>,
    pub vectors_text: Option<std::ops::Range<usize>>,
}

/// A cursor over JSON text.
pub struct Reader<'a> {
    s: &'a [u8],
    i: usize,
    /// The length of the last vector read: room to reserve for the next.
    hint: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `s`, standing at byte `i`.
    pub fn new(s: &'a [u8], i: usize) -> Reader<'a> {
        Reader { s, i, hint: 0 }
    }

    /// The whole text being read.
    pub fn text(&self) -> &'a [u8] {
        self.s
    }

    /// Where the reader stands.
    pub fn position(&self) -> usize {
        self.i
    }

    /// Where the next value starts, after whitespace.
    fn ws_then_position(&mut self) -> usize {
        self.ws();
        self.i
    }

    /// Moves the reader to byte `i` (a place an earlier read stood at).
    pub fn set_position(&mut self, i: usize) {
        self.i = i;
    }
}

impl Reader<'_> {
    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// A vector or a multi-vector, after optional whitespace.
    pub fn vector(&mut self) -> Result<Vector, String> {
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

    pub fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    pub fn expect(&mut self, c: u8) -> Result<(), String> {
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
    pub fn comma_or_end(&mut self) -> Result<bool, String> {
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
            match parse_f32(token) {
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

impl Reader<'_> {
    /// The next byte after whitespace.
    pub fn next_byte(&mut self) -> Option<u8> {
        self.ws();
        self.peek()
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.next_byte() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// One JSON value, read by serde_json where it stands.
    pub fn value<T: DeserializeOwned>(&mut self) -> Option<T> {
        let mut stream = serde_json::Deserializer::from_slice(&self.s[self.i..]).into_iter::<T>();
        let v = stream.next()?.ok()?;
        self.i += stream.byte_offset();
        Some(v)
    }

    /// A member name and its colon.
    pub fn key(&mut self) -> Option<String> {
        if self.next_byte() != Some(b'"') {
            return None;
        }
        let k = self.value::<String>()?;
        self.eat(b':').then_some(k)
    }

    /// After a member or element: true at a comma, false at `close`.
    pub fn more(&mut self, close: u8) -> Option<bool> {
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

    pub fn null(&mut self) -> bool {
        if self.next_byte() == Some(b'n') && self.s[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// `{...}`: calls `member` with each member's name, the parser standing at its value,
    /// which `member` reads. `None` when the text is not an object or `member` gives `None`.
    pub fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, String) -> Option<()>,
    ) -> Option<()> {
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
    pub fn object(&mut self) -> Option<Object> {
        self.object_refusing(None, &mut ObjectLine::default())
    }

    /// An object line of the stream: as [`Reader::object`], but `None` also when a member
    /// is named `ely` (a control line) or the `id` is not a UUID.
    pub fn object_line(&mut self) -> Option<ObjectLine> {
        let mut line = ObjectLine::default();
        let object = self.object_refusing(Some("ely"), &mut line)?;
        crate::id::is_uuid(&object.id).then(|| ObjectLine { object, ..line })
    }

    fn object_refusing(&mut self, refused: Option<&str>, line: &mut ObjectLine) -> Option<Object> {
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
            if (known && seen.contains(&key)) || refused == Some(key.as_str()) {
                return None;
            }
            match key.as_str() {
                "class" => {
                    o.class = p.value()?;
                    line.has_class = true;
                }
                "id" => o.id = p.value()?,
                "tenant" => o.tenant = p.value()?,
                "properties" => {
                    o.properties = p.value::<Option<Map<String, Value>>>()?.unwrap_or_default()
                }
                "vector" => {
                    let start = p.ws_then_position();
                    o.vector = if p.null() {
                        None
                    } else {
                        match p.vector().ok()? {
                            Vector::Single(v) if v.is_empty() => None,
                            Vector::Single(v) => Some(v),
                            Vector::Multi(_) => return None,
                        }
                    };
                    line.vector_text = o.vector.is_some().then_some(start..p.i);
                }
                "vectors" => {
                    let start = p.ws_then_position();
                    let mut nulls = false;
                    if !p.null() {
                        (o.vectors, nulls) = p.named_vectors_and_nulls()?;
                    }
                    // The text stands for the vectors only when no entry was left out.
                    line.vectors_text = (!o.vectors.is_empty() && !nulls).then_some(start..p.i);
                }
                "creationTimeUnix" => o.creation_time_unix = p.value()?,
                "lastUpdateTimeUnix" => o.last_update_time_unix = p.value()?,
                // In a line of the stream, a member ely does not know is still checked as
                // strictly as the rest (numbers in range, escapes that make characters);
                // in a server's answer it is only skipped.
                _ if refused.is_some() => {
                    p.value::<Value>()?;
                }
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
    pub fn named_vectors(&mut self) -> Option<BTreeMap<String, Vector>> {
        self.named_vectors_and_nulls().map(|(v, _)| v)
    }

    /// As [`Reader::named_vectors`], and whether a `null` entry was left out.
    fn named_vectors_and_nulls(&mut self) -> Option<(BTreeMap<String, Vector>, bool)> {
        let mut out = BTreeMap::new();
        let mut seen: Vec<String> = Vec::new();
        let mut nulls = false;
        self.members(|p, name| {
            if seen.contains(&name) {
                return None;
            }
            if p.null() {
                nulls = true;
            } else {
                out.insert(name.clone(), p.vector().ok()?);
            }
            seen.push(name);
            Some(())
        })?;
        Some((out, nulls))
    }

    /// Skips one value. An array of numbers (a vector) is checked number by number here;
    /// anything else is skipped by serde_json.
    pub fn skip(&mut self) -> Option<()> {
        if self.next_byte() == Some(b'[') {
            let open = self.i;
            if self.skip_numbers().is_some() {
                return Some(());
            }
            self.i = open;
        }
        self.value::<IgnoredAny>().map(|_| ())
    }

    /// `[n, n, ...]`, the numbers checked against JSON's grammar but not converted. This is
    /// how the echoed vectors of a batch answer are passed over, so it is kept tight: a comma
    /// right after a number is taken without the general separator step.
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
            if self.s.get(self.i) == Some(&b',') {
                self.i += 1;
                continue;
            }
            if !self.more(b']')? {
                return Some(());
            }
        }
    }

    /// Passes over one number, checking it against JSON's grammar in the same pass: an
    /// optional minus, `0` or digits not starting with `0`, an optional fraction, an optional
    /// exponent; a number character right after it (`01`, `1.5.`) is an error.
    fn number_text(&mut self) -> Option<()> {
        let s = self.s;
        let digits = |mut i: usize| {
            while eight_digits(s, i).is_some() {
                i += 8;
            }
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        let mut i = self.i;
        if s.get(i) == Some(&b'-') {
            i += 1;
        }
        match s.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits(i + 1),
            _ => return None,
        }
        if s.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if matches!(s.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(s.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return None;
            }
            i = end;
        }
        if is_number_byte(s.get(i)) {
            return None;
        }
        self.i = i;
        Some(())
    }

    /// Only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let mut p = Reader::new(t, 0);
            let passed = p.number_text().is_some() && p.i == t.len();
            assert_eq!(passed, is_json_number(t), "{}", String::from_utf8_lossy(t));
        }
    }
}
