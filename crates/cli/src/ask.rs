//! Questions on a terminal: a line with a suggested answer, and a choice among a few options
//! made with the arrow keys. Asked on stderr, and only when stdin and stderr are terminals
//! ([`can_ask`]); a command that cannot ask takes its defaults or its flags instead.

use std::io::{self, IsTerminal, Write};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};

/// Whether questions can be asked: stdin and stderr are terminals.
pub fn can_ask() -> bool {
    io::stdin().is_terminal() && io::stderr().is_terminal()
}

/// Asks for a line: `prompt [default]: `. An empty answer takes `default`. An answer `check`
/// refuses, or one holding control characters (the arrow keys do not edit here), is shown
/// with the reason and asked again. End of input (Ctrl-D) is an error: no answer.
pub fn line(
    prompt: &str,
    default: &str,
    check: impl Fn(&str) -> Result<(), String>,
) -> io::Result<String> {
    loop {
        let mut err = io::stderr().lock();
        if default.is_empty() {
            write!(err, "{prompt}: ")?;
        } else {
            write!(err, "{prompt} [{default}]: ")?;
        }
        err.flush()?;
        drop(err);
        let mut answer = String::new();
        if io::stdin().read_line(&mut answer)? == 0 {
            eprintln!();
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no answer (end of input)",
            ));
        }
        let answer = answer.trim();
        if answer.chars().any(char::is_control) {
            eprintln!("  the answer holds control characters (the arrow keys do not edit here): type it again");
            continue;
        }
        let answer = if answer.is_empty() { default } else { answer };
        match check(answer) {
            Ok(()) => return Ok(answer.to_owned()),
            Err(why) => eprintln!("  {why}"),
        }
    }
}

/// The answer to [`choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The option at this index.
    Chosen(usize),
    /// Esc or `q`: none.
    Declined,
    /// Ctrl-C.
    Interrupted,
}

/// Asks to choose one of `options` (`default` first marked): ←/→, ↑/↓ or Tab move, Enter
/// accepts, an option's first letter chooses it, Esc, `q` or Ctrl-D declines, Ctrl-C
/// interrupts.
/// The terminal is in raw mode only while it waits, and is restored whatever happens.
pub fn choose(prompt: &str, options: &[&str], default: usize) -> io::Result<Choice> {
    if options.is_empty() {
        return Ok(Choice::Declined);
    }
    let mut at = default.min(options.len() - 1);
    let raw = RawMode::on()?;
    let result = loop {
        draw(prompt, options, at)?;
        let Event::Key(key) = event::read()? else {
            continue;
        };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                break Choice::Interrupted
            }
            KeyCode::Char('d') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                break Choice::Declined
            }
            KeyCode::Left | KeyCode::Up | KeyCode::BackTab => {
                at = (at + options.len() - 1) % options.len()
            }
            KeyCode::Right | KeyCode::Down | KeyCode::Tab => at = (at + 1) % options.len(),
            KeyCode::Enter => break Choice::Chosen(at),
            KeyCode::Esc | KeyCode::Char('q') => break Choice::Declined,
            KeyCode::Char(c) => {
                let c = c.to_ascii_lowercase();
                if let Some(i) = options
                    .iter()
                    .position(|o| o.chars().next().map(|f| f.to_ascii_lowercase()) == Some(c))
                {
                    at = i;
                    draw(prompt, options, at)?;
                    break Choice::Chosen(i);
                }
            }
            _ => {}
        }
    };
    drop(raw);
    eprintln!();
    Ok(result)
}

/// The question on one line, the option at `at` marked (and shown in reverse video unless
/// `NO_COLOR` is set).
fn draw(prompt: &str, options: &[&str], at: usize) -> io::Result<()> {
    let colour = colours_on_stderr();
    let mut line = format!("\r\x1b[2K{prompt} ");
    for (i, o) in options.iter().enumerate() {
        match (i == at, colour) {
            (true, true) => line.push_str(&format!(" \x1b[7m> {o} \x1b[0m")),
            (true, false) => line.push_str(&format!(" > {o} ")),
            (false, _) => line.push_str(&format!("   {o} ")),
        }
    }
    line.push_str("  (arrows move, Enter chooses)");
    let mut err = io::stderr().lock();
    err.write_all(line.as_bytes())?;
    err.flush()
}

/// Whether stderr may be coloured: a terminal, and `NO_COLOR` unset or empty.
fn colours_on_stderr() -> bool {
    io::stderr().is_terminal() && !no_color()
}

pub use ely_vocab::human::no_color;

/// Puts the terminal back when a question or a full-screen view had taken it (raw mode on)
/// and the process is stopped by a signal (SIGINT, SIGTERM, SIGHUP): raw mode off, the
/// alternate screen left, the cursor shown.
pub fn restore_terminal() {
    if crossterm::terminal::is_raw_mode_enabled().unwrap_or(false) {
        let _ = crossterm::terminal::disable_raw_mode();
        // A full-screen view draws on stdout; a question on stderr (stdout may be a pipe).
        if io::stdout().is_terminal() {
            let mut out = io::stdout().lock();
            let _ = out.write_all(b"\x1b[?1049l\x1b[?25h");
            let _ = out.flush();
        }
    }
}

/// Raw mode while it lives.
struct RawMode;

impl RawMode {
    fn on() -> io::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}
