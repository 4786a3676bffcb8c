//! The ely stream as Parquet (docs/FORMAT.md, "Parquet form"): one file per collection, with
//! a typed column per property of the class definition, vectors as lists of float32, and the
//! stream's header in the file's metadata; read back as the same stream, object for object,
//! vectors bit for bit. Only the binaries that read or write Parquet build this crate's
//! dependencies (arrow and parquet, with the features used and no others).

mod cells;
mod digest;
mod foreign;
mod layout;
mod native;
pub mod read;
pub mod write;

pub use read::ParquetSource;
pub use write::{is_parquet, Options, ParquetWriter, Target, WrittenFile};

/// A file (or folder) of an ely stream as a source, whatever its form: Parquet files (found
/// by their magic bytes, or a folder of them), else JSONL in any compression, its object
/// lines read into objects when `objects`. `alone` checks each Parquet file on its own
/// ([`ParquetSource::alone`]).
pub fn file_source(
    path: &std::path::Path,
    opts: ely_stream::ReadOptions,
    counters: std::sync::Arc<ely_stream::Counters>,
    objects: bool,
    alone: bool,
) -> std::io::Result<Box<dyn ely_stream::Source>> {
    if is_parquet(path) {
        return Ok(Box::new(
            ParquetSource::new(path, counters)
                .lossy(opts.lossy)
                .skip_bad(opts.skip_bad)
                .alone(alone),
        ));
    }
    let input = ely_stream::Input::open(Some(path))?;
    Ok(match objects {
        true => Box::new(ely_stream::Jsonl::objects(input, opts, counters)),
        false => Box::new(ely_stream::Jsonl::lines(input, opts, counters)),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use ely_stream::{Event, Source, Summary};
    use ely_vocab::{Object, Vector};
    use serde_json::json;

    use super::*;

    fn object(i: usize) -> Object {
        let mut properties = serde_json::Map::new();
        properties.insert("n".into(), json!(i));
        properties.insert("title".into(), json!(format!("t{i}")));
        if i.is_multiple_of(10) {
            properties.insert("late".into(), json!([i, "x"]));
        }
        let mut vectors = BTreeMap::new();
        if i.is_multiple_of(3) {
            vectors.insert("v".to_owned(), Vector::Single(vec![i as f32; 1 + i % 4]));
        }
        Object {
            class: "Doc".into(),
            id: format!("00000000-0000-4000-8000-{i:012}"),
            tenant: None,
            properties,
            vector: (!i.is_multiple_of(7)).then(|| vec![-0.0, 1e-45, i as f32]),
            vectors,
            creation_time_unix: None,
            last_update_time_unix: None,
        }
    }

    #[test]
    fn row_groups_bounded_by_rows_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let mut w = ParquetWriter::new(
            Target::File(path.clone()),
            Options {
                group_rows: 64,
                infer_rows: 10,
                ..Options::default()
            },
        );
        let objects: Vec<Object> = (0..300).map(object).collect();
        for o in &objects {
            w.object(o.clone(), 100).unwrap();
        }
        let written = w.finish().unwrap();
        assert_eq!(written[0].objects, 300);
        let meta = parquet::file::reader::FileReader::metadata(
            &parquet::file::serialized_reader::SerializedFileReader::new(
                std::fs::File::open(&path).unwrap(),
            )
            .unwrap(),
        )
        .num_row_groups();
        assert!(meta >= 5, "{meta} row groups");
        let mut back = Vec::new();
        let mut summary = Summary::default();
        Box::new(ParquetSource::new(&path, Arc::new(Default::default())))
            .read(&mut summary, &mut |e| {
                if let Event::Object {
                    object: Some(Ok(o)),
                    ..
                } = e
                {
                    back.push(o.object);
                }
                Ok(())
            })
            .unwrap();
        // Later surprises (a property, vector lengths the first objects did not show) are
        // kept too.
        assert_eq!(back, objects);
    }
}
