//! The main loop: one `select!` over terminal input, the feed, a 10 Hz ticker and a shutdown
//! request; drains every pending event before drawing; redraws only when something changed: at
//! once for a key or a resize, at most four times a second for a run's events, ten for replay.
//! Owns the threads and channels of a UI session; must never block on the trainer (commands are
//! sent with a timeout, events are only received).

use std::io::{stdout, BufWriter, Write};
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, tick, Receiver, Sender};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};

use super::app::{App, Effect};
use super::input::{is_terminal_gone, Input, InputReader};
use super::keys::KeyMap;
use super::mode::{Mode, Status};
use super::outcome::{TuiError, UiExit};
use super::terminal::TerminalGuard;
use super::theme::{ColorMode, Theme, ThemeFile};
use super::{ui, Feed, UiOptions};
use crate::events::{Control, Record};
use crate::machine::MachineSample;
use crate::tboard::ScalarUpdate;

/// The ticker period, and the least time between frames of a replay.
pub const FRAME: Duration = Duration::from_millis(100);
/// The least time between frames that a live or followed run's events cause. Four a second keeps
/// the numbers and curves current; laying out and drawing a frame costs the same however little
/// changed, so this is 2.5× less drawing than ten (`cargo bench --bench tui`). Keys and resizes
/// still redraw at once.
pub const DATA_FRAME: Duration = Duration::from_millis(250);
/// Events applied per loop turn at most, so keys stay responsive under a flood.
const DRAIN_LIMIT: usize = 50_000;
/// A logdir reader's messages applied per loop turn at most: each holds up to
/// `tboard::CHUNK` points, so this is about a million points between two looks at the keys.
const SCALAR_DRAIN_LIMIT: usize = 128;
/// How long a command to the trainer may wait for room in its channel.
const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// The feed split into the channels the loop selects on.
pub(crate) struct Channels {
    live: Receiver<Record>,
    follow: Receiver<Result<Record, String>>,
    scalars: Receiver<ScalarUpdate>,
    machine: Receiver<MachineSample>,
    control: Option<Sender<Control>>,
}

impl Channels {
    fn events(live: Receiver<Record>, follow: Receiver<Result<Record, String>>) -> Self {
        Channels {
            live,
            follow,
            scalars: never(),
            machine: never(),
            control: None,
        }
    }
}

/// Builds the app state and channels for a feed.
pub(crate) fn prepare(feed: Feed, title: String, theme: Theme, keys: KeyMap) -> (App, Channels) {
    match feed {
        Feed::Live { events, control } => (
            App::live(title, theme, keys),
            Channels {
                control: Some(control),
                ..Channels::events(events, never())
            },
        ),
        Feed::Follow { events } => (
            App::follow(title, theme, keys),
            Channels::events(never(), events),
        ),
        Feed::Replay { records, speed } => (
            App::replay(title, theme, keys, records, speed),
            Channels::events(never(), never()),
        ),
        Feed::Compare { runs } => (
            App::compare(title, theme, keys, runs),
            Channels::events(never(), never()),
        ),
        Feed::Logdir {
            updates,
            table,
            following,
            machine,
        } => (
            App::logdir(title, theme, keys, table, following),
            Channels {
                scalars: updates,
                machine,
                ..Channels::events(never(), never())
            },
        ),
    }
}

/// Runs the UI on the real terminal.
pub(crate) fn run_terminal(
    feed: Feed,
    opts: UiOptions,
    shutdown: Receiver<()>,
) -> Result<UiExit, TuiError> {
    // One read of the file gives both: its colours and, apart from them, its key bindings.
    let file = ThemeFile::load(opts.theme.as_deref())?;
    let theme = file.theme(ColorMode::from_env())?;
    let keys = file.keys()?;
    let (mut app, channels) = prepare(feed, opts.title, theme, keys);
    let guard = TerminalGuard::enter()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(frame_buffer(stdout()))).map_err(TuiError::Terminal)?;
    clear(&mut terminal)?;
    let result = on_ui_thread(|| {
        let input = InputReader::spawn().map_err(TuiError::Terminal)?;
        event_loop(
            &mut terminal,
            &mut app,
            channels,
            input.receiver(),
            shutdown,
        )
    });
    if leave(terminal, &result) {
        guard.forget_gone_terminal();
    }
    drop(guard);
    result
}

