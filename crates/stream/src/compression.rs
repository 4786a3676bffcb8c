//! Compression of a whole stream: detected from its first bytes when reading (never from a
//! file name), chosen by flag or output extension when writing.

use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd,
    Gzip,
    Lz4,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
            Compression::Gzip => "gzip",
            Compression::Lz4 => "lz4",
        }
    }

    /// The compression an output file name asks for (`.zst`, `.gz`, `.lz4`), if any.
    pub fn from_extension(path: &Path) -> Compression {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("zst" | "zstd") => Compression::Zstd,
            Some("gz" | "gzip") => Compression::Gzip,
            Some("lz4") => Compression::Lz4,
            _ => Compression::None,
        }
    }

    /// The compression an output file's name asks for: `.zst`, `.gz`, `.lz4`, else none
    /// (`.jsonl`, no extension, ...); an error for the extension of a compression or format
    /// ely does not write (`.xz`, `.bz2`, `.parquet`, ...), which would otherwise get plain
    /// JSONL under a name that says otherwise.
    pub fn for_output(path: &Path) -> Result<Compression, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some(
                e @ ("xz" | "lzma" | "bz2" | "bzip2" | "br" | "brotli" | "zip" | "7z" | "rar"
                | "tar" | "tgz" | "tzst" | "sz" | "snappy" | "lz" | "lzo" | "z" | "parquet"
                | "arrow" | "avro" | "orc"),
            ) => Err(format!(
                "{}: ely does not write .{e} files; it writes zstd (.zst), gzip (.gz), lz4 (.lz4) or plain JSONL (any other name), or give --compress",
                path.display()
            )),
            _ => Ok(Self::from_extension(path)),
        }
    }

    /// The level used when none is given, and the range accepted.
    pub fn levels(self) -> Option<(i32, std::ops::RangeInclusive<i32>)> {
        match self {
            Compression::Zstd => Some((3, 1..=22)),
            Compression::Gzip => Some((6, 0..=9)),
            Compression::None | Compression::Lz4 => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "plain" => Ok(Compression::None),
            "zstd" | "zst" => Ok(Compression::Zstd),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "lz4" => Ok(Compression::Lz4),
            _ => Err(format!(
                "unknown compression '{s}' (use zstd, gzip, lz4 or none)"
            )),
        }
    }
}

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Stream(Compression),
    /// A format ely recognises but does not read here; the name is for the message.
    Foreign(&'static str),
}

/// Identifies the compression from the first (up to four) bytes of the input.
pub fn detect(magic: &[u8]) -> Detected {
    match magic {
        [0x28, 0xB5, 0x2F, 0xFD, ..] => Detected::Stream(Compression::Zstd),
        // Skippable frames (zstd and lz4 share this range); zstd's decoder skips them.
        [b, 0x2A, 0x4D, 0x18, ..] if b & 0xF0 == 0x50 => Detected::Stream(Compression::Zstd),
        [0x1F, 0x8B, ..] => Detected::Stream(Compression::Gzip),
        [0x04, 0x22, 0x4D, 0x18, ..] => Detected::Stream(Compression::Lz4),
        [0xFD, b'7', b'z', b'X', ..] => Detected::Foreign("xz-compressed data"),
        [b'B', b'Z', b'h', ..] => Detected::Foreign("bzip2-compressed data"),
        [b'P', b'A', b'R', b'1', ..] => Detected::Foreign("a Parquet file"),
        [0x02, 0x21, 0x4C, 0x18, ..] => {
            Detected::Foreign("legacy lz4 data (use the lz4 frame format)")
        }
        _ => Detected::Stream(Compression::None),
    }
}

/// Wraps `inner` in the decoder for `compression`.
pub fn decoder<'a, R: Read + Send + 'a>(
    compression: Compression,
    inner: R,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let inner = io::BufReader::with_capacity(256 * 1024, inner);
    Ok(match compression {
        Compression::None => Box::new(inner),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(inner)?;
            // Long-distance windows written by `zstd --long` need a larger limit.
            d.window_log_max(31)?;
            Box::new(d)
        }
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Compression::Lz4 => Box::new(Lz4Frames(lz4_flex::frame::FrameDecoder::new(
            FrameWalker::new(inner),
        ))),
    })
}

