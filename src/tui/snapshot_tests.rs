//! Snapshot tests of whole frames from the fixed synthetic run, one file per state and size
//! under `src/tui/snapshots/`, reviewed like screenshots. Text only; colours are checked by the
//! few style assertions at the end.

use ratatui::style::{Color, Modifier};

use super::app::App;
use super::fixture;
use super::keys::KeyMap;
use super::mode::{Controls, Mode};
use super::screenshot::{render_buffer, render_text, Shot};
use super::theme::{ColorMode, Role, Theme};
use super::ui;
use super::view::{LayoutChoice, Panel, ViewOptions};
use crate::events::Record;
use crate::series::XAxis;

/// Name, events, width, height, theme, view changes.
type Case = (&'static str, Vec<Record>, u16, u16, Theme, Shot);

fn dark() -> Theme {
    Theme::builtin("dark", ColorMode::TrueColor).unwrap()
}

fn states() -> Vec<(&'static str, Vec<Record>)> {
    let all = fixture::demo_records();
    vec![
        ("warming_up", fixture::warming_up(&all)),
        ("running", fixture::cut_at_update(&all, 1000)),
        ("paused", fixture::paused_at(&all, 1000)),
        ("stage_change", fixture::after_stage(&all, 1, 12)),
        ("finished", all.clone()),
        ("failed", fixture::failed_at(&all, 1400)),
    ]
}

fn snap(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn every_state_at_80x24_and_160x48() {
    for (state, recs) in states() {
        for (w, h) in [(80, 24), (160, 48)] {
            let text = render_text(&recs, w, h, &dark(), &Shot::default());
            assert_eq!(text.lines().count(), usize::from(h));
            snap(&format!("{state}_{w}x{h}"), &text);
        }
    }
}

#[test]
fn overlays_and_views() {
    let all = fixture::demo_records();
    let running = fixture::cut_at_update(&all, 1000);
    let shot = |f: &dyn Fn(&mut Shot)| {
        let mut s = Shot::default();
        f(&mut s);
        s
    };
    let cases: Vec<Case> = vec![
        (
            "help_80x24",
            running.clone(),
            80,
            24,
            dark(),
            shot(&|s| s.help = true),
        ),
        (
            "confirm_quit_80x24",
            running.clone(),
            80,
            24,
            dark(),
            shot(&|s| s.confirm_quit = true),
        ),
        (
            "accuracy_epochs_80x24",
            all.clone(),
            80,
            24,
            dark(),
            shot(&|s| {
                s.view.panel = Panel::Accuracy;
                s.view.x = XAxis::Epochs;
            }),
        ),
        (
            "noise_80x24",
            all.clone(),
            80,
            24,
            dark(),
            shot(&|s| s.view.panel = Panel::Noise),
        ),
        (
            "log_raw_zoomed_160x48",
            running.clone(),
            160,
            48,
            dark(),
            shot(&|s| {
                s.view = ViewOptions {
                    log_loss: true,
                    smooth: false,
                    zoom: 1,
                    pan: Some(0.75),
                    ..ViewOptions::default()
                }
            }),
        ),
        (
            "full_three_charts_220x50",
            all.clone(),
            220,
            50,
            dark(),
            Shot::default(),
        ),
        (
            "forced_compact_160x48",
            running.clone(),
            160,
            48,
            dark(),
            shot(&|s| s.view.layout = LayoutChoice::Compact),
        ),
        (
            "mono_ascii_80x24",
            running.clone(),
            80,
            24,
            Theme::builtin("mono", ColorMode::Ansi16).unwrap(),
            Shot::default(),
        ),
        (
            "no_color_80x24",
            fixture::after_stage(&all, 2, 5),
            80,
            24,
            Theme::builtin("dark", ColorMode::None).unwrap(),
            Shot::default(),
        ),
        (
            "too_small_50x14",
            running.clone(),
            50,
            14,
            dark(),
            Shot::default(),
        ),
    ];
    for (name, recs, w, h, theme, shot) in cases {
        let text = render_text(&recs, w, h, &theme, &shot);
        if theme.ascii {
            assert!(text.is_ascii(), "{name} is pure ASCII:\n{text}");
        }
        snap(name, &text);
    }
}

#[test]
fn compare_view() {
    let runs = vec![
        ("increase-batch".to_string(), fixture::demo_records()),
        ("decay-lr".to_string(), fixture::decay_lr_records()),
    ];
    for (w, h, x) in [(80, 24, XAxis::Updates), (160, 40, XAxis::Epochs)] {
        let mut app = App::compare("compare".into(), dark(), KeyMap::default(), runs.clone());
        app.view.x = x;
        let text = ui::buffer_text(&render_buffer(&app, w, h));
        snap(&format!("compare_{w}x{h}"), &text);
    }
}

#[test]
fn replay_header_shows_playback() {
    let mut app = App::replay(
        "replay".into(),
        dark(),
        KeyMap::default(),
        fixture::demo_records(),
        Some(8.0),
    );
    app.advance(0.0);
    app.advance(30.0);
    app.on_action(super::keys::Action::Pause);
    let text = ui::buffer_text(&render_buffer(&app, 80, 24));
    let header = text.lines().next().unwrap();
    assert!(header.contains("replay paused ×8"), "{header}");
    assert!(matches!(app.mode(), Mode::Replay(_)));
}

#[test]
fn status_and_current_stage_are_coloured() {
    let theme = dark();
    let recs = fixture::after_stage(&fixture::demo_records(), 1, 12);
    let mut app = App::live("t".into(), theme.clone(), KeyMap::default());
    for r in &recs {
        app.apply(r);
    }
    let buf = render_buffer(&app, 160, 48);
    let text = ui::buffer_text(&buf);
    // The status word in the header is drawn in the "good" colour.
    let header = text.lines().next().unwrap();
    let col = header.find("running").unwrap();
    let x = header[..col].chars().count() as u16;
    assert_eq!(buf[(x, 0)].fg, theme.color(Role::Good));
    // The current stage's row in the stage table carries the highlight background.
    let (row, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("  6-9  "))
        .unwrap();
    let x = line.find("6-9").unwrap() as u16;
    assert_eq!(buf[(x, row as u16)].bg, theme.color(Role::Highlight));
    assert!(buf[(x, row as u16)].modifier.contains(Modifier::BOLD));
    assert_ne!(theme.color(Role::Highlight), Color::Reset);
}

#[test]
fn a_million_updates_draw_as_fast_as_a_thousand() {
    use crate::events::{Event, StepEvent};
    let mut app = App::live("big".into(), dark(), KeyMap::default());
    for r in fixture::warming_up(&fixture::demo_records()) {
        app.apply(&r);
    }
    for u in 1..=1_000_000u64 {
        app.apply(&Record::new(
            u as f64 * 0.01,
            Event::Step(StepEvent {
                update: u,
                epoch: (u / 391) as usize,
                epoch_progress: (u % 391) as f64 / 391.0 + 1e-9,
                loss: 2.0 / (1.0 + u as f64 * 1e-4),
                acc: 0.5,
                lr: 0.1,
                batch: 128,
                images_per_sec: 2000.0,
                parallel: None,
            }),
        ));
    }
    assert!(
        app.mode()
            .run()
            .unwrap()
            .curves
            .track(super::state::tags::LOSS)
            .stored()
            < 5000
    );
    let start = std::time::Instant::now();
    let buf = render_buffer(&app, 160, 48);
    let took = start.elapsed();
    assert!(ui::buffer_text(&buf).contains("Loss"));
    // Generous bound for slow CI machines; a frame normally takes a few milliseconds.
    assert!(took.as_millis() < 500, "frame took {took:?}");
}

#[test]
fn resources_show_gpu_figures_or_say_why_not() {
    use crate::events::{Event, ResourcesEvent};
    let all = fixture::demo_records();
    let mut recs = fixture::cut_at_update(&all, 500);
    let t = recs.last().unwrap().t;
    recs.push(Record::new(
        t,
        Event::Resources(ResourcesEvent {
            device_used: Some(30 * (1 << 30)),
            device_total: Some(80 * (1 << 30)),
            gpu_util: Some(97.0),
            gpu_temp: Some(64.0),
            gpu_power: Some(412.0),
            rss: Some(3 << 30),
            cpu_percent: Some(101.0),
            note: None,
        }),
    ));
    let full = render_text(&recs, 160, 48, &dark(), &Shot::default());
    for needle in [
        "GPU mem",
        "30.0 GiB / 80.0 GiB",
        "util 97%",
        "temp 64°C",
        "power 412 W",
        "CPU 101%",
    ] {
        assert!(full.contains(needle), "{needle} missing:\n{full}");
    }
    let compact = render_text(&recs, 80, 24, &dark(), &Shot::default());
    assert!(compact.contains("GPU mem"), "{compact}");

    recs.push(Record::new(
        t,
        Event::Resources(ResourcesEvent {
            note: Some("NVML not found: install the NVIDIA driver".into()),
            ..Default::default()
        }),
    ));
    let text = render_text(&recs, 80, 24, &dark(), &Shot::default());
    assert!(text.contains("resources n/a · NVML not found"), "{text}");
}

#[test]
fn hints_and_key_list_follow_what_the_keys_control() {
    use super::keys::Action;
    let recs = fixture::cut_at_update(&fixture::demo_records(), 200);
    let mut live = App::live("live".into(), dark(), KeyMap::default());
    let mut follow = App::follow("follow".into(), dark(), KeyMap::default());
    for r in &recs {
        live.apply(r);
        follow.apply(r);
    }
    let mut replay = App::replay("replay".into(), dark(), KeyMap::default(), recs, None);
    replay.advance(0.0);
    // Paused, the pause key resumes, and the footer says so.
    let mut paused = live.clone();
    paused.apply(&crate::events::Record::new(
        99.0,
        crate::events::Event::Paused(crate::events::PauseEvent {
            update: 200,
            reason: crate::events::PauseReason::Key,
        }),
    ));
    let cases = [
        (live, &["pause", "checkpoint"][..], &["resume", "play"][..]),
        (paused, &["resume", "checkpoint"][..], &["pause"][..]),
        (follow, &["quit"][..], &["pause", "checkpoint", "start"][..]),
        (
            replay,
            &["pause", "start", "end"][..],
            &["checkpoint", "play"][..],
        ),
    ];
    for (mut app, shown, hidden) in cases {
        let text = ui::buffer_text(&render_buffer(&app, 120, 40));
        let footer = text.lines().last().unwrap();
        for word in shown {
            assert!(footer.contains(&format!(" {word} ")), "{footer}");
        }
        for word in hidden {
            assert!(!footer.contains(&format!(" {word} ")), "{footer}");
        }
        app.on_action(Action::Help);
        let help = ui::buffer_text(&render_buffer(&app, 120, 40));
        let controls = app.mode().controls();
        assert_eq!(
            help.contains("write a checkpoint now"),
            controls == Controls::Trainer,
            "{help}"
        );
        assert_eq!(
            help.contains("replay: back to the start"),
            controls == Controls::Playback,
            "{help}"
        );
        assert_eq!(
            help.contains("pause / resume"),
            controls != Controls::ReadOnly,
            "{help}"
        );
        assert_eq!(help.contains("ctrl-c"), controls == Controls::Trainer);
    }
}

#[test]
fn hints_name_the_key_map_not_the_theme() {
    let mut keys = KeyMap::default();
    let mut table = std::collections::BTreeMap::new();
    table.insert("pause".to_string(), toml::Value::String("P".into()));
    keys.apply(&table).unwrap();
    let mut app = App::live("t".into(), dark(), keys);
    for r in fixture::cut_at_update(&fixture::demo_records(), 200) {
        app.apply(&r);
    }
    let text = ui::buffer_text(&render_buffer(&app, 120, 40));
    assert!(
        text.lines().last().unwrap().starts_with("P pause"),
        "{text}"
    );
}

#[test]
fn a_data_parallel_run_shows_its_workers_and_their_comm_share() {
    let all = fixture::data_parallel(&fixture::demo_records(), 8);
    // Stage 1 (B 128): one micro-batch, so one of the eight workers has work.
    let early = render_text(
        &fixture::cut_at_update(&all, 500),
        160,
        48,
        &dark(),
        &Shot::default(),
    );
    assert!(early.contains("8 workers on 2 machines"), "{early}");
    assert!(early.contains("workers 8 (1 busy) comm 10%"), "{early}");
    // The last stage's B 3,200 keeps all eight busy; a wide panel has room for the whole wording.
    let late = render_text(&all, 220, 50, &dark(), &Shot::default());
    assert!(late.contains("workers 8 comm 10% of update time"), "{late}");
    // One process: nothing about workers.
    let single = render_text(&fixture::demo_records(), 160, 48, &dark(), &Shot::default());
    assert!(!single.contains("workers"), "{single}");
}

#[test]
fn at_120_columns_the_updates_saved_are_never_cut() {
    let all = fixture::demo_records();
    for recs in [fixture::cut_at_update(&all, 1000), all.clone()] {
        let text = render_text(&recs, 120, 40, &dark(), &Shot::default());
        let line = text
            .lines()
            .find(|l| l.contains("saved"))
            .unwrap_or_else(|| panic!("a line with the updates saved: {text}"));
        let panel = line
            .split('│')
            .find(|p| p.contains("saved"))
            .unwrap()
            .trim_end();
        // Either the short wording, whole, or the long one ending in its whole number.
        let whole_number = panel.split_once(", it would be at ").is_some_and(|(_, n)| {
            !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == ',')
        });
        assert!(panel.ends_with("%)") || whole_number, "cut: {panel:?}");
    }
}

/// The text of the frame of `app` at `w`×`h`.
fn frame(app: &App, w: u16, h: u16) -> String {
    ui::buffer_text(&render_buffer(app, w, h))
}

#[test]
fn an_evaluation_under_way_is_shown_and_counted_in_the_eta() {
    use crate::events::{EvalProgress, Event};
    let all = fixture::demo_records();
    // The records up to the end of epoch 3's training, then its evaluation a third done.
    let end = all
        .iter()
        .position(|r| matches!(&r.event, Event::Epoch(e) if e.epoch == 3))
        .unwrap();
    let mut recs = all[..end].to_vec();
    let before = super::state::RunState::from_records(&recs).eta().unwrap();
    recs.push(Record::new(
        recs.last().unwrap().t + 1.0,
        Event::Evaluating(EvalProgress {
            epoch: 3,
            done: 3_000,
            total: 10_000,
        }),
    ));
    let state = super::state::RunState::from_records(&recs);
    assert!(
        state.eta().unwrap() < before,
        "a part-done evaluation is less left"
    );
    for (w, h) in [(80, 24), (160, 48), (120, 40)] {
        let text = render_text(&recs, w, h, &dark(), &Shot::default());
        assert!(
            text.contains("evaluating 3,000/10,000") || text.contains("eval 3,000/10,000"),
            "{w}x{h}: {text}"
        );
    }
    // The epoch's result ends it.
    let done = render_text(&all[..=end], 160, 48, &dark(), &Shot::default());
    assert!(!done.contains("evaluating"), "{done}");
}

#[test]
fn a_log_without_steps_draws_its_epoch_losses() {
    let recs = crate::runlog::sample::SampleRun {
        steps: false,
        ..Default::default()
    }
    .records();
    let text = render_text(&recs, 160, 48, &dark(), &Shot::default());
    let title = text.lines().nth(1).unwrap();
    assert!(
        title.contains("Loss per epoch") && title.contains("train (epoch mean)"),
        "{title}"
    );
    assert!(!text.contains("waiting for the first update"), "{text}");
    // The loss chart has its curve: braille cells in the left chart's plot.
    let plotted = text
        .lines()
        .skip(2)
        .take(15)
        .filter_map(|l| l.split('│').nth(2))
        .filter(|cells| {
            cells
                .chars()
                .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
        })
        .count();
    assert!(plotted > 5, "{text}");
}

#[test]
fn a_capped_batch_says_why_in_the_schedule_and_the_log() {
    use crate::events::Event;
    let mut recs = fixture::after_stage(&fixture::demo_records(), 2, 3);
    let why = "B stays 640: the training set has 2,000 images; ε ÷5 instead";
    for r in &mut recs {
        if let Event::Stage(s) = &mut r.event {
            if s.index == 2 {
                s.reason = Some(why.into());
            }
        }
    }
    let text = render_text(&recs, 160, 48, &dark(), &Shot::default());
    assert!(text.contains(&format!("why {why}")), "{text}");
    // The events log has it too, in the plain lines' wording.
    // (Wrapped in the narrow panel, whose oldest rows give way first.)
    assert!(text.contains("noise scale 15.6  (B stays"), "{text}");
}

#[test]
fn an_adaptive_run_reports_the_plan_it_followed() {
    use crate::events::Event;
    // A run whose header knew one stage only: what an adaptive run starts with.
    let mut recs = fixture::demo_records();
    let mut header_plan = 0;
    if let Event::RunStarted(h) = &mut recs[0].event {
        h.stages.truncate(1);
        h.stages[0].end_epoch = h.epochs;
        h.planned_updates = h.baseline_updates;
        header_plan = h.planned_updates;
    }
    let done = super::state::RunState::from_records(&recs);
    assert_eq!(done.planned_updates(), done.update());
    let text = render_text(&recs, 160, 48, &dark(), &Shot::default());
    let took = format!("took {} updates vs", crate::format::count(done.update()));
    assert!(text.contains(&took), "{text}");
    assert!(!text.contains("(the same)"), "{text}");
    // Mid-way, the plan follows the stages known so far, not the header's.
    let mid = fixture::after_stage(&recs, 1, 12);
    let state = super::state::RunState::from_records(&mid);
    assert!(state.planned_updates() < header_plan as u64);
    let text = render_text(&mid, 160, 48, &dark(), &Shot::default());
    assert!(
        text.contains(&format!(
            "/{}",
            crate::format::count(state.planned_updates())
        )),
        "{text}"
    );
}

#[test]
fn at_120_columns_the_progress_lines_end_in_whole_words() {
    let all = fixture::demo_records();
    for recs in [
        fixture::cut_at_update(&all, 1000),
        fixture::after_stage(&all, 1, 12),
        all.clone(),
    ] {
        let text = render_text(&recs, 120, 40, &dark(), &Shot::default());
        let top = text.lines().position(|l| l.contains("Progress")).unwrap();
        for line in text.lines().skip(top + 1).take(7) {
            // A line cut by the panel's edge fills it to the border; a wording chosen to fit
            // leaves at least one cell free.
            let Some(panel) = line.split('│').nth(1) else {
                continue;
            };
            let width = panel.chars().count();
            let used = panel.trim_end().chars().count();
            assert!(used < width, "cut at the border: {panel:?}");
            assert!(!panel.contains('…'), "{panel:?}");
        }
    }
}

#[test]
fn a_followed_run_that_ended_shows_why_whole() {
    let why = "the log has not grown for 10 minutes and its writer (pid 4242) is gone: the run was stopped without a last record";
    let recs = fixture::cut_at_update(&fixture::demo_records(), 1000);
    let mut app = App::follow("follow".into(), dark(), KeyMap::default());
    for r in &recs {
        app.apply(r);
    }
    app.reader_problem(why.into());
    app.feed_closed();
    for (w, h) in [(80, 24), (160, 48)] {
        let text = frame(&app, w, h);
        assert!(text.lines().next().unwrap().contains("ended"), "{text}");
        let joined: String = text
            .lines()
            .flat_map(|l| l.split('│'))
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        let words: Vec<&str> = why.split(' ').collect();
        let mut rest = joined.as_str();
        for word in words {
            let at = rest
                .find(word)
                .unwrap_or_else(|| panic!("{w}x{h}: {word:?} missing in {text}"));
            rest = &rest[at + word.len()..];
        }
    }
}

#[test]
fn compare_steps_through_three_charts_and_tells_runs_apart_without_colour() {
    use super::keys::Action;
    let runs = vec![
        (
            "paper-increase-batch-s0".to_string(),
            fixture::demo_records(),
        ),
        ("paper-decay-lr-s0".to_string(), fixture::decay_lr_records()),
    ];
    let mut app = App::compare("compare".into(), dark(), KeyMap::default(), runs.clone());
    let mut titles = Vec::new();
    for _ in 0..3 {
        let text = frame(&app, 80, 24);
        titles.push(text.lines().nth(1).unwrap().to_string());
        app.on_action(Action::NextPanel);
    }
    assert!(titles[0].contains("Train loss"), "{titles:?}");
    assert!(titles[1].contains("Test accuracy"), "{titles:?}");
    assert!(titles[2].contains("Test loss"), "{titles:?}");
    // The legend names whole names or short forms that tell the runs apart.
    assert!(
        titles[0].contains("increase-batch") && titles[0].contains("decay-lr"),
        "{}",
        titles[0]
    );
    let mono = Theme::builtin("dark", ColorMode::None).unwrap();
    let app = App::compare("compare".into(), mono, KeyMap::default(), runs);
    let text = frame(&app, 160, 40);
    let title = text.lines().nth(1).unwrap();
    assert!(title.contains("━* ") && title.contains("━+ "), "{title}");
    let plot: String = text.lines().skip(2).take(20).collect();
    assert!(plot.contains('*') && plot.contains('+'), "{text}");
}
