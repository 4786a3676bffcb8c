//! What goes over the wire: the answers Weaviate gives, as types (batch items and their
//! verdicts, batch-delete results), and the one-pass readers of the large ones (cursor pages,
//! single objects, batch answers), each vector number going from its text to float32 once,
//! through the shared one-pass reader of `ely-vocab`. Whatever these readers do not take
//! exactly as serde_json would is left to serde_json by the caller.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;

use std::borrow::Cow;

use super::client::Weaviate;
use crate::{canonical_id, Outcome, VectorText};

use ely_vocab::json::Reader;
use ely_vocab::Object;

/// Reads the `objects` of a `GET /v1/objects` answer (`{"objects": [...], ...}`; a missing
/// or `null` list is empty) in one pass: each vector number goes from its text to float32
/// once, and the other members are read by serde_json where they stand. `None` when the text
/// is not one this reader takes exactly as `Object`'s `Deserialize` would; the caller then
/// uses that, for its result or its error.
pub(crate) fn read_object_list(body: &[u8]) -> Option<Vec<Object>> {
    let mut p = Reader::new(body, 0);
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
                    .min((body.len() - p.position()) / PARALLEL_MIN_BYTES);
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

/// Arrays of objects read on several threads.
trait ObjectArray {
    fn object_array(&mut self, readers: usize) -> Option<Vec<Object>>;
    fn run(&mut self, to: Option<usize>) -> Option<(Vec<Object>, usize)>;
}

impl ObjectArray for Reader<'_> {
    /// The objects of an array whose `[` was just read, up to and including its `]`. With
    /// more than one reader the rest of the text is cut into runs of about equal length, read
    /// on that many threads at once. A cut is made before an object that starts with
    /// `"class"` (as Weaviate writes objects), found by its text `},{"class":`; it holds only
    /// if the run before it ends exactly there, on an element of this array. If one does
    /// not, the array is read again on one thread.
    fn object_array(&mut self, readers: usize) -> Option<Vec<Object>> {
        const MARK: &[u8] = b"},{\"class\":";
        let start = self.position();
        let text = self.text();
        let mut cuts: Vec<usize> = Vec::new();
        for k in 1..readers {
            let from = start + (text.len() - start) * k / readers;
            let from = from.max(cuts.last().map_or(start, |c| c + 1));
            if let Some(at) = find(&text[from.min(text.len())..], MARK) {
                cuts.push(from + at + 2);
            }
        }
        if !cuts.is_empty() {
            let runs: Vec<(usize, Option<usize>)> = std::iter::once(start)
                .chain(cuts.iter().copied())
                .zip(cuts.iter().copied().map(Some).chain([None]))
                .collect();
            let s = text;
            let read = |&(from, to): &(usize, Option<usize>)| Reader::new(s, from).run(to);
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
                    self.set_position(end);
                }
                return Some(objects);
            }
        }
        self.set_position(start);
        self.run(None).map(|(list, _)| list)
    }

    /// Elements of an array from here: up to the element starting at `to` (excluded; `None`
    /// when the run goes past it), or with `to` `None` through the array's `]`. Also where
    /// the run ended.
    fn run(&mut self, to: Option<usize>) -> Option<(Vec<Object>, usize)> {
        let mut list = Vec::new();
        if to.is_none() && self.eat(b']') {
            return Some((list, self.position()));
        }
        loop {
            list.push(self.object()?);
            if !self.more(b']')? {
                return to.is_none().then_some((list, self.position()));
            }
            if let Some(to) = to {
                self.ws();
                let at = self.position();
                if at >= to {
                    return (at == to).then_some((list, at));
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
    let mut p = Reader::new(body, 0);
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
    let mut p = Reader::new(body, 0);
    let o = p.object()?;
    p.at_end().then_some(o)
}

/// An object on its way to `POST /v1/batch/objects`, with the text its vectors were read
/// from when known.
pub(super) type Wire<'a> = (Cow<'a, Object>, VectorText<'a>);

/// Writes the body of `POST /v1/batch/objects`: `{"objects":[...]}`, each object as
/// `Object`'s `Serialize` writes it (the members in the same order, absent ones left out),
/// except that a vector whose text is known is written as that text, not number by number.
pub(super) fn write_batch(out: &mut Vec<u8>, objects: &[Wire<'_>]) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"objects\":[");
    for (k, (o, text)) in objects.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        let mut first = true;
        let mut key = |out: &mut Vec<u8>, name: &str| {
            out.extend_from_slice(if first { b"{\"" } else { b",\"" });
            first = false;
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
        };
        if !o.class.is_empty() {
            key(out, "class");
            serde_json::to_writer(&mut *out, &o.class)?;
        }
        key(out, "id");
        serde_json::to_writer(&mut *out, &o.id)?;
        if let Some(t) = &o.tenant {
            key(out, "tenant");
            serde_json::to_writer(&mut *out, t)?;
        }
        key(out, "properties");
        serde_json::to_writer(&mut *out, &o.properties)?;
        if let Some(v) = &o.vector {
            key(out, "vector");
            match text.vector {
                Some(t) => out.extend_from_slice(t),
                None => serde_json::to_writer(&mut *out, v)?,
            }
        }
        if !o.vectors.is_empty() {
            key(out, "vectors");
            match text.vectors {
                Some(t) => out.extend_from_slice(t),
                None => serde_json::to_writer(&mut *out, &o.vectors)?,
            }
        }
        if let Some(t) = o.creation_time_unix {
            key(out, "creationTimeUnix");
            serde_json::to_writer(&mut *out, &t)?;
        }
        if let Some(t) = o.last_update_time_unix {
            key(out, "lastUpdateTimeUnix");
            serde_json::to_writer(&mut *out, &t)?;
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}");
    Ok(())
}

/// One item of a batch answer; everything but the verdict is skipped unparsed.
#[derive(Deserialize)]
pub(super) struct BatchItem {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default)]
    pub(super) result: Option<BatchResult>,
}

#[derive(Deserialize)]
pub(super) struct BatchResult {
    #[serde(default)]
    pub(super) status: Option<String>,
    #[serde(default)]
    pub(super) errors: Option<Value>,
}

impl BatchItem {
    /// Written only when the item has a `result` (always there, CONTRACT.md 6.1) with no
    /// error and no status other than SUCCESS, and is the answer for the object sent at its
    /// place.
    pub(super) fn outcome(&self, sent_id: &str, client: &Weaviate) -> Outcome {
        if let Some(id) = &self.id {
            if canonical_id(id).as_deref() != Some(sent_id) {
                return Outcome::Rejected(format!(
                    "Weaviate's batch answer at this object's place is for id {id}, so this one may not have been written"
                ));
            }
        }
        let Some(result) = &self.result else {
            return Outcome::Rejected(
                "Weaviate's answer has no result for this object, so it may not have been written"
                    .into(),
            );
        };
        let errors = result
            .errors
            .as_ref()
            .and_then(|e| e.get("error"))
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty());
        if let Some(errors) = errors {
            let messages: Vec<String> = errors
                .iter()
                .map(|e| {
                    client.scrub(
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("no details given"),
                    )
                })
                .collect();
            return Outcome::Rejected(messages.join("; "));
        }
        match result.status.as_deref() {
            None | Some("SUCCESS") => Outcome::Written,
            Some(other) => Outcome::Rejected(format!("Weaviate reported status {other}")),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct DeleteAnswer {
    pub(super) results: DeleteResults,
}

#[derive(Deserialize)]
pub(super) struct DeleteResults {
    #[serde(default)]
    pub(super) matches: u64,
    #[serde(default)]
    pub(super) limit: Option<u64>,
    #[serde(default)]
    pub(super) successful: u64,
    #[serde(default)]
    pub(super) failed: u64,
    #[serde(default)]
    pub(super) objects: Option<Vec<Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::Value;

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
                let mut p = Reader::new(body.as_bytes(), body.find('[').unwrap() + 1);
                assert_eq!(
                    p.object_array(readers).as_ref(),
                    Some(&want),
                    "{readers} {body}"
                );
                assert_eq!(
                    &body[p.position()..],
                    r#","totalResults":COUNT}"#.replace("COUNT", &count.to_string())
                );
            }
        }
    }

    #[test]
    fn batch_bodies_are_what_serde_writes_and_known_vector_text_passes_as_it_is() {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            objects: &'a [Object],
        }
        let lines = [
            r#"{"class":"A","id":"6b29fc40-ca47-1067-b31d-00dd010662da","tenant":"t","properties":{"s":"x\"y","n":[1,2]},"vector":[0.1,-0.0,1e-45,3.4028235e38],"vectors":{"m":[[1,2],[3]],"s":[3.5]},"creationTimeUnix":5,"lastUpdateTimeUnix":6}"#,
            r#"{"id":"9d3c1e0a-47b2-4f6e-8a1d-2b3c4d5e6f70","properties":{}}"#,
            r#"{"class":"B","id":"9d3c1e0a-47b2-4f6e-8a1d-2b3c4d5e6f71","properties":{"a":null},"vector":[1]}"#,
        ];
        let objects: Vec<Object> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let wire: Vec<Wire<'_>> = objects
            .iter()
            .map(|o| (Cow::Borrowed(o), VectorText::default()))
            .collect();
        let mut out = Vec::new();
        write_batch(&mut out, &wire).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&Body { objects: &objects }).unwrap()
        );
        // With the text the vectors were read from, the text goes as it is and reads back
        // to the same values.
        let read = Object::from_line(lines[0].as_bytes()).unwrap();
        let text = VectorText {
            vector: read.vector_text.map(|r| &lines[0].as_bytes()[r]),
            vectors: read.vectors_text.map(|r| &lines[0].as_bytes()[r]),
        };
        let mut out = Vec::new();
        write_batch(&mut out, &[(Cow::Borrowed(&read.object), text)]).unwrap();
        let body = String::from_utf8(out).unwrap();
        assert!(
            body.contains(r#""vector":[0.1,-0.0,1e-45,3.4028235e38]"#),
            "{body}"
        );
        let back: Value = serde_json::from_str(&body).unwrap();
        let back: Object = serde_json::from_value(back["objects"][0].clone()).unwrap();
        assert_eq!(back, read.object);
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
}
