//! Writes an ely stream to stdout or to a file (atomically), compressed or not, and closes
//! every section with a trailer computed from the bytes actually written.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use crate::atomic::AtomicFile;
use crate::compression::{Compression, Encoder};
use crate::format::{control_line, Header, SectionHash};
use xxhash_rust::xxh3::Xxh3;

/// Where and how to write.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub compression: Compression,
    /// Compression level; `None` takes the compression's default.
    pub level: Option<i32>,
    /// zstd worker threads (0: compress on the writing thread).
    pub threads: u32,
    /// Write object lines only: no headers, no trailers.
    pub plain: bool,
}

enum Sink {
    Stdout(io::Stdout),
    File(AtomicFile),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(s) => s.write(buf),
            Sink::File(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(s) => s.flush(),
            Sink::File(f) => f.flush(),
        }
    }
}

/// Counts and hashes the bytes that reach the sink (after compression).
struct Counted<W> {
    inner: W,
    bytes: u64,
    hash: Xxh3,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What [`StreamWriter::finish_with_hash`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Bytes written (after compression).
    pub bytes: u64,
    /// xxh3-128 of those bytes, lowercase hex.
    pub hash: String,
}

pub struct StreamWriter {
    out: BufWriter<Encoder<BufWriter<Counted<Sink>>>>,
    /// The open section: its collection (None without a header) and running hash.
    section: Option<(Option<String>, SectionHash)>,
    plain: bool,
    objects: u64,
}

impl StreamWriter {
    /// Writes to `path` (atomically, on [`StreamWriter::finish`]) or to stdout for `None`.
    pub fn create(path: Option<&Path>, opts: WriteOptions) -> io::Result<StreamWriter> {
        let sink = match path {
            Some(p) if p.as_os_str() != "-" => Sink::File(AtomicFile::create(p)?),
            _ => {
                if opts.compression != Compression::None && io::stdout().is_terminal() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "refusing to write compressed data to a terminal; redirect stdout or use -o FILE",
                    ));
                }
                Sink::Stdout(io::stdout())
            }
        };
        let counted = BufWriter::with_capacity(
            256 * 1024,
            Counted {
                inner: sink,
                bytes: 0,
                hash: Xxh3::new(),
            },
        );
        let enc = Encoder::new(counted, opts.compression, opts.level, opts.threads)?;
        Ok(StreamWriter {
            out: BufWriter::with_capacity(256 * 1024, enc),
            section: None,
            plain: opts.plain,
            objects: 0,
        })
    }

    /// Starts a collection's section with a header line given as bytes (passed through as
    /// they are; `header` is what it says), closing any open section first.
    pub fn header_line(&mut self, line: &[u8], header: &Header) -> io::Result<()> {
        self.end_section()?;
        self.section = Some((
            Some(header.collection.clone()),
            SectionHash::for_header(header.version, line),
        ));
        if !self.plain {
            self.out.write_all(line)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Starts a collection's section with a header.
    pub fn header(&mut self, header: &Header) -> io::Result<()> {
        self.header_line(&control_line("header", header), header)
    }

    /// Writes one object line (without its line ending). Outside a section, opens a
    /// headerless one.
    pub fn object(&mut self, line: &[u8]) -> io::Result<()> {
        let (_, hash) = self
            .section
            .get_or_insert_with(|| (None, SectionHash::default()));
        hash.add(line);
        self.objects += 1;
        self.out.write_all(line)?;
        self.out.write_all(b"\n")
    }

    /// Closes the open section, if any, with its trailer.
    pub fn end_section(&mut self) -> io::Result<()> {
        if let Some((collection, hash)) = self.section.take() {
            if !self.plain {
                self.out.write_all(&control_line(
                    "trailer",
                    &hash.trailer(collection.as_deref()),
                ))?;
                self.out.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    pub fn objects(&self) -> u64 {
        self.objects
    }

    /// Closes the open section, completes compression and, for a file, syncs and renames it
    /// into place. Returns the bytes written. Dropping the writer instead leaves no file.
    pub fn finish(self) -> io::Result<u64> {
        Ok(self.finish_with_hash()?.bytes)
    }

    /// Like [`StreamWriter::finish`], and also tells the xxh3-128 hash of the bytes written
    /// (after compression: the hash of the file as it lies on disk).
    pub fn finish_with_hash(mut self) -> io::Result<Written> {
        self.end_section()?;
        let enc = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        let mut counted = enc
            .finish()?
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        counted.flush()?;
        let written = Written {
            bytes: counted.bytes,
            hash: format!("{:032x}", counted.hash.digest128()),
        };
        match counted.inner {
            Sink::Stdout(_) => {}
            Sink::File(f) => f.commit()?,
        }
        Ok(written)
    }
}

/// Where a binary writes a stream of sections: the JSONL [`StreamWriter`], or another format
/// (ely-parquet's writer) taking the same calls.
pub trait StreamOut {
    /// Starts a collection's section.
    fn begin(&mut self, header: &Header) -> anyhow::Result<()>;
    /// One object, with its line as ely writes it (without its line ending): a writer
    /// takes whichever it stores.
    fn write_object(&mut self, object: ely_vocab::Object, line: &[u8]) -> anyhow::Result<()>;
    /// Closes the open section.
    fn end(&mut self) -> anyhow::Result<()>;
}

impl StreamOut for StreamWriter {
    fn begin(&mut self, header: &Header) -> anyhow::Result<()> {
        Ok(self.header(header)?)
    }
    fn write_object(&mut self, _object: ely_vocab::Object, line: &[u8]) -> anyhow::Result<()> {
        Ok(self.object(line)?)
    }
    fn end(&mut self) -> anyhow::Result<()> {
        Ok(self.end_section()?)
    }
}
