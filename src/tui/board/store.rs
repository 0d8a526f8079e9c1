//! What the dashboard knows of a logdir: per run (sorted by name), per scalar tag, a bounded
//! track for drawing and exact figures for the table (last value and its step, min, max,
//! count), the value changes of batch-size and learning-rate tags (the stages), hparams,
//! notes. Filled only by [`crate::tboard::ScalarUpdate`]s; must never read a file or draw.

use crate::machine::MachineSample;
use crate::series::{Point, Sample, Tagged, Track};
use crate::tboard::{HParamValue, Role, ScalarUpdate, TagTable};

/// Value changes kept per batch-size or learning-rate tag (a schedule has a handful).
const MAX_CHANGES: usize = 256;

/// Exact figures of one tag, over every point received (not the downsampled track).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TagFigures {
    /// The newest point.
    pub last: Point,
    /// Smallest finite value (`NaN` when none was finite).
    pub min: f64,
    /// Largest finite value (`NaN` when none was finite).
    pub max: f64,
    /// Points received.
    pub count: u64,
}

/// One tag of one run.
#[derive(Clone, Debug)]
pub struct TagSeries {
    /// Bounded for drawing; samples are `Sample::timed(step, wall_time, value)`.
    pub track: Track,
    /// Exact figures; `None` before the first point.
    pub figures: Option<TagFigures>,
    /// For batch-size and learning-rate tags: the first point and every point whose value
    /// differs from the one before (where a stage begins), at most `MAX_CHANGES`.
    pub changes: Vec<Point>,
    role: Option<Role>,
}

impl TagSeries {
    fn new(role: Option<Role>) -> Self {
        TagSeries {
            track: Track::default(),
            figures: None,
            changes: Vec::new(),
            role,
        }
    }

    /// What the tag table says the tag is.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    fn push(&mut self, p: &Point) {
        self.track
            .push(Sample::timed(p.step as f64, p.wall_time, p.value));
        let finite = p.value.is_finite();
        self.figures = Some(match self.figures {
            None => TagFigures {
                last: *p,
                min: if finite { p.value } else { f64::NAN },
                max: if finite { p.value } else { f64::NAN },
                count: 1,
            },
            Some(f) => TagFigures {
                last: *p,
                // f64::min ignores a NaN operand, so a first NaN is replaced by the first finite value.
                min: if finite { f.min.min(p.value) } else { f.min },
                max: if finite { f.max.max(p.value) } else { f.max },
                count: f.count + 1,
            },
        });
        if matches!(self.role, Some(Role::BatchSize | Role::LearningRate))
            && self.changes.len() < MAX_CHANGES
            && self.changes.last().is_none_or(|c| c.value != p.value)
        {
            self.changes.push(*p);
        }
    }
}

/// One run of the logdir.
#[derive(Clone, Debug)]
pub struct BoardRun {
    /// Its name: the directory relative to the logdir (`.` for the logdir itself).
    pub name: String,
    /// Earliest wall time of any event, Unix seconds.
    pub start_time: Option<f64>,
    /// Hyperparameters, in the writer's order.
    pub hparams: Vec<(String, HParamValue)>,
    /// Tags that are not scalars, with their plugin (listed, not drawn).
    pub other_tags: Vec<(String, String)>,
    /// Restarts seen and points they dropped.
    pub restarts: (usize, usize),
    /// Scalar tags, in first-seen order.
    pub tags: Tagged<TagSeries>,
}

impl BoardRun {
    fn new(name: String) -> Self {
        BoardRun {
            name,
            start_time: None,
            hparams: Vec::new(),
            other_tags: Vec::new(),
            restarts: (0, 0),
            tags: Tagged::new(),
        }
    }

    /// One tag's series.
    pub fn tag(&self, tag: &str) -> Option<&TagSeries> {
        self.tags.get(tag)
    }

    /// When the run began (Unix seconds): its first event, else its earliest point drawn.
    pub fn start(&self) -> Option<f64> {
        self.start_time.or_else(|| {
            self.tags
                .iter()
                .filter_map(|(_, s)| s.track.x_extent(crate::series::XAxis::Wall))
                .map(|(first, _)| first)
                .reduce(f64::min)
        })
    }

    /// The tag that best says what the run's `role` was, of those the table gives that role:
    /// the one that starts earliest, then the largest (a run's batch beside its micro-batch),
    /// then the one with the fewest value changes (`stage/batch` beside the `noise_scale/batch`
    /// that batchramp's export writes at each measurement), then the first by name.
    pub fn role_tag(&self, role: Role) -> Option<(&str, &TagSeries)> {
        let first_step = |s: &TagSeries| {
            s.track
                .x_extent(crate::series::XAxis::Updates)
                .map_or(f64::INFINITY, |(a, _)| a)
        };
        let max = |s: &TagSeries| s.figures.map_or(f64::NEG_INFINITY, |f| f.max);
        self.tags
            .iter()
            .filter(|(_, s)| s.role == Some(role) && s.figures.is_some())
            .min_by(|a, b| {
                first_step(a.1)
                    .total_cmp(&first_step(b.1))
                    .then_with(|| max(b.1).total_cmp(&max(a.1)))
                    .then_with(|| a.1.changes.len().cmp(&b.1.changes.len()))
                    .then_with(|| a.0.cmp(b.0))
            })
    }

