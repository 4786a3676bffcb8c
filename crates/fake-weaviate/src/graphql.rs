//! `POST /v1/graphql` (CONTRACT.md §7): a small GraphQL reader and the two queries a batch
//! toolkit sends, `Aggregate { C(tenant, where) { meta { count } } }` and
//! `Get { C(limit, offset, after, tenant, where) { props _additional { id vector vectors {..}
//! creationTimeUnix lastUpdateTimeUnix } } }`. As in Weaviate, query errors are HTTP 200 with
//! an `errors` array; only an empty query, bad variables or an empty schema are 422s.

use crate::config::DEFAULT_GRAPHQL_LIMIT;
use crate::ctx::{Answer, Ctx};
use crate::filter;
use crate::http::Response;
use crate::state::{Class, State, StoredObject};
use crate::util::{f32s_json, format_uuid, parse_uuid};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Reading the query

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(String),
    Var(String),
    Punct(char),
}

#[derive(Debug)]
struct Field {
    alias: Option<String>,
    name: String,
    args: Vec<(String, Value)>,
    selections: Vec<Field>,
    line: usize,
    column: usize,
}

impl Field {
    fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }

    fn arg(&self, name: &str) -> Option<&Value> {
        self.args.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

struct GqlError {
    message: String,
    at: Option<(usize, usize)>,
}

fn lex(src: &str) -> Result<Vec<(Tok, usize, usize)>, GqlError> {
    let chars: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut col) = (0, 1, 1);
    let mut out = Vec::new();
    let err = |m: &str, line, col| GqlError {
        message: format!("Syntax Error GraphQL request ({line}:{col}) {m}"),
        at: Some((line, col)),
    };
    // Where the run of characters from `from` that `accept` takes ends.
    let run_end = |from: usize, accept: fn(char) -> bool| {
        chars[from..]
            .iter()
            .position(|&c| !accept(c))
            .map_or(chars.len(), |n| from + n)
    };
    let name_char = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        // Each token, and where the text after it starts.
        let (tok, end) = match c {
            '\n' => {
                line += 1;
                col = 1;
                i += 1;
                continue;
            }
            c if c.is_whitespace() || c == ',' || c == '\u{feff}' => {
                i += 1;
                col += 1;
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '{' | '}' | '(' | ')' | ':' | '[' | ']' | '!' | '=' | '@' => (Tok::Punct(c), i + 1),
            '$' => {
                let end = run_end(i + 1, name_char);
                (Tok::Var(chars[i + 1..end].iter().collect()), end)
            }
            '"' => {
                let mut s = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None | Some('\n') => return Err(err("Unterminated string.", line, col)),
                        Some('"') => break,
                        Some('\\') => {
                            let e = chars.get(j + 1).copied().unwrap_or(' ');
                            j += 2;
                            match e {
                                'n' => s.push('\n'),
                                't' => s.push('\t'),
                                'r' => s.push('\r'),
                                'b' => s.push('\u{8}'),
                                'f' => s.push('\u{c}'),
                                'u' => {
                                    let hex: String =
                                        chars.get(j..j + 4).unwrap_or(&[]).iter().collect();
                                    let ch =
                                        u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                                    s.push(ch.ok_or_else(|| {
                                        err("Invalid unicode escape.", line, col)
                                    })?);
                                    j += 4;
                                }
                                other => s.push(other),
                            }
                        }
                        Some(&ch) => {
                            s.push(ch);
                            j += 1;
                        }
                    }
                }
                (Tok::Str(s), j + 1)
            }
            c if c == '-' || c.is_ascii_digit() => {
                let end = run_end(i + 1, |c| c.is_ascii_digit() || ".eE+-".contains(c));
                (Tok::Num(chars[i..end].iter().collect()), end)
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = run_end(i, name_char);
                (Tok::Name(chars[i..end].iter().collect()), end)
            }
            '.' => {
                return Err(err(
                    "Fragments are not supported by this test server.",
                    line,
                    col,
                ))
            }
            other => return Err(err(&format!("Unexpected character {other:?}."), line, col)),
        };
        out.push((tok, line, col));
        col += end - i;
        i = end;
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(Tok, usize, usize)>,
    pos: usize,
    vars: &'a Map<String, Value>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn at(&self) -> (usize, usize) {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or((1, 1), |t| (t.1, t.2))
    }

    fn fail<T>(&self, what: &str) -> Result<T, GqlError> {
        let (l, c) = self.at();
        let found = match self.peek() {
            None => "<EOF>".to_string(),
            Some(Tok::Name(n)) => format!("Name \"{n}\""),
            Some(Tok::Punct(p)) => format!("\"{p}\""),
            Some(t) => format!("{t:?}"),
        };
        Err(GqlError {
            message: format!(
                "Syntax Error GraphQL request ({l}:{c}) Expected {what}, found {found}"
            ),
            at: Some((l, c)),
        })
    }

    fn eat(&mut self, p: char) -> bool {
        if self.peek() == Some(&Tok::Punct(p)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: char) -> Result<(), GqlError> {
        if self.eat(p) {
            Ok(())
        } else {
            self.fail(&format!("\"{p}\""))
        }
    }

    fn name(&mut self) -> Result<String, GqlError> {
        match self.peek() {
            Some(Tok::Name(n)) => {
                let n = n.clone();
                self.pos += 1;
                Ok(n)
            }
            _ => self.fail("Name"),
        }
    }

    fn document(&mut self) -> Result<Vec<Field>, GqlError> {
        if let Some(Tok::Name(kw)) = self.peek() {
            if kw != "query" {
                return self.fail("\"{\" or \"query\"");
            }
            self.pos += 1;
            if let Some(Tok::Name(_)) = self.peek() {
                self.pos += 1;
            }
            if self.eat('(') {
                // Variable definitions: `$name: Type = default`; types are not checked.
                while !self.eat(')') {
                    if self.peek().is_none() {
                        return self.fail("\")\"");
                    }
                    self.pos += 1;
                }
            }
        }
        let fields = self.selection_set()?;
        if self.peek().is_some() {
            return self.fail("<EOF>");
        }
        Ok(fields)
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, GqlError> {
        self.expect('{')?;
        let mut fields = Vec::new();
        while !self.eat('}') {
            fields.push(self.field()?);
        }
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, GqlError> {
        let (line, column) = self.at();
        let mut name = self.name()?;
        let mut alias = None;
        if self.eat(':') {
            alias = Some(name);
            name = self.name()?;
        }
        let mut args = Vec::new();
        if self.eat('(') {
            while !self.eat(')') {
                let k = self.name()?;
                self.expect(':')?;
                args.push((k, self.value()?));
            }
        }
        let selections = if self.peek() == Some(&Tok::Punct('{')) {
            self.selection_set()?
        } else {
            Vec::new()
        };
        Ok(Field {
            alias,
            name,
            args,
            selections,
            line,
            column,
        })
    }

    fn value(&mut self) -> Result<Value, GqlError> {
        let tok = self.peek().cloned();
        match tok {
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(Value::String(s))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                serde_json::from_str(&n).or_else(|_| self.fail("a number"))
            }
            Some(Tok::Var(v)) => {
                self.pos += 1;
                Ok(self.vars.get(&v).cloned().unwrap_or(Value::Null))
            }
            Some(Tok::Name(n)) => {
                self.pos += 1;
                Ok(match n.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    // Enum values (`operator: Like`) read as their names.
                    _ => Value::String(n),
                })
            }
            Some(Tok::Punct('[')) => {
                self.pos += 1;
                let mut items = Vec::new();
                while !self.eat(']') {
                    items.push(self.value()?);
                }
                Ok(Value::Array(items))
            }
            Some(Tok::Punct('{')) => {
                self.pos += 1;
                let mut obj = Map::new();
                while !self.eat('}') {
                    let k = self.name()?;
                    self.expect(':')?;
                    obj.insert(k, self.value()?);
                }
                Ok(Value::Object(obj))
            }
            _ => self.fail("a value"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answering it

fn error_json(message: &str, at: Option<(usize, usize)>, path: Option<Vec<&str>>) -> Value {
    let locations = at.map_or(Value::Null, |(l, c)| json!([{"column": c, "line": l}]));
    json!({"locations": locations, "message": message, "path": path})
}

/// `POST /v1/graphql`.
pub(crate) fn query(ctx: &Ctx) -> Answer {
    let body = ctx.body_json()?;
    let q = body.get("query").and_then(Value::as_str).unwrap_or("");
    if q.trim().is_empty() {
        return Err(Response::error(422, "query cannot be empty"));
    }
    let empty = Map::new();
    let vars = match body.get("variables") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Response::error(
                422,
                format!("variables must be a JSON object, got {other}"),
            ))
        }
    };
    let mut state = ctx.state();
    if state.classes.is_empty() {
        return Err(Response::error(
            422,
            "no graphql provider present, this is most likely because no schema is present. Import a schema first!",
        ));
    }
    let parsed = lex(q).and_then(|toks| Parser { toks, pos: 0, vars }.document());
    let fields = parsed.map_err(|e| {
        Response::json(
            200,
            &json!({"errors": [error_json(&e.message, e.at, None)]}),
        )
    })?;
    // Validation first, as graphql-go does: an unknown field means no data at all.
    for top in &fields {
        let (type_name, known) = match top.name.as_str() {
            "Aggregate" => ("AggregateObjectsObj", true),
            "Get" => ("GetObjectsObj", true),
            _ => ("WeaviateObj", false),
        };
        let unknown =
            |name: &str| format!("Cannot query field \"{name}\" on type \"{type_name}\".");
        if !known {
            return Err(graphql_errors(&unknown(&top.name), top));
        }
        for cf in &top.selections {
            if state.class(&cf.name).map(Class::name) != Some(cf.name.as_str()) {
                return Err(graphql_errors(&unknown(&cf.name), cf));
            }
        }
    }
    let max = ctx.config().max_results;
    let mut data = Map::new();
    let mut errors = Vec::new();
    for top in &fields {
        let mut section = Map::new();
        for cf in &top.selections {
            let result = if top.name == "Aggregate" {
                aggregate(&mut state, cf)
            } else {
                get(&mut state, cf, max)
            };
            match result {
                Ok(v) => {
                    section.insert(cf.key().to_string(), v);
                }
                Err(message) => {
                    section.insert(cf.key().to_string(), Value::Null);
                    errors.push(error_json(
                        &message,
                        Some((cf.line, cf.column)),
                        Some(vec![top.key(), cf.key()]),
                    ));
                }
            }
        }
        data.insert(top.key().to_string(), Value::Object(section));
    }
    let mut out = Map::new();
    out.insert("data".into(), Value::Object(data));
    if !errors.is_empty() {
        out.insert("errors".into(), Value::Array(errors));
    }
    Ok(Response::json(200, &Value::Object(out)))
}

fn graphql_errors(message: &str, at: &Field) -> Response {
    Response::json(
        200,
        &json!({"errors": [error_json(message, Some((at.line, at.column)), None)]}),
    )
}

/// The objects of the shard a class field's `tenant` argument picks, passing its `where`.
fn select<'s>(
    state: &'s mut State,
    cf: &Field,
) -> Result<(&'s Class, Vec<&'s StoredObject>), String> {
    let tenant = cf.arg("tenant").and_then(Value::as_str);
    let class = state
        .class_mut(&cf.name)
        .ok_or_else(|| format!("class {} not found", cf.name))?;
    let key = class.shard_key(tenant, false)?;
    let class = &*class;
    let f = match cf.arg("where") {
        Some(w) => Some(filter::parse(class, w)?),
        None => None,
    };
    let Some(shard) = class.shards.get(&key) else {
        return Ok((class, Vec::new()));
    };
    // A filter on ids only (`Equal` or `ContainsAny`, as an existence check sends) looks the
    // ids up instead of testing every object; the result is the same.
    if let Some(ids) = f.as_ref().and_then(filter::id_set) {
        let objects = ids
            .iter()
            .filter_map(|id| shard.objects.get(id))
            .map(|o| &**o)
            .collect();
        return Ok((class, objects));
    }
    let objects = shard
        .objects
        .values()
        .filter(|o| f.as_ref().is_none_or(|f| filter::matches(f, o)))
        .map(|o| &**o)
        .collect();
    Ok((class, objects))
}

