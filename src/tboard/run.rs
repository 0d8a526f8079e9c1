//! One TensorBoard run: the event files of one directory, read in TensorBoard's order, and
//! what they hold — scalar series by tag, hyperparameters, the tags that are not drawn.
//!
//! Owns the meaning of events: which values are scalars (a `simple_value`, or a tensor of a
//! tag whose first value said it is a scalars-plugin tag), restarts (`SessionLog.START` drops
//! every tag's points from its step on; a tag's step going back drops that tag's points from
//! there, by [`Series::push`](crate::series::Series::push)), hparams. It must never list
//! directories (that is `logdir`'s job) nor decide how anything is drawn.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;

use super::file::EventFile;
use super::problem::{Problem, ProblemKind, Problems};
use super::proto;
use super::wire::{self, EventBody, ValueKind, ValueView};
use crate::series::{Point, SeriesSet};

/// A hyperparameter's value as the hparams plugin stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum HParamValue {
    /// A number (PyTorch writes ints and bools as numbers too).
    Number(f64),
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// No value.
    Null,
}

impl fmt::Display for HParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HParamValue::Number(v) => write!(f, "{v}"),
            HParamValue::Text(s) => f.write_str(s),
            HParamValue::Bool(b) => write!(f, "{b}"),
            HParamValue::Null => f.write_str("null"),
        }
    }
}

/// What a tag's values are, decided by its first value's metadata (TF2 writers send it once).
#[derive(Clone, Debug, PartialEq)]
enum TagKind {
    Scalar,
    /// Another plugin's tag (histograms, images, text…): listed, not drawn.
    Other(String),
}

/// One run: a directory's event files and what they held so far.
#[derive(Debug)]
pub struct Run {
    name: String,
    dir: PathBuf,
    /// Read in this order, as TensorBoard does (file names start with the writer's clock).
    files: BTreeMap<PathBuf, EventFile>,
    content: RunContent,
}

/// What the events of a run held (apart from the files, so a file can feed it while borrowed).
#[derive(Debug, Default)]
struct RunContent {
    scalars: SeriesSet,
    hparams: Vec<(String, HParamValue)>,
    other_tags: BTreeMap<String, String>,
    kinds: HashMap<String, TagKind>,
    start_time: Option<f64>,
    problems: Problems,
    restarts: usize,
    dropped: usize,
}

impl Run {
    /// A run named `name` (its path relative to the logdir, `.` for the logdir itself).
    pub fn new(name: String, dir: PathBuf) -> Self {
        Run {
            name,
            dir,
            files: BTreeMap::new(),
            content: RunContent::default(),
        }
    }

    /// Its name: the directory relative to the logdir, as TensorBoard names runs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Scalar series by tag.
    pub fn scalars(&self) -> &SeriesSet {
        &self.content.scalars
    }

    /// Hyperparameters (hparams plugin), in the writer's order; empty when none were written.
    pub fn hparams(&self) -> &[(String, HParamValue)] {
        &self.content.hparams
    }

    /// Tags that are not scalars, with their plugin (`histograms`, `images`, `text`, …).
    pub fn other_tags(&self) -> &BTreeMap<String, String> {
        &self.content.other_tags
    }

    /// The earliest wall time of any event (the file header's, usually).
    pub fn start_time(&self) -> Option<f64> {
        self.content.start_time
    }

    /// Damage met while reading, counted.
    pub fn problems(&self) -> &Problems {
        &self.content.problems
    }

    /// Restarts seen (`SessionLog.START`) and points they or steps going back dropped.
    pub fn restarts(&self) -> (usize, usize) {
        (self.content.restarts, self.content.dropped)
    }

    /// The event files, in reading order.
    pub fn files(&self) -> impl Iterator<Item = &EventFile> {
        self.files.values()
    }

    /// Bytes at the end of its files that do not make a whole record yet.
    pub fn pending_bytes(&self) -> u64 {
        self.files.values().map(EventFile::pending).sum()
    }

    /// Adds an event file (known ones are kept as they are).
    pub fn add_file(&mut self, path: PathBuf) -> bool {
        if self.files.contains_key(&path) {
            return false;
        }
        self.files.insert(path.clone(), EventFile::new(path));
        true
    }

    /// Reads what every file gained since the last poll; returns the records read.
    pub fn poll(&mut self) -> usize {
        let content = &mut self.content;
        let mut records = 0;
        for file in self.files.values_mut() {
            let path = file.path().to_path_buf();
            let mut problems = std::mem::take(&mut content.problems);
            records += file.poll(&mut problems, |data, offset| {
                content.apply(data, &path, offset)
            });
            content.problems = problems;
        }
        records
    }

