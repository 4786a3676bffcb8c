//! Where objects come from. A [`Source`] hands its reader's events (a collection's header,
//! its objects, the end of its section, lines it could not use) to a consumer in order;
//! the consumer (ely-restore, and any binary built on the same sink) does not care which
//! format they were read from. [`Jsonl`] reads the ely stream; a reader of another format
//! (Parquet) is a second implementation, giving objects without lines.

use std::sync::Arc;

use crate::read::{read_stream, Counters, Event, Input, ReadOptions, Summary};

/// A reader of objects, in order, with their collections' headers.
pub trait Source: Send {
    /// The input's name as given (`-` for stdin), for records that name it.
    fn name(&self) -> &str;

    /// The input's name as messages show it (`<stdin>` for stdin).
    fn display_name(&self) -> &str;

    /// Reads to the end, handing every event to `on_event` in order; `summary` is filled in
    /// as reading goes, so it holds what was read also after an error.
    fn read(
        self: Box<Self>,
        summary: &mut Summary,
        on_event: &mut dyn FnMut(Event<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;
}

/// The ely stream (JSONL, plain or compressed) as a source. Every line keeps its bytes, for
/// pass-through and dead letters; [`Jsonl::objects`] also reads object lines into objects on
/// the parser threads, [`Jsonl::lines`] only checks them.
pub struct Jsonl {
    input: Input,
    opts: ReadOptions,
    counters: Arc<Counters>,
}

impl Jsonl {
    /// A source of objects: each object line read into an [`ely_vocab::Object`] in the same
    /// pass that checks it.
    pub fn objects(input: Input, opts: ReadOptions, counters: Arc<Counters>) -> Jsonl {
        Jsonl {
            input,
            opts: ReadOptions {
                objects: true,
                ..opts
            },
            counters,
        }
    }

    /// A source of checked lines, for a consumer that passes them on as they are.
    pub fn lines(input: Input, opts: ReadOptions, counters: Arc<Counters>) -> Jsonl {
        Jsonl {
            input,
            opts: ReadOptions {
                objects: false,
                ..opts
            },
            counters,
        }
    }
}

impl Source for Jsonl {
    fn name(&self) -> &str {
        self.input.name()
    }

    fn display_name(&self) -> &str {
        self.input.display_name()
    }

    fn read(
        self: Box<Self>,
        summary: &mut Summary,
        on_event: &mut dyn FnMut(Event<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        read_stream(self.input, &self.opts, self.counters, summary, on_event)
    }
}
