//! What the charts draw: the run's named scalar series (tag → bounded track), the same store a
//! TensorBoard run fills, with batchramp's own per-update events mapped onto tags. Owns that
//! mapping and the smoothing of the loss and accuracy; must never draw or keep every point.

use std::sync::LazyLock;

use super::progress::Progress;
use super::stages::Stages;
use crate::events::{Event, Record, StepEvent};
use crate::series::{Ema, Sample, Tagged, Track};

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

    /// The track of `tag` (an empty one when the run has not logged it).
    pub fn track(&self, tag: &str) -> &Track {
        self.tracks.get(tag).unwrap_or(&NONE)
    }
}
