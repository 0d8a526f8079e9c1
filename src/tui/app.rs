//! The UI's state: the run(s) being shown, view options, overlays, requests sent to the trainer
//! and replay playback; turns keys into effects. Owns every decision about what a key does; must
//! never draw, read the terminal or a clock (the loop passes elapsed time in), so it is tested by
//! feeding keys and events.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use crate::events::{Control, Event, Record};

use super::history::XAxis;
use super::keys::{is_interrupt, Action, KeyMap};
use super::state::{Level, RunState};
use super::theme::Theme;
use super::UiExit;

/// Deepest zoom: 1/2^12 of the history.
const MAX_ZOOM: u32 = 12;
/// Replay applies at most this many records per call when running as fast as possible,
/// so keys stay responsive on huge logs.
const MAX_SPEED_CHUNK: usize = 20_000;
/// Replay skips idle gaps in the log longer than this many seconds of real time.
const MAX_IDLE_GAP: f64 = 3.0;

/// Where the events come from, as far as key handling cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A run in this process; control goes back to it.
    Live,
    /// A log another process is writing.
    Follow,
    /// A finished log played back.
    Replay,
    /// Several finished runs overlaid.
    Compare,
}

/// The chart shown in the compact layout (and the second chart in the full one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Panel {
    /// Train loss.
    #[default]
    Loss,
    /// Test and train accuracy.
    Accuracy,
    /// Batch size against the measured noise scale.
    Noise,
}

/// The layout the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayoutChoice {
    /// Full when the terminal is large enough, compact otherwise.
    #[default]
    Auto,
    /// One chart and one-line panels.
    Compact,
    /// Every panel.
    Full,
}

/// How the curves are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewOptions {
    /// Horizontal axis.
    pub x: XAxis,
    /// Log scale for the loss.
    pub log_loss: bool,
    /// EMA on top of a faint raw curve (off: raw only).
    pub smooth: bool,
    /// Chart in focus.
    pub panel: Panel,
    /// Layout choice.
    pub layout: LayoutChoice,
    /// Zoom level: the window shows 1/2^zoom of the history.
    pub zoom: u32,
    /// Right edge of the window as a fraction of the history; `None` follows the newest point.
    pub pan: Option<f64>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            x: XAxis::Updates,
            log_loss: false,
            smooth: true,
            panel: Panel::Loss,
            layout: LayoutChoice::Auto,
            zoom: 0,
            pan: None,
        }
    }
}

impl ViewOptions {
    /// The visible part of `[lo, hi]`.
    pub fn window(&self, lo: f64, hi: f64) -> (f64, f64) {
        let span = (hi - lo).max(0.0);
        let frac = 0.5f64.powi(self.zoom as i32);
        let right = lo + span * self.pan.unwrap_or(1.0).clamp(frac, 1.0);
        let left = right - span * frac;
        if span == 0.0 {
            return (lo, lo + 1.0);
        }
        (left, right)
    }
}

/// The popup in front of the panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// None.
    None,
    /// The key list.
    Help,
    /// "Stop training?" with checkpoint choice (live runs).
    ConfirmQuit,
}

/// Requests sent to the trainer and not yet answered by an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Pause sent, `paused` not yet seen.
    pub pausing: bool,
    /// Resume sent, `resumed` not yet seen.
    pub resuming: bool,
    /// Checkpoint sent, `checkpoint` not yet seen.
    pub checkpointing: bool,
    /// Stop sent (with checkpoint when true); the UI leaves when the trainer's channel closes.
    pub stopping: Option<bool>,
}

/// The run's state as the header shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Before the first metric.
    WarmingUp,
    /// Training.
    Running,
    /// Pause requested.
    Pausing,
    /// Paused.
    Paused,
    /// Resume requested.
    Resuming,
    /// Checkpoint requested.
    Checkpointing,
    /// Stop requested; waiting for the trainer's last events.
    Stopping,
    /// Completed.
    Finished,
    /// Stopped on an error.
    Failed,
    /// The feed ended without a finish (trainer gone, log no longer written).
    Ended,
}

