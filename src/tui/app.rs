//! The UI's state: the source with its own state (see `mode`), the colours and the key map
//! (kept apart), view options, the popup in front, and the one-line flash; turns keys into
//! effects. Owns every decision about what a key does; must never draw, read the terminal or a
//! clock (the loop passes elapsed time in), so it is tested by feeding keys and events.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use crate::events::{Control, Record};

use super::board::{charts_per_page, BoardKey};
use super::keys::{is_interrupt, Action, KeyMap};
use super::mode::{Answer, Compare, Follow, Live, Logdir, Mode, Replay, Status};
use super::outcome::UiExit;
use super::theme::Theme;
use super::view::ViewOptions;
use crate::machine::MachineSample;
use crate::tboard::{ScalarUpdate, TagTable};

/// Said when a key meant for a live run's trainer is pressed elsewhere.
const NO_PAUSE: &str = "read-only view: pause works in a live run";
/// Said when the checkpoint key is pressed outside a live run.
const NO_CHECKPOINT: &str = "read-only view: checkpoints are written by a live run";
/// Said when a playback key is pressed outside a replay.
const NO_PLAYBACK: &str = "seeking and speed work in replay";

/// The popup in front of the panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    /// None.
    None,
    /// The key list.
    Help,
    /// "Stop training?" with checkpoint choice; only ever opened in a live run.
    ConfirmQuit,
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
    /// Title shown in the header.
    pub title: String,
    /// Colours and glyphs.
    pub theme: Theme,
    /// Which key does what.
    pub keys: KeyMap,
    /// How the curves are drawn.
    pub view: ViewOptions,
    /// A one-line message shown until the next key.
    pub flash: Option<String>,
    /// Ticks seen, for the spinner only.
    pub tick: u64,
    /// The size of the last frame drawn (columns, rows): the dashboard pages by what it fitted.
    pub screen: (u16, u16),
    mode: Mode,
    overlay: Overlay,
    /// The stop now asked for began with Ctrl-C (the process then exits 130).
    interrupted: bool,
    /// The terminal is gone: the UI leaves as soon as nothing more is waited for.
    terminal_gone: bool,
}

impl App {
    /// A UI over `mode`, with the default view and no popup.
    pub fn new(mode: Mode, title: String, theme: Theme, keys: KeyMap) -> Self {
        App {
            title,
            theme,
            keys,
            view: ViewOptions::default(),
            flash: None,
            tick: 0,
            screen: (0, 0),
            mode,
            overlay: Overlay::None,
            interrupted: false,
            terminal_gone: false,
        }
    }

    /// A live run with no events yet.
    pub fn live(title: String, theme: Theme, keys: KeyMap) -> Self {
        App::new(Mode::Live(Live::new()), title, theme, keys)
    }

    /// A followed log with no records yet.
    pub fn follow(title: String, theme: Theme, keys: KeyMap) -> Self {
        App::new(Mode::Follow(Follow::new()), title, theme, keys)
    }

    /// A replay of `records` at `speed` × real time (`None`: as fast as possible).
    pub fn replay(
        title: String,
        theme: Theme,
        keys: KeyMap,
        records: Vec<Record>,
        speed: Option<f64>,
    ) -> Self {
        App::new(
            Mode::Replay(Replay::new(records, speed)),
            title,
            theme,
            keys,
        )
    }

    /// An overlay of finished runs.
    pub fn compare(
        title: String,
        theme: Theme,
        keys: KeyMap,
        runs: Vec<(String, Vec<Record>)>,
    ) -> Self {
        App::new(Mode::Compare(Compare::new(runs)), title, theme, keys)
    }

    /// A TensorBoard logdir's dashboard, empty until the reader sends; `following` when it is
    /// watched live.
    pub fn logdir(
        title: String,
        theme: Theme,
        keys: KeyMap,
        table: TagTable,
        following: bool,
    ) -> Self {
        App::new(
            Mode::Logdir(Logdir::new(table, following)),
            title,
            theme,
            keys,
        )
    }

    /// Applies a change from a logdir's reader; other sources have none.
    pub fn apply_scalars(&mut self, u: ScalarUpdate) {
        if let Mode::Logdir(m) = &mut self.mode {
            m.apply(u);
        }
    }

    /// This machine's latest sample, for the dashboard's machine panel.
    pub fn machine(&mut self, sample: MachineSample) {
        if let Mode::Logdir(m) = &mut self.mode {
            m.machine(sample);
        }
    }

