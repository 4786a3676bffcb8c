//! Parsing: tokens to the tree of `Node`s, by recursive descent with `or` binding loosest,
//! then `and`, then `not`. Each comparison's literal is prepared here, once (patterns
//! tokenised, id UUIDs canonicalised, dates read), so that evaluation only compares. Nesting
//! is bounded by `MAX_DEPTH` so that a deeply nested expression is an error, not a stack overflow.

use ely_store::names::property_name;

use super::lex::{column, lex, Tok, Token};
use super::{Cmp, Lit, Node, Op, PatTok, Segment, Str, Target, MAX_DEPTH};
use ely_vocab::date::parse as parse_date;
use ely_vocab::id;

/// Parses an expression into its tree (see `Expr::parse` for the errors).
pub(super) fn parse(text: &str) -> Result<Node, String> {
    let tokens = lex(text)?;
    let mut p = Parser {
        text,
        tokens,
        pos: 0,
        depth: 0,
    };
    if p.peek().tok == Tok::End {
        return Err(
            "column 1: the expression is empty; expected a comparison such as year >= 2020".into(),
        );
    }
    let root = p.or()?;
    let t = p.peek();
    if t.tok != Tok::End {
        return Err(p.error(
            &t,
            &format!(
                "expected 'and', 'or' or the end of the expression, found {}",
                p.describe(&t)
            ),
        ));
    }
    Ok(root)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

const KEYWORDS: [&str; 7] = ["and", "or", "not", "like", "true", "false", "null"];

impl Parser<'_> {
    fn peek(&self) -> Token {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> Token {
        let i = (self.pos + k).min(self.tokens.len().saturating_sub(1));
        self.tokens.get(i).cloned().unwrap_or(Token {
            tok: Tok::End,
            start: self.text.len(),
            end: self.text.len(),
        })
    }

    fn advance(&mut self) -> Token {
        let t = self.peek();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn error(&self, at: &Token, msg: &str) -> String {
        format!("column {}: {msg}", column(self.text, at.start))
    }

    fn raw(&self, t: &Token) -> &str {
        self.text.get(t.start..t.end).unwrap_or("")
    }

    fn describe(&self, t: &Token) -> String {
        match t.tok {
            Tok::End => "the end of the expression".into(),
            Tok::Str(_) | Tok::Num(_) => self.raw(t).to_string(),
            _ => format!("'{}'", self.raw(t)),
        }
    }

    fn is_keyword(t: &Token, kw: &str) -> bool {
        matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    /// Whether the token after the current one begins a comparison's operator, which makes
    /// the current name a property even when it is spelled like a keyword.
    fn operator_follows(&self) -> bool {
        let n = self.peek_at(1);
        matches!(n.tok, Tok::Op(_)) || Self::is_keyword(&n, "like")
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut items = vec![self.and()?];
        while Self::is_keyword(&self.peek(), "or") {
            self.advance();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self) -> Result<Node, String> {
        let mut items = vec![self.not()?];
        while Self::is_keyword(&self.peek(), "and") {
            self.advance();
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Node::And(Vec::new()))
        } else {
            Node::And(items)
        })
    }

    fn enter(&mut self, at: &Token) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(
                at,
                &format!(
                    "the expression nests deeper than {MAX_DEPTH} levels of parentheses and not"
                ),
            ));
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Node, String> {
        let t = self.peek();
        if Self::is_keyword(&t, "not") && !self.operator_follows() {
            self.enter(&t)?;
            self.advance();
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, String> {
        let t = self.peek();
        match &t.tok {
            Tok::LParen => {
                self.enter(&t)?;
                self.advance();
                let inner = self.or()?;
                let close = self.peek();
                if close.tok != Tok::RParen {
                    return Err(self.error(
                        &close,
                        &format!(
                            "expected 'and', 'or' or ')' to close the '(' at column {}, found {}",
                            column(self.text, t.start),
                            self.describe(&close)
                        ),
                    ));
                }
                self.advance();
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Ident(name)
                if !KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k))
                    || self.operator_follows() =>
            {
                let name = name.clone();
                self.advance();
                self.comparison(&name).map(Node::Cmp)
            }
            _ => Err(self.error(
                &t,
                &format!(
                    "expected a property name, 'not' or '(', found {}",
                    self.describe(&t)
                ),
            )),
        }
    }

    fn comparison(&mut self, name: &str) -> Result<Cmp, String> {
        let target = if name.eq_ignore_ascii_case("id") {
            Target::Id
        } else {
            Target::Path {
                segments: name
                    .split('.')
                    .map(|s| {
                        let n = property_name(s);
                        let written = (n != s).then(|| s.to_string());
                        Segment { name: n, written }
                    })
                    .collect(),
                text: name.to_string(),
            }
        };
        let ot = self.advance();
        let op = match ot.tok {
            Tok::Op(op) => op,
            _ if Self::is_keyword(&ot, "like") => Op::Like,
            _ => {
                return Err(self.error(
                    &ot,
                    &format!(
                        "expected an operator (=, !=, <, <=, >, >=, like) after '{name}', found {}",
                        self.describe(&ot)
                    ),
                ))
            }
        };
        let vt = self.advance();
        let raw = self.raw(&vt).to_string();
        let is_id = matches!(target, Target::Id);
        let value = match (&vt.tok, op) {
            (Tok::Str(chars), Op::Like) => Lit::Pattern(
                chars
                    .iter()
                    .map(|&(c, escaped)| match c {
                        '*' if !escaped => PatTok::Star,
                        '?' if !escaped => PatTok::One,
                        c if is_id => PatTok::Char(c.to_ascii_lowercase()),
                        c => PatTok::Char(c),
                    })
                    .collect(),
            ),
            (_, Op::Like) => {
                return Err(self.error(
                    &vt,
                    &format!(
                        "expected a quoted pattern after 'like', found {}",
                        self.describe(&vt)
                    ),
                ))
            }
            (Tok::Ident(k), _) if k.eq_ignore_ascii_case("null") => {
                if op != Op::Eq && op != Op::Ne {
                    return Err(self.error(
                        &vt,
                        &format!(
                            "null can only be compared with = or !=, not {}",
                            op.symbol()
                        ),
                    ));
                }
                Lit::Null
            }
            (Tok::Str(chars), _) => {
                let text: String = chars.iter().map(|&(c, _)| c).collect();
                if is_id {
                    match (id::parse_loose(&text).map(id::canonical), op) {
                        (Some(u), Op::Eq | Op::Ne) => Lit::Uuid(u),
                        (None, Op::Eq | Op::Ne) => {
                            return Err(self.error(
                                &vt,
                                &format!(
                                    "id is compared with a UUID such as \"6b29fc40-ca47-1067-b31d-00dd010662da\", not {raw}"
                                ),
                            ))
                        }
                        (Some(u), _) => Lit::Str(Str {
                            text: String::from_utf8_lossy(&u).into_owned(),
                            date: None,
                            uuid: false,
                        }),
                        (None, _) => Lit::Str(Str {
                            text: text.to_ascii_lowercase(),
                            date: None,
                            uuid: false,
                        }),
                    }
                } else {
                    Lit::Str(Str {
                        date: parse_date(&text, true),
                        uuid: text.len() == 36 && id::is_uuid(&text),
                        text,
                    })
                }
            }
            _ if is_id => {
                return Err(self.error(
                    &vt,
                    &format!(
                        "id is compared with a quoted UUID such as \"6b29fc40-ca47-1067-b31d-00dd010662da\", found {}",
                        self.describe(&vt)
                    ),
                ))
            }
            (Tok::Num(n), _) => Lit::Num(n.clone()),
            (Tok::Ident(k), _) if k.eq_ignore_ascii_case("true") => Lit::Bool(true),
            (Tok::Ident(k), _) if k.eq_ignore_ascii_case("false") => Lit::Bool(false),
            _ => {
                return Err(self.error(
                    &vt,
                    &format!(
                        "expected a value after '{}' (a number, a quoted string, true, false or null), found {}",
                        self.raw(&ot),
                        self.describe(&vt)
                    ),
                ))
            }
        };
        Ok(Cmp {
            target,
            op,
            value,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::tests::m;
    use crate::expr::Expr;
    use serde_json::json;

    fn err(expr: &str) -> String {
        match Expr::parse(expr) {
            Ok(e) => panic!("{expr} parsed as {e}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parse_errors_name_the_column() {
        assert_eq!(
            err("year = "),
            "column 8: expected a value after '=' (a number, a quoted string, true, false or null), found the end of the expression"
        );
        assert!(
            err("title = \"a\" and year =").starts_with("column 23: expected a value after '='")
        );
        assert!(err("").starts_with("column 1: the expression is empty"));
        assert!(err("   ").starts_with("column 1: the expression is empty"));
        assert!(err("year 2020").starts_with("column 6: expected an operator"));
        assert!(err("year = 1 year = 2").starts_with("column 10: expected 'and', 'or'"));
        assert!(err("(year = 1")
            .starts_with("column 10: expected 'and', 'or' or ')' to close the '(' at column 1"));
        assert!(err("year = 1)").starts_with("column 9: expected 'and', 'or' or the end"));
        assert!(err("title = \"abc").starts_with("column 9: the string that starts here"));
        assert!(err("title = 'abc").contains("no closing '"));
        assert!(err("a = 1 && b = 2").starts_with("column 7: unexpected character '&'; write and"));
        assert!(err("a ! 1").starts_with("column 3: unexpected character '!'"));
        assert!(err("a = 1.").starts_with("column 7: expected a digit after the decimal point"));
        assert!(err("a = -x").starts_with("column 5: expected a digit after '-'"));
        assert!(err("a = 1e").starts_with("column 7: expected the exponent's digits"));
        assert!(err("a = 1e999").contains("out of range"));
        assert!(err("a = 12abc").starts_with("column 5: a number runs into letters"));
        assert!(err("a. = 1").starts_with("column 3: expected a nested property name"));
        assert!(err("a < null").starts_with("column 5: null can only be compared with = or !="));
        assert!(err("a like 3").starts_with("column 8: expected a quoted pattern after 'like'"));
        assert!(err("a = b").starts_with("column 5: expected a value after '='"));
        assert!(err("a = 'x\\q'").contains("unknown escape '\\q'"));
        assert!(err("a = '\\u12'").contains("four hex digits"));
        assert!(err("a = '\\ud800'").contains("surrogate"));
        assert!(err("and").starts_with("column 1: expected a property name, 'not' or '('"));
        assert!(err("a = 1 or").starts_with("column 9: expected a property name"));
        assert!(err("not").starts_with("column 4: expected a property name"));
        assert!(err("id = 'nope'").starts_with("column 6: id is compared with a UUID"));
        assert!(err("id = 3").starts_with("column 6: id is compared with a quoted UUID"));
        assert!(err("a = #").starts_with("column 5: unexpected character '#'"));
        // Columns count characters, not bytes.
        assert!(err("é = 1").starts_with("column 1: unexpected character 'é'"));
        assert!(err("a = 'é' b").starts_with("column 9:"));
    }

    #[test]
    fn precedence_and_binds_tighter_than_or() {
        let e = Expr::parse("a = 1 or b = 1 and c = 1").unwrap();
        assert_eq!(e.to_string(), "(a = 1 or (b = 1 and c = 1))");
        assert!(m("a = 1 or b = 1 and c = 1", json!({"a": 1})));
        assert!(!m("(a = 1 or b = 1) and c = 1", json!({"a": 1})));
        assert!(m("a = 1 or b = 1 and c = 1", json!({"b": 1, "c": 1})));
        assert!(!m("a = 1 or b = 1 and c = 1", json!({"b": 1})));
        assert!(m("not a = 1 and b = 1", json!({"a": 2, "b": 1})));
        assert!(!m("not (a = 1 or b = 1)", json!({"b": 1})));
        assert!(m("not not a = 1", json!({"a": 1})));
        assert_eq!(
            Expr::parse("NOT a = 1 AND b = 2 Or c = 3")
                .unwrap()
                .to_string(),
            "((not a = 1 and b = 2) or c = 3)"
        );
        assert!(m("((((a = 1))))", json!({"a": 1})));
    }

    #[test]
    fn keywords_can_be_property_names() {
        assert!(m("not = 1", json!({"not": 1})));
        assert!(m("like like 'a*'", json!({"like": "ab"})));
        assert!(m("null = null", json!({})));
        assert!(m("and = 1 and or = 2", json!({"and": 1, "or": 2})));
        assert!(m("not not = 1", json!({"not": 2})));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}a = 1{}", "(".repeat(64), ")".repeat(64));
        assert!(m(&deep, json!({"a": 1})));
        let deeper = format!("{}a = 1{}", "(".repeat(65), ")".repeat(65));
        assert!(err(&deeper).contains("nests deeper than 64"));
        let huge = format!("{}a = 1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(err(&huge).contains("nests deeper"));
        let nots = format!("{}a = 1", "not ".repeat(100_000));
        assert!(err(&nots).contains("nests deeper"));
        let long = vec!["a = 1"; 10_000].join(" or ");
        assert!(m(&long, json!({"a": 1})));
    }
}
