//! What the user has chosen to see of the board: the tag filter (and whether it is being typed),
//! the tag the cursor is on, whether the full table replaces the charts, and how charts are
//! drawn. Owns what every dashboard key does to these; must never draw or read a file.
//!
//! The cursor is held as a tag name, not an index, so it stays on its tag while new tags of a
//! live logdir appear around it.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{Board, ChartOptions};
use crate::tboard::Role;
use crate::tui::keys::{Action, KeyMap};

/// Smoothing weight added or taken away by one key press (TensorBoard's slider moves in 0.001s;
/// a tenth is what a keyboard wants).
pub const SMOOTHING_STEP: f64 = 0.1;
/// The highest weight the keys reach (1 would be a flat line).
pub const MAX_SMOOTHING: f64 = 0.99;

/// What a key did, for the app to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardKey {
    /// The view changed (or the key was taken and did nothing): redraw.
    Handled,
    /// Leave the UI.
    Quit,
    /// Show the key list.
    Help,
    /// Not a dashboard key.
    Ignored,
}

/// The dashboard's view state.
#[derive(Clone, Debug)]
pub struct BoardView {
    /// Case-insensitive words every shown tag contains.
    pub filter: String,
    /// The filter is being typed: every key goes to it until Enter or Esc.
    pub editing: bool,
    /// The tag the cursor is on (`None`: the first shown).
    pub cursor: Option<String>,
    /// The table of every shown tag replaces the charts.
    pub table: bool,
    /// One chart, the cursor's, fills the chart area.
    pub single: bool,
    /// How charts are drawn.
    pub chart: ChartOptions,
    /// The weight smoothing returns to when switched back on.
    last_smoothing: f64,
}

impl Default for BoardView {
    fn default() -> Self {
        let chart = ChartOptions::default();
        BoardView {
            filter: String::new(),
            editing: false,
            cursor: None,
            table: false,
            single: false,
            last_smoothing: chart.smoothing,
            chart,
        }
    }
}