fn aggregate(state: &mut State, cf: &Field) -> Result<Value, String> {
    if cf.arg("groupBy").is_some() {
        return Err("groupBy is not supported by this test server".into());
    }
    let (class, objects) = select(state, cf)?;
    let mut row = Map::new();
    for sel in &cf.selections {
        let value = match sel.name.as_str() {
            "meta" => {
                let mut meta = Map::new();
                for m in &sel.selections {
                    if m.name == "count" {
                        meta.insert(m.key().to_string(), json!(objects.len()));
                    }
                }
                Value::Object(meta)
            }
            "__typename" => json!(format!("Aggregate{}", class.name())),
            prop if class.property(prop).is_some() => {
                let present = objects
                    .iter()
                    .filter(|o| o.properties.contains_key(prop))
                    .count();
                let mut agg = Map::new();
                for m in &sel.selections {
                    agg.insert(
                        m.key().to_string(),
                        if m.name == "count" {
                            json!(present)
                        } else {
                            Value::Null
                        },
                    );
                }
                Value::Object(agg)
            }
            other => {
                return Err(format!(
                    "Cannot query field \"{other}\" on type \"Aggregate{}\".",
                    class.name()
                ))
            }
        };
        row.insert(sel.key().to_string(), value);
    }
    Ok(json!([row]))
}

