//! Splitting a file's text into chunks on line boundaries.
//!
//! A chunk takes whole lines while it has at most `max_lines` lines and `max_chars`
//! characters; the next chunk starts `overlap` lines before the previous one ended (always
//! at least one line later than it started). A single line longer than `max_chars` is cut
//! into pieces of `max_chars` characters, each a chunk of its own. A file within both limits
//! is one chunk; an empty file is one empty chunk. Lines keep their `\n`, and only `\n` ends
//! a line, so joining the chunks without their overlap gives back the file.

/// How to chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunking {
    pub max_lines: usize,
    pub max_chars: usize,
    pub overlap: usize,
}

impl Default for Chunking {
    fn default() -> Self {
        Chunking {
            max_lines: 200,
            max_chars: 8000,
            overlap: 20,
        }
    }
}

/// One chunk: its text and its first and last line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk<'a> {
    pub text: &'a str,
    pub start_line: u64,
    pub end_line: u64,
}

/// The chunks of `text`.
pub fn chunks(text: &str, how: Chunking) -> Vec<Chunk<'_>> {
    let max_lines = how.max_lines.max(1);
    let max_chars = how.max_chars.max(1);
    // Each line as (byte start, byte end, characters).
    let chars = |s: &str| {
        if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        }
    };
    let mut lines: Vec<(usize, usize, usize)> = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', text.as_bytes()) {
        lines.push((start, nl + 1, chars(&text[start..=nl])));
        start = nl + 1;
    }
    if start < text.len() {
        lines.push((start, text.len(), chars(&text[start..])));
    }
    if lines.is_empty() {
        return vec![Chunk {
            text: "",
            start_line: 1,
            end_line: 1,
        }];
    }
    let n = lines.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let (mut j, mut size) = (i, 0);
        while j < n && j - i < max_lines && (j == i || size + lines[j].2 <= max_chars) {
            size += lines[j].2;
            j += 1;
        }
        let line_no = i as u64 + 1;
        if j == i + 1 && lines[i].2 > max_chars {
            let line = &text[lines[i].0..lines[i].1];
            let mut from = 0;
            let mut count = 0;
            for (at, _) in line.char_indices() {
                if count == max_chars {
                    out.push(Chunk {
                        text: &line[from..at],
                        start_line: line_no,
                        end_line: line_no,
                    });
                    from = at;
                    count = 0;
                }
                count += 1;
            }
            out.push(Chunk {
                text: &line[from..],
                start_line: line_no,
                end_line: line_no,
            });
        } else {
            out.push(Chunk {
                text: &text[lines[i].0..lines[j - 1].1],
                start_line: line_no,
                end_line: j as u64,
            });
        }
        if j >= n {
            break;
        }
        i = (i + 1).max(j.saturating_sub(how.overlap));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how(max_lines: usize, max_chars: usize, overlap: usize) -> Chunking {
        Chunking {
            max_lines,
            max_chars,
            overlap,
        }
    }

    #[test]
    fn small_files_are_one_chunk_and_empty_files_one_empty_chunk() {
        let c = chunks("a\nb\n", Chunking::default());
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].text, c[0].start_line, c[0].end_line),
            ("a\nb\n", 1, 2)
        );
        let e = chunks("", Chunking::default());
        assert_eq!((e[0].text, e[0].start_line, e[0].end_line), ("", 1, 1));
        // No newline at the end: the last line still counts.
        let c = chunks("a\nb", Chunking::default());
        assert_eq!((c[0].text, c[0].end_line), ("a\nb", 2));
    }

    #[test]
    fn lines_and_characters_both_close_a_chunk_with_overlap() {
        let text: String = (1..=10).map(|i| format!("line{i}\n")).collect();
        let c = chunks(&text, how(4, 1000, 1));
        let spans: Vec<(u64, u64)> = c.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert_eq!(spans, [(1, 4), (4, 7), (7, 10)]);
        assert!(c[1].text.starts_with("line4\n"));
        // Characters: "lineN\n" is 6 (7 for line10); 12 characters hold two short lines.
        let c = chunks(&text, how(100, 12, 0));
        let spans: Vec<(u64, u64)> = c.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert_eq!(spans, [(1, 2), (3, 4), (5, 6), (7, 8), (9, 9), (10, 10)]);
        // Joined without their overlap, the chunks are the file.
        let joined: String = chunks(&text, how(3, 1000, 0))
            .iter()
            .map(|c| c.text)
            .collect();
        assert_eq!(joined, text);
    }

    #[test]
    fn a_long_line_is_cut_into_pieces_on_character_boundaries() {
        let text = format!("short\n{}\nend\n", "é".repeat(25));
        let c = chunks(&text, how(100, 10, 2));
        let spans: Vec<(u64, u64, usize)> = c
            .iter()
            .map(|c| (c.start_line, c.end_line, c.text.chars().count()))
            .collect();
        assert_eq!(
            spans,
            [(1, 1, 6), (2, 2, 10), (2, 2, 10), (2, 2, 6), (3, 3, 4)]
        );
    }

    #[test]
    fn an_overlap_as_large_as_a_chunk_still_moves_on() {
        let text: String = (1..=5).map(|i| format!("{i}\n")).collect();
        let c = chunks(&text, how(2, 1000, 5));
        let spans: Vec<(u64, u64)> = c.iter().map(|c| (c.start_line, c.end_line)).collect();
        assert_eq!(spans, [(1, 2), (2, 3), (3, 4), (4, 5)]);
    }
}