impl Status {
    /// Lower-case label.
    pub fn label(self) -> &'static str {
        match self {
            Status::WarmingUp => "warming up",
            Status::Running => "running",
            Status::Pausing => "pausing…",
            Status::Paused => "paused",
            Status::Resuming => "resuming…",
            Status::Checkpointing => "checkpointing…",
            Status::Stopping => "stopping…",
            Status::Finished => "finished",
            Status::Failed => "failed",
            Status::Ended => "ended",
        }
    }
}

/// Replay playback state.
#[derive(Clone, Debug)]
pub struct Playback {
    records: Vec<Record>,
    /// Records applied so far.
    pub cursor: usize,
    /// Log time reached, seconds.
    pub clock: f64,
    /// Speed factor; `None` = as fast as possible.
    pub speed: Option<f64>,
    /// Playback paused by the user.
    pub paused: bool,
}

impl Playback {
    /// Fraction of the records applied.
    pub fn progress(&self) -> f64 {
        if self.records.is_empty() {
            1.0
        } else {
            self.cursor as f64 / self.records.len() as f64
        }
    }

    /// True when every record has been applied.
    pub fn done(&self) -> bool {
        self.cursor >= self.records.len()
    }
}

/// What the loop must do after a key or an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send a command to the trainer.
    Send(Control),
    /// Leave the UI with this result.
    Exit(UiExit),
}

/// The whole UI state.
#[derive(Clone, Debug)]
pub struct App {
    /// Where events come from.
    pub source: Source,
    /// Title shown in the header.
    pub title: String,
    /// Colours and glyphs.
    pub theme: Theme,
    /// Which key does what.
    pub keys: KeyMap,
    /// The run shown (Live, Follow, Replay).
    pub run: RunState,
    /// The runs overlaid (Compare), with their names.
    pub runs: Vec<(String, RunState)>,
    /// How the curves are drawn.
    pub view: ViewOptions,
    /// Popup in front.
    pub overlay: Overlay,
    /// Unanswered requests to the trainer.
    pub pending: Pending,
    /// Replay playback.
    pub playback: Option<Playback>,
    /// The feed ended (channel closed, log no longer followed, replay at the end).
    pub feed_ended: bool,
    /// A one-line message shown until the next key.
    pub flash: Option<String>,
    /// Ticks seen, for the spinner only.
    pub tick: u64,
}

impl App {
    /// A UI with no events yet.
    pub fn new(source: Source, title: String, theme: Theme, keys: KeyMap) -> Self {
        App {
            source,
            title,
            theme,
            keys,
            run: RunState::default(),
            runs: Vec::new(),
            view: ViewOptions::default(),
            overlay: Overlay::None,
            pending: Pending::default(),
            playback: None,
            feed_ended: false,
            flash: None,
            tick: 0,
        }
    }

    /// A replay of `records` at `speed` × real time (`None`: as fast as possible).
    pub fn replay(
        title: String,
        theme: Theme,
        keys: KeyMap,
        records: Vec<Record>,
        speed: Option<f64>,
    ) -> Self {
        let mut app = App::new(Source::Replay, title, theme, keys);
        let speed = speed.filter(|s| s.is_finite() && *s > 0.0);
        app.playback = Some(Playback {
            records,
            cursor: 0,
            clock: 0.0,
            speed,
            paused: false,
        });
        app
    }

    /// An overlay of finished runs.
    pub fn compare(
        title: String,
        theme: Theme,
        keys: KeyMap,
        runs: Vec<(String, Vec<Record>)>,
    ) -> Self {
        let mut app = App::new(Source::Compare, title, theme, keys);
        app.runs = runs
            .into_iter()
            .map(|(name, recs)| (name, RunState::from_records(&recs)))
            .collect();
        app.feed_ended = true;
        app
    }

    /// Applies an event from the feed and clears the requests it answers.
    pub fn apply(&mut self, rec: &Record) {
        match &rec.event {
            Event::Paused(_) => self.pending.pausing = false,
            Event::Resumed(_) => self.pending.resuming = false,
            Event::Checkpoint(_) => self.pending.checkpointing = false,
            Event::Finished(_) | Event::Failed(_) => {
                self.pending.pausing = false;
                self.pending.resuming = false;
                self.pending.checkpointing = false;
            }
            _ => {}
        }
        self.run.apply(rec);
    }

