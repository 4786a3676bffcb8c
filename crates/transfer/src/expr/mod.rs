//! The `--where` expression language of ely-backup and ely-restore (docs/WHERE.md).
//!
//! An expression is parsed once into a tree of comparisons joined by `and`, `or` and `not`;
//! [`Expr::matches`] then evaluates it against each object as it streams past. Literals are
//! prepared at parse time (numbers as exact integers where they are integers, dates as
//! instants, UUIDs in canonical form, `like` patterns as tokens), so evaluation reads the
//! object's JSON in place and allocates nothing.
//!
//! This module holds the tree and the public API over it; each stage lives in its own
//! module: `lex` turns the text into tokens, `parse` builds the tree from them, `check` holds
//! it against a class definition, `eval` runs it against an object, and `value` reads the
//! UUIDs and dates that parsing, evaluation and the migration share.

mod check;
mod eval;
mod lex;
mod parse;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use ely_vocab::date::Instant;

// The migration reads UUIDs and dates exactly as expressions do, and imports them from here.

/// How deeply parentheses and `not` may nest.
pub const MAX_DEPTH: usize = 64;

/// A parsed `--where` expression.
#[derive(Clone, Debug)]
pub struct Expr {
    root: Node,
}

#[derive(Clone, Debug)]
enum Node {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Cmp(Cmp),
}

/// One comparison: `target op value`.
#[derive(Clone, Debug)]
struct Cmp {
    target: Target,
    op: Op,
    value: Lit,
    /// The literal as written, for messages.
    raw: String,
}

#[derive(Clone, Debug)]
enum Target {
    /// The object's id.
    Id,
    /// A property, or a path into nested object properties.
    Path {
        segments: Vec<Segment>,
        /// The path as written, for messages.
        text: String,
    },
}

/// One name of a path: as Weaviate stores it (first letter lowercased), and as written when
/// that differs.
#[derive(Clone, Debug)]
struct Segment {
    name: String,
    written: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "like",
        }
    }

    /// Whether an ordering of the stored value against the literal satisfies the operator.
    fn accepts(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Ne => o != Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Le => o != Ordering::Greater,
            Op::Gt => o == Ordering::Greater,
            Op::Ge => o != Ordering::Less,
            Op::Like => false,
        }
    }

    fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }
}

#[derive(Clone, Debug)]
enum Lit {
    Null,
    Bool(bool),
    Num(Num),
    Str(Str),
    Pattern(Vec<PatTok>),
    /// A UUID in canonical lowercase form, compared with the object id.
    Uuid([u8; 36]),
}

/// A number literal: exact when it is an integer that fits i128, and as f64 always.
#[derive(Clone, Debug, PartialEq)]
struct Num {
    int: Option<i128>,
    float: f64,
}

#[derive(Clone, Debug)]
struct Str {
    text: String,
    /// The instant, when the text is an RFC 3339 date or a bare `YYYY-MM-DD`.
    date: Option<Instant>,
    /// Whether the text is a hyphenated UUID (then compared case-insensitively with one).
    uuid: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatTok {
    Char(char),
    /// `?`: one character.
    One,
    /// `*`: any run of characters.
    Star,
}

impl FromStr for Expr {
    type Err = String;
    fn from_str(text: &str) -> Result<Expr, String> {
        Expr::parse(text)
    }
}

impl Expr {
    /// Parses an expression; the error names the 1-based column and what was expected,
    /// e.g. "column 8: expected a value after '=', found the end of the expression".
    pub fn parse(text: &str) -> Result<Expr, String> {
        Ok(Expr {
            root: parse::parse(text)?,
        })
    }

    /// Checks names and types against a Weaviate class definition (an object with a
    /// `properties` array of `{name, dataType: [..], nestedProperties?}`): an unknown property
    /// is an error naming it and listing the class's properties; so is a value of the wrong
    /// type for its property (a date property with a value that is not a date, a number
    /// property with a string, ...), an ordering of booleans, `like` on a non-text property,
    /// and a comparison of a property that holds no comparable value (geoCoordinates,
    /// phoneNumber, object, cross-references) other than `= null` / `!= null`.
    pub fn check(&self, class: &Value) -> Result<(), String> {
        check::check(&self.root, class)
    }

    /// Whether an object matches. `id` is the object's UUID, `properties` its properties.
    pub fn matches(&self, id: &str, properties: &Map<String, Value>) -> bool {
        eval::eval(&self.root, id, properties)
    }

    /// Whether the expression reads the object's properties (false when it tests only `id`).
    pub fn uses_properties(&self) -> bool {
        fn walk(n: &Node) -> bool {
            match n {
                Node::Or(v) | Node::And(v) => v.iter().any(walk),
                Node::Not(n) => walk(n),
                Node::Cmp(c) => matches!(c.target, Target::Path { .. }),
            }
        }
        walk(&self.root)
    }
}

impl fmt::Display for Expr {
    /// The expression in canonical form, fully parenthesised.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write(n: &Node, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match n {
                Node::Or(v) | Node::And(v) => {
                    let sep = if matches!(n, Node::Or(_)) {
                        " or "
                    } else {
                        " and "
                    };
                    f.write_str("(")?;
                    for (i, c) in v.iter().enumerate() {
                        if i > 0 {
                            f.write_str(sep)?;
                        }
                        write(c, f)?;
                    }
                    f.write_str(")")
                }
                Node::Not(c) => {
                    f.write_str("not ")?;
                    write(c, f)
                }
                Node::Cmp(c) => {
                    let target = match &c.target {
                        Target::Id => "id",
                        Target::Path { text, .. } => text,
                    };
                    write!(f, "{target} {} {}", c.op.symbol(), c.raw)
                }
            }
        }
        write(&self.root, f)
    }
}