impl BoardView {
    /// The tags the filter lets through, in the board's order (sorted by name).
    pub fn shown<'b>(&self, board: &'b Board) -> Vec<&'b str> {
        let words: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        board
            .tags()
            .into_iter()
            .filter(|t| {
                let t = t.to_lowercase();
                words.iter().all(|w| t.contains(w.as_str()))
            })
            .collect()
    }

    /// Where the cursor is among `shown`. Before the user moves it, and when its tag is
    /// filtered out, it is on the first loss tag (the chart a batchramp run opens with), else on
    /// the first tag.
    pub fn cursor_index(&self, board: &Board, shown: &[&str]) -> usize {
        self.cursor
            .as_deref()
            .and_then(|c| shown.iter().position(|t| *t == c))
            .or_else(|| shown.iter().position(|t| board.role(t) == Some(Role::Loss)))
            .unwrap_or(0)
    }

    /// The charts on the cursor's page when `per_page` fit: the page's first index and its tags.
    pub fn page<'s>(
        &self,
        board: &Board,
        shown: &'s [&'s str],
        per_page: usize,
    ) -> (usize, &'s [&'s str]) {
        let per_page = per_page.max(1);
        let first = self.cursor_index(board, shown) / per_page * per_page;
        let end = (first + per_page).min(shown.len());
        (first, &shown[first.min(end)..end])
    }

    /// Handles a key; `per_page` is how many charts the last frame fitted (paging moves by it).
    pub fn on_key(
        &mut self,
        key: &KeyEvent,
        keys: &KeyMap,
        board: &Board,
        per_page: usize,
    ) -> BoardKey {
        if self.editing {
            return self.filter_key(key, board);
        }
        let shown = self.shown(board);
        let at = self.cursor_index(board, &shown);
        let per_page = per_page.max(1);
        let last = shown.len().saturating_sub(1);
        let to = match key.code {
            KeyCode::Char('/') => {
                self.editing = true;
                return BoardKey::Handled;
            }
            KeyCode::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                return BoardKey::Handled;
            }
            KeyCode::Down | KeyCode::Char('j') => Some((at + 1).min(last)),
            KeyCode::Up | KeyCode::Char('k') => Some(at.saturating_sub(1)),
            KeyCode::PageDown | KeyCode::Char('n') | KeyCode::Tab => {
                Some(((at / per_page + 1) * per_page).min(last))
            }
            KeyCode::PageUp | KeyCode::Char('N') | KeyCode::BackTab => {
                Some((at / per_page).saturating_sub(1) * per_page)
            }
            KeyCode::Home | KeyCode::Char('g') => Some(0),
            KeyCode::End | KeyCode::Char('G') => Some(last),
            KeyCode::Char('+' | '=') => {
                self.set_smoothing(self.chart.smoothing + SMOOTHING_STEP);
                None
            }
            KeyCode::Char('-' | '_') => {
                self.set_smoothing(self.chart.smoothing - SMOOTHING_STEP);
                None
            }
            KeyCode::Char('o') => {
                self.chart.ignore_outliers = !self.chart.ignore_outliers;
                None
            }
            KeyCode::Char('t') => {
                self.table = !self.table;
                None
            }
            KeyCode::Enter | KeyCode::Char('z') => {
                self.single = !self.single;
                None
            }
            _ => match keys.action(key) {
                Some(Action::Quit) => return BoardKey::Quit,
                Some(Action::Help) => return BoardKey::Help,
                Some(Action::XAxis) => {
                    self.chart.x = self.chart.x.next();
                    None
                }
                Some(Action::LogScale) => {
                    self.chart.log_y = !self.chart.log_y;
                    None
                }
                Some(Action::Smooth) => {
                    let on = self.chart.smoothing > 0.0;
                    self.chart.smoothing = if on { 0.0 } else { self.last_smoothing };
                    None
                }
                _ => return BoardKey::Ignored,
            },
        };
        if let Some(i) = to {
            self.cursor = shown.get(i).map(|t| t.to_string());
        }
        BoardKey::Handled
    }

    fn set_smoothing(&mut self, w: f64) {
        // Rounded to the step so repeated presses land on 0.6, 0.7… rather than 0.70000001.
        let w = (w.clamp(0.0, MAX_SMOOTHING) * 100.0).round() / 100.0;
        self.chart.smoothing = w;
        if w > 0.0 {
            self.last_smoothing = w;
        }
    }

    fn filter_key(&mut self, key: &KeyEvent, board: &Board) -> BoardKey {
        match key.code {
            KeyCode::Enter => self.editing = false,
            KeyCode::Esc => {
                self.editing = false;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.filter.clear()
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.filter.push(c)
            }
            _ => {}
        }
        // The cursor moves to the first match when its tag no longer matches.
        let shown = self.shown(board);
        if self.cursor.as_deref().is_some_and(|c| !shown.contains(&c)) {
            self.cursor = shown.first().map(|t| t.to_string());
        }
        BoardKey::Handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Point;
    use crate::tboard::{ScalarUpdate, TagTable};
    use crate::tui::board::XMode;

    fn board(tags: &[&str]) -> Board {
        let mut b = Board::new(TagTable::default(), false);
        for tag in tags {
            b.apply(ScalarUpdate::Points {
                run: ".".into(),
                tag: tag.to_string(),
                points: vec![Point {
                    step: 0,
                    wall_time: 0.0,
                    value: 1.0,
                }],
                more: false,
            });
        }
        b
    }

    fn press(v: &mut BoardView, b: &Board, code: KeyCode) -> BoardKey {
        v.on_key(
            &KeyEvent::new(code, KeyModifiers::NONE),
            &KeyMap::default(),
            b,
            4,
        )
    }

    fn typed(v: &mut BoardView, b: &Board, s: &str) {
        for c in s.chars() {
            press(v, b, KeyCode::Char(c));
        }
    }

    #[test]
    fn the_filter_takes_every_key_until_enter_and_keeps_the_cursor_on_a_match() {
        let b = board(&["train/loss", "train/acc", "val/loss", "val/acc", "lr"]);
        let mut v = BoardView::default();
        // The cursor starts on the first loss tag.
        let shown = v.shown(&b);
        assert_eq!(shown[v.cursor_index(&b, &shown)], "train/loss");
        press(&mut v, &b, KeyCode::Down);
        assert_eq!(v.cursor.as_deref(), Some("val/acc"));
        press(&mut v, &b, KeyCode::Char('/'));
        // q, x and l are letters of the filter now, not quit, axis and log.
        typed(&mut v, &b, "LOSS q");
        assert_eq!(v.filter, "LOSS q");
        assert_eq!(v.chart.x, XMode::Step);
        press(&mut v, &b, KeyCode::Backspace);
        press(&mut v, &b, KeyCode::Backspace);
        let shown = v.shown(&b);
        assert_eq!(shown, ["train/loss", "val/loss"]);
        assert_eq!(shown[v.cursor_index(&b, &shown)], "train/loss");
        press(&mut v, &b, KeyCode::Enter);
        assert!(!v.editing);
        assert_eq!(press(&mut v, &b, KeyCode::Char('q')), BoardKey::Quit);
        // Words match in any order; Esc clears the filter.
        v.filter = "val loss".into();
        assert_eq!(v.shown(&b), ["val/loss"]);
        press(&mut v, &b, KeyCode::Esc);
        assert_eq!(v.shown(&b).len(), 5);
    }

    #[test]
    fn paging_moves_by_the_charts_that_fit() {
        let tags: Vec<String> = (0..10).map(|i| format!("m/{i:02}")).collect();
        let b = board(&tags.iter().map(String::as_str).collect::<Vec<_>>());
        let mut v = BoardView::default();
        let shown = v.shown(&b);
        assert_eq!(v.page(&b, &shown, 4), (0, &shown[0..4]));
        press(&mut v, &b, KeyCode::PageDown);
        assert_eq!(v.cursor.as_deref(), Some("m/04"));
        press(&mut v, &b, KeyCode::PageDown);
        press(&mut v, &b, KeyCode::PageDown);
        assert_eq!(v.cursor.as_deref(), Some("m/09"));
        let shown = v.shown(&b);
        assert_eq!(v.page(&b, &shown, 4), (8, &shown[8..10]));
        press(&mut v, &b, KeyCode::PageUp);
        assert_eq!(v.cursor.as_deref(), Some("m/04"));
        press(&mut v, &b, KeyCode::Home);
        press(&mut v, &b, KeyCode::Up);
        assert_eq!(v.cursor.as_deref(), Some("m/00"));
        press(&mut v, &b, KeyCode::End);
        assert_eq!(v.cursor.as_deref(), Some("m/09"));
    }

    #[test]
    fn chart_keys_change_smoothing_axis_scale_and_outliers() {
        let b = board(&["loss"]);
        let mut v = BoardView::default();
        press(&mut v, &b, KeyCode::Char('+'));
        assert_eq!(v.chart.smoothing, 0.7);
        for _ in 0..10 {
            press(&mut v, &b, KeyCode::Char('+'));
        }
        assert_eq!(v.chart.smoothing, MAX_SMOOTHING);
        press(&mut v, &b, KeyCode::Char('s'));
        assert_eq!(v.chart.smoothing, 0.0, "s switches smoothing off");
        press(&mut v, &b, KeyCode::Char('s'));
        assert_eq!(v.chart.smoothing, MAX_SMOOTHING, "and back to its weight");
        for _ in 0..12 {
            press(&mut v, &b, KeyCode::Char('-'));
        }
        assert_eq!(v.chart.smoothing, 0.0);
        press(&mut v, &b, KeyCode::Char('x'));
        press(&mut v, &b, KeyCode::Char('l'));
        press(&mut v, &b, KeyCode::Char('o'));
        press(&mut v, &b, KeyCode::Char('t'));
        press(&mut v, &b, KeyCode::Enter);
        assert_eq!(v.chart.x, XMode::Relative);
        assert!(v.chart.log_y && v.chart.ignore_outliers && v.table && v.single);
        assert_eq!(press(&mut v, &b, KeyCode::Char('?')), BoardKey::Help);
        assert_eq!(press(&mut v, &b, KeyCode::Char('p')), BoardKey::Ignored);
    }
}
