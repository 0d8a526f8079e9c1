//! `watch`, `replay` and `compare` of a TensorBoard logdir: the scalars dashboard, or its plain
//! form (the last-value table, then one line per new point when following).
//!
//! Owns the reader thread and the machine sampler of such a session; must never write to the
//! logdir.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use crate::error::BadInput;
use crate::tboard::{self, Logdir, LogdirReader, ScalarUpdate, TagTable};
use crate::tui::board::{table_value, Board};

use super::replay::{quiet_on_broken_pipe, show};

/// How often a watched logdir is polled (TensorBoard's data server reloads every 5 s; a
/// terminal wants to feel live, and a poll that finds nothing costs a `stat` per file).
pub const POLL: Duration = Duration::from_secs(1);
/// How often this machine is sampled for the machine panel.
const MACHINE_EVERY: Duration = Duration::from_secs(1);

/// Opens `path` when it is a TensorBoard logdir or event file (not yet read); `None` for a
/// batchramp run, which the caller reads as before. A directory with neither is the user's to fix.
pub fn open(path: &Path) -> anyhow::Result<Option<Logdir>> {
    tboard::open_input_unread(path).map_err(|e| BadInput(e.to_string()).into())
}

/// The tag table of the theme file in use (its `[[tags]]` rules first), else the default.
fn tag_table(theme: Option<&str>) -> anyhow::Result<TagTable> {
    let file = crate::tui::theme::ThemeFile::load(theme).map_err(|e| BadInput(e.to_string()))?;
    Ok(file.tag_table().map_err(|e| BadInput(e.to_string()))?)
}

/// Shows `logdir` in the dashboard (`follow`: live, polling every [`POLL`]) or, when `plain`
/// or standard output is no terminal, as plain text. Returns the exit code.
pub fn run(
    logdir: Logdir,
    follow: bool,
    plain: bool,
    theme: Option<String>,
    title: String,
) -> anyhow::Result<i32> {
    let table = tag_table(theme.as_deref())?;
    let root = logdir.root().to_path_buf();
    let reader = LogdirReader::spawn(logdir, follow.then_some(POLL));
    if plain || !std::io::stdout().is_terminal() {
        let code = print_plain(&reader, table, follow);
        reader.stop();
        return code;
    }
    let feed = crate::tui::Feed::Logdir {
        updates: reader.updates(),
        table,
        following: follow,
        machine: crate::machine::spawn_sampler(Some(root), MACHINE_EVERY),
    };
    let code = show(feed, theme, title);
    reader.stop();
    code
}

/// The last-value table once everything present is read; when following, then one line per
/// new point (`run  tag  step  value`) until the pipe closes or a signal ends the process.
fn print_plain(reader: &LogdirReader, table: TagTable, follow: bool) -> anyhow::Result<i32> {
    let updates = reader.updates();
    let mut board = Board::new(table, follow);
    for u in updates.iter() {
        let polled = matches!(u, ScalarUpdate::Polled { .. });
        board.apply(u);
        if polled {
            break;
        }
    }
    for note in board.notes() {
        super::say(&format!("note: {note}"));
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out
        .write_all(table_text(&board).as_bytes())
        .and_then(|()| out.flush())
    {
        return quiet_on_broken_pipe(e).map(|()| 0);
    }
    if !follow {
        return Ok(0);
    }
    let mut notes = board.notes().to_vec();
    // Until the reader stops or the reader of our output goes away.
    while let Some(u) = super::next_while_read(&updates) {
        let lines: Vec<String> = match &u {
            ScalarUpdate::Points {
                run, tag, points, ..
            }
            | ScalarUpdate::Replaced { run, tag, points } => points
                .iter()
                .map(|p| format!("{run}  {tag}  {}  {}", p.step, table_value(p.value)))
                .collect(),
            ScalarUpdate::Run { run } => vec![format!("new run: {run}")],
            _ => Vec::new(),
        };
        board.apply(u);
        if board.notes() != notes.as_slice() {
            notes = board.notes().to_vec();
            for note in &notes {
                super::say(&format!("note: {note}"));
            }
        }
        for line in lines {
            if let Err(e) = writeln!(out, "{line}") {
                return quiet_on_broken_pipe(e).map(|()| 0);
            }
        }
        if let Err(e) = out.flush() {
            return quiet_on_broken_pipe(e).map(|()| 0);
        }
    }
    Ok(0)
}

/// One row per run and tag: last value, its step, min, max, points (the dashboard's table).
pub fn table_text(board: &Board) -> String {
    let rows: Vec<[String; 7]> = board
        .runs()
        .iter()
        .flat_map(|run| {
            let mut tags: Vec<(&str, _)> = run.tags.iter().collect();
            tags.sort_by(|a, b| a.0.cmp(b.0));
            tags.into_iter().filter_map(move |(tag, s)| {
                let f = s.figures?;
                Some([
                    run.name.clone(),
                    tag.to_string(),
                    table_value(f.last.value),
                    f.last.step.to_string(),
                    table_value(f.min),
                    table_value(f.max),
                    f.count.to_string(),
                ])
            })
        })
        .collect();
    let head = ["run", "tag", "last", "step", "min", "max", "points"];
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths[i];
            if i < 2 {
                s.push_str(&format!("{c:<w$}  "));
            } else {
                s.push_str(&format!("{c:>w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tboard::Role;

    #[test]
    fn the_theme_files_tag_rules_reach_the_board() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(
            &path,
            "extends = \"mono\"\n[[tags]]\nrole = \"loss\"\nwords = \"objective\"\n",
        )
        .unwrap();
        let table = tag_table(path.to_str()).unwrap();
        assert_eq!(table.role("my_metric/objective"), Some(Role::Loss));
        assert_eq!(
            tag_table(None).unwrap().role("my_metric/objective"),
            None,
            "the built-in theme adds no rule"
        );
        std::fs::write(&path, "[[tags]]\nrole = \"loss\"\n").unwrap();
        let e = tag_table(path.to_str()).unwrap_err();
        assert!(e.downcast_ref::<BadInput>().is_some(), "{e}");
        assert!(e.to_string().contains("mine.toml: [[tags]] entry 1"), "{e}");
    }
}
