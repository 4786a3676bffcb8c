//! Evaluating a parsed expression against one object: its id and its properties.
//!
//! A comparison holds when any value at its path satisfies it (arrays, of values or of nested
//! objects, are searched element by element), except `!=`, which holds when none equals the
//! literal. Numbers compare exactly, strings by bytes unless both sides are dates (then as
//! instants) or hyphenated UUIDs (then case-insensitively), and `like` patterns match with
//! `*` and `?`. Nothing here allocates: this runs once per object streamed.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::{Cmp, Lit, Node, Num, Op, PatTok, Segment, Str, Target};
use ely_vocab::date::parse as parse_date;
use ely_vocab::id;

/// Whether the object with this id and these properties satisfies the tree `n`.
pub(super) fn eval(n: &Node, id: &str, props: &Map<String, Value>) -> bool {
    match n {
        Node::Or(v) => v.iter().any(|c| eval(c, id, props)),
        Node::And(v) => v.iter().all(|c| eval(c, id, props)),
        Node::Not(c) => !eval(c, id, props),
        Node::Cmp(c) => match &c.target {
            Target::Id => c.eval_id(id),
            Target::Path { segments, .. } => c.eval_path(segments, props),
        },
    }
}

impl Cmp {
    fn eval_path(&self, path: &[Segment], props: &Map<String, Value>) -> bool {
        if let Lit::Null = self.value {
            // `= null`: no value other than null is found at the path.
            let found = any_in_map(props, path, &mut |v| !v.is_null());
            return if self.op == Op::Eq { !found } else { found };
        }
        match self.op {
            Op::Ne => !any_in_map(props, path, &mut |v| self.test(Op::Eq, v)),
            op => any_in_map(props, path, &mut |v| self.test(op, v)),
        }
    }

    /// Whether one stored (non-array) value satisfies `op` against the literal.
    fn test(&self, op: Op, v: &Value) -> bool {
        match (&self.value, v) {
            (Lit::Bool(b), Value::Bool(x)) => op == Op::Eq && x == b,
            (Lit::Num(n), Value::Number(x)) => cmp_number(x, n).is_some_and(|o| op.accepts(o)),
            (Lit::Str(s), Value::String(x)) => op.accepts(cmp_str(x, s)),
            (Lit::Pattern(p), Value::String(x)) => like(p, x),
            _ => false,
        }
    }

    fn eval_id(&self, id: &str) -> bool {
        let canon = id::parse_loose(id).map(id::canonical);
        let idb: &[u8] = match &canon {
            Some(c) => c,
            None => id.as_bytes(),
        };
        match (&self.value, self.op) {
            (Lit::Null, op) => op == Op::Ne,
            (Lit::Uuid(u), Op::Eq) => idb == u,
            (Lit::Uuid(u), Op::Ne) => idb != u,
            (Lit::Str(s), op) => op.accepts(idb.cmp(s.text.as_bytes())),
            (Lit::Pattern(p), Op::Like) => std::str::from_utf8(idb).is_ok_and(|s| like(p, s)),
            _ => false,
        }
    }
}

fn lookup<'a>(m: &'a Map<String, Value>, seg: &Segment) -> Option<&'a Value> {
    m.get(&seg.name)
        .or_else(|| seg.written.as_ref().and_then(|w| m.get(w)))
}

/// Whether `f` holds for any value at `path` in `m`: arrays along the way (of nested objects)
/// and at the end (of values) are searched element by element.
fn any_in_map(m: &Map<String, Value>, path: &[Segment], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    match path.split_first() {
        Some((seg, rest)) => lookup(m, seg).is_some_and(|v| any_in_value(v, rest, f)),
        None => false,
    }
}

fn any_in_value(v: &Value, rest: &[Segment], f: &mut dyn FnMut(&Value) -> bool) -> bool {
    if rest.is_empty() {
        match v {
            Value::Array(a) => a.iter().any(&mut *f),
            _ => f(v),
        }
    } else {
        match v {
            Value::Object(m) => any_in_map(m, rest, f),
            Value::Array(a) => a.iter().any(|e| match e {
                Value::Object(m) => any_in_map(m, rest, f),
                _ => false,
            }),
            _ => false,
        }
    }
}

/// Orders a stored number against a literal exactly: integers as integers, an integer
/// against a float without rounding either.
fn cmp_number(x: &Number, lit: &Num) -> Option<Ordering> {
    let xi = x
        .as_i64()
        .map(i128::from)
        .or_else(|| x.as_u64().map(i128::from));
    match (xi, lit.int) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        (Some(a), None) => cmp_int_float(a, lit.float),
        (None, Some(b)) => cmp_int_float(b, x.as_f64()?).map(Ordering::reverse),
        (None, None) => x.as_f64()?.partial_cmp(&lit.float),
    }
}

