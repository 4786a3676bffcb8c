//! Reading float32 text: ely's reader against the standard library's `str::parse::<f32>`,
//! on a million numbers shaped like embedding values (shortest float32 text, magnitudes
//! around 0.03, as Weaviate writes them), and on uniform values in [-1, 1).
//!
//! `cargo bench -p ely-vocab --bench floats` prints the best of five passes for each.

use std::hint::black_box;
use std::time::Instant;

use ely_vocab::float::{parse_f32, write_f32};

fn numbers(scale: f32) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..1_000_000)
        .map(|_| {
            // A sum of uniforms is near-normal, as embedding values are.
            let x = if scale < 1.0 {
                (next() + next() + next() - 1.5) * scale
            } else {
                next() * 2.0 - 1.0
            };
            let mut out = Vec::new();
            write_f32(&mut out, x);
            out
        })
        .collect()
}

fn best(mut f: impl FnMut() -> u32) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    for (name, scale) in [("embedding-like", 0.05f32), ("uniform [-1, 1)", 1.0)] {
        let texts = numbers(scale);
        let ely = best(|| {
            texts
                .iter()
                .map(|t| parse_f32(t).map_or(0, f32::to_bits))
                .fold(0, u32::wrapping_add)
        });
        let std = best(|| {
            texts
                .iter()
                .map(|t| {
                    std::str::from_utf8(t)
                        .ok()
                        .and_then(|s| s.parse::<f32>().ok())
                        .map_or(0, f32::to_bits)
                })
                .fold(0, u32::wrapping_add)
        });
        println!(
            "{name:16} ely {:6.1} ns/number   std {:6.1} ns/number   std/ely {:.2}x",
            ely * 1e3,
            std * 1e3,
            std / ely
        );
    }
}