fn get(state: &mut State, cf: &Field, max: usize) -> Result<Value, String> {
    let int = |name: &str| cf.arg(name).and_then(Value::as_i64);
    let limit = int("limit");
    let offset = int("offset").unwrap_or(0);
    let after = cf.arg("after").and_then(Value::as_str);
    let effective = limit.unwrap_or(DEFAULT_GRAPHQL_LIMIT);
    if offset < 0 || effective < 0 || offset.saturating_add(effective) as u64 > max as u64 {
        return Err(format!(
            "query maximum results exceeded: the total limit calculated from the provided offset '{offset}' and limit '{effective}' exceeds the configured value for QUERY_MAXIMUM_RESULTS '{max}'"
        ));
    }
    let mut start = None;
    if let Some(after) = after {
        let mut conflicts = Vec::new();
        if offset > 0 {
            conflicts.push("offset");
        }
        if cf.arg("where").is_some() {
            conflicts.push("where");
        }
        if cf.arg("sort").is_some() {
            conflicts.push("sort");
        }
        let reason = if !conflicts.is_empty() {
            Some(format!(
                "{} cannot be set with after and limit parameters",
                conflicts.join(",")
            ))
        } else if limit.is_none() {
            Some("limit parameter must be set".to_string())
        } else {
            None
        };
        if let Some(r) = reason {
            return Err(format!("cursor api: invalid 'after' parameter: {r}"));
        }
        if !after.is_empty() {
            start = Some(parse_uuid(after).map_err(|e| {
                format!("cursor api: invalid 'after' parameter: after parameter '{after}' is not a valid uuid: {e}")
            })?);
        }
    }
    let (class, objects) = select(state, cf)?;
    // `select` yields objects in ascending UUID order, the cursor's order.
    let page: Vec<&StoredObject> = match start {
        Some(after) => objects
            .into_iter()
            .filter(|o| o.id > after)
            .take(effective as usize)
            .collect(),
        None => objects
            .into_iter()
            .skip(offset as usize)
            .take(effective as usize)
            .collect(),
    };
    let rows = page
        .iter()
        .map(|o| render(class, o, &cf.selections))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Array(rows))
}

