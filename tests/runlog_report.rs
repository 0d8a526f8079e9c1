//! End-to-end tests of reports made from run logs: figures (PNG and SVG), TensorBoard event
//! files (framing checked against independently computed CRCs) and the tidy CSV.

use std::fs;

use batchramp::events::{Event, Record};
use batchramp::report::export::{masked_crc32c, scalars, tfrecord, write_csv, write_tensorboard};
use batchramp::report::plot::{plot_runs, Metric, PlotError, PlotOptions, XAxis};
use batchramp::runlog::sample::SampleRun;

fn two_runs() -> (Vec<Record>, Vec<Record>) {
    let a = SampleRun {
        name: "increase-batch".into(),
        ..Default::default()
    }
    .records();
    let b = SampleRun {
        name: "decay-lr".into(),
        increase_batch: false,
        seed: 9,
        ..Default::default()
    }
    .records();
    (a, b)
}

/// Bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): slow, obviously right, and
/// independent of the crc32c crate the exporter uses.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// TFRecord's mask, written out as in TensorFlow's crc32c.h (not `rotate_right`, on purpose:
/// the exporter uses that, and this check should not share its code).
#[allow(clippy::manual_rotate)]
fn mask(crc: u32) -> u32 {
    ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8)
}

#[test]
fn crc_matches_the_published_test_vector() {
    assert_eq!(
        crc32c_bitwise(b"123456789"),
        0xE306_9283,
        "the reference itself"
    );
    assert_eq!(masked_crc32c(b"123456789"), mask(0xE306_9283));
    // Rotate right by 15: 0xE3069283 → 0x2507C60D; plus 0xA282EAD8 (mod 2³²) → 0xC78AB0E5.
    assert_eq!(mask(0xE306_9283), 0xC78A_B0E5, "mask worked out by hand");
}

#[test]
fn tfrecord_framing_is_byte_exact() {
    let payload = b"123456789";
    let framed = tfrecord(payload);
    let mut want = Vec::new();
    want.extend_from_slice(&9u64.to_le_bytes());
    want.extend_from_slice(&mask(crc32c_bitwise(&9u64.to_le_bytes())).to_le_bytes());
    want.extend_from_slice(payload);
    want.extend_from_slice(&mask(0xE306_9283).to_le_bytes());
    assert_eq!(framed, want);
    assert_eq!(framed.len(), 8 + 4 + 9 + 4);
}

/// Reads a protobuf message's top-level fields: (field number, wire type, raw value bytes).
fn fields(mut b: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let wire = (key & 7) as u8;
        let len = match wire {
            0 => {
                let v = varint(&mut b);
                out.push((key >> 3, wire, v.to_le_bytes().to_vec()));
                continue;
            }
            1 => 8,
            5 => 4,
            2 => varint(&mut b) as usize,
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, wire, b[..len].to_vec()));
        b = &b[len..];
    }
    out
}

#[test]
fn tensorboard_file_reads_back() {
    let (records, _) = two_runs();
    let dir = tempfile::tempdir().unwrap();
    let path = write_tensorboard(&records, dir.path(), 1_700_000_000.0).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");

    let bytes = fs::read(&path).unwrap();
    let mut at = 0;
    let mut events = Vec::new();
    while at < bytes.len() {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(len_crc, mask(crc32c_bitwise(len_bytes)));
        let data = &bytes[at + 12..at + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(data_crc, mask(crc32c_bitwise(data)));
        events.push(fields(data));
        at += 16 + len;
    }
    assert_eq!(at, bytes.len(), "no trailing bytes");
    assert_eq!(events.len(), 1 + scalars(&records).len());

    // First event: wall_time and file_version.
    assert_eq!(events[0][0].0, 1);
    assert_eq!(
        f64::from_le_bytes(events[0][0].2.clone().try_into().unwrap()),
        1_700_000_000.0
    );
    assert_eq!(events[0][1], (3, 2, b"brain.Event:2".to_vec()));

    // Find the last epoch's test accuracy: step = updates, value as f32.
    let last_epoch = records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            Event::Epoch(e) => Some((r.t, e.clone())),
            _ => None,
        })
        .unwrap();
    let found = events.iter().rev().find_map(|ev| {
        let summary = ev.iter().find(|f| f.0 == 5)?;
        let value = fields(&summary.2).into_iter().find(|f| f.0 == 1)?;
        let value = fields(&value.2);
        let tag = String::from_utf8(value.iter().find(|f| f.0 == 1)?.2.clone()).ok()?;
        (tag == "epoch/test_acc").then(|| {
            let step = u64::from_le_bytes(
                ev.iter()
                    .find(|f| f.0 == 2)
                    .unwrap()
                    .2
                    .clone()
                    .try_into()
                    .unwrap(),
            );
            let wall = f64::from_le_bytes(ev[0].2.clone().try_into().unwrap());
            let v = f32::from_le_bytes(
                value
                    .iter()
                    .find(|f| f.0 == 2)
                    .unwrap()
                    .2
                    .clone()
                    .try_into()
                    .unwrap(),
            );
            (step, wall, v)
        })
    });
    let (step, wall, v) = found.expect("an epoch/test_acc scalar");
    assert_eq!(step, last_epoch.1.updates);
    assert_eq!(wall, 1_700_000_000.0 + last_epoch.0);
    assert_eq!(v, last_epoch.1.test_acc as f32);
}