    /// The newest step of any tag.
    pub fn last_step(&self) -> Option<i64> {
        self.tags
            .iter()
            .filter_map(|(_, s)| s.figures.map(|f| f.last.step))
            .max()
    }

    /// The run's stages: where its batch-size or learning-rate tag changes value, with both
    /// values from there on. Empty when the run has neither tag.
    pub fn stages(&self) -> Vec<BoardStage> {
        let batch = self.role_tag(Role::BatchSize).map(|(_, s)| &s.changes[..]);
        let lr = self
            .role_tag(Role::LearningRate)
            .map(|(_, s)| &s.changes[..]);
        let mut steps: Vec<i64> = batch
            .into_iter()
            .chain(lr)
            .flat_map(|c| c.iter().map(|p| p.step))
            .collect();
        steps.sort_unstable();
        steps.dedup();
        // The value a change list says holds at `step`: its last change at or before it.
        let at = |changes: Option<&[Point]>, step: i64| {
            changes.and_then(|c| c.iter().rev().find(|p| p.step <= step).copied())
        };
        let mut stages: Vec<BoardStage> = Vec::new();
        for step in steps {
            let (b, l) = (at(batch, step), at(lr, step));
            // The change that begins the stage is the one at this step.
            let wall = [b, l]
                .into_iter()
                .flatten()
                .filter(|p| p.step == step)
                .map(|p| p.wall_time)
                .next()
                .unwrap_or(0.0);
            let stage = BoardStage {
                step,
                wall,
                batch: b.map(|p| p.value),
                lr: l.map(|p| p.value),
            };
            if stages
                .last()
                .is_none_or(|s| (s.batch, s.lr) != (stage.batch, stage.lr))
            {
                stages.push(stage);
            }
        }
        stages
    }

    /// Updates saved against the same run at its first batch size B₀ throughout, and the
    /// updates that run would have made by now: over stages of Δs steps at batch B, the same
    /// samples at B₀ take Δs·B/B₀ updates. `None` without a batch-size tag. Steps are read as
    /// updates, as PyTorch's and Lightning's loggers count them.
    pub fn updates_saved(&self) -> Option<(u64, u64)> {
        let (_, batch) = self.role_tag(Role::BatchSize)?;
        let changes = &batch.changes;
        let b0 = changes.first()?.value;
        let last = self.last_step()?;
        if !(b0.is_finite() && b0 > 0.0) {
            return None;
        }
        let mut baseline = 0.0;
        for (i, c) in changes.iter().enumerate() {
            let end = changes.get(i + 1).map_or(last, |n| n.step).min(last);
            let span = (end - c.step).max(0) as f64;
            baseline += span * (c.value / b0);
        }
        let first = changes[0].step.max(0);
        let baseline = (baseline + first as f64).round().max(0.0) as u64;
        let done = last.max(0) as u64;
        Some((baseline.saturating_sub(done), baseline))
    }
}

/// One stage of a run: from `step` on, its batch size and learning rate (where it logs them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoardStage {
    /// Where the stage begins.
    pub step: i64,
    /// When (Unix seconds): the wall time of the change that begins it.
    pub wall: f64,
    /// The batch-size tag's value from here on.
    pub batch: Option<f64>,
    /// The learning-rate tag's value from here on.
    pub lr: Option<f64>,
}

/// Where reading stands, as the header says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardStatus {
    /// The first poll has not ended yet.
    Loading,
    /// Read once and finished (replay, compare).
    Loaded,
    /// Following: every poll so far read; more may come.
    Following,
    /// Following ended (the reader stopped).
    Ended,
}

/// The whole logdir as the dashboard holds it.
#[derive(Clone, Debug)]
pub struct Board {
    runs: Vec<BoardRun>,
    table: TagTable,
    following: bool,
    polls: u64,
    ended: bool,
    skipped: usize,
    notes: Vec<String>,
    /// This machine's latest sample (GPUs, CPU, memory), when the logdir is on it.
    pub machine: Option<MachineSample>,
}

impl Board {
    /// An empty board whose tag roles `table` decides; `following` when the logdir is watched live.
    pub fn new(table: TagTable, following: bool) -> Self {
        Board {
            runs: Vec::new(),
            table,
            following,
            polls: 0,
            ended: false,
            skipped: 0,
            notes: Vec::new(),
            machine: None,
        }
    }