/// lz4_flex ends its output at the end of each frame; `cat a.lz4 b.lz4` holds two, and the
/// second must not be lost.
struct Lz4Frames<R: BufRead>(lz4_flex::frame::FrameDecoder<FrameWalker<R>>);

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n > 0 || buf.is_empty() || self.0.get_mut().at_end()? {
                return Ok(n);
            }
        }
    }
}

/// Follows the lz4 frame layout (header, block sizes, end mark, checksum) as the compressed
/// bytes go by, so that input ending inside a frame is an error. lz4_flex alone reads a cut
/// that falls exactly between two blocks (where a killed writer stops) as a clean end.
struct FrameWalker<R> {
    inner: R,
    state: Walk,
    /// Bytes of the field being read (frame header or block size) gathered so far.
    field: Vec<u8>,
    /// Flags of the current frame: (block checksums, content checksum).
    checksums: (bool, bool),
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Walk {
    /// Between frames: the next bytes are a magic number.
    FrameStart,
    /// Reading the frame descriptor (or a skippable frame's size) into `field`.
    Header,
    BlockSize,
    /// Skipping this many bytes, then reading a block size (or starting a frame).
    Skip(u64, bool),
}

const LZ4_MAGIC: u32 = 0x184D_2204;

impl<R: BufRead> FrameWalker<R> {
    fn new(inner: R) -> Self {
        FrameWalker {
            inner,
            state: Walk::FrameStart,
            field: Vec::with_capacity(19),
            checksums: (false, false),
        }
    }

    /// True at the end of the input, which must fall between frames.
    fn at_end(&mut self) -> io::Result<bool> {
        if !self.inner.fill_buf()?.is_empty() {
            return Ok(false);
        }
        match self.state {
            Walk::FrameStart => Ok(true),
            _ => Err(truncated()),
        }
    }

    fn follow(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.state {
                Walk::FrameStart => {
                    self.field.clear();
                    self.state = Walk::Header;
                }
                Walk::Skip(n, then_block) => {
                    let k = (n.min(bytes.len() as u64)) as usize;
                    bytes = &bytes[k..];
                    if n == k as u64 {
                        self.field.clear();
                        self.state = if then_block {
                            Walk::BlockSize
                        } else {
                            Walk::FrameStart
                        };
                    } else {
                        self.state = Walk::Skip(n - k as u64, then_block);
                    }
                }
                Walk::Header | Walk::BlockSize => {
                    let need = self.field_len();
                    let k = (need - self.field.len()).min(bytes.len());
                    self.field.extend_from_slice(&bytes[..k]);
                    bytes = &bytes[k..];
                    if self.field.len() == self.field_len() {
                        self.field_done()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// How long the field being read is, as far as its bytes so far tell.
    fn field_len(&self) -> usize {
        let f = &self.field;
        match self.state {
            Walk::BlockSize => 4,
            _ if f.len() < 4 => 4,
            _ if le32(f) & 0xFFFF_FFF0 == 0x184D_2A50 => 8,
            _ if f.len() < 5 => 5,
            // magic, FLG, BD, [content size], [dictionary id], header checksum
            _ => 7 + if f[4] & 0x08 != 0 { 8 } else { 0 } + if f[4] & 0x01 != 0 { 4 } else { 0 },
        }
    }

    fn field_done(&mut self) -> io::Result<()> {
        let f = &self.field;
        if self.state == Walk::BlockSize {
            let size = le32(f);
            self.state = if size == 0 {
                Walk::Skip(if self.checksums.1 { 4 } else { 0 }, false)
            } else {
                let data = u64::from(size & 0x7FFF_FFFF);
                Walk::Skip(data + if self.checksums.0 { 4 } else { 0 }, true)
            };
            if self.state == Walk::Skip(0, false) {
                self.state = Walk::FrameStart;
            }
            return Ok(());
        }
        let magic = le32(f);
        if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
            if f.len() == 8 {
                self.state = Walk::Skip(u64::from(le32(&f[4..])), false);
            }
        } else if magic != LZ4_MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "lz4: a frame does not start with the lz4 magic number",
            ));
        } else if f.len() >= 7 {
            self.checksums = (f[4] & 0x10 != 0, f[4] & 0x04 != 0);
            self.field.clear();
            self.state = Walk::BlockSize;
        }
        Ok(())
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn truncated() -> io::Error {
    // Not UnexpectedEof: lz4_flex reads that as a clean end between blocks.
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the lz4 data ends inside a frame",
    )
}

impl<R: BufRead> Read for FrameWalker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() && self.state != Walk::FrameStart {
            return Err(truncated());
        }
        self.follow(&buf[..n])?;
        Ok(n)
    }
}