    /// Reads one event's bytes as if from a file (tests and in-memory sources).
    pub fn apply_event(&mut self, data: &[u8]) {
        let path = self.dir.clone();
        self.content.apply(data, &path, 0);
    }
}

impl RunContent {
    fn apply(&mut self, data: &[u8], path: &Path, offset: u64) {
        let problem = |kind| Problem {
            path: path.to_path_buf(),
            offset,
            kind,
        };
        let ev = match wire::EventView::parse(data) {
            Ok(ev) => ev,
            Err(_) => return self.problems.push(problem(ProblemKind::BadEvent)),
        };
        // TensorBoard drops events without a usable time as well.
        if !ev.wall_time.is_finite() {
            return;
        }
        if self.start_time.is_none_or(|t| ev.wall_time < t) {
            self.start_time = Some(ev.wall_time);
        }
        match ev.body {
            EventBody::Summary(summary) => {
                let mut bad_tag = None;
                let read = wire::for_each_value(summary, |v| {
                    if let Err(tag) = self.value(v, ev.step, ev.wall_time) {
                        bad_tag = Some(tag);
                    }
                });
                if read.is_err() {
                    self.problems.push(problem(ProblemKind::BadEvent));
                }
                if let Some(tag) = bad_tag {
                    self.problems.push(problem(ProblemKind::NotAScalar(tag)));
                }
            }
            EventBody::SessionLog(bytes) => match proto::SessionLog::decode(bytes) {
                Ok(log) if log.status == proto::SESSION_START => {
                    self.restarts += 1;
                    self.dropped += self.scalars.truncate_from(ev.step);
                }
                Ok(_) => {}
                Err(_) => self.problems.push(problem(ProblemKind::BadEvent)),
            },
            EventBody::FileVersion | EventBody::Other => {}
        }
    }