    /// Applies one change from the reader.
    pub fn apply(&mut self, u: ScalarUpdate) {
        match u {
            ScalarUpdate::Run { run } => {
                self.run_mut(&run);
            }
            ScalarUpdate::Points {
                run, tag, points, ..
            } => {
                let role = self.table.role(&tag);
                let series = self.run_mut(&run).tags.entry(&tag, || TagSeries::new(role));
                points.iter().for_each(|p| series.push(p));
            }
            ScalarUpdate::Replaced { run, tag, points } => {
                let role = self.table.role(&tag);
                let series = self.run_mut(&run).tags.entry(&tag, || TagSeries::new(role));
                *series = TagSeries::new(role);
                points.iter().for_each(|p| series.push(p));
            }
            ScalarUpdate::Info {
                run,
                start_time,
                hparams,
                other_tags,
                restarts,
            } => {
                let r = self.run_mut(&run);
                r.start_time = start_time;
                r.hparams = hparams;
                r.other_tags = other_tags;
                r.restarts = restarts;
            }
            ScalarUpdate::Notes { skipped, lines } => {
                self.skipped = skipped;
                self.notes = lines;
            }
            ScalarUpdate::Polled { polls } => self.polls = polls,
        }
    }

    /// The reader stopped (its channel disconnected).
    pub fn feed_ended(&mut self) {
        self.ended = true;
    }

    /// Where reading stands.
    pub fn status(&self) -> BoardStatus {
        match (self.following, self.polls, self.ended) {
            (false, 0, false) | (true, 0, false) => BoardStatus::Loading,
            (false, _, _) => BoardStatus::Loaded,
            (true, _, false) => BoardStatus::Following,
            (true, _, true) => BoardStatus::Ended,
        }
    }

    /// Polls finished so far.
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// The runs, by name.
    pub fn runs(&self) -> &[BoardRun] {
        &self.runs
    }

    /// Every scalar tag of any run, sorted (TensorBoard lists tags by name).
    pub fn tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = self.runs.iter().flat_map(|r| r.tags.tags()).collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    /// The tags grouped as TensorBoard groups them: by the part before the first `/`; a tag
    /// without `/` is a group of its own. Groups and tags sorted by name.
    pub fn groups(&self) -> Vec<(String, Vec<&str>)> {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for tag in self.tags() {
            let group = tag.split_once('/').map_or(tag, |(g, _)| g);
            match groups.iter_mut().find(|(g, _)| g == group) {
                Some((_, tags)) => tags.push(tag),
                None => groups.push((group.to_string(), vec![tag])),
            }
        }
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
    }

    /// What the tag table says `tag` is.
    pub fn role(&self, tag: &str) -> Option<Role> {
        self.table.role(tag)
    }

    /// The tag table in use.
    pub fn table(&self) -> &TagTable {
        &self.table
    }

    /// Damaged records skipped so far.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// One line per thing a reader should know (damage, a record still being written).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Points held over every run and tag (received, not stored: the tracks are bounded).
    pub fn point_count(&self) -> u64 {
        self.runs
            .iter()
            .flat_map(|r| r.tags.iter())
            .map(|(_, s)| s.figures.map_or(0, |f| f.count))
            .sum()
    }