    /// Records a problem reported by the log reader.
    pub fn reader_problem(&mut self, msg: String) {
        let t = self.run.t;
        self.run.push_log(t, Level::Warn, msg);
    }

    /// The feed closed; returns the exit to take when the user was waiting for it.
    pub fn feed_closed(&mut self) -> Option<Effect> {
        self.feed_ended = true;
        self.pending.pausing = false;
        self.pending.resuming = false;
        self.pending.checkpointing = false;
        self.pending.stopping.map(|cp| {
            Effect::Exit(if cp {
                UiExit::QuitWithCheckpoint
            } else {
                UiExit::Quit
            })
        })
    }

    /// The status for the header.
    pub fn status(&self) -> Status {
        let r = &self.run;
        if r.failed.is_some() {
            Status::Failed
        } else if r.finished.is_some() {
            Status::Finished
        } else if self.pending.stopping.is_some() && !self.feed_ended {
            Status::Stopping
        } else if self.feed_ended && matches!(self.source, Source::Live | Source::Follow) {
            Status::Ended
        } else if self.pending.checkpointing {
            Status::Checkpointing
        } else if r.paused.is_some() {
            if self.pending.resuming {
                Status::Resuming
            } else {
                Status::Paused
            }
        } else if self.pending.pausing {
            Status::Pausing
        } else if r.warming_up() {
            Status::WarmingUp
        } else {
            Status::Running
        }
    }

    fn run_over(&self) -> bool {
        self.feed_ended || self.run.finished.is_some() || self.run.failed.is_some()
    }

