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