    fn run_mut(&mut self, name: &str) -> &mut BoardRun {
        let i = match self.runs.binary_search_by(|r| r.name.as_str().cmp(name)) {
            Ok(i) => i,
            Err(i) => {
                self.runs.insert(i, BoardRun::new(name.to_string()));
                i
            }
        };
        &mut self.runs[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(steps: std::ops::Range<i64>, f: impl Fn(i64) -> f64) -> Vec<Point> {
        steps
            .map(|s| Point {
                step: s,
                wall_time: 1.7e9 + s as f64,
                value: f(s),
            })
            .collect()
    }

    fn points(run: &str, tag: &str, p: Vec<Point>) -> ScalarUpdate {
        ScalarUpdate::Points {
            run: run.into(),
            tag: tag.into(),
            points: p,
            more: false,
        }
    }

    #[test]
    fn figures_are_exact_and_runs_sorted_by_name() {
        let mut b = Board::new(TagTable::default(), true);
        assert_eq!(b.status(), BoardStatus::Loading);
        b.apply(points("b", "train/loss", pts(0..10, |s| 10.0 - s as f64)));
        b.apply(points("a", "train/loss", pts(0..3, |_| f64::NAN)));
        b.apply(points("a", "train/loss", pts(3..5, |s| s as f64)));
        b.apply(ScalarUpdate::Polled { polls: 1 });
        assert_eq!(b.status(), BoardStatus::Following);
        let names: Vec<&str> = b.runs().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let fa = b.runs()[0].tag("train/loss").unwrap().figures.unwrap();
        assert_eq!((fa.min, fa.max, fa.count, fa.last.step), (3.0, 4.0, 5, 4));
        let fb = b.runs()[1].tag("train/loss").unwrap().figures.unwrap();
        assert_eq!((fb.min, fb.max, fb.last.value), (1.0, 10.0, 1.0));
        assert_eq!(b.point_count(), 15);
        b.feed_ended();
        assert_eq!(b.status(), BoardStatus::Ended);
    }

    #[test]
    fn a_replaced_tag_starts_over() {
        let mut b = Board::new(TagTable::default(), false);
        b.apply(points(".", "loss", pts(0..100, |s| s as f64)));
        b.apply(ScalarUpdate::Replaced {
            run: ".".into(),
            tag: "loss".into(),
            points: pts(0..50, |_| -1.0),
        });
        let s = b.runs()[0].tag("loss").unwrap();
        assert_eq!(s.track.len(), 50);
        let f = s.figures.unwrap();
        assert_eq!((f.max, f.count, f.last.step), (-1.0, 50, 49));
    }

    #[test]
    fn stages_are_where_a_batch_size_tag_changes_value() {
        let mut b = Board::new(TagTable::default(), false);
        let bs = |s: i64| {
            if s < 10 {
                128.0
            } else if s < 20 {
                640.0
            } else {
                3200.0
            }
        };
        b.apply(points(".", "batch_size", pts(0..30, bs)));
        b.apply(points(".", "train/loss", pts(0..30, |_| 1.0)));
        let run = &b.runs()[0];
        let steps: Vec<i64> = run
            .tag("batch_size")
            .unwrap()
            .changes
            .iter()
            .map(|p| p.step)
            .collect();
        assert_eq!(steps, [0, 10, 20]);
        assert!(run.tag("train/loss").unwrap().changes.is_empty());
        let stages = run.stages();
        assert_eq!(stages.len(), 3);
        assert_eq!(
            (stages[1].step, stages[1].batch, stages[1].lr),
            (10, Some(640.0), None)
        );
        // 10 steps at 5×B₀ and 9 at 25×B₀ are 50 + 225 updates at B₀: 29 done, 275 + 10 at B₀.
        assert_eq!(run.updates_saved(), Some((285 - 29, 285)));
    }

    #[test]
    fn stages_merge_batch_size_and_learning_rate_changes() {
        let mut b = Board::new(TagTable::default(), false);
        b.apply(points(
            ".",
            "batch_size",
            pts(0..40, |s| if s < 20 { 128.0 } else { 1024.0 }),
        ));
        b.apply(points(
            ".",
            "lr-SGD",
            pts(0..40, |s| if s < 30 { 0.1 } else { 0.01 }),
        ));
        let run = &b.runs()[0];
        let s: Vec<(i64, Option<f64>, Option<f64>)> = run
            .stages()
            .iter()
            .map(|s| (s.step, s.batch, s.lr))
            .collect();
        assert_eq!(
            s,
            [
                (0, Some(128.0), Some(0.1)),
                (20, Some(1024.0), Some(0.1)),
                (30, Some(1024.0), Some(0.01))
            ]
        );
        // Of several batch-size tags, the earliest, then the largest, then the steadiest says
        // the stages.
        b.apply(points(".", "noise/batch", pts(25..40, |_| 1024.0)));
        b.apply(points(".", "micro_batch", pts(0..40, |_| 128.0)));
        b.apply(points(
            ".",
            "measured/batch",
            pts(0..40, |s| if s % 2 == 0 { 128.0 } else { 1024.0 }),
        ));
        assert_eq!(
            b.runs()[0].role_tag(Role::BatchSize).unwrap().0,
            "batch_size"
        );
        assert_eq!(b.runs()[0].stages().len(), 3);
        // A run without a batch-size tag saves nothing it could say.
        let mut b = Board::new(TagTable::default(), false);
        b.apply(points(".", "lr", pts(0..10, |_| 0.1)));
        assert_eq!(b.runs()[0].updates_saved(), None);
        assert_eq!(b.runs()[0].stages().len(), 1);
    }

    #[test]
    fn tags_group_by_their_prefix_as_tensorboard_does() {
        let mut b = Board::new(TagTable::default(), false);
        for tag in ["val/acc", "train/loss", "lr", "train/acc", "val/loss"] {
            b.apply(points("r", tag, pts(0..1, |_| 1.0)));
        }
        let groups = b.groups();
        let names: Vec<&str> = groups.iter().map(|(g, _)| g.as_str()).collect();
        assert_eq!(names, ["lr", "train", "val"]);
        assert_eq!(groups[1].1, ["train/acc", "train/loss"]);
    }
}
