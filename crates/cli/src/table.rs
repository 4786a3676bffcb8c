//! Output for people and for scripts from one place: on a terminal, records are shown as an
//! aligned table; in a pipe (or with `--json`), as one JSON line each, so `jq` and cron
//! logs get the same records the table shows.

use std::io::{self, IsTerminal, Write};

/// Whether stdout gets tables (a terminal, and no `--json`) rather than JSON lines.
pub fn for_people(json: bool) -> bool {
    !json && io::stdout().is_terminal()
}

/// Whether stdout may be coloured: a terminal, and `NO_COLOR` unset or empty.
pub fn colours() -> bool {
    io::stdout().is_terminal() && !crate::ask::no_color()
}

/// How a word reads: good, a warning, bad, or set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Warn,
    Bad,
    Quiet,
}

/// `text` in its tone's colour (green, yellow, red, dim) when `colour`, else as it is.
pub fn paint(text: &str, tone: Tone, colour: bool) -> String {
    if !colour {
        return text.to_owned();
    }
    let code = match tone {
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Bad => "31",
        Tone::Quiet => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The columns a cell takes on a terminal: its characters, colour codes left out.
fn width_of(cell: &str) -> usize {
    let mut n = 0;
    let mut escape = false;
    for c in cell.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}

/// An aligned table: a header row and rows of cells, columns as wide as their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned to the right (numbers).
    right: Vec<bool>,
}

impl Table {
    /// A table with these column titles; a title starting with `>` is right-aligned (the
    /// `>` is not shown).
    pub fn new(header: &[&str]) -> Table {
        Table {
            right: header.iter().map(|h| h.starts_with('>')).collect(),
            header: header
                .iter()
                .map(|h| h.trim_start_matches('>').to_owned())
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; a cell's line breaks become `; ` (a message of several lines stays in its
    /// column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| match c.contains('\n') {
                    true => c
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join("; "),
                    false => c,
                })
                .collect(),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, the last column not padded.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut width = vec![0usize; cols];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(width_of(c));
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate().take(cols) {
                let pad = width[i] - width_of(c);
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right[i] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    if i + 1 < cols {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) -> io::Result<()> {
        io::stdout().lock().write_all(self.render().as_bytes())
    }
}

pub use ely_vocab::human::{bytes, count};

/// An RFC 3339 time as people read it: `2026-11-28 02:00` in the local time zone (`TZ`);
/// text that is not such a time, as it is.
pub fn local_time(rfc3339: &str) -> String {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// One record as one JSON line on stdout.
pub fn print_record(r: &impl ely_stream::Record) -> io::Result<()> {
    let mut line = r.to_line();
    line.push(b'\n');
    io::stdout().lock().write_all(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_numbers_go_right() {
        let mut t = Table::new(&["ID", ">OBJECTS", "FILE"]);
        t.row(vec!["a1".into(), "5".into(), "/x".into()]);
        t.row(vec!["b22222".into(), "12,345".into(), "/yy".into()]);
        assert_eq!(
            t.render(),
            "ID      OBJECTS  FILE\na1            5  /x\nb22222   12,345  /yy\n"
        );
    }

    #[test]
    fn coloured_cells_align_as_their_text() {
        let mut t = Table::new(&["REPO", "STATUS", "N"]);
        t.row(vec![
            "a".into(),
            paint("✓ healthy", Tone::Good, true),
            "1".into(),
        ]);
        t.row(vec![
            "bb".into(),
            paint("✗ failing", Tone::Bad, false),
            "2".into(),
        ]);
        assert_eq!(
            t.render(),
            "REPO  STATUS     N\na     \x1b[32m✓ healthy\x1b[0m  1\nbb    ✗ failing  2\n"
        );
        assert_eq!(paint("x", Tone::Warn, false), "x");
    }
}