#[test]
fn csv_is_tidy_and_complete() {
    let (a, b) = two_runs();
    let mut out = Vec::new();
    write_csv(&[("run,a", &a), ("b", &b)], &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("run,kind,epoch,update,t,metric,value"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), scalars(&a).len() + scalars(&b).len());
    assert!(rows
        .iter()
        .all(|r| r.starts_with("\"run,a\",") || r.starts_with("b,")));

    // Every epoch's test accuracy is there with its epoch, updates, time and exact value.
    for rec in &b {
        if let Event::Epoch(e) = &rec.event {
            let want = format!(
                "b,epoch,{},{},{},test_acc,{}",
                e.epoch, e.updates, rec.t, e.test_acc
            );
            assert!(rows.contains(&want.as_str()), "missing {want}");
            let value: f64 = want.rsplit(',').next().unwrap().parse().unwrap();
            assert_eq!(value, e.test_acc, "values survive the text round trip");
        }
    }
    // Stage rows carry the schedule, at their first epoch (counted from 1).
    assert!(rows
        .iter()
        .any(|r| r.starts_with("b,stage,1,0,") && r.ends_with(",batch,128")));
    assert!(rows
        .iter()
        .any(|r| r.starts_with("\"run,a\",stage,7,") && r.ends_with(",batch,640")));
}

#[test]
fn png_and_svg_figures_are_valid_and_drawn() {
    let (a, b) = two_runs();
    let runs = [("increase-batch", a.as_slice()), ("decay-lr", b.as_slice())];
    let dir = tempfile::tempdir().unwrap();

    let png = dir.path().join("fig.png");
    plot_runs(&runs, &png, &PlotOptions::default()).unwrap();
    let bytes = fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1800, 1350), "2×2 panels at 1.5× scale");
    assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND");
    assert!(
        bytes.len() > 50_000,
        "a blank image compresses to a few KB, got {}",
        bytes.len()
    );

    let svg = dir.path().join("fig.svg");
    plot_runs(&runs, &svg, &PlotOptions::default()).unwrap();
    let text = fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    for needle in [
        "increase-batch",
        "decay-lr",
        "Test accuracy vs epochs",
        "Training loss vs updates",
        "parameter updates",
    ] {
        assert!(text.contains(needle), "SVG lacks {needle:?}");
    }
    // 4 panels × 2 runs curves, plus stage marks and legend samples.
    assert!(
        text.matches("<polyline").count() >= 8,
        "{}",
        text.matches("<polyline").count()
    );

    let one = dir.path().join("lr.svg");
    let opts = PlotOptions {
        x: Some(XAxis::Time),
        metric: Some(Metric::Lr),
        title: Some("Learning rate".into()),
    };
    plot_runs(&runs, &one, &opts).unwrap();
    let text = fs::read_to_string(&one).unwrap();
    assert!(text.contains("wall time (s)") && text.contains("Learning rate"));
}

#[test]
fn plot_refuses_unknown_formats_and_missing_data() {
    let (a, _) = two_runs();
    let runs = [("a", a.as_slice())];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig.jpg");
    assert!(matches!(
        plot_runs(&runs, &out, &PlotOptions::default()),
        Err(PlotError::Format(_))
    ));
    assert!(!out.exists());
    let opts = PlotOptions {
        metric: Some(Metric::BSimple),
        ..Default::default()
    };
    match plot_runs(&runs, &dir.path().join("b.png"), &opts) {
        Err(e @ PlotError::NoData { .. }) => {
            assert!(e.to_string().contains("gradient noise scale"))
        }
        other => panic!("expected NoData, got {other:?}"),
    }
}

/// The run summary has one computation: the trainer's (what it writes to `finished` and
/// `summary.json`), the reports' (for a log that never finished) and the UI's agree, also on a
/// tied best epoch, which goes to the first.
#[test]
fn trainer_reports_and_ui_agree_on_the_summary_with_a_tied_best_epoch() {
    let mut recs = SampleRun::default().records();
    recs.retain(|r| !matches!(r.event, Event::Finished(_)));
    let best = recs
        .iter()
        .filter_map(|r| match &r.event {
            Event::Epoch(e) => Some(e.test_acc),
            _ => None,
        })
        .fold(0.0, f64::max);
    // Epochs 4 and 9 both reach the best accuracy.
    for r in &mut recs {
        if let Event::Epoch(e) = &mut r.event {
            if e.epoch == 4 || e.epoch == 9 {
                e.test_acc = best + 0.01;
            }
        }
    }
    let Some(Event::RunStarted(h)) = recs.first().map(|r| r.event.clone()) else {
        panic!("the sample starts with its header")
    };
    let mut trainer =
        batchramp::train::progress::Progress::start(&h.name, h.train_size, h.baseline_updates);
    for r in &recs[1..] {
        trainer.observe(&r.event);
    }
    let from_trainer = trainer.summary();
    let from_report = batchramp::report::summary::summarize(&recs);
    let ui = batchramp::tui::state::RunState::from_records(&recs);
    assert_eq!(from_trainer, from_report);
    assert_eq!(from_report.best_epoch, 4);
    assert_eq!(ui.best_test_acc(), Some((best + 0.01, 4)));
    assert!(from_report.stages.iter().all(|s| s.images_per_sec > 0.0));
}
