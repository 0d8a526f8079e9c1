//! Timing the engine's update, for `bench` and `plan`: warm-up updates, then the median of
//! timed ones, on the same [`Engine`] training uses, so a benchmark can never measure another
//! step than the one a run takes. Owns the warm-up and median rule; must never print.

use std::time::Instant;

use crate::train::engine::{timing_batch, Engine, Unwatched, Update};
use crate::train::error::TrainError;

/// Medians of timed updates, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateTimes {
    /// The whole update (forward, backward, combining, optimizer step).
    pub step: f64,
    /// Combining the workers' shares (0 for one worker).
    pub comm: f64,
    /// Of that, waiting for the slowest worker.
    pub wait: f64,
}

/// Times `steps` updates of `batch` pseudo-images after `warmup` untimed ones.
pub fn time_updates(
    engine: &mut Engine,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> Result<UpdateTimes, TrainError> {
    let (images, labels) = timing_batch(batch);
    let (mut step, mut comm, mut wait) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..warmup + steps.max(1) {
        let started = Instant::now();
        let update = engine.update(&images, &labels, false, &mut Unwatched)?;
        // Queued device work must be finished before the clock stops.
        engine.device().synchronize()?;
        let seconds = started.elapsed().as_secs_f64();
        if i < warmup {
            continue;
        }
        let parallel = match &update {
            Update::Applied(a) => a.parallel,
            _ => None,
        };
        step.push(seconds);
        comm.push(parallel.map_or(0.0, |p| p.comm_seconds));
        wait.push(parallel.map_or(0.0, |p| p.wait_seconds));
    }
    Ok(UpdateTimes {
        step: median(step),
        comm: median(comm),
        wait: median(wait),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::parallel::collective::Local;
    use crate::train::engine::Faults;

    #[test]
    fn times_the_engine_one_worker_has_no_collective_time() {
        let cfg = RunConfig::from_toml_str(
            "",
            "t",
            &[
                "model.arch=\"resnet8\"".into(),
                "hardware.max_micro_batch=8".into(),
            ],
        )
        .unwrap();
        let mut e = Engine::new(
            &cfg,
            10,
            candle_core::Device::Cpu,
            Box::new(Local),
            Faults::default(),
        )
        .unwrap();
        let t = time_updates(&mut e, 16, 1, 3).unwrap();
        assert!(t.step > 0.0);
        assert_eq!((t.comm, t.wait), (0.0, 0.0));
        assert_eq!(
            e.optim_steps(),
            4,
            "warm-up and timed updates are real updates"
        );
    }
}
