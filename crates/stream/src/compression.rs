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
        Compression::Lz4 => Box::new(Lz4Frames(lz4_flex::frame::FrameDecoder::new(inner))),
    })
}

/// lz4_flex ends its output at the end of each frame; `cat a.lz4 b.lz4` holds two, and the
/// second must not be lost. (Its decoder also reads a cut exactly between two blocks as a
/// clean end: the stream's trailer is what catches that.)
struct Lz4Frames<R: BufRead>(lz4_flex::frame::FrameDecoder<R>);

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n > 0 || buf.is_empty() || self.0.get_mut().fill_buf()?.is_empty() {
                return Ok(n);
            }
        }
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