    /// Handles a key press.
    pub fn on_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.flash = None;
        if is_interrupt(key) {
            return self.interrupt();
        }
        match self.overlay {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return Vec::new();
            }
            Overlay::ConfirmQuit => return self.confirm_key(key),
            Overlay::None => {}
        }
        match self.keys.action(key) {
            Some(a) => self.on_action(a),
            None => Vec::new(),
        }
    }

    /// Ctrl-C or a termination signal: checkpoint and quit without asking; a second one leaves at once.
    pub fn interrupt(&mut self) -> Vec<Effect> {
        if self.source != Source::Live || self.run_over() {
            return vec![Effect::Exit(self.leave_result())];
        }
        match self.pending.stopping {
            Some(cp) => vec![Effect::Exit(if cp {
                UiExit::QuitWithCheckpoint
            } else {
                UiExit::Quit
            })],
            None => {
                self.overlay = Overlay::None;
                self.pending.stopping = Some(true);
                vec![Effect::Send(Control::Stop { checkpoint: true })]
            }
        }
    }

    fn leave_result(&self) -> UiExit {
        if self.feed_ended || self.run.finished.is_some() || self.run.failed.is_some() {
            UiExit::FeedEnded
        } else {
            UiExit::Quit
        }
    }

    fn confirm_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let stop = |app: &mut App, checkpoint: bool| {
            app.overlay = Overlay::None;
            app.pending.stopping = Some(checkpoint);
            vec![Effect::Send(Control::Stop { checkpoint })]
        };
        match key.code {
            KeyCode::Char('c' | 'C') | KeyCode::Enter => stop(self, true),
            KeyCode::Char('y' | 'Y') => stop(self, false),
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                self.overlay = Overlay::None;
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Carries out an action.
    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let v = &mut self.view;
        match action {
            Action::Quit => return self.quit(),
            Action::Pause => return self.pause(),
            Action::Checkpoint => return self.checkpoint(),
            Action::Help => self.overlay = Overlay::Help,
            Action::XAxis => v.x = v.x.toggled(),
            Action::LogScale => v.log_loss = !v.log_loss,
            Action::Smooth => v.smooth = !v.smooth,
            Action::NextPanel => {
                v.panel = match v.panel {
                    Panel::Loss => Panel::Accuracy,
                    Panel::Accuracy => Panel::Noise,
                    Panel::Noise => Panel::Loss,
                }
            }
            Action::Layout => {
                v.layout = match v.layout {
                    LayoutChoice::Auto => LayoutChoice::Compact,
                    LayoutChoice::Compact => LayoutChoice::Full,
                    LayoutChoice::Full => LayoutChoice::Auto,
                }
            }
            Action::PanLeft => {
                let w = 0.5f64.powi(v.zoom as i32);
                v.pan = Some((v.pan.unwrap_or(1.0) - w / 4.0).max(w));
            }
            Action::PanRight => {
                let w = 0.5f64.powi(v.zoom as i32);
                let right = v.pan.unwrap_or(1.0) + w / 4.0;
                v.pan = (right < 1.0).then_some(right);
            }
            Action::ZoomIn => v.zoom = (v.zoom + 1).min(MAX_ZOOM),
            Action::ZoomOut => {
                v.zoom = v.zoom.saturating_sub(1);
                let w = 0.5f64.powi(v.zoom as i32);
                v.pan = v.pan.map(|p| p.max(w)).filter(|_| v.zoom > 0);
            }
            Action::ResetView => {
                v.zoom = 0;
                v.pan = None;
            }
            Action::SeekStart | Action::SeekEnd | Action::Faster | Action::Slower => {
                self.playback_action(action)
            }
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        if self.source != Source::Live || self.run_over() {
            return vec![Effect::Exit(self.leave_result())];
        }
        if self.pending.stopping.is_some() {
            // Asked twice while the trainer winds down: leave without waiting.
            return self.interrupt();
        }
        self.overlay = Overlay::ConfirmQuit;
        Vec::new()
    }

    fn pause(&mut self) -> Vec<Effect> {
        match self.source {
            Source::Live if self.run_over() => {
                self.flash = Some("the run has ended".into());
                Vec::new()
            }
            Source::Live if self.pending.stopping.is_some() => Vec::new(),
            Source::Live => {
                if self.run.paused.is_some() && !self.pending.resuming {
                    self.pending.resuming = true;
                    vec![Effect::Send(Control::Resume)]
                } else if self.run.paused.is_none() && !self.pending.pausing {
                    self.pending.pausing = true;
                    vec![Effect::Send(Control::Pause)]
                } else {
                    Vec::new()
                }
            }
            Source::Replay => {
                if let Some(p) = &mut self.playback {
                    p.paused = !p.paused;
                }
                Vec::new()
            }
            Source::Follow | Source::Compare => {
                self.flash = Some("read-only view: pause works in a live run".into());
                Vec::new()
            }
        }
    }

    fn checkpoint(&mut self) -> Vec<Effect> {
        match self.source {
            Source::Live if self.run_over() || self.pending.stopping.is_some() => {
                self.flash = Some("the run has ended".into());
                Vec::new()
            }
            Source::Live if self.pending.checkpointing => Vec::new(),
            Source::Live => {
                self.pending.checkpointing = true;
                vec![Effect::Send(Control::Checkpoint)]
            }
            _ => {
                self.flash = Some("read-only view: checkpoints are written by a live run".into());
                Vec::new()
            }
        }
    }

    fn playback_action(&mut self, action: Action) {
        let Some(p) = &mut self.playback else {
            self.flash = Some("seeking and speed work in replay".into());
            return;
        };
        match action {
            Action::SeekStart => {
                p.cursor = 0;
                p.clock = 0.0;
                self.run = RunState::default();
                self.feed_ended = false;
            }
            Action::SeekEnd => {
                let rest: Vec<Record> = p.records[p.cursor..].to_vec();
                p.cursor = p.records.len();
                p.clock = rest.last().map_or(p.clock, |r| r.t);
                for r in &rest {
                    self.run.apply(r);
                }
                self.feed_ended = true;
            }
            Action::Faster => p.speed = p.speed.map(|s| (s * 2.0).min(1e6)),
            Action::Slower => p.speed = Some(p.speed.map_or(1000.0, |s| (s / 2.0).max(0.125))),
            _ => {}
        }
        // Replayed runs never have requests pending; the seek above may have moved past them.
        self.pending = Pending::default();
    }

    /// Moves replay playback on by `dt` seconds of real time; true when records were applied.
    pub fn advance(&mut self, dt: f64) -> bool {
        let Some(p) = &mut self.playback else {
            return false;
        };
        if p.paused || p.done() {
            return false;
        }
        let start = p.cursor;
        match p.speed {
            None => {
                let end = (p.cursor + MAX_SPEED_CHUNK).min(p.records.len());
                for r in &p.records[p.cursor..end] {
                    self.run.apply(r);
                }
                p.cursor = end;
                p.clock = p.records.get(end.saturating_sub(1)).map_or(0.0, |r| r.t);
            }
            Some(speed) => {
                p.clock += dt.max(0.0) * speed;
                if let Some(next) = p.records.get(p.cursor) {
                    if next.t > p.clock + MAX_IDLE_GAP * speed {
                        p.clock = next.t;
                    }
                }
                while let Some(r) = p.records.get(p.cursor) {
                    if r.t > p.clock {
                        break;
                    }
                    self.run.apply(r);
                    p.cursor += 1;
                }
            }
        }
        if p.done() {
            self.feed_ended = true;
        }
        p.cursor != start
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::super::theme::{ColorMode, Theme};
    use super::*;
    use crate::events::{CheckpointEvent, PauseEvent};
    use ratatui::crossterm::event::KeyModifiers;

    fn live() -> App {
        let mut app = App::new(
            Source::Live,
            "t".into(),
            Theme::builtin("dark", ColorMode::None).unwrap(),
            KeyMap::default(),
        );
        for r in fixture::cut_at_update(&fixture::demo_records(), 50) {
            app.apply(&r);
        }
        app
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn pause_sends_pause_then_resume_after_the_event() {
        let mut app = live();
        assert_eq!(app.status(), Status::Running);
        assert_eq!(app.on_key(&key('p')), vec![Effect::Send(Control::Pause)]);
        assert_eq!(app.status(), Status::Pausing);
        assert_eq!(
            app.on_key(&key('p')),
            vec![],
            "no second request while waiting"
        );
        app.apply(&Record::new(
            9.0,
            Event::Paused(PauseEvent {
                update: 50,
                reason: "key".into(),
            }),
        ));
        assert_eq!(app.status(), Status::Paused);
        assert_eq!(app.on_key(&key('p')), vec![Effect::Send(Control::Resume)]);
        assert_eq!(app.status(), Status::Resuming);
        app.apply(&Record::new(
            10.0,
            Event::Resumed(PauseEvent {
                update: 50,
                reason: "key".into(),
            }),
        ));
        assert_eq!(app.status(), Status::Running);
    }

    #[test]
    fn checkpoint_key_waits_for_the_path() {
        let mut app = live();
        assert_eq!(
            app.on_key(&key('c')),
            vec![Effect::Send(Control::Checkpoint)]
        );
        assert_eq!(app.status(), Status::Checkpointing);
        app.apply(&Record::new(
            9.0,
            Event::Checkpoint(CheckpointEvent {
                path: "runs/x/checkpoints/0-50.safetensors".into(),
                epoch: 0,
                update: 50,
                reason: "key".into(),
            }),
        ));
        assert_eq!(app.status(), Status::Running);
        assert_eq!(app.run.checkpoint.as_ref().unwrap().update, 50);
    }

    #[test]
    fn quit_asks_then_stops_with_checkpoint_and_waits_for_the_trainer() {
        let mut app = live();
        assert_eq!(app.on_key(&key('q')), vec![]);
        assert_eq!(app.overlay, Overlay::ConfirmQuit);
        assert_eq!(
            app.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            vec![]
        );
        assert_eq!(app.overlay, Overlay::None);
        app.on_key(&key('q'));
        assert_eq!(
            app.on_key(&key('c')),
            vec![Effect::Send(Control::Stop { checkpoint: true })]
        );
        assert_eq!(app.status(), Status::Stopping);
        assert_eq!(
            app.feed_closed(),
            Some(Effect::Exit(UiExit::QuitWithCheckpoint))
        );
    }

    #[test]
    fn quit_without_checkpoint() {
        let mut app = live();
        app.on_key(&key('q'));
        assert_eq!(
            app.on_key(&key('y')),
            vec![Effect::Send(Control::Stop { checkpoint: false })]
        );
        assert_eq!(app.feed_closed(), Some(Effect::Exit(UiExit::Quit)));
    }

    #[test]
    fn ctrl_c_stops_with_checkpoint_at_once_and_twice_leaves() {
        let mut app = live();
        app.on_key(&key('?'));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            app.on_key(&ctrl_c),
            vec![Effect::Send(Control::Stop { checkpoint: true })]
        );
        assert_eq!(app.overlay, Overlay::None);
        assert_eq!(
            app.on_key(&ctrl_c),
            vec![Effect::Exit(UiExit::QuitWithCheckpoint)]
        );
    }

    #[test]
    fn after_the_run_ends_q_leaves_at_once() {
        let mut app = live();
        assert_eq!(app.feed_closed(), None);
        assert_eq!(app.status(), Status::Ended);
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::FeedEnded)]);
        assert_eq!(app.on_key(&key('p')), vec![]);
        assert!(app.flash.is_some());
    }

    #[test]
    fn read_only_views_never_send_controls() {
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let mut app = App::replay(
            "r".into(),
            theme,
            KeyMap::default(),
            fixture::demo_records(),
            Some(10.0),
        );
        for c in ['p', 'c', 'x', 'l', 's', '[', ']'] {
            assert_eq!(app.on_key(&key(c)), vec![]);
        }
        assert!(app.playback.as_ref().unwrap().paused);
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::Quit)]);
    }

    #[test]
    fn view_keys_toggle_and_pan_zoom_stays_in_range() {
        let mut app = live();
        app.on_key(&key('x'));
        app.on_key(&key('l'));
        app.on_key(&key('s'));
        assert_eq!(
            (app.view.x, app.view.log_loss, app.view.smooth),
            (XAxis::Epochs, true, false)
        );
        app.on_key(&key(']'));
        app.on_key(&key(']'));
        assert_eq!(app.view.window(0.0, 100.0), (75.0, 100.0));
        for _ in 0..20 {
            app.on_action(Action::PanLeft);
        }
        assert_eq!(app.view.window(0.0, 100.0), (0.0, 25.0));
        for _ in 0..20 {
            app.on_action(Action::PanRight);
        }
        assert_eq!(
            app.view.pan, None,
            "panning back to the end follows new points again"
        );
        app.on_action(Action::ZoomOut);
        app.on_action(Action::ZoomOut);
        app.on_action(Action::ZoomOut);
        assert_eq!(app.view.window(0.0, 100.0), (0.0, 100.0));
    }

    #[test]
    fn replay_follows_log_time_and_seeks() {
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let recs = fixture::demo_records();
        let last_t = recs.last().unwrap().t;
        let mut app = App::replay(
            "r".into(),
            theme,
            KeyMap::default(),
            recs.clone(),
            Some(1.0),
        );
        assert!(app.advance(0.0), "records at t=0 show at once");
        let first = app.run.records;
        assert!(first < recs.len() as u64);
        app.advance(5.0);
        let p = app.playback.as_ref().unwrap();
        assert!(recs[..p.cursor].iter().all(|r| r.t <= p.clock));
        app.on_action(Action::SeekEnd);
        assert_eq!(app.run.records, recs.len() as u64);
        assert!(app.feed_ended);
        assert_eq!(app.playback.as_ref().unwrap().clock, last_t);
        app.on_action(Action::SeekStart);
        assert_eq!(app.run.records, 0);
        let mut fast = App::replay(
            "r".into(),
            app.theme.clone(),
            KeyMap::default(),
            recs.clone(),
            None,
        );
        while fast.advance(0.0) {}
        assert_eq!(fast.run.records, recs.len() as u64);
        assert_eq!(fast.status(), Status::Finished);
    }
}
