//! Snapshot tests of whole frames from the fixed synthetic run, one file per state and size
//! under `src/tui/snapshots/`, reviewed like screenshots. Text only; colours are checked by the
//! few style assertions at the end.

use ratatui::style::{Color, Modifier};

use super::app::App;
use super::fixture;
use super::history::XAxis;
use super::keys::KeyMap;
use super::mode::{Controls, Mode};
use super::screenshot::{render_buffer, render_text, Shot};
use super::theme::{ColorMode, Role, Theme};
use super::ui;
use super::view::{LayoutChoice, Panel, ViewOptions};
use crate::events::Record;

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
    assert!(app.mode().run().unwrap().loss.stored() < 5000);
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
    let cases = [
        (live, &["pause", "checkpoint"][..], &["play/pause"][..]),
        (follow, &["quit"][..], &["pause", "checkpoint", "start"][..]),
        (
            replay,
            &["play/pause", "start", "end"][..],
            &["checkpoint"][..],
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
