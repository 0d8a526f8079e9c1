//! What the charts draw: the run's named scalar series (tag → bounded track), one store filled
//! by batchramp's own per-update events mapped onto tags, or by a TensorBoard run's scalars
//! (each under its own tag, and those whose role the tag table knows also under batchramp's,
//! so they fill the same loss and accuracy panels). Owns those mappings and the smoothing of
//! the loss and accuracy; must never draw or keep every point.

use std::sync::LazyLock;

use super::progress::Progress;
use super::stages::Stages;
use crate::events::{Event, Record, StepEvent};
use crate::series::{Ema, Point, Sample, SeriesSet, Tagged, Track};
use crate::tboard::tags::{phase, Phase};
use crate::tboard::{Role, TagTable};

/// Smoothing weight of the loss and accuracy EMA, per update.
pub const EMA_WEIGHT: f64 = 0.95;

/// The tags batchramp's own events are mapped onto.
pub mod tags {
    /// Batch loss per update.
    pub const LOSS: &str = "train/loss";
    /// The batch loss smoothed by [`super::EMA_WEIGHT`].
    pub const LOSS_EMA: &str = "train/loss_ema";
    /// Batch accuracy per update, smoothed by [`super::EMA_WEIGHT`].
    pub const ACC_EMA: &str = "train/acc_ema";
    /// Training throughput per update, images per second.
    pub const IMAGES_PER_SEC: &str = "train/images_per_sec";
    /// The measured gradient noise scale B_simple.
    pub const NOISE: &str = "noise/b_simple";
    /// The stage's batch size B per update.
    pub const BATCH: &str = "train/batch_size";
}

/// Points kept per track for tags that change slowly (noise scale, batch size).
const SLOW: usize = 256;

/// An empty track, for tags a run has not logged.
static NONE: LazyLock<Track> = LazyLock::new(|| Track::new(4, 1));

/// The run's series by tag.
#[derive(Clone, Debug)]
pub struct Curves {
    /// Every tag's bounded track, in first-seen order.
    pub tracks: Tagged<Track>,
    loss_avg: Ema,
    acc_avg: Ema,
}

impl Default for Curves {
    fn default() -> Self {
        Curves {
            tracks: Tagged::new(),
            loss_avg: Ema::new(EMA_WEIGHT),
            acc_avg: Ema::new(EMA_WEIGHT),
        }
    }
}

impl Curves {
    /// Applies one event; `progress` and `stages` are the state before it (a noise estimate is
    /// placed in epochs by the latest step, a step's B is its stage's).
    pub fn apply(&mut self, rec: &Record, progress: &Progress, stages: &Stages) {
        match &rec.event {
            Event::Step(s) => self.apply_step(s, stages),
            Event::NoiseScale(n) => {
                let at = Sample::at(
                    n.update as f64,
                    progress.epoch_at_update(n.update),
                    n.b_simple,
                );
                self.tracks
                    .push_with(tags::NOISE, at, || Track::new(SLOW, SLOW));
            }
            _ => {}
        }
    }

    fn apply_step(&mut self, s: &StepEvent, stages: &Stages) {
        let at = |y: f64| Sample::at(s.update as f64, s.epochs_done(), y);
        self.tracks.push(tags::LOSS, at(s.loss));
        if let Some(v) = self.loss_avg.push(s.loss) {
            self.tracks.push(tags::LOSS_EMA, at(v));
        }
        if let Some(v) = self.acc_avg.push(s.acc) {
            self.tracks.push(tags::ACC_EMA, at(v));
        }
        self.tracks.push(tags::IMAGES_PER_SEC, at(s.images_per_sec));
        // The stage's B, not the step's: the last batch of an epoch is often smaller.
        let nominal = stages.last().map_or(s.batch, |st| st.batch);
        self.tracks
            .push_with(tags::BATCH, at(nominal as f64), || Track::new(SLOW, SLOW));
    }

    /// The tracks of a TensorBoard run's `scalars`, roles read by `table`.
    pub fn from_scalars(scalars: &SeriesSet, table: &TagTable) -> Self {
        let mut curves = Curves::default();
        for (tag, series) in scalars.iter() {
            let role = table.role(tag);
            for p in series.points() {
                curves.push_scalar(tag, role, p);
            }
        }
        curves
    }

    /// Adds one point of a TensorBoard-style scalar `tag` under its own name and, when its
    /// `role` is a training loss, accuracy or batch size, under batchramp's tag for it too (a
    /// loss and an accuracy smoothed as batchramp's own are). Such a run has no epochs: its
    /// epoch coordinate is its step.
    pub fn push_scalar(&mut self, tag: &str, role: Option<Role>, p: &Point) {
        let at = |y: f64| Sample::at(p.step as f64, p.step as f64, y);
        let train = phase(tag) != Some(Phase::Eval);
        let ours = match role {
            Some(Role::Loss) if train => Some(tags::LOSS),
            Some(Role::BatchSize) => Some(tags::BATCH),
            _ => None,
        };
        if ours != Some(tag) {
            self.tracks.push(tag, at(p.value));
        }
        match (role, ours) {
            (_, Some(ours)) => {
                self.tracks.push(ours, at(p.value));
                if ours == tags::LOSS {
                    if let Some(v) = self.loss_avg.push(p.value) {
                        self.tracks.push(tags::LOSS_EMA, at(v));
                    }
                }
            }
            (Some(Role::Accuracy), None) if train => {
                if let Some(v) = self.acc_avg.push(p.value) {
                    self.tracks.push(tags::ACC_EMA, at(v));
                }
            }
            _ => {}
        }
    }

    /// The track of `tag` (an empty one when the run has not logged it).
    pub fn track(&self, tag: &str) -> &Track {
        self.tracks.get(tag).unwrap_or(&NONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_pytorch_run_fills_the_same_store_as_ours() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorboard/pytorch");
        let mut logdir = crate::tboard::Logdir::open(&dir).unwrap();
        logdir.poll();
        let run = logdir
            .runs()
            .iter()
            .find(|r| r.scalars().get("train/loss").is_some())
            .unwrap();
        let curves = Curves::from_scalars(run.scalars(), &TagTable::default());
        let loss = run.scalars().get("train/loss").unwrap();
        // Every tag under its own name, once (this one is also batchramp's loss tag); a track
        // draws finite values only (the fixture's loss has a NaN).
        for (tag, series) in run.scalars().iter() {
            let finite = series.points().iter().filter(|p| p.value.is_finite());
            assert_eq!(curves.track(tag).len(), finite.count() as u64, "{tag}");
        }
        let track = curves.track(tags::LOSS);
        let last_finite = loss.points().iter().rev().find(|p| p.value.is_finite());
        assert_eq!(track.last().map(|p| p.y), last_finite.map(|p| p.value));
        assert_eq!(curves.track(tags::LOSS_EMA).len(), loss.len() as u64);
        assert_eq!(
            curves.track(tags::BATCH).len(),
            run.scalars().get("batch_size").unwrap().len() as u64
        );
        let acc = run.scalars().get("train/accuracy").unwrap();
        assert_eq!(curves.track(tags::ACC_EMA).len(), acc.len() as u64);
        // A constant start stays where it is: the debiased average of equal values is that value.
        let first = acc.points()[0].value;
        assert_eq!(
            curves.track(tags::ACC_EMA).tail(usize::MAX).first(),
            Some(&first)
        );
    }
}
