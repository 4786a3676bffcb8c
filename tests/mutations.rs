//! Randomly damaged lines: the classifier never panics, and whatever it accepts as an object
//! normalizes to valid JSON that means the same as the line (vectors equal as float32).

mod util;

use ely_stream::classify::{Classifier, Kind};
use ely_stream::normalize;
use serde_json::Value;
use util::Rng;

const SEEDS: &[&str] = &[
    r#"{"class":"Code","id":"6b29fc40-ca47-1067-b31d-00dd010662da","properties":{"a":[1,{"b":"c\"d"}],"n":-0,"e":1E+2},"vector":[0.1,-0,1e-45,3.4028235e38]}"#,
    r#"{ "id" : "6b29fc40ca471067b31d00dd010662da" , "vectors" : { "a" : [ 1 , 2 ] , "m" : [ [ 1 ] , [ 2 , 3 ] ] , "n" : null } , "vector" : null }"#,
    r#"{"ely":"header","version":1,"collection":"Code","class":{"class":"Code"}}"#,
    r#"{"ely":"trailer","collection":"Code","objects":2,"hash":"00","algorithm":"xxh3-128"}"#,
    r#"{"id":"6b29fc40-ca47-1067-b31d-00dd010662da","properties":{"vector":[[["x"]]],"s":"\u00e9\ud83e\udd80"},"tenant":"t1"}"#,
];

const NOISE: &[u8] = b"{}[]\",:\\ 0123456789.eE+-nultrfas\xff\xc3\x00\r\n\t";

/// Parses every number of a vector array as float32 from its text, for comparison.
fn vector_bits(v: &Value) -> Option<Vec<u32>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_f64())
            .map(|f| (f as f32).to_bits())
            .collect()
    })
}

#[test]
fn damaged_lines_never_panic_and_accepted_ones_normalize_faithfully() {
    let mut rng = Rng(2026);
    let mut classifier = Classifier::default();
    let mut accepted = 0;
    for round in 0..40_000 {
        let mut line = SEEDS[round % SEEDS.len()].as_bytes().to_vec();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(line.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if at < line.len() => {
                    line.remove(at);
                }
                1 => line.insert(at, NOISE[rng.below(NOISE.len() as u64) as usize]),
                _ if at < line.len() => line[at] = NOISE[rng.below(NOISE.len() as u64) as usize],
                _ => {}
            }
        }
        if let Kind::Object { .. } = classifier.classify(&line) {
            accepted += 1;
            let mut out = Vec::new();
            if normalize::object_line(&line, &mut out).is_err() {
                continue; // a value outside float32: reported as a bad line by the reader
            }
            // A lone UTF-16 surrogate escape ("\ud83e") is valid JSON grammar, and Weaviate's
            // decoder takes it; serde_json refuses it. Strings are copied verbatim, so the
            // normalized line must be refused for the same reason.
            let before: Value = match serde_json::from_slice(&line) {
                Ok(v) => v,
                Err(e) => {
                    let surrogate = |m: String| m.contains("surrogate") || m.contains("hex escape");
                    assert!(
                        surrogate(e.to_string()),
                        "{e}: {}",
                        String::from_utf8_lossy(&line)
                    );
                    let again = serde_json::from_slice::<Value>(&out).expect_err("same verdict");
                    assert!(surrogate(again.to_string()));
                    continue;
                }
            };
            let after: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
                panic!(
                    "normalized {:?} into invalid JSON {:?}: {e}",
                    String::from_utf8_lossy(&line),
                    String::from_utf8_lossy(&out)
                )
            });
            assert_eq!(
                before.get("properties"),
                after.get("properties"),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_eq!(before.get("id"), after.get("id"));
            assert_eq!(
                before.get("vector").map(vector_bits),
                after.get("vector").map(vector_bits)
            );
        }
    }
    assert!(
        accepted > 1000,
        "the mutations should leave many lines valid: {accepted}"
    );
}