    /// Where the events come from, with that source's state.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The popup in front.
    pub fn overlay(&self) -> Overlay {
        self.overlay
    }

    /// The header's status; a comparison has none.
    pub fn status(&self) -> Option<Status> {
        self.mode.status()
    }

    /// Applies an event from the feed (see [`Mode::apply`]).
    pub fn apply(&mut self, rec: &Record) {
        self.mode.apply(rec);
    }

    /// Records a problem reported by the log reader.
    pub fn reader_problem(&mut self, msg: String) {
        self.mode.reader_problem(msg);
    }

    /// The feed closed; returns the exit to take when the user was waiting for it.
    pub fn feed_closed(&mut self) -> Option<Effect> {
        let exit = self.mode.feed_closed()?;
        Some(Effect::Exit(self.leaving_as(exit)))
    }

    /// How a stop the user asked for ends, given how it began: a lost terminal outranks Ctrl-C.
    fn leaving_as(&self, exit: UiExit) -> UiExit {
        match exit {
            _ if self.terminal_gone => UiExit::TerminalLost,
            UiExit::Quit | UiExit::QuitWithCheckpoint if self.interrupted => UiExit::Interrupted,
            other => other,
        }
    }

    /// The terminal went away (hang-up, a failed read or write): a live run is asked to
    /// checkpoint and stop, and the UI leaves once it has; every other view leaves at once.
    pub fn terminal_lost(&mut self) -> Vec<Effect> {
        self.terminal_gone = true;
        self.overlay = Overlay::None;
        match &mut self.mode {
            // A stop already asked for (with or without a checkpoint) is waited for as it is.
            Mode::Live(live) if !live.over() && live.pending().stopping.is_some() => Vec::new(),
            Mode::Live(live) if !live.over() => vec![Effect::Send(live.stop(true))],
            _ => vec![Effect::Exit(UiExit::TerminalLost)],
        }
    }

    /// Moves replay playback on by `dt` seconds of real time; true when records were applied.
    pub fn advance(&mut self, dt: f64) -> bool {
        self.mode.advance(dt)
    }

