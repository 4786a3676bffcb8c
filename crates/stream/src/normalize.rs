//! Re-serializes an object line that is already known to be valid JSON: whitespace outside
//! strings is dropped, every other byte is copied as it is (so integers beyond 2^53, string
//! escapes and key order survive), and the numbers of `vector` and `vectors` are parsed
//! straight to float32 (correctly rounded, never via f64) and written in their shortest form.

use ely_vocab::float::{is_json_number, parse_f32, write_f32};

/// Appends the normalized form of `line` to `out`. `line` must be valid JSON (the classifier
/// has checked it); an error means a vector value does not fit float32.
pub fn object_line(line: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut p = Walker { s: line, i: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        return p.copy_value(out);
    }
    p.i += 1;
    out.push(b'{');
    loop {
        p.ws();
        if p.peek() == Some(b'}') {
            break;
        }
        let key = p.string_span();
        out.extend_from_slice(key);
        p.ws();
        p.i += 1; // ':'
        out.push(b':');
        p.ws();
        match unescaped(key).as_deref() {
            Some("vector") => p.vector(out)?,
            Some("vectors") => p.named_vectors(out)?,
            _ => p.copy_value(out)?,
        }
        p.ws();
        match p.peek() {
            Some(b',') => {
                p.i += 1;
                out.push(b',');
            }
            _ => break,
        }
    }
    out.push(b'}');
    Ok(())
}

/// A key's text without its quotes; keys with escapes are decoded (rare, so slow is fine).
fn unescaped(quoted: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let inner = &quoted[1..quoted.len() - 1];
    if inner.contains(&b'\\') {
        serde_json::from_slice::<String>(quoted)
            .ok()
            .map(Into::into)
    } else {
        std::str::from_utf8(inner).ok().map(Into::into)
    }
}

struct Walker<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Walker<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// The span of the string starting at the cursor, quotes included.
    fn string_span(&mut self) -> &'a [u8] {
        let start = self.i;
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => self.i += 1,
                b'"' => break,
                _ => {}
            }
        }
        &self.s[start..self.i.min(self.s.len())]
    }

    /// Copies one value, dropping insignificant whitespace.
    fn copy_value(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let mut depth = 0usize;
        loop {
            self.ws();
            let Some(c) = self.peek() else { return Ok(()) };
            match c {
                b'"' => out.extend_from_slice(self.string_span()),
                b'{' | b'[' => {
                    depth += 1;
                    out.push(c);
                    self.i += 1;
                }
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    out.push(c);
                    self.i += 1;
                }
                b',' | b':' => {
                    if depth == 0 {
                        return Ok(());
                    }
                    out.push(c);
                    self.i += 1;
                }
                _ => {
                    let start = self.i;
                    while matches!(self.peek(), Some(b) if !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r' | b':'))
                    {
                        self.i += 1;
                    }
                    out.extend_from_slice(&self.s[start..self.i]);
                }
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }

    /// `null` or an array of numbers, rewritten as shortest float32.
    fn vector(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if self.peek() != Some(b'[') {
            return self.copy_value(out);
        }
        self.i += 1;
        out.push(b'[');
        let mut first = true;
        loop {
            self.ws();
            match self.peek() {
                Some(b']') | None => break,
                Some(b',') => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let start = self.i;
            while matches!(
                self.peek(),
                Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            ) {
                self.i += 1;
            }
            let token = &self.s[start..self.i];
            let text = String::from_utf8_lossy(token);
            let x = match parse_f32(token) {
                Some(x) => x,
                None if is_json_number(token) => {
                    return Err(format!(
                        "vector element {text} is outside the float32 range"
                    ))
                }
                None => return Err(format!("vector element {text:?} is not a number")),
            };
            if !first {
                out.push(b',');
            }
            first = false;
            write_f32(out, x);
        }
        self.i += 1;
        out.push(b']');
        Ok(())
    }

    /// `null` or an object of vectors and multi-vectors.
    fn named_vectors(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if self.peek() != Some(b'{') {
            return self.copy_value(out);
        }
        self.i += 1;
        out.push(b'{');
        loop {
            self.ws();
            match self.peek() {
                Some(b'}') | None => break,
                Some(b',') => {
                    self.i += 1;
                    out.push(b',');
                    continue;
                }
                _ => {}
            }
            out.extend_from_slice(self.string_span());
            self.ws();
            self.i += 1;
            out.push(b':');
            self.ws();
            self.vector_or_multi(out)?;
        }
        self.i += 1;
        out.push(b'}');
        Ok(())
    }

    fn vector_or_multi(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let save = self.i;
        if self.peek() == Some(b'[') {
            self.i += 1;
            self.ws();
            if self.peek() == Some(b'[') {
                out.push(b'[');
                let mut first = true;
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b']') | None => break,
                        Some(b',') => self.i += 1,
                        _ => {
                            if !first {
                                out.push(b',');
                            }
                            first = false;
                            self.vector(out)?;
                        }
                    }
                }
                self.i += 1;
                out.push(b']');
                return Ok(());
            }
        }
        self.i = save;
        self.vector(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        let mut out = Vec::new();
        object_line(s.as_bytes(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn compacts_and_keeps_everything_but_vector_text() {
        let line = r#" { "id" : "a b" , "properties" : { "n" : 123456789012345678901234567890 , "s" : "x\"y\\" , "f" : 1.50 } , "vector" : [ 1.0 , 0.1000000001 , -0.0 , 1e-45 ] , "vectors" : { "a" : [ 2.50 ] , "m" : [ [ 1 , 2 ] , [ ] ] , "z" : null } } "#;
        assert_eq!(
            norm(line),
            r#"{"id":"a b","properties":{"n":123456789012345678901234567890,"s":"x\"y\\","f":1.50},"vector":[1,0.1,-0,1e-45],"vectors":{"a":[2.5],"m":[[1,2],[]],"z":null}}"#
        );
    }

    #[test]
    fn escaped_keys_still_name_vectors() {
        assert_eq!(norm(r#"{"vec\u0074or":[1.0]}"#), r#"{"vec\u0074or":[1]}"#);
    }

    #[test]
    fn out_of_range_vector_values_are_errors() {
        assert!(object_line(br#"{"vector":[1e39]}"#, &mut Vec::new()).is_err());
    }
}