/// A compressing writer whose `finish` completes the frame and returns the inner writer.
pub enum Encoder<W: Write> {
    None(W),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Gzip(flate2::write::GzEncoder<W>),
    Lz4(lz4_flex::frame::FrameEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// `level` must lie in [`Compression::levels`]; `threads` > 0 runs zstd in worker threads.
    pub fn new(
        inner: W,
        compression: Compression,
        level: Option<i32>,
        threads: u32,
    ) -> io::Result<Self> {
        let level = level.or(compression.levels().map(|l| l.0));
        Ok(match compression {
            Compression::None => Encoder::None(inner),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(inner, level.unwrap_or(3))?;
                e.include_checksum(true)?;
                if threads > 0 {
                    e.multithread(threads)?;
                }
                Encoder::Zstd(e)
            }
            Compression::Gzip => {
                let level = flate2::Compression::new(level.unwrap_or(6).clamp(0, 9) as u32);
                Encoder::Gzip(flate2::write::GzEncoder::new(inner, level))
            }
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .content_checksum(true)
                    .block_size(lz4_flex::frame::BlockSize::Max4MB);
                Encoder::Lz4(lz4_flex::frame::FrameEncoder::with_frame_info(info, inner))
            }
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Lz4(e) => e.finish().map_err(io::Error::other),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Lz4(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Lz4(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Lz4(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(c: Compression) {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .collect();
        let mut e = Encoder::new(Vec::new(), c, None, 0).unwrap();
        e.write_all(&data).unwrap();
        let packed = e.finish().unwrap();
        assert_eq!(detect(&packed[..4.min(packed.len())]), Detected::Stream(c));
        let mut back = Vec::new();
        decoder(c, &packed[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    /// A writer stopped between two blocks leaves a file lz4_flex alone would read as whole.
    #[test]
    fn lz4_cut_between_blocks_is_an_error_and_concatenated_frames_are_read() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| {
                format!("{{\"n\":{i},\"x\":{}}}\n", i.wrapping_mul(2654435761)).into_bytes()
            })
            .collect();
        for checksum in [false, true] {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .content_checksum(checksum);
            let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            e.write_all(&data).unwrap();
            let packed = e.finish().unwrap();
            // Where each block ends, as the walker sees it byte by byte.
            let mut walker = FrameWalker::new(&b""[..]);
            let mut boundaries = Vec::new();
            for (i, b) in packed.iter().enumerate() {
                walker.follow(std::slice::from_ref(b)).unwrap();
                if walker.state == Walk::BlockSize && walker.field.is_empty() {
                    boundaries.push(i + 1);
                }
            }
            assert!(boundaries.len() > 3, "{boundaries:?}");
            assert_eq!(walker.state, Walk::FrameStart);
            let read = |bytes: &[u8]| {
                let mut out = Vec::new();
                decoder(Compression::Lz4, bytes)?.read_to_end(&mut out)?;
                io::Result::Ok(out)
            };
            for &cut in &boundaries {
                let err = read(&packed[..cut]).expect_err("a cut between blocks");
                assert!(err.to_string().contains("ends inside a frame"), "{err}");
            }
            assert!(read(&packed[..packed.len() - 1]).is_err());
            let twice = [&packed[..], &packed[..]].concat();
            assert_eq!(read(&twice).unwrap(), [&data[..], &data[..]].concat());
        }
    }

    #[test]
    fn every_compression_round_trips_and_is_detected() {
        for c in [
            Compression::None,
            Compression::Zstd,
            Compression::Gzip,
            Compression::Lz4,
        ] {
            roundtrip(c);
        }
    }

    #[test]
    fn extension_picks_compression() {
        assert_eq!(
            Compression::from_extension(Path::new("a.jsonl.zst")),
            Compression::Zstd
        );
        assert_eq!(
            Compression::from_extension(Path::new("a.JSONL.GZ")),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_extension(Path::new("a.lz4")),
            Compression::Lz4
        );
        assert_eq!(
            Compression::from_extension(Path::new("a.jsonl")),
            Compression::None
        );
    }
}