/// Runs the UI drawing into `writer` as a terminal of `cols` × `rows` that the caller owns; reads
/// no keys, so it leaves on a `shutdown` message (or when a live run asked to stop has ended), and
/// its hints name the default bindings.
pub(crate) fn run_writer<W: Write + Send>(
    feed: Feed,
    theme: Theme,
    title: String,
    writer: W,
    (cols, rows): (u16, u16),
    shutdown: Receiver<()>,
) -> Result<UiExit, TuiError> {
    let (mut app, channels) = prepare(feed, title, theme, KeyMap::default());
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(frame_buffer(writer)),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, cols, rows)),
        },
    )
    .map_err(TuiError::Terminal)?;
    clear(&mut terminal)?;
    let result = on_ui_thread(|| event_loop(&mut terminal, &mut app, channels, never(), shutdown));
    leave(terminal, &result);
    result
}

/// Drops the terminal after the loop; true when it is gone. Nothing more is written to a
/// terminal that is gone, not even what is left in the frame buffer: ratatui's drop would show
/// the cursor and, failing, `eprintln!` to what may be that same dead terminal, which panics.
fn leave<B: Backend>(terminal: Terminal<B>, result: &Result<UiExit, TuiError>) -> bool {
    let gone = match result {
        Ok(exit) => *exit == UiExit::TerminalLost,
        Err(TuiError::Terminal(e)) => is_terminal_gone(e),
        Err(_) => false,
    };
    if gone {
        std::mem::forget(terminal);
    }
    gone
}

/// Clears the screen before the first frame; a terminal already gone is left to the loop, whose
/// first frame then fails and stops a live run as a lost terminal must.
fn clear<B: Backend>(terminal: &mut Terminal<B>) -> Result<(), TuiError> {
    match terminal.clear() {
        Err(e) if !is_terminal_gone(&e) => Err(TuiError::Terminal(e)),
        _ => Ok(()),
    }
}

/// Collects a frame's escape sequences into one write. Unbuffered (a pseudo-terminal handed in as
/// a writer), every cursor move and colour change is its own system call: two thirds of the UI
/// thread's time went to tty writes (`cargo bench --bench ui_overhead`). Standard output's own
/// line buffer holds 1 kB, so a frame went out in pieces there too, and a terminal over a slow
/// SSH link could show half a frame.
fn frame_buffer<W: Write>(writer: W) -> BufWriter<W> {
    BufWriter::with_capacity(FRAME_BUFFER_BYTES, writer)
}

/// Room for a whole frame of a large terminal; a bigger one just takes more than one write.
const FRAME_BUFFER_BYTES: usize = 64 * 1024;

/// Runs `body` on a thread of its own at the lowest priority, so that drawing never takes a core
/// from training (a thread's nice value cannot be raised back without privileges, hence a thread
/// rather than lowering the caller). Threads it starts (the input reader) inherit the priority.
fn on_ui_thread<T: Send>(body: impl FnOnce() -> Result<T, TuiError> + Send) -> Result<T, TuiError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("tui".into())
            .spawn_scoped(scope, || {
                yield_cpu_to_training();
                body()
            })
            .map_err(TuiError::Terminal)?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Gives the calling thread the lowest scheduling priority (nice 19), where the OS allows it.
///
/// On Linux a nice value applies to one thread. The UI needs about 1% of one core (see
/// `cargo bench --bench tui`), which it still gets under full load; what changes is that the
/// scheduler no longer lets a waking UI thread preempt a training thread, which on a machine
/// whose every core trains would stall all of them at the next synchronisation point.
fn yield_cpu_to_training() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread's own id; failure only leaves the priority as it was.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}

