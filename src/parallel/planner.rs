//! Projects a schedule onto a cluster: per stage, how many workers its batch keeps busy, how
//! long an update takes (the slowest worker's share of the micro-batches, then a ring
//! all-reduce of the gradient by the α–β model 2(W−1)/W · bytes / bandwidth + latency), and the
//! stage's throughput, communication share and wall time. The paper's argument as arithmetic:
//! a schedule that grows B gives each update more micro-batches to share, one that decays ε
//! keeps B small and stops scaling once every micro-batch has a worker. Owns the model only;
//! must never measure anything.

use crate::parallel::share::Share;
use crate::schedule::Schedule;
use crate::train::micro::MicroBatching;

/// The cluster and the measured costs a plan is made from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cluster {
    /// Workers.
    pub workers: usize,
    /// Link bandwidth, bytes per second.
    pub bandwidth: f64,
    /// Fixed cost of one all-reduce, seconds.
    pub latency: f64,
    /// Seconds one worker takes per training image (forward, backward, update share).
    pub seconds_per_image: f64,
    /// Bytes all-reduced per update (the flat gradient and the batch-norm statistics).
    pub bytes_per_update: f64,
}

impl Cluster {
    /// Seconds of one ring all-reduce.
    pub fn allreduce_seconds(&self) -> f64 {
        let w = self.workers as f64;
        if self.workers <= 1 {
            return 0.0;
        }
        2.0 * (w - 1.0) / w * self.bytes_per_update / self.bandwidth + self.latency
    }

    /// Compute and communication seconds of one update of `batch` images.
    pub fn update_seconds(&self, batch: usize, micro: &MicroBatching) -> (f64, f64) {
        let parts: Vec<usize> = micro.split(batch).map(|(_, len)| len).collect();
        // The slowest worker sets the pace: the most images dealt to one worker.
        let slowest = (0..self.workers.max(1))
            .map(|rank| {
                let share = Share {
                    rank,
                    world: self.workers.max(1),
                };
                parts[share.range(parts.len())].iter().sum::<usize>()
            })
            .max()
            .unwrap_or(0);
        (
            slowest as f64 * self.seconds_per_image,
            self.allreduce_seconds(),
        )
    }
}

/// One stage of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct StageProjection {
    /// Epochs done when the stage begins and when it ends.
    pub epochs: (usize, usize),
    /// Batch size.
    pub batch: usize,
    /// Micro-batches per update.
    pub micro_batches: usize,
    /// Workers the batch keeps busy: min(workers, micro-batches).
    pub busy: usize,
    /// Updates in the stage.
    pub updates: u64,
    /// Training images per second.
    pub images_per_sec: f64,
    /// Share of the stage's time spent in all-reduces.
    pub comm_share: f64,
    /// Seconds of the stage.
    pub seconds: f64,
}

/// A schedule projected onto a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    /// Per stage.
    pub stages: Vec<StageProjection>,
}

impl Projection {
    /// Seconds of the whole run.
    pub fn seconds(&self) -> f64 {
        self.stages.iter().map(|s| s.seconds).sum()
    }

    /// Updates of the whole run.
    pub fn updates(&self) -> u64 {
        self.stages.iter().map(|s| s.updates).sum()
    }

    /// Share of the run's time spent in all-reduces.
    pub fn comm_share(&self) -> f64 {
        let total = self.seconds();
        if total <= 0.0 {
            return 0.0;
        }
        self.stages
            .iter()
            .map(|s| s.seconds * s.comm_share)
            .sum::<f64>()
            / total
    }
}