fn render(class: &Class, o: &StoredObject, selections: &[Field]) -> Result<Value, String> {
    let mut row = Map::new();
    for sel in selections {
        let value = match sel.name.as_str() {
            "_additional" => {
                let mut add = Map::new();
                for a in &sel.selections {
                    let v = match a.name.as_str() {
                        "id" => json!(format_uuid(&o.id)),
                        "vector" => o.vector.as_deref().map_or(json!([]), f32s_json),
                        "vectors" => {
                            let mut named = Map::new();
                            for n in &a.selections {
                                let v = o.vectors.get(&n.name).map_or(Value::Null, |v| v.to_json());
                                named.insert(n.key().to_string(), v);
                            }
                            Value::Object(named)
                        }
                        "creationTimeUnix" => json!(o.created.to_string()),
                        "lastUpdateTimeUnix" => json!(o.updated.to_string()),
                        _ => Value::Null,
                    };
                    add.insert(a.key().to_string(), v);
                }
                Value::Object(add)
            }
            "__typename" => json!(class.name()),
            prop if class.property(prop).is_some() => {
                o.properties.get(prop).cloned().unwrap_or(Value::Null)
            }
            other => {
                return Err(format!(
                    "Cannot query field \"{other}\" on type \"{}\".",
                    class.name()
                ))
            }
        };
        row.insert(sel.key().to_string(), value);
    }
    Ok(Value::Object(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Vec<Field>, GqlError> {
        let vars = Map::new();
        let toks = lex(q)?;
        Parser {
            toks,
            pos: 0,
            vars: &vars,
        }
        .document()
    }

    #[test]
    fn reads_aggregate_and_get() {
        let f = parse(r#"{ Aggregate { Article(tenant: "t1") { meta { count } } } }"#)
            .ok()
            .unwrap();
        assert_eq!(f[0].name, "Aggregate");
        assert_eq!(f[0].selections[0].arg("tenant"), Some(&json!("t1")));
        let f = parse(
            "query Q { Get { Doc(limit: 10, after: \"\", where: {path: [\"id\"], operator: Like, valueText: \"*\"}) { title _additional { id vectors { a b } } } } }",
        )
        .ok()
        .unwrap();
        let doc = &f[0].selections[0];
        assert_eq!(doc.arg("limit"), Some(&json!(10)));
        assert_eq!(doc.arg("where").unwrap()["operator"], json!("Like"));
        assert_eq!(doc.selections[1].selections[1].selections.len(), 2);
        assert!(parse("{ Get { ").is_err());
        assert!(parse("{ Get } }").is_err());
    }
}