/// The loop itself, over any backend and input source (tests drive it with a `TestBackend`).
pub(crate) fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    channels: Channels,
    mut input: Receiver<Input>,
    mut shutdown: Receiver<()>,
) -> Result<UiExit, TuiError> {
    let Channels {
        mut live,
        mut follow,
        mut scalars,
        mut machine,
        control,
    } = channels;
    let ticker = tick(FRAME);
    // A running process's events arrive in floods; a replay paces itself by the ticker.
    let frame_gap = match app.mode() {
        Mode::Live(_) | Mode::Follow(_) | Mode::Logdir(_) => DATA_FRAME,
        Mode::Replay(_) | Mode::Compare(_) => FRAME,
    };
    let mut dirty = true;
    let mut draw_now = true;
    let mut last_draw: Option<Instant> = None;
    let mut last_tick = Instant::now();
    // Set once the terminal is gone: from then on nothing is drawn, and the loop only waits for
    // a live run's trainer to write its checkpoint and stop.
    let mut gone = false;
    app.advance(0.0);
    loop {
        let mut effects = Vec::new();
        if !gone && dirty && (draw_now || last_draw.is_none_or(|t| t.elapsed() >= frame_gap)) {
            if let Ok(size) = terminal.size() {
                app.screen = (size.width, size.height);
            }
            match terminal.draw(|f| ui::draw(f, app)) {
                Ok(_) => {}
                Err(e) if is_terminal_gone(&e) => {
                    gone = true;
                    input = never();
                    effects = app.terminal_lost();
                }
                Err(e) => return Err(TuiError::Terminal(e)),
            }
            last_draw = Some(Instant::now());
            dirty = false;
            draw_now = false;
        }
        if effects.is_empty() {
            select! {
            recv(input) -> ev => match ev {
                Ok(Input::Key(k)) => {
                    effects = app.on_key(&k);
                    dirty = true;
                    draw_now = true;
                }
                Ok(Input::Resize) => {
                    dirty = true;
                    draw_now = true;
                }
                Ok(Input::Lost(_)) | Err(_) => {
                    // A dead terminal is an end, never retried: stop reading and drawing.
                    gone = true;
                    input = never();
                    effects = app.terminal_lost();
                }
            },
            recv(live) -> r => match r {
                Ok(rec) => {
                    app.apply(&rec);
                    for rec in live.try_iter().take(DRAIN_LIMIT) {
                        app.apply(&rec);
                    }
                    dirty = true;
                }
                Err(_) => {
                    live = never();
                    effects.extend(app.feed_closed());
                    dirty = true;
                }
            },
            recv(follow) -> r => match r {
                Ok(first) => {
                    for item in std::iter::once(first).chain(follow.try_iter().take(DRAIN_LIMIT)) {
                        match item {
                            Ok(rec) => app.apply(&rec),
                            Err(msg) => app.reader_problem(msg),
                        }
                    }
                    dirty = true;
                }
                Err(_) => {
                    follow = never();
                    effects.extend(app.feed_closed());
                    dirty = true;
                }
            },
            recv(scalars) -> r => match r {
                Ok(first) => {
                    app.apply_scalars(first);
                    for u in scalars.try_iter().take(SCALAR_DRAIN_LIMIT) {
                        app.apply_scalars(u);
                    }
                    dirty = true;
                }
                Err(_) => {
                    scalars = never();
                    effects.extend(app.feed_closed());
                    dirty = true;
                }
            },
            recv(machine) -> r => match r {
                Ok(sample) => {
                    app.machine(sample);
                    dirty = true;
                }
                // A sampler that stopped leaves the last sample shown.
                Err(_) => machine = never(),
            },
            recv(ticker) -> _ => {
                let now = Instant::now();
                let dt = now.duration_since(last_tick).as_secs_f64();
                last_tick = now;
                if app.advance(dt) {
                    dirty = true;
                }
                if app.status() == Some(Status::WarmingUp) {
                    app.tick += 1;
                    dirty = true;
                }
            },
            recv(shutdown) -> r => {
                shutdown = never();
                if r.is_ok() {
                    effects = app.interrupt();
                    dirty = true;
                }
            },
            }
        }
        for e in effects {
            match e {
                Effect::Send(c) => {
                    if let Some(tx) = &control {
                        // A trainer that is gone closes the event channel too; the loop notices there.
                        let _ = tx.send_timeout(c, SEND_TIMEOUT);
                    }
                }
                Effect::Exit(x) => {
                    if !gone && x != UiExit::TerminalLost {
                        // Show the final state once before leaving (the caller may keep the
                        // screen); a terminal that fails now is no reason to fail the exit.
                        match terminal.draw(|f| ui::draw(f, app)) {
                            Err(e) if is_terminal_gone(&e) => return Ok(UiExit::TerminalLost),
                            Err(e) => return Err(TuiError::Terminal(e)),
                            Ok(_) => {}
                        }
                    }
                    return Ok(x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use super::*;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use std::sync::Arc;
    use std::thread::JoinHandle;

    fn key(c: char) -> Input {
        Input::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    /// A fake trainer: sends part of the fixture, then obeys controls until told to stop.
    fn trainer(events: Sender<Record>, control: Receiver<Control>) -> JoinHandle<Vec<Control>> {
        std::thread::spawn(move || {
            let recs = fixture::cut_at_update(&fixture::demo_records(), 200);
            let t = recs.last().unwrap().t;
            for r in recs {
                events.send(r).unwrap();
            }
            let mut seen = Vec::new();
            while let Ok(c) = control.recv() {
                seen.push(c.clone());
                if let Control::Stop { checkpoint } = c {
                    if checkpoint {
                        let ev = crate::events::Event::Checkpoint(crate::events::CheckpointEvent {
                            path: "ck.safetensors".into(),
                            epoch: 0,
                            update: 200,
                            reason: crate::events::CheckpointReason::Interrupt,
                        });
                        events.send(Record::new(t + 1.0, ev)).unwrap();
                    }
                    break;
                }
            }
            seen
        })
    }

    fn live_setup() -> (App, Channels, JoinHandle<Vec<Control>>) {
        let (etx, erx) = crossbeam_channel::bounded(10_000);
        let (ctx, crx) = crossbeam_channel::unbounded();
        let handle = trainer(etx, crx);
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let (app, ch) = prepare(
            Feed::Live {
                events: erx,
                control: ctx,
            },
            "test".into(),
            theme,
            KeyMap::default(),
        );
        (app, ch, handle)
    }

    #[test]
    fn q_then_c_stops_the_trainer_and_waits_for_its_last_events() {
        let (mut app, ch, handle) = live_setup();
        let (itx, irx) = crossbeam_channel::unbounded();
        for c in ['p', 'q', 'c'] {
            itx.send(key(c)).unwrap();
        }
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        assert_eq!(exit, UiExit::QuitWithCheckpoint);
        assert_eq!(
            handle.join().unwrap(),
            vec![Control::Pause, Control::Stop { checkpoint: true }]
        );
        assert_eq!(
            app.mode()
                .run()
                .unwrap()
                .log
                .checkpoint
                .as_ref()
                .unwrap()
                .path,
            "ck.safetensors",
            "final events shown"
        );
        let screen = ui::buffer_text(term.backend().buffer());
        assert!(screen.contains("ck.safetensors"), "{screen}");
    }

    #[test]
    fn shutdown_request_acts_like_ctrl_c() {
        let (mut app, ch, handle) = live_setup();
        let (stx, srx) = crossbeam_channel::bounded(1);
        stx.send(()).unwrap();
        let (_itx, irx) = crossbeam_channel::unbounded();
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let exit = event_loop(&mut term, &mut app, ch, irx, srx).unwrap();
        assert_eq!(exit, UiExit::QuitWithCheckpoint);
        assert_eq!(
            handle.join().unwrap(),
            vec![Control::Stop { checkpoint: true }]
        );
    }

    #[test]
    fn a_lost_terminal_stops_the_trainer_with_a_checkpoint_then_leaves_as_lost() {
        let (mut app, ch, handle) = live_setup();
        let (itx, irx) = crossbeam_channel::unbounded();
        itx.send(Input::Lost(std::io::Error::from_raw_os_error(libc::EIO)))
            .unwrap();
        let mut term = Terminal::new(TestBackend::new(100, 30)).unwrap();
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        assert_eq!(exit, UiExit::TerminalLost);
        assert_eq!(
            handle.join().unwrap(),
            vec![Control::Stop { checkpoint: true }]
        );
        // The reader's end (its sender dropped) means the same as a reported loss.
        let (mut app, ch, handle) = live_setup();
        let (itx, irx) = crossbeam_channel::unbounded::<Input>();
        drop(itx);
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        assert_eq!(exit, UiExit::TerminalLost);
        assert_eq!(
            handle.join().unwrap(),
            vec![Control::Stop { checkpoint: true }]
        );
    }

    /// A terminal that fails every write with EIO after `ok` writes, counting the attempts.
    #[derive(Clone)]
    struct Dying {
        ok: usize,
        writes: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for Dying {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n < self.ok {
                Ok(buf.len())
            } else {
                Err(std::io::Error::from_raw_os_error(libc::EIO))
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_terminal_failing_to_draw_is_never_drawn_to_again_and_the_run_stops() {
        let (etx, erx) = crossbeam_channel::unbounded();
        let (ctx, crx) = crossbeam_channel::unbounded();
        let handle = trainer(etx, crx);
        let writes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let out = Dying {
            ok: 2,
            writes: writes.clone(),
        };
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let feed = Feed::Live {
            events: erx,
            control: ctx,
        };
        let exit = run_writer(feed, theme, "dying".into(), out, (100, 30), never()).unwrap();
        assert_eq!(exit, UiExit::TerminalLost);
        assert_eq!(
            handle.join().unwrap(),
            vec![Control::Stop { checkpoint: true }]
        );
        // The clear and the first frame, then the failing frame (its cells, then its cursor
        // flush): nothing after it, though the trainer took a while to stop.
        let tried = writes.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            tried <= 4,
            "{tried} writes: the dead terminal was written to again"
        );
    }

    #[test]
    fn views_without_a_trainer_leave_at_once_when_the_terminal_is_lost() {
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let feed = Feed::Replay {
            records: fixture::demo_records(),
            speed: Some(1.0),
        };
        let (mut app, ch) = prepare(feed, "replay".into(), theme, KeyMap::default());
        let (itx, irx) = crossbeam_channel::unbounded();
        itx.send(Input::Lost(std::io::Error::from_raw_os_error(libc::ENXIO)))
            .unwrap();
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        assert_eq!(exit, UiExit::TerminalLost);
    }

    /// A terminal stand-in that keeps what is written.
    #[derive(Clone, Default)]
    struct Recorder {
        bytes: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flood_of_live_events_redraws_at_most_four_times_a_second() {
        let (etx, erx) = crossbeam_channel::unbounded();
        let (ctx, _crx) = crossbeam_channel::unbounded();
        let (stx, srx) = crossbeam_channel::bounded(1);
        let recorder = Recorder::default();
        let theme = Theme::builtin("dark", ColorMode::TrueColor).unwrap();
        let feed = Feed::Live {
            events: erx,
            control: ctx,
        };
        let out = recorder.clone();
        let ui = std::thread::spawn(move || {
            run_writer(feed, theme, "flood-test".into(), out, (100, 30), srx)
        });
        let started = Instant::now();
        for r in fixture::cut_at_update(&fixture::demo_records(), 400) {
            etx.send(r).unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
        let seconds = started.elapsed().as_secs_f64();
        drop(etx);
        std::thread::sleep(Duration::from_millis(300));
        stx.send(()).unwrap();
        assert_eq!(ui.join().unwrap().unwrap(), UiExit::FeedEnded);
        let written = String::from_utf8_lossy(&recorder.bytes.lock().unwrap()).into_owned();
        // ratatui hides the cursor once per frame it draws.
        let frames = written.matches("\x1b[?25l").count();
        // The frames the feed caused, the feed's end, the frame shown on leaving.
        let most = (seconds / DATA_FRAME.as_secs_f64()).ceil() as usize + 3;
        assert!(
            (3..=most).contains(&frames),
            "{frames} frames in {seconds:.2} s (at most {most})"
        );
        assert!(written.contains("flood-test"), "title drawn");
        assert!(written.contains("\x1b["), "escape sequences written");
    }

    #[test]
    fn follow_feed_shows_reader_problems_and_ends() {
        let (tx, rx) = crossbeam_channel::unbounded();
        for r in fixture::cut_at_update(&fixture::demo_records(), 30) {
            tx.send(Ok(r)).unwrap();
        }
        tx.send(Err("events.jsonl line 40: not JSON, skipped".into()))
            .unwrap();
        drop(tx);
        let theme = Theme::builtin("mono", ColorMode::None).unwrap();
        let (mut app, ch) = prepare(
            Feed::Follow { events: rx },
            "watch".into(),
            theme,
            KeyMap::default(),
        );
        let (itx, irx) = crossbeam_channel::unbounded();
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        // The quit key arrives after the feed has been drained and closed.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            itx.send(key('q')).unwrap();
        });
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        t.join().unwrap();
        assert_eq!(exit, UiExit::FeedEnded);
        let run = app.mode().run().unwrap();
        assert_eq!(run.update(), 30);
        assert!(run.log.iter().any(|l| l.text.contains("not JSON")));
    }

    #[test]
    fn a_logdir_feed_is_drawn_as_it_arrives_and_ends_when_the_reader_stops() {
        let (tx, rx) = crossbeam_channel::bounded(64);
        let (mtx, mrx) = crossbeam_channel::bounded(1);
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let feed = Feed::Logdir {
            updates: rx,
            table: crate::tboard::TagTable::default(),
            following: true,
            machine: mrx,
        };
        let (mut app, ch) = prepare(feed, "watch".into(), theme, KeyMap::default());
        let (itx, irx) = crossbeam_channel::unbounded();
        let writer = std::thread::spawn(move || {
            mtx.send(crate::machine::fake::two_gpus()).unwrap();
            for (i, step) in (0..3).enumerate() {
                tx.send(ScalarUpdate::Points {
                    run: "run-a".into(),
                    tag: "train/loss".into(),
                    points: vec![crate::series::Point {
                        step: step * 100,
                        wall_time: 1.7e9 + step as f64,
                        value: 1.0 / (1.0 + i as f64),
                    }],
                    more: false,
                })
                .unwrap();
                tx.send(ScalarUpdate::Polled {
                    polls: i as u64 + 1,
                })
                .unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
            drop(tx);
            std::thread::sleep(Duration::from_millis(300));
            itx.send(key('q')).unwrap();
        });
        let mut term = Terminal::new(TestBackend::new(120, 34)).unwrap();
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        writer.join().unwrap();
        assert_eq!(exit, UiExit::FeedEnded, "the reader had stopped");
        let screen = ui::buffer_text(term.backend().buffer());
        assert!(screen.contains("train/loss"), "{screen}");
        assert!(screen.contains("reader stopped"), "{screen}");
        assert!(screen.contains("H200"), "the machine panel: {screen}");
        let row = screen
            .lines()
            .find(|l| l.contains("0.33333"))
            .unwrap_or_else(|| panic!("{screen}"));
        assert!(row.contains("200"), "the last step in the table: {row}");
        assert_eq!(app.screen, (120, 34));
    }

    #[test]
    fn replay_feed_seeks_to_the_end_and_leaves_with_the_feed_ended() {
        let recs = fixture::demo_records();
        let theme = Theme::builtin("dark", ColorMode::None).unwrap();
        let feed = Feed::Replay {
            records: recs.clone(),
            speed: Some(1.0),
        };
        let (mut app, ch) = prepare(feed, "replay".into(), theme, KeyMap::default());
        let (itx, irx) = crossbeam_channel::unbounded();
        itx.send(Input::Key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE)))
            .unwrap();
        itx.send(key('q')).unwrap();
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let exit = event_loop(&mut term, &mut app, ch, irx, never()).unwrap();
        assert_eq!(exit, UiExit::FeedEnded);
        assert_eq!(
            app.mode().run().unwrap().progress.records,
            recs.len() as u64
        );
        let screen = ui::buffer_text(term.backend().buffer());
        assert!(screen.lines().next().unwrap().contains("100%"), "{screen}");
    }
}