    /// Handles a key press.
    pub fn on_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.flash = None;
        if is_interrupt(key) {
            return self.ctrl_c();
        }
        match self.overlay {
            Overlay::Help => {
                self.overlay = Overlay::None;
                return Vec::new();
            }
            Overlay::ConfirmQuit => return self.confirm_key(key),
            Overlay::None => {}
        }
        if let Mode::Logdir(m) = &mut self.mode {
            let (w, h) = self.screen;
            let (view, board) = m.view_and_board();
            let per_page = charts_per_page(ratatui::layout::Rect::new(0, 0, w, h), board, view);
            match view.on_key(key, &self.keys, board, per_page) {
                BoardKey::Handled => return Vec::new(),
                BoardKey::Help => {
                    self.overlay = Overlay::Help;
                    return Vec::new();
                }
                BoardKey::Quit => return self.quit(),
                // The trainer's keys say why they do nothing here; the run views' keys do nothing.
                BoardKey::Ignored => {
                    return match self.keys.action(key) {
                        Some(a @ (Action::Pause | Action::Checkpoint)) => self.on_action(a),
                        _ => Vec::new(),
                    }
                }
            }
        }
        match self.keys.action(key) {
            Some(a) => self.on_action(a),
            None => Vec::new(),
        }
    }

    /// A termination signal: checkpoint and quit without asking; a second one leaves at once.
    pub fn interrupt(&mut self) -> Vec<Effect> {
        let already = match &self.mode {
            Mode::Live(live) if !live.over() => live.stop_exit(),
            mode => return vec![Effect::Exit(mode.exit())],
        };
        if let Some(exit) = already {
            return vec![Effect::Exit(self.leaving_as(exit))];
        }
        self.overlay = Overlay::None;
        match &mut self.mode {
            Mode::Live(live) => vec![Effect::Send(live.stop(true))],
            mode => vec![Effect::Exit(mode.exit())],
        }
    }

    /// Ctrl-C in a live run opens the quit question, as `q` does; Ctrl-C again checkpoints and
    /// stops without asking, and a third leaves without waiting. A stop begun with Ctrl-C ends
    /// the UI as [`UiExit::Interrupted`]. Other views leave at once.
    fn ctrl_c(&mut self) -> Vec<Effect> {
        match &self.mode {
            Mode::Live(live) if !live.over() => {
                if live.pending().stopping.is_some() || self.overlay == Overlay::ConfirmQuit {
                    self.interrupted = true;
                    return self.interrupt();
                }
                self.interrupted = true;
                self.overlay = Overlay::ConfirmQuit;
                Vec::new()
            }
            mode => vec![Effect::Exit(mode.exit())],
        }
    }

    fn confirm_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let checkpoint = match key.code {
            KeyCode::Char('c' | 'C') | KeyCode::Enter => true,
            KeyCode::Char('y' | 'Y') => false,
            KeyCode::Char('n' | 'N' | 'q') | KeyCode::Esc => {
                self.overlay = Overlay::None;
                self.interrupted = false;
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        self.overlay = Overlay::None;
        match &mut self.mode {
            Mode::Live(live) => vec![Effect::Send(live.stop(checkpoint))],
            // `quit` opens the question only in a live run, and a UI never changes its source.
            Mode::Follow(_) | Mode::Replay(_) | Mode::Compare(_) | Mode::Logdir(_) => Vec::new(),
        }
    }

    /// Carries out an action.
    pub fn on_action(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Quit => return self.quit(),
            Action::Pause => return self.pause(),
            Action::Checkpoint => return self.checkpoint(),
            Action::Help => self.overlay = Overlay::Help,
            Action::SeekStart => self.on_replay(Replay::seek_start),
            Action::SeekEnd => self.on_replay(Replay::seek_end),
            Action::Faster => self.on_replay(Replay::faster),
            Action::Slower => self.on_replay(Replay::slower),
            Action::XAxis
            | Action::LogScale
            | Action::Smooth
            | Action::NextPanel
            | Action::Layout
            | Action::PanLeft
            | Action::PanRight
            | Action::ZoomIn
            | Action::ZoomOut
            | Action::ResetView => self.view.apply(action),
        }
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        match &self.mode {
            Mode::Live(live) if !live.over() => {
                if live.pending().stopping.is_some() {
                    // Asked twice while the trainer winds down: leave without waiting.
                    return self.interrupt();
                }
                self.interrupted = false;
                self.overlay = Overlay::ConfirmQuit;
                Vec::new()
            }
            mode => vec![Effect::Exit(mode.exit())],
        }
    }

    fn pause(&mut self) -> Vec<Effect> {
        let answer = match &mut self.mode {
            Mode::Live(live) => live.pause(),
            Mode::Replay(replay) => {
                replay.toggle_pause();
                Ok(None)
            }
            Mode::Follow(_) | Mode::Compare(_) | Mode::Logdir(_) => Err(NO_PAUSE),
        };
        self.answer(answer)
    }

    fn checkpoint(&mut self) -> Vec<Effect> {
        let answer = match &mut self.mode {
            Mode::Live(live) => live.checkpoint(),
            Mode::Follow(_) | Mode::Replay(_) | Mode::Compare(_) | Mode::Logdir(_) => {
                Err(NO_CHECKPOINT)
            }
        };
        self.answer(answer)
    }

    fn on_replay(&mut self, act: fn(&mut Replay)) {
        match &mut self.mode {
            Mode::Replay(replay) => act(replay),
            Mode::Live(_) | Mode::Follow(_) | Mode::Compare(_) | Mode::Logdir(_) => {
                self.flash = Some(NO_PLAYBACK.into())
            }
        }
    }

    fn answer(&mut self, answer: Answer) -> Vec<Effect> {
        match answer {
            Ok(command) => command.map(Effect::Send).into_iter().collect(),
            Err(why) => {
                self.flash = Some(why.into());
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::super::mode::Controls;
    use super::super::theme::ColorMode;
    use super::*;
    use crate::events::{CheckpointEvent, Event, PauseEvent};
    use crate::series::XAxis;
    use crate::tboard::{ScalarUpdate, TagTable};
    use ratatui::crossterm::event::KeyModifiers;

    fn theme() -> Theme {
        Theme::builtin("dark", ColorMode::None).unwrap()
    }

    fn live() -> App {
        let mut app = App::live("t".into(), theme(), KeyMap::default());
        for r in fixture::cut_at_update(&fixture::demo_records(), 50) {
            app.apply(&r);
        }
        app
    }

    fn replay(speed: Option<f64>) -> App {
        App::replay(
            "r".into(),
            theme(),
            KeyMap::default(),
            fixture::demo_records(),
            speed,
        )
    }

    fn run(app: &App) -> &crate::tui::state::RunState {
        app.mode().run().expect("one run shown")
    }

    fn playback(app: &App) -> &crate::tui::mode::Playback {
        match app.mode() {
            Mode::Replay(r) => r.playback(),
            other => panic!("not a replay: {other:?}"),
        }
    }

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn pause_sends_pause_then_resume_after_the_event() {
        let mut app = live();
        assert_eq!(app.status(), Some(Status::Running));
        assert_eq!(app.on_key(&key('p')), vec![Effect::Send(Control::Pause)]);
        assert_eq!(app.status(), Some(Status::Pausing));
        assert_eq!(
            app.on_key(&key('p')),
            vec![],
            "no second request while waiting"
        );
        app.apply(&Record::new(
            9.0,
            Event::Paused(PauseEvent {
                update: 50,
                reason: crate::events::PauseReason::Key,
            }),
        ));
        assert_eq!(app.status(), Some(Status::Paused));
        assert_eq!(app.on_key(&key('p')), vec![Effect::Send(Control::Resume)]);
        assert_eq!(app.status(), Some(Status::Resuming));
        app.apply(&Record::new(
            10.0,
            Event::Resumed(PauseEvent {
                update: 50,
                reason: crate::events::PauseReason::Key,
            }),
        ));
        assert_eq!(app.status(), Some(Status::Running));
    }

    #[test]
    fn checkpoint_key_waits_for_the_path() {
        let mut app = live();
        assert_eq!(
            app.on_key(&key('c')),
            vec![Effect::Send(Control::Checkpoint)]
        );
        assert_eq!(app.status(), Some(Status::Checkpointing));
        assert_eq!(app.on_key(&key('c')), vec![], "one request at a time");
        app.apply(&Record::new(
            9.0,
            Event::Checkpoint(CheckpointEvent {
                path: "runs/x/checkpoints/0-50.safetensors".into(),
                epoch: 0,
                update: 50,
                reason: crate::events::CheckpointReason::Key,
            }),
        ));
        assert_eq!(app.status(), Some(Status::Running));
        assert_eq!(run(&app).log.checkpoint.as_ref().unwrap().update, 50);
    }

    #[test]
    fn quit_asks_then_stops_with_checkpoint_and_waits_for_the_trainer() {
        let mut app = live();
        assert_eq!(app.on_key(&key('q')), vec![]);
        assert_eq!(app.overlay(), Overlay::ConfirmQuit);
        assert_eq!(
            app.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            vec![]
        );
        assert_eq!(app.overlay(), Overlay::None);
        app.on_key(&key('q'));
        assert_eq!(app.on_key(&key('x')), vec![], "other keys keep asking");
        assert_eq!(app.overlay(), Overlay::ConfirmQuit);
        assert_eq!(
            app.on_key(&key('c')),
            vec![Effect::Send(Control::Stop { checkpoint: true })]
        );
        assert_eq!(app.status(), Some(Status::Stopping));
        assert_eq!(
            app.on_key(&key('p')),
            vec![],
            "nothing more asked while stopping"
        );
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
    fn quit_twice_while_stopping_leaves_at_once() {
        let mut app = live();
        app.on_key(&key('q'));
        app.on_key(&key('y'));
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::Quit)]);
    }

    #[test]
    fn ctrl_c_asks_then_stops_with_checkpoint_as_an_interrupt_and_a_third_leaves() {
        let mut app = live();
        app.on_key(&key('?'));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(&ctrl_c), vec![]);
        assert_eq!(app.overlay(), Overlay::ConfirmQuit, "the quit question");
        assert_eq!(
            app.on_key(&ctrl_c),
            vec![Effect::Send(Control::Stop { checkpoint: true })]
        );
        assert_eq!(app.overlay(), Overlay::None);
        assert_eq!(
            app.on_key(&ctrl_c),
            vec![Effect::Exit(UiExit::Interrupted)],
            "a third leaves without waiting"
        );
        let mut app = live();
        app.on_key(&ctrl_c);
        app.on_key(&ctrl_c);
        assert_eq!(
            app.feed_closed(),
            Some(Effect::Exit(UiExit::Interrupted)),
            "the stop began with ctrl-c"
        );
    }

    #[test]
    fn ctrl_c_then_keep_training_forgets_the_interrupt() {
        let mut app = live();
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        app.on_key(&ctrl_c);
        app.on_key(&key('n'));
        assert_eq!(app.overlay(), Overlay::None);
        app.on_key(&key('q'));
        app.on_key(&key('c'));
        assert_eq!(
            app.feed_closed(),
            Some(Effect::Exit(UiExit::QuitWithCheckpoint))
        );
        // Ctrl-C opened the question and the answer was given there: still an interrupt.
        let mut app = live();
        app.on_key(&ctrl_c);
        app.on_key(&key('c'));
        assert_eq!(app.feed_closed(), Some(Effect::Exit(UiExit::Interrupted)));
    }

    #[test]
    fn a_lost_terminal_stops_a_live_run_with_a_checkpoint_and_leaves_other_views() {
        let mut app = live();
        app.on_key(&key('q'));
        assert_eq!(
            app.terminal_lost(),
            vec![Effect::Send(Control::Stop { checkpoint: true })]
        );
        assert_eq!(
            app.overlay(),
            Overlay::None,
            "no question nobody can answer"
        );
        assert_eq!(app.feed_closed(), Some(Effect::Exit(UiExit::TerminalLost)));
        // A stop already asked for is waited for, and still ends as a lost terminal.
        let mut app = live();
        app.on_key(&key('q'));
        app.on_key(&key('y'));
        assert_eq!(app.terminal_lost(), vec![]);
        assert_eq!(app.feed_closed(), Some(Effect::Exit(UiExit::TerminalLost)));
        // A finished run, a replay: nothing to wait for.
        let mut app = live();
        assert_eq!(app.feed_closed(), None);
        assert_eq!(
            app.terminal_lost(),
            vec![Effect::Exit(UiExit::TerminalLost)]
        );
        let mut app = replay(Some(1.0));
        assert_eq!(
            app.terminal_lost(),
            vec![Effect::Exit(UiExit::TerminalLost)]
        );
    }

    #[test]
    fn after_the_run_ends_q_leaves_at_once() {
        let mut app = live();
        assert_eq!(app.feed_closed(), None);
        assert_eq!(app.status(), Some(Status::Ended));
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::FeedEnded)]);
        assert_eq!(app.on_key(&key('p')), vec![]);
        assert_eq!(app.flash.as_deref(), Some("the run has ended"));
        assert_eq!(app.on_key(&key('c')), vec![]);
        assert_eq!(app.flash.as_deref(), Some("the run has ended"));
    }

    #[test]
    fn read_only_views_never_send_controls() {
        let mut app = replay(Some(10.0));
        for c in ['p', 'c', 'x', 'l', 's', '[', ']'] {
            assert_eq!(app.on_key(&key(c)), vec![]);
        }
        assert!(playback(&app).paused());
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::Quit)]);
        assert_eq!(
            app.overlay(),
            Overlay::None,
            "only a live run asks before stopping"
        );
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
        let recs = fixture::demo_records();
        let last_t = recs.last().unwrap().t;
        let mut app = replay(Some(1.0));
        assert!(app.advance(0.0), "records at t=0 show at once");
        let first = run(&app).progress.records;
        assert!(first < recs.len() as u64);
        app.advance(5.0);
        let p = playback(&app);
        assert!(recs[..p.cursor()].iter().all(|r| r.t <= p.clock()));
        app.on_action(Action::SeekEnd);
        assert_eq!(run(&app).progress.records, recs.len() as u64);
        assert!(app.mode().over());
        assert_eq!(playback(&app).clock(), last_t);
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::FeedEnded)]);
        app.on_action(Action::SeekStart);
        assert_eq!(run(&app).progress.records, 0);
        assert!(!app.mode().over(), "seeking back starts the replay over");
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::Quit)]);
        let mut fast = replay(None);
        while fast.advance(0.0) {}
        assert_eq!(run(&fast).progress.records, recs.len() as u64);
        assert_eq!(fast.status(), Some(Status::Finished));
    }

    #[test]
    fn an_empty_replay_is_over_at_once() {
        let mut app = App::replay("r".into(), theme(), KeyMap::default(), Vec::new(), None);
        assert!(!app.advance(0.0));
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::FeedEnded)]);
    }

    #[test]
    fn playback_keys_outside_a_replay_only_say_so() {
        for mut app in [live(), App::follow("f".into(), theme(), KeyMap::default())] {
            for a in [
                Action::SeekStart,
                Action::SeekEnd,
                Action::Faster,
                Action::Slower,
            ] {
                assert_eq!(app.on_action(a), vec![]);
                assert_eq!(app.flash.as_deref(), Some(NO_PLAYBACK));
            }
        }
    }

    #[test]
    fn a_followed_log_ends_and_stays_read_only() {
        let mut app = App::follow("f".into(), theme(), KeyMap::default());
        for r in fixture::cut_at_update(&fixture::demo_records(), 30) {
            app.apply(&r);
        }
        app.reader_problem("line 40: not JSON, skipped".into());
        assert_eq!(app.mode().controls(), Controls::ReadOnly);
        assert_eq!(app.status(), Some(Status::Running));
        assert_eq!(app.on_key(&key('p')), vec![]);
        assert_eq!(app.flash.as_deref(), Some(NO_PAUSE));
        assert_eq!(app.on_key(&key('c')), vec![]);
        assert_eq!(app.flash.as_deref(), Some(NO_CHECKPOINT));
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::Quit)]);
        assert_eq!(app.feed_closed(), None, "nobody was waiting for the end");
        assert_eq!(app.status(), Some(Status::Ended));
        assert!(run(&app).log.iter().any(|l| l.text.contains("not JSON")));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(&ctrl_c), vec![Effect::Exit(UiExit::FeedEnded)]);
    }

    #[test]
    fn a_comparison_has_no_status_and_leaves_at_once() {
        let runs = vec![
            ("a".to_string(), fixture::demo_records()),
            ("b".to_string(), fixture::decay_lr_records()),
        ];
        let mut app = App::compare("c".into(), theme(), KeyMap::default(), runs);
        assert_eq!(app.status(), None);
        assert!(app.mode().run().is_none());
        assert!(!app.advance(1.0));
        assert_eq!(app.on_key(&key('p')), vec![]);
        assert_eq!(app.flash.as_deref(), Some(NO_PAUSE));
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::FeedEnded)]);
    }

    fn scalars(tag: &str, steps: std::ops::Range<i64>) -> ScalarUpdate {
        ScalarUpdate::Points {
            run: ".".into(),
            tag: tag.into(),
            points: steps
                .map(|s| crate::series::Point {
                    step: s,
                    wall_time: 1.7e9 + s as f64,
                    value: s as f64,
                })
                .collect(),
            more: false,
        }
    }

    fn board(app: &App) -> &crate::tui::mode::Logdir {
        match app.mode() {
            Mode::Logdir(m) => m,
            other => panic!("not a logdir: {other:?}"),
        }
    }

    #[test]
    fn a_logdir_dashboard_takes_its_keys_and_leaves_at_once() {
        let mut app = App::logdir(
            "l".into(),
            theme(),
            KeyMap::default(),
            TagTable::default(),
            true,
        );
        app.screen = (120, 34);
        for tag in ["train/loss", "train/acc", "val/loss", "lr"] {
            app.apply_scalars(scalars(tag, 0..10));
        }
        app.apply_scalars(ScalarUpdate::Polled { polls: 1 });
        assert_eq!(app.mode().controls(), Controls::ReadOnly);
        assert_eq!(app.status(), None, "the dashboard says how reading stands");
        // While the filter is typed, q is a letter.
        app.on_key(&key('/'));
        assert_eq!(app.on_key(&key('q')), vec![]);
        assert_eq!(board(&app).view.filter, "q");
        app.on_key(&KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
        assert!(!board(&app).view.editing && board(&app).view.filter.is_empty());
        app.on_key(&key('x'));
        assert_eq!(board(&app).view.chart.x, crate::tui::board::XMode::Relative);
        assert_eq!(app.on_key(&key('p')), vec![]);
        assert_eq!(app.flash.as_deref(), Some(NO_PAUSE));
        app.on_key(&key('?'));
        assert_eq!(app.overlay(), Overlay::Help);
        app.on_key(&key('j'));
        assert_eq!(app.overlay(), Overlay::None, "any key closes the help");
        assert_eq!(board(&app).board().point_count(), 40);
        // Following: quitting is leaving; once the reader has stopped, the feed has ended.
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::Quit)]);
        assert_eq!(app.feed_closed(), None);
        assert_eq!(app.on_key(&key('q')), vec![Effect::Exit(UiExit::FeedEnded)]);
        // Other sources ignore scalars.
        let mut other = live();
        other.apply_scalars(scalars("x", 0..3));
        other.machine(crate::machine::fake::no_gpu());
    }

    #[test]
    fn feed_events_reach_only_the_sources_that_have_a_feed() {
        let recs = fixture::cut_at_update(&fixture::demo_records(), 10);
        let mut app = replay(Some(1.0));
        for r in &recs {
            app.apply(r);
        }
        app.reader_problem("ignored".into());
        assert_eq!(app.feed_closed(), None);
        assert_eq!(
            run(&app).progress.records,
            0,
            "a replay shows only what it has played"
        );
    }
}