/// Projects `schedule` over `n_train` images per epoch onto `cluster`, each update split into
/// the micro-batches of `micro`.
pub fn project(
    schedule: &Schedule,
    n_train: usize,
    micro: &MicroBatching,
    cluster: &Cluster,
) -> Projection {
    let stages = schedule
        .stages()
        .iter()
        .map(|st| {
            let b = st.batch.max(1);
            let epochs = st.end_epoch - st.start_epoch;
            // One epoch: full updates, then the smaller last one.
            let (full, rest) = (n_train / b, n_train % b);
            let (c_full, m_full) = cluster.update_seconds(b, micro);
            let (c_rest, m_rest) = if rest > 0 {
                cluster.update_seconds(rest, micro)
            } else {
                (0.0, 0.0)
            };
            let updates_per_epoch = full as u64 + u64::from(rest > 0);
            let compute = full as f64 * c_full + c_rest;
            let comm = full as f64 * m_full + if rest > 0 { m_rest } else { 0.0 };
            let epoch_seconds = compute + comm;
            let micro_batches = micro.accumulation(b);
            StageProjection {
                epochs: (st.start_epoch, st.end_epoch),
                batch: st.batch,
                micro_batches,
                busy: Share::busy(cluster.workers, micro_batches),
                updates: epochs as u64 * updates_per_epoch,
                images_per_sec: n_train as f64 / epoch_seconds.max(1e-12),
                comm_share: if epoch_seconds > 0.0 {
                    comm / epoch_seconds
                } else {
                    0.0
                },
                seconds: epochs as f64 * epoch_seconds,
            }
        })
        .collect();
    Projection { stages }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RunConfig, ScheduleKind};

    fn cluster(workers: usize) -> Cluster {
        Cluster {
            workers,
            bandwidth: 1.25e9,
            latency: 50e-6,
            seconds_per_image: 1e-3,
            bytes_per_update: 4.0 * 78_042.0,
        }
    }

    fn schedule(kind: ScheduleKind) -> Schedule {
        let mut cfg = RunConfig::default();
        cfg.schedule.kind = kind;
        cfg.schedule.max_batch = 5000;
        Schedule::new(&cfg, 50_000)
    }

    #[test]
    fn the_ring_allreduce_follows_the_alpha_beta_model() {
        assert_eq!(cluster(1).allreduce_seconds(), 0.0);
        let c = cluster(4);
        let want = 2.0 * 3.0 / 4.0 * 4.0 * 78_042.0 / 1.25e9 + 50e-6;
        assert!((c.allreduce_seconds() - want).abs() < 1e-15);
    }

    #[test]
    fn a_growing_batch_keeps_more_workers_busy_than_a_decaying_rate() {
        let micro = MicroBatching::new(128, 128);
        let inc = project(
            &schedule(ScheduleKind::IncreaseBatch),
            50_000,
            &micro,
            &cluster(16),
        );
        let dec = project(
            &schedule(ScheduleKind::DecayLr),
            50_000,
            &micro,
            &cluster(16),
        );
        let busy: Vec<usize> = inc.stages.iter().map(|s| s.busy).collect();
        assert_eq!(busy, vec![1, 5, 16, 16]);
        assert!(dec.stages.iter().all(|s| s.busy == 1));
        assert!(
            inc.seconds() < dec.seconds() / 2.0,
            "{} vs {}",
            inc.seconds(),
            dec.seconds()
        );
        // On one worker both do the same work; increase-batch also saves the all-reduces' absence.
        let one_inc = project(
            &schedule(ScheduleKind::IncreaseBatch),
            50_000,
            &micro,
            &cluster(1),
        );
        let one_dec = project(
            &schedule(ScheduleKind::DecayLr),
            50_000,
            &micro,
            &cluster(1),
        );
        assert!((one_inc.seconds() - one_dec.seconds()).abs() < 1e-6 * one_dec.seconds());
        assert_eq!(one_inc.comm_share(), 0.0);
        assert_eq!(
            inc.updates(),
            schedule(ScheduleKind::IncreaseBatch).updates()
        );
    }

    #[test]
    fn a_stage_waits_for_its_slowest_worker() {
        let micro = MicroBatching::new(128, 128);
        // 5 micro-batches on 4 workers: one worker does two.
        let (compute, comm) = cluster(4).update_seconds(640, &micro);
        assert!((compute - 256.0 * 1e-3).abs() < 1e-12);
        assert!(comm > 0.0);
    }
}
