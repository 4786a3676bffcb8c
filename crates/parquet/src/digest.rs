//! A digest of objects' content, the same whatever text form they were read from: written
//! into a file's metadata as its objects go in, and checked as they are read back, so a
//! damaged file is caught even where Parquet itself has no checksum.

use std::io::Write;

use ely_vocab::{Object, Vector};
use xxhash_rust::xxh3::Xxh3;

/// The running digest of a file's objects.
#[derive(Default, Clone)]
pub struct Digest {
    state: Xxh3,
    pub objects: u64,
}

struct Into<'a>(&'a mut Xxh3);

impl Write for Into<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Digest {
    pub fn add(&mut self, o: &Object) {
        let h = &mut self.state;
        for s in [&o.class, &o.id] {
            h.update(s.as_bytes());
            h.update(&[0]);
        }
        match &o.tenant {
            Some(t) => {
                h.update(&[1]);
                h.update(t.as_bytes());
            }
            None => h.update(&[0]),
        }
        // Members in order: a reordered object is another object's text.
        let _ = serde_json::to_writer(Into(h), &o.properties);
        let floats = |h: &mut Xxh3, v: &[f32]| {
            h.update(&(v.len() as u64).to_le_bytes());
            for x in v {
                h.update(&x.to_bits().to_le_bytes());
            }
        };
        match &o.vector {
            Some(v) => {
                h.update(&[1]);
                floats(h, v);
            }
            None => h.update(&[0]),
        }
        for (name, v) in &o.vectors {
            h.update(name.as_bytes());
            h.update(&[0]);
            match v {
                Vector::Single(s) => floats(h, s),
                Vector::Multi(rows) => {
                    h.update(&(rows.len() as u64).to_le_bytes());
                    for r in rows {
                        floats(h, r);
                    }
                }
            }
        }
        for t in [o.creation_time_unix, o.last_update_time_unix] {
            match t {
                Some(t) => {
                    h.update(&[1]);
                    h.update(&t.to_le_bytes());
                }
                None => h.update(&[0]),
            }
        }
        self.objects += 1;
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.state.digest128())
    }

    /// The digest a file carries: its objects' together with its header line and layout, so
    /// that a changed byte in either is a damaged file too.
    pub fn sealed(&self, header: Option<&str>, layout: &str) -> String {
        let mut h = Xxh3::new();
        h.update(header.unwrap_or_default().as_bytes());
        h.update(b"\n");
        h.update(layout.as_bytes());
        h.update(b"\n");
        h.update(self.hex().as_bytes());
        format!("{:032x}", h.digest128())
    }
}