/// How `i` orders against `f`, exactly.
fn cmp_int_float(i: i128, f: f64) -> Option<Ordering> {
    const TWO_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
    if f.is_nan() {
        return None;
    }
    if f >= TWO_127 {
        return Some(Ordering::Less);
    }
    if f < -TWO_127 {
        return Some(Ordering::Greater);
    }
    let t = f.trunc();
    // `t` is integral and within i128's range, so the cast is exact.
    match i.cmp(&(t as i128)) {
        Ordering::Equal => t.partial_cmp(&f),
        o => Some(o),
    }
}

fn cmp_str(x: &str, s: &Str) -> Ordering {
    if let Some(d) = s.date {
        if let Some(xd) = parse_date(x, true) {
            return xd.cmp(&d);
        }
    }
    if s.uuid && x.len() == 36 && id::is_uuid(x) {
        let a = x.bytes().map(|c| c.to_ascii_lowercase());
        let b = s.text.bytes().map(|c| c.to_ascii_lowercase());
        return a.cmp(b);
    }
    x.as_bytes().cmp(s.text.as_bytes())
}

/// Wildcard matching: `*` any run of characters, `?` one character.
fn like(p: &[PatTok], s: &str) -> bool {
    let next = |i: usize| s.get(i..).and_then(|r| r.chars().next());
    let (mut pi, mut si) = (0usize, 0usize);
    // After the last `*` seen: the pattern index following it, and where in `s` its run ends.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(t) = p.get(pi) {
            match *t {
                PatTok::Star => {
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue;
                }
                PatTok::One => {
                    if let Some(c) = next(si) {
                        si += c.len_utf8();
                        pi += 1;
                        continue;
                    }
                }
                PatTok::Char(pc) => {
                    if let Some(c) = next(si) {
                        if c == pc {
                            si += c.len_utf8();
                            pi += 1;
                            continue;
                        }
                    }
                }
            }
        } else if si == s.len() {
            return true;
        }
        // A mismatch: let the last `*` take one more character, or fail.
        match star {
            Some((sp, ss)) => match next(ss) {
                Some(c) => {
                    let ns = ss + c.len_utf8();
                    star = Some((sp, ns));
                    pi = sp;
                    si = ns;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::tests::{allocations, m, props, ID};
    use crate::expr::Expr;
    use serde_json::json;

    #[test]
    fn every_operator_on_numbers() {
        let p = || json!({"n": 5, "f": 2.5});
        for (e, want) in [
            ("n = 5", true),
            ("n = 5.0", true),
            ("n != 5", false),
            ("n != 4", true),
            ("n < 6", true),
            ("n < 5", false),
            ("n <= 5", true),
            ("n > 4.9", true),
            ("n > 5", false),
            ("n >= 5", true),
            ("n >= 5.1", false),
            ("f = 2.5", true),
            ("f > 2", true),
            ("f < 3", true),
            ("f <= 2.5", true),
            ("f >= 25e-1", true),
            ("n > -1", true),
            ("n = '5'", false),
            ("n != '5'", true),
            ("n like '5'", false),
        ] {
            assert_eq!(m(e, p()), want, "{e}");
        }
        assert!(m("x = -3", json!({"x": -3})));
        assert!(m("x < -2.5", json!({"x": -3})));
        assert!(m("x = 3", json!({"x": 3.0})));
    }

    #[test]
    fn big_integers_compare_exactly() {
        let p = || json!({"n": 9007199254740993u64, "u": 18446744073709551615u64});
        assert!(m("n = 9007199254740993", p()));
        assert!(!m("n = 9007199254740992", p()));
        assert!(m("n > 9007199254740992", p()));
        // Through f64 both sides would be 2^53.
        assert!(!m("n = 9007199254740992.0", p()));
        assert!(m("n > 9007199254740992.0", p()));
        assert!(m("u = 18446744073709551615", p()));
        assert!(m("u > 18446744073709551614", p()));
        assert!(m("u < 100000000000000000000000", p()));
        assert!(m("n < 1e300", p()));
        assert!(m("n > -1e300", p()));
        assert!(m("x < 9007199254740993", json!({"x": 9007199254740992.0})));
        assert!(m("x = -9223372036854775808", json!({"x": i64::MIN})));
        // Beyond i128 the literal is a float.
        assert!(m(
            "x < 1000000000000000000000000000000000000000000",
            json!({"x": 1})
        ));
    }

    #[test]
    fn like_patterns() {
        let p = |s: &str| json!({"p": s});
        for (pat, s, want) in [
            ("src/*", "src/main.rs", true),
            ("src/*", "lib/main.rs", false),
            ("*.rs", "src/main.rs", true),
            ("*.rs", "src/main.rsx", false),
            ("*main*", "src/main.rs", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "aéc", true),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("ABC", "abc", false),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("a\\?b", "a?b", true),
            ("a\\?b", "axb", false),
        ] {
            let e = format!("p like '{pat}'");
            assert_eq!(m(&e, p(s)), want, "{e} on {s}");
        }
        assert!(m("p LIKE 'a*'", p("abc")));
        assert!(!m("p like '1*'", json!({"p": 12})));
        assert!(m("p like 'b*'", json!({"p": ["a", "bc"]})));
    }

    #[test]
    fn booleans_and_null() {
        let p = || json!({"t": true, "f": false, "n": null});
        assert!(m("t = true", p()));
        assert!(m("t = TRUE", p()));
        assert!(m("f = false", p()));
        assert!(m("t != false", p()));
        assert!(!m("t < true", p()));
        assert!(!m("t > false", p()));
        assert!(!m("t = 1", p()));
        assert!(m("n = null", p()));
        assert!(m("missing = null", p()));
        assert!(!m("t = null", p()));
        assert!(m("t != null", p()));
        assert!(!m("n != null", p()));
        assert!(!m("missing != null", p()));
        assert!(m("e = null", json!({"e": []})));
        assert!(m("e = null", json!({"e": [null]})));
        assert!(!m("e = null", json!({"e": [1]})));
        assert!(m("e != null", json!({"e": [null, 1]})));
    }

    #[test]
    fn missing_properties_and_type_mismatches() {
        let p = || json!({"s": "x", "o": {"k": 1}});
        for e in [
            "missing = 1",
            "missing < 1",
            "missing like '*'",
            "missing = 'x'",
            "missing = true",
            "s < 3",
            "s = true",
            "o = 1",
            "o.k = 'one'",
        ] {
            assert!(!m(e, p()), "{e}");
        }
        for e in ["missing != 1", "s != 3", "o != 1", "o.k != 'one'"] {
            assert!(m(e, p()), "{e}");
        }
    }

    #[test]
    fn dates_compare_as_instants() {
        let p = || json!({"c": "2024-01-01T01:30:00+02:00", "d": "2023-12-31T23:59:59.999999999Z"});
        // 2024-01-01T01:30:00+02:00 is 2023-12-31T23:30:00Z.
        assert!(m("c < '2024-01-01T00:00:00Z'", p()));
        assert!(m("c < '2024-01-01'", p()));
        assert!(m("c = '2023-12-31T23:30:00Z'", p()));
        assert!(m("c = '2023-12-31T18:30:00-05:00'", p()));
        assert!(m("c = '2023-12-31t23:30:00.000z'", p()));
        assert!(m("c >= '2023-12-31'", p()));
        assert!(!m("c != '2023-12-31T23:30:00Z'", p()));
        assert!(m("d < '2024-01-01'", p()));
        assert!(m("d > '2023-12-31T23:59:59.999999998Z'", p()));
        assert!(m("d > '2023-12-31T23:59:59.9Z'", p()));
        // Text that is not a date compares by bytes.
        assert!(m("x > '2024-01-01'", json!({"x": "hello"})));
        // Leap days, bad dates.
        assert!(parse_date("2024-02-29T00:00:00Z", false).is_some());
        assert!(parse_date("2023-02-29T00:00:00Z", false).is_none());
        assert!(parse_date("2024-13-01T00:00:00Z", false).is_none());
        assert!(parse_date("2024-01-01T24:00:00Z", false).is_none());
        assert!(parse_date("2024-01-01T00:00:00+24:00", false).is_none());
        assert!(parse_date("2024-01-01T00:00:00", false).is_none());
        assert!(parse_date("2024-01-01T00:00:00.Z", false).is_none());
        assert!(parse_date("2024-01-01", false).is_none());
        assert_eq!(parse_date("1970-01-01", true), Some((0, 0)));
        assert_eq!(
            parse_date("1970-01-01T00:00:01.5Z", false),
            Some((1, 500_000_000))
        );
        assert_eq!(parse_date("1969-12-31T23:00:00-01:00", false), Some((0, 0)));
        assert_eq!(
            parse_date("2000-03-01T00:00:00Z", false),
            Some((951_868_800, 0))
        );
        assert!(m("d = '0001-01-01'", json!({"d": "0001-01-01T00:00:00Z"})));
    }

    #[test]
    fn arrays_match_any_element_and_ne_none() {
        let p = || json!({"tags": ["a", "b"], "ns": [1, 5, 9], "empty": []});
        assert!(m("tags = 'a'", p()));
        assert!(m("tags = 'b'", p()));
        assert!(!m("tags = 'c'", p()));
        assert!(m("tags != 'c'", p()));
        assert!(!m("tags != 'a'", p()));
        assert!(m("ns > 8", p()));
        assert!(m("ns < 2", p()));
        assert!(!m("ns > 9", p()));
        assert!(m("ns > 4 and ns < 6", p()));
        assert!(!m("empty = 'a'", p()));
        assert!(m("empty != 'a'", p()));
        assert!(m("mixed = 2", json!({"mixed": ["x", 2]})));
    }

    #[test]
    fn nested_paths() {
        let p = || {
            json!({
                "address": {"city": "Amsterdam", "geo": {"zip": "1011"}},
                "authors": [{"name": "Ann"}, {"name": "Bob", "age": 40}],
                "Upper": 1
            })
        };
        assert!(m("address.city = 'Amsterdam'", p()));
        assert!(m("address.geo.zip like '10*'", p()));
        assert!(!m("address.town = 'Amsterdam'", p()));
        assert!(m("address.town = null", p()));
        assert!(m("authors.name = 'Bob'", p()));
        assert!(!m("authors.name = 'Cy'", p()));
        assert!(m("authors.name != 'Cy'", p()));
        assert!(m("authors.age >= 40", p()));
        assert!(!m("address.city.x = 1", p()));
        assert!(m("nothing.here = null", p()));
        // Written names find keys stored with a lowercased first letter, and as written.
        assert!(m("Address.city = 'Amsterdam'", p()));
        assert!(m("Upper = 1", p()));
    }

    #[test]
    fn id_compares_as_a_uuid() {
        let e = |s: &str| Expr::parse(s).unwrap();
        let none = Map::new();
        let upper = "6B29FC40-CA47-1067-B31D-00DD010662DA";
        assert!(e(&format!("id = '{ID}'")).matches(ID, &none));
        assert!(e(&format!("id = '{upper}'")).matches(ID, &none));
        assert!(e(&format!("id = '{ID}'")).matches(upper, &none));
        assert!(e("ID = '{6b29fc40ca471067b31d00dd010662da}'").matches(ID, &none));
        assert!(e("id = '6b29fc40ca471067b31d00dd010662da'").matches(upper, &none));
        assert!(!e(&format!("id != '{ID}'")).matches(ID, &none));
        assert!(e("id != '00000000-0000-0000-0000-000000000000'").matches(ID, &none));
        assert!(e("id like '6B29*'").matches(ID, &none));
        assert!(e("id like '6b29*'").matches(upper, &none));
        assert!(e("id >= '6'").matches(ID, &none));
        assert!(!e("id >= '7'").matches(ID, &none));
        assert!(e("id < 'A'").matches(upper, &none));
        assert!(e("id != null").matches(ID, &none));
        assert!(!e("id = null").matches(ID, &none));
        // The id is not a property, whatever the properties hold.
        assert!(!e(&format!("id = '{ID}'")).matches(
            "11111111-1111-1111-1111-111111111111",
            &props(json!({"id": ID}))
        ));
    }

    #[test]
    fn uuid_strings_compare_case_insensitively() {
        assert!(m(
            "ref = '6B29FC40-CA47-1067-B31D-00DD010662DA'",
            json!({"ref": ID})
        ));
        assert!(!m("t = 'ABC'", json!({"t": "abc"})));
    }

    #[test]
    fn evaluation_does_not_allocate() {
        let obj = props(json!({
            "title": "src/main.rs", "year": 2024, "big": 9007199254740993u64, "score": 2.5,
            "created": "2024-03-01T10:00:00+01:00", "tags": ["a", "b"], "done": true,
            "meta": {"authors": [{"name": "Ann"}]}, "ref": ID
        }));
        let exprs: Vec<Expr> = [
            "title like 'src/*.rs' and year >= 2020 and year < 2030.5",
            "big = 9007199254740993 or score > 2",
            "created >= '2024-01-01' and created < '2024-12-31T23:59:59-05:00'",
            "tags != 'c' and not done = false and meta.authors.name = 'Ann'",
            "missing = null and title != null",
            "id = '6B29FC40-CA47-1067-B31D-00DD010662DA' and id like '6b*' and id > '5'",
            "ref = '6B29FC40-CA47-1067-B31D-00DD010662DA'",
        ]
        .iter()
        .map(|s| Expr::parse(s).unwrap())
        .collect();
        let upper = "6B29FC40CA471067B31D00DD010662DA";
        let mut all = true;
        let n = allocations(|| {
            for e in &exprs {
                all &= e.matches(ID, &obj) && e.matches(upper, &obj);
            }
        });
        assert!(all);
        assert_eq!(n, 0);
        // The counter does count.
        assert!(allocations(|| drop(std::hint::black_box(vec![1u8]))) >= 1);
        assert!(allocations(|| drop(std::hint::black_box(Expr::parse("a = 1")))) >= 1);
    }
}
