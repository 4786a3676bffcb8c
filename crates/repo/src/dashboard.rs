//! `ely-repo dashboard`: a live full-screen view of every repository under sync.

use std::path::Path;

use anyhow::{bail, Result};

use crate::State;

/// Runs the live view on the terminal until `q`.
pub fn run(_state: &Path) -> Result<()> {
    bail!("the dashboard is not built yet")
}

/// One frame of the view as text, `width` columns by `height` rows.
pub fn once(_state: &State, _width: u16, _height: u16) -> Result<String> {
    bail!("the dashboard is not built yet")
}

/// The terminal's size (columns, rows).
pub fn terminal_size() -> Option<(u16, u16)> {
    ratatui::crossterm::terminal::size().ok()
}