    /// Takes one summary value; `Err(tag)` for a scalars-plugin tensor that holds no single
    /// float.
    fn value(&mut self, v: ValueView<'_>, step: i64, wall_time: f64) -> Result<(), String> {
        let tag = match std::str::from_utf8(v.tag) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(v.tag),
        };
        let point = |value| Point {
            step,
            wall_time,
            value,
        };
        if let Some(meta) = v.metadata {
            self.metadata(&tag, meta);
        }
        match v.kind {
            ValueKind::Simple(x) => self.dropped += self.scalars.push(&tag, point(f64::from(x))),
            ValueKind::Tensor(t) => match self.kinds.get(tag.as_ref()) {
                Some(TagKind::Scalar) => match wire::tensor_scalar(t) {
                    Ok(Some(x)) => self.dropped += self.scalars.push(&tag, point(x)),
                    _ => return Err(tag.into_owned()),
                },
                Some(TagKind::Other(_)) => {}
                None => {
                    // A tensor whose tag never said what it is: TensorBoard ignores it too.
                    self.other(&tag, "tensor");
                }
            },
            ValueKind::Histogram => self.other(&tag, "histograms"),
            ValueKind::Image => self.other(&tag, "images"),
            ValueKind::Audio => self.other(&tag, "audio"),
            ValueKind::None => {}
        }
        Ok(())
    }

    /// Remembers what a tag is from its metadata, and reads hparams.
    fn metadata(&mut self, tag: &str, bytes: &[u8]) {
        let Ok(meta) = proto::SummaryMetadata::decode(bytes) else {
            return;
        };
        let plugin = meta.plugin_data.as_ref().map(|p| p.plugin_name.as_str());
        if plugin == Some("hparams") {
            if let Some(p) = &meta.plugin_data {
                self.read_hparams(&p.content);
            }
        }
        if self.kinds.contains_key(tag) {
            return;
        }
        let kind = if plugin == Some("scalars") || meta.data_class == proto::DATA_CLASS_SCALAR {
            TagKind::Scalar
        } else {
            TagKind::Other(plugin.unwrap_or("tensor").to_string())
        };
        if let TagKind::Other(p) = &kind {
            self.other_tags.insert(tag.to_string(), p.clone());
        }
        self.kinds.insert(tag.to_string(), kind);
    }

    fn other(&mut self, tag: &str, plugin: &str) {
        if !self.other_tags.contains_key(tag) {
            self.other_tags.insert(tag.to_string(), plugin.to_string());
        }
    }

    fn read_hparams(&mut self, content: &[u8]) {
        use proto::hparams_plugin_data::Data;
        use proto::proto_value::Kind;
        let Ok(data) = proto::HParamsPluginData::decode(content) else {
            return;
        };
        let Some(Data::SessionStartInfo(info)) = data.data else {
            return;
        };
        self.hparams = info
            .hparams
            .into_iter()
            .map(|e| {
                let value = match e.value.and_then(|v| v.kind) {
                    Some(Kind::NumberValue(n)) => HParamValue::Number(n),
                    Some(Kind::StringValue(s)) => HParamValue::Text(s),
                    Some(Kind::BoolValue(b)) => HParamValue::Bool(b),
                    Some(Kind::NullValue(_)) | None => HParamValue::Null,
                };
                (e.key, value)
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::summary_value::Value;

    fn event(step: i64, what: proto::event::What) -> Vec<u8> {
        proto::Event {
            wall_time: 100.0 + step as f64,
            step,
            what: Some(what),
        }
        .encode_to_vec()
    }

    fn summary(step: i64, values: Vec<proto::SummaryValue>) -> Vec<u8> {
        event(
            step,
            proto::event::What::Summary(proto::Summary { value: values }),
        )
    }

    fn simple(tag: &str, v: f32) -> proto::SummaryValue {
        proto::SummaryValue {
            tag: tag.into(),
            metadata: None,
            value: Some(Value::SimpleValue(v)),
        }
    }

    fn scalar_meta() -> proto::SummaryMetadata {
        proto::SummaryMetadata {
            plugin_data: Some(proto::PluginData {
                plugin_name: "scalars".into(),
                content: vec![],
            }),
            ..Default::default()
        }
    }

    fn tensor_value(
        tag: &str,
        v: f64,
        meta: Option<proto::SummaryMetadata>,
    ) -> proto::SummaryValue {
        proto::SummaryValue {
            tag: tag.into(),
            metadata: meta,
            value: Some(Value::Tensor(proto::TensorProto {
                dtype: proto::DT_DOUBLE,
                double_val: vec![v],
                tensor_shape: Some(Default::default()),
                ..Default::default()
            })),
        }
    }

    fn steps(run: &Run, tag: &str) -> Vec<i64> {
        run.scalars()
            .get(tag)
            .map(|s| s.points().iter().map(|p| p.step).collect())
            .unwrap_or_default()
    }

    #[test]
    fn tensor_scalars_are_known_by_their_first_metadata() {
        let mut run = Run::new(".".into(), PathBuf::from("mem"));
        run.apply_event(&summary(
            0,
            vec![tensor_value("loss", 0.5, Some(scalar_meta()))],
        ));
        run.apply_event(&summary(1, vec![tensor_value("loss", 0.25, None)]));
        // Never announced: not a scalar, as in TensorBoard.
        run.apply_event(&summary(1, vec![tensor_value("mystery", 1.0, None)]));
        assert_eq!(steps(&run, "loss"), vec![0, 1]);
        assert_eq!(
            run.scalars()
                .get("loss")
                .and_then(|s| s.last())
                .map(|p| p.value),
            Some(0.25)
        );
        assert!(run.scalars().get("mystery").is_none());
        assert_eq!(
            run.other_tags().get("mystery").map(String::as_str),
            Some("tensor")
        );
    }

    #[test]
    fn a_session_start_drops_every_tag_from_its_step() {
        let mut run = Run::new(".".into(), PathBuf::from("mem"));
        for s in 0..10 {
            run.apply_event(&summary(s, vec![simple("a", s as f32), simple("b", 1.0)]));
        }
        let start = proto::SessionLog {
            status: proto::SESSION_START,
            ..Default::default()
        };
        run.apply_event(&event(6, proto::event::What::SessionLog(start)));
        assert_eq!(steps(&run, "a"), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(steps(&run, "b"), vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(run.restarts(), (1, 8));
    }

    #[test]
    fn a_step_going_back_drops_only_that_tag() {
        let mut run = Run::new(".".into(), PathBuf::from("mem"));
        for s in 0..5 {
            run.apply_event(&summary(s, vec![simple("a", 0.0), simple("b", 0.0)]));
        }
        run.apply_event(&summary(2, vec![simple("a", 9.0)]));
        assert_eq!(steps(&run, "a"), vec![0, 1, 2]);
        assert_eq!(steps(&run, "b"), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_garbage_record_is_a_counted_problem() {
        let mut run = Run::new(".".into(), PathBuf::from("mem"));
        run.apply_event(&[0xff, 0xff, 0xff]);
        assert_eq!(run.problems().count(), 1);
        assert!(run.scalars().is_empty());
    }
}
