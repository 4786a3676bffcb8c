//! Lexing: the expression's text to tokens. Names (dotted paths included), numbers, quoted
//! strings with their escapes, operators and parentheses; keywords are left as names for the
//! parser, which tells them from properties by position. Every token keeps its byte span so
//! that messages can name the column, counted in characters.

use super::{Num, Op};

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    /// A name or dotted path; keywords are names the parser recognises by position.
    Ident(String),
    Num(Num),
    /// A quoted string: each character with whether it was written escaped.
    Str(Vec<(char, bool)>),
    Op(Op),
    LParen,
    RParen,
    End,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Byte offsets into the expression.
    pub(super) start: usize,
    pub(super) end: usize,
}

/// The 1-based column, counted in characters, of byte offset `byte` in `text`.
pub(super) fn column(text: &str, byte: usize) -> usize {
    text.get(..byte).map_or(byte, |s| s.chars().count()) + 1
}

/// The tokens of `text`, ending with `Tok::End`; an error names the column where it arose.
pub(super) fn lex(text: &str) -> Result<Vec<Token>, String> {
    let err = |at: usize, msg: &str| format!("column {}: {msg}", column(text, at));
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'=' => {
                i += 1;
                Tok::Op(Op::Eq)
            }
            b'!' => {
                if b.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Op(Op::Ne)
                } else {
                    return Err(err(
                        i,
                        "unexpected character '!'; write != for \"not equal\", or not before a comparison",
                    ));
                }
            }
            b'<' | b'>' => {
                let eq = b.get(i + 1) == Some(&b'=');
                i += 1 + usize::from(eq);
                Tok::Op(match (c, eq) {
                    (b'<', false) => Op::Lt,
                    (b'<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    (_, true) => Op::Ge,
                })
            }
            b'"' | b'\'' => {
                let (chars, next) = lex_string(text, i)?;
                i = next;
                Tok::Str(chars)
            }
            b'-' | b'0'..=b'9' => {
                let (n, next) = lex_number(text, i)?;
                i = next;
                Tok::Num(n)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                loop {
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    if b.get(i) == Some(&b'.') {
                        match b.get(i + 1) {
                            Some(&n) if n.is_ascii_alphabetic() || n == b'_' => i += 1,
                            _ => {
                                return Err(err(i + 1, "expected a nested property name after '.'"))
                            }
                        }
                    } else {
                        break;
                    }
                }
                Tok::Ident(text[start..i].to_string())
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                let hint = match ch {
                    '&' => "; write and",
                    '|' => "; write or",
                    '`' => "; quote strings with \" or '",
                    _ => "",
                };
                return Err(err(i, &format!("unexpected character '{ch}'{hint}")));
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out.push(Token {
        tok: Tok::End,
        start: b.len(),
        end: b.len(),
    });
    Ok(out)
}

/// A quoted string starting at byte `start` (the quote): its characters, each with whether
/// it was escaped, and the byte after the closing quote.
fn lex_string(text: &str, start: usize) -> Result<(Vec<(char, bool)>, usize), String> {
    let err = |at: usize, msg: &str| format!("column {}: {msg}", column(text, at));
    let quote = text.as_bytes()[start] as char;
    let mut out = Vec::new();
    let mut it = text[start + 1..].char_indices();
    while let Some((off, c)) = it.next() {
        let at = start + 1 + off;
        if c == quote {
            return Ok((out, at + 1));
        }
        if c != '\\' {
            out.push((c, false));
            continue;
        }
        let Some((_, e)) = it.next() else {
            break;
        };
        let ch = match e {
            '\\' | '"' | '\'' | '/' | '*' | '?' => e,
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'u' => {
                let mut code = 0u32;
                for _ in 0..4 {
                    let d = it.next().and_then(|(_, h)| h.to_digit(16));
                    let Some(d) = d else {
                        return Err(err(at, "expected four hex digits after \\u"));
                    };
                    code = code * 16 + d;
                }
                match char::from_u32(code) {
                    Some(ch) => ch,
                    None => {
                        return Err(err(
                            at,
                            "\\u escapes a surrogate; write the character itself",
                        ))
                    }
                }
            }
            other => {
                return Err(err(
                    at,
                    &format!(
                        "unknown escape '\\{other}'; the escapes are \\\\ \\\" \\' \\n \\t \\r \\uXXXX, and \\* \\? for a literal * or ? in a like pattern"
                    ),
                ))
            }
        };
        out.push((ch, true));
    }
    Err(err(
        start,
        &format!("the string that starts here has no closing {quote}"),
    ))
}

fn lex_number(text: &str, start: usize) -> Result<(Num, usize), String> {
    let err = |at: usize, msg: &str| format!("column {}: {msg}", column(text, at));
    let b = text.as_bytes();
    let mut i = start;
    if b[i] == b'-' {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - s
    };
    if digits(&mut i) == 0 {
        return Err(err(start, "expected a digit after '-'"));
    }
    let mut integral = true;
    if b.get(i) == Some(&b'.') {
        i += 1;
        integral = false;
        if digits(&mut i) == 0 {
            return Err(err(i, "expected a digit after the decimal point"));
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        integral = false;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return Err(err(i, "expected the exponent's digits"));
        }
    }
    if b.get(i)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        return Err(err(
            start,
            "a number runs into letters; quote a string, or separate with a space",
        ));
    }
    let t = &text[start..i];
    let float = t.parse::<f64>().unwrap_or(f64::NAN);
    if !float.is_finite() {
        return Err(err(start, &format!("the number {t} is out of range")));
    }
    let int = if integral {
        t.parse::<i128>().ok()
    } else {
        None
    };
    Ok((Num { int, float }, i))
}

// The lexer is tested through whole expressions: what it read shows in what they match.
#[cfg(test)]
mod tests {
    use crate::expr::tests::m;
    use serde_json::json;

    #[test]
    fn strings_and_escapes() {
        let p = || json!({"s": "it's \"x\"", "b": "abc"});
        assert!(m(r#"s = "it's \"x\"""#, p()));
        assert!(m(r#"s = 'it\'s "x"'"#, p()));
        assert!(m("b < 'abd'", p()));
        assert!(m("b > 'ab'", p()));
        assert!(m("b >= 'abc' and b <= 'abc'", p()));
        assert!(!m("b = 'ABC'", p()));
        assert!(m("b = '\\u0061bc'", p()));
        assert!(m("x = 'a\\nb\\t\\\\'", json!({"x": "a\nb\t\\"})));
        assert!(m("b != 3", p()));
        assert!(!m("b = 3", p()));
        // Strings order by bytes: uppercase before lowercase, UTF-8 after ASCII.
        assert!(m("x < 'a'", json!({"x": "Z"})));
        assert!(m("x > 'z'", json!({"x": "é"})));
    }
}