// `pub(crate)`: the migration's tests count allocations with `allocations` too, and there can
// be only one global allocator in the crate.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    /// Counts the allocations of threads that ask for it, to show that evaluation does not
    /// allocate; other threads (and tests) allocate as usual.
    struct Counting;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<usize> = const { Cell::new(0) };
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if COUNTING.with(Cell::get) {
                COUNT.with(|c| c.set(c.get() + 1));
            }
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    /// How many allocations `f` makes on this thread.
    pub(crate) fn allocations(f: impl FnOnce()) -> usize {
        COUNT.with(|c| c.set(0));
        COUNTING.with(|c| c.set(true));
        f();
        COUNTING.with(|c| c.set(false));
        COUNT.with(Cell::get)
    }

    // Shared by the tests of every stage, which mostly go through the public API.
    pub(super) const ID: &str = "6b29fc40-ca47-1067-b31d-00dd010662da";

    pub(super) fn props(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    pub(super) fn m(expr: &str, p: Value) -> bool {
        Expr::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .matches(ID, &props(p))
    }

    #[test]
    fn the_examples_of_docs_where_md() {
        let c = |v: &str| json!({ "created": v });
        assert!(m(
            "created >= \"2024-01-01T00:00:00Z\"",
            c("2023-12-31T23:30:00-01:00")
        ));
        assert!(!m(
            "created >= \"2024-01-01T00:00:00Z\"",
            c("2024-01-01T00:30:00+01:00")
        ));
        assert!(m("ns > 8 and ns < 2", json!({"ns": [1, 9]})));
        assert!(m("tags = \"rust\"", json!({"tags": ["go", "rust"]})));
        assert!(!m("tags != \"rust\"", json!({"tags": ["go", "rust"]})));
        assert!(m("tags != \"rust\"", json!({"tags": []})));
        assert!(m("path like \"*.md\"", json!({"path": "README.md"})));
        assert!(!m("path like \"*.md\"", json!({"path": "README.md.bak"})));
        assert!(m("v like \"v?.?\"", json!({"v": "v1.2"})));
        assert!(m("not (lang = \"en\")", json!({})));
        assert!(m("lang != \"en\"", json!({})));
        assert!(!m("lang != null and lang != \"en\"", json!({})));
        assert!(m("author = 'O\\'Brien'", json!({"author": "O'Brien"})));
        assert!(m("x = \"a\\/b\"", json!({"x": "a/b"})));
        let e = Expr::parse("id < \"8\"").unwrap();
        assert!(e.matches(ID, &Map::new()));
        assert!(!e.matches("9d3c1e0a-47b2-4f6e-8a1d-2b3c4d5e6f70", &Map::new()));
    }

    /// A small deterministic generator, so the fuzz tests need no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
            xs[(self.next() % xs.len() as u64) as usize]
        }
    }

    #[test]
    fn random_input_never_panics() {
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        let pieces = [
            "a",
            "b.c",
            "id",
            " ",
            "=",
            "!=",
            "<",
            "<=",
            ">",
            ">=",
            "like",
            "and",
            "or",
            "not",
            "(",
            ")",
            "'",
            "\"",
            "\\",
            "*",
            "?",
            "1",
            "-",
            ".",
            "e",
            "2.5",
            "true",
            "null",
            "'x*'",
            "\"2024-01-01\"",
            "é",
            "\u{0}",
            "!",
            "{",
            "}",
            "'\\u",
            "9999999999999999999999",
        ];
        let obj = props(json!({
            "a": [1, "x", null, {"c": 2}], "b": {"c": ["2024-01-01T00:00:00Z", 3.5]},
            "not": true, "like": "abc"
        }));
        for _ in 0..20_000 {
            let n = (r.next() % 12) as usize;
            let text: String = (0..n).map(|_| r.pick(&pieces)).collect();
            if let Ok(e) = Expr::parse(&text) {
                e.matches(ID, &obj);
                e.matches("garbage", &obj);
                let _ = e.check(&json!({"properties": [{"name": "a", "dataType": ["int"]}]}));
                let _ = e.to_string();
            }
        }
        for _ in 0..5_000 {
            let n = (r.next() % 40) as usize;
            let bytes: Vec<u8> = (0..n).map(|_| (r.next() % 256) as u8).collect();
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(e) = Expr::parse(&text) {
                e.matches(ID, &obj);
            }
        }
        for s in [
            "-", "'", "\"", "\\", "a.", "1e", "'\\", "'\\u", "((", "))", "a=", "a like",
        ] {
            let _ = Expr::parse(s);
        }
    }
}
