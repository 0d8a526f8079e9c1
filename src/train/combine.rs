//! One update's gradient from every worker's share. Every worker draws the same batch and
//! computes its share of the micro-batches ([`Share`]); the shares are combined in three sums:
//! a small typed [`Tally`] (loss, correct, noise-scale norms, and the flags that make every
//! worker retry or stop at the same update), the flat gradient (each worker's sum of
//! already-scaled micro-batch gradients: the sum over workers is the gradient of the mean loss,
//! whatever the world size), and every micro-batch's batch-norm statistics in place (zeros
//! elsewhere, so the sum is exact), which every worker then folds in micro-batch order. The
//! world of one skips the sums it does not need (no flattening, no copies). Must never change
//! parameters.

use std::time::Instant;

use candle_core::{Tensor, Var};

use crate::model::{PassStats, ResNet};
use crate::parallel::collective::{Collective, CollectiveError};
use crate::parallel::exchange::{bytes_of, sum_over, Summable};
use crate::train::micro::MicroBatching;
use crate::train::step::{norms, squared_norm, zeros_like, BatchGradient, LocalGradient};

/// What this worker brings to an update's combination.
pub enum Contribution {
    /// Its share of the update, computed.
    Computed(LocalGradient),
    /// It ran out of memory (why): every worker shrinks its micro-batches and retries.
    OutOfMemory(String),
    /// It was asked to stop: every worker stops before this update.
    Stop,
}

/// How the combination came out, the same on every worker.
pub enum Combined {
    /// The whole batch's gradient, and what combining it cost.
    Gradient(Box<BatchGradient>, CommCost),
    /// Some worker ran out of memory: this one's reason, when it was one of them.
    OutOfMemory(Option<String>),
    /// Some worker was asked to stop.
    Stop,
}

/// Time and volume of one update's collectives on this worker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CommCost {
    /// Seconds spent in the sums (waiting for the slowest worker included).
    pub seconds: f64,
    /// Of those, the seconds of the first, small sum: the wait for the slowest worker to finish
    /// its share (the rest is the all-reduce of the gradient and batch-norm statistics proper).
    pub wait_seconds: f64,
    /// Bytes this worker contributed.
    pub bytes: u64,
}

/// The small sums of an update, exchanged before the gradient: what the step reports, the
/// noise-scale norms, and how many workers ran out of memory or are stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Sum of per-sample losses.
    pub loss_sum: f64,
    /// Correctly classified samples.
    pub correct: usize,
    /// Σ |G_small|² over the full-size micro-batches.
    pub small_sq_sum: f64,
    /// Full-size micro-batches in that sum.
    pub smalls: usize,
    /// Workers that ran out of memory.
    pub out_of_memory: usize,
    /// Workers asked to stop.
    pub stopping: usize,
}

impl Summable for Tally {
    fn to_fields(&self) -> Vec<f64> {
        vec![
            self.loss_sum,
            self.correct as f64,
            self.small_sq_sum,
            self.smalls as f64,
            self.out_of_memory as f64,
            self.stopping as f64,
        ]
    }
    fn from_fields(f: &[f64]) -> Self {
        Tally {
            loss_sum: f[0],
            correct: f[1] as usize,
            small_sq_sum: f[2],
            smalls: f[3] as usize,
            out_of_memory: f[4] as usize,
            stopping: f[5] as usize,
        }
    }
}

/// The update of `n` samples in the micro-batches of `micro`: combines this worker's
/// `contribution` with every other worker's.
pub fn combine(
    comm: &mut dyn Collective,
    model: &ResNet,
    params: &[Var],
    contribution: Contribution,
    (n, micro): (usize, &MicroBatching),
    want_norms: bool,
) -> Result<Combined, CollectiveError> {
    let started = Instant::now();
    let (local, mut oom_reason) = match contribution {
        Contribution::Computed(l) => (Some(l), None),
        Contribution::OutOfMemory(reason) => (None, Some(reason)),
        Contribution::Stop => (None, None),
    };
    let mine = Tally {
        loss_sum: local.as_ref().map_or(0.0, |l| l.loss_sum),
        correct: local.as_ref().map_or(0, |l| l.correct),
        small_sq_sum: local.as_ref().map_or(0.0, |l| l.small_sq_sum),
        smalls: local.as_ref().map_or(0, |l| l.smalls),
        out_of_memory: usize::from(oom_reason.is_some()),
        stopping: usize::from(local.is_none() && oom_reason.is_none()),
    };
    let tally = sum_over(comm, &mine)?;
    let wait_seconds = started.elapsed().as_secs_f64();
    if tally.stopping > 0 {
        return Ok(Combined::Stop);
    }
    if tally.out_of_memory > 0 {
        return Ok(Combined::OutOfMemory(oom_reason.take()));
    }
    let local = local.expect("a worker that neither stops nor ran out of memory computed");
    if comm.world() == 1 {
        return whole_batch(local, n, micro, params, want_norms)
            .map(|g| Combined::Gradient(Box::new(g), CommCost::default()))
            .map_err(tensor_failed);
    }

    let mut flat = flatten(local.grads.as_deref(), params).map_err(tensor_failed)?;
    comm.sum_f32(&mut flat)?;
    let grads = unflatten(&flat, params).map_err(tensor_failed)?;

    let parts: Vec<usize> = micro.split(n).map(|(_, len)| len).collect();
    let offsets: Vec<usize> = parts
        .iter()
        .scan(0, |at, &len| {
            let start = *at;
            *at += model.pass_stats_len(len);
            Some(start)
        })
        .collect();
    let total = offsets
        .last()
        .zip(parts.last())
        .map_or(0, |(o, &len)| o + model.pass_stats_len(len));
    let mut bn = vec![0f32; total];
    for (index, stats) in &local.bn {
        bn[offsets[*index]..offsets[*index] + stats.values.len()].copy_from_slice(&stats.values);
    }
    comm.sum_f32(&mut bn)?;
    let passes = parts
        .iter()
        .zip(&offsets)
        .map(|(&len, &at)| PassStats {
            samples: len,
            values: bn[at..at + model.pass_stats_len(len)].to_vec(),
        })
        .collect();

    let cost = CommCost {
        seconds: started.elapsed().as_secs_f64(),
        wait_seconds,
        bytes: bytes_of(&tally) + 4 * (flat.len() + bn.len()) as u64,
    };
    let grad_sq = squared_norm(&grads).map_err(tensor_failed)?;
    Ok(Combined::Gradient(
        Box::new(BatchGradient {
            norms: norms(
                want_norms,
                micro.size(n),
                n,
                tally.small_sq_sum,
                tally.smalls,
                grad_sq,
            ),
            grad_sq,
            grads,
            loss_sum: tally.loss_sum,
            correct: tally.correct,
            count: n,
            bn: passes,
        }),
        cost,
    ))
}

/// The update of `n` samples from one worker that computed all of it.
pub fn whole_batch(
    local: LocalGradient,
    n: usize,
    micro: &MicroBatching,
    params: &[Var],
    want_norms: bool,
) -> candle_core::Result<BatchGradient> {
    let grads = match local.grads {
        Some(g) => g,
        None => zeros_like(params)?,
    };
    let grad_sq = squared_norm(&grads)?;
    Ok(BatchGradient {
        norms: norms(
            want_norms,
            micro.size(n),
            n,
            local.small_sq_sum,
            local.smalls,
            grad_sq,
        ),
        grad_sq,
        grads,
        loss_sum: local.loss_sum,
        correct: local.correct,
        count: n,
        bn: local.bn.into_iter().map(|(_, s)| s).collect(),
    })
}

fn tensor_failed(e: candle_core::Error) -> CollectiveError {
    CollectiveError::Failed(e.to_string())
}

/// Every parameter's gradient, concatenated (zeros for a worker that computed nothing).
fn flatten(grads: Option<&[Tensor]>, params: &[Var]) -> candle_core::Result<Vec<f32>> {
    let zeros;
    let grads = match grads {
        Some(g) => g,
        None => {
            zeros = zeros_like(params)?;
            &zeros
        }
    };
    let mut out = Vec::with_capacity(params.iter().map(|p| p.elem_count()).sum());
    for g in grads {
        out.extend(g.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// Cuts a flat buffer back into tensors shaped like the parameters.
fn unflatten(flat: &[f32], params: &[Var]) -> candle_core::Result<Vec<Tensor>> {
    let mut at = 0;
    params
        .iter()
        .map(|p| {
            let len = p.elem_count();
            let t = Tensor::from_slice(&flat[at..at + len], p.shape(), p.device());
            at += len;
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_round_trips_through_its_fields() {
        let t = Tally {
            loss_sum: 12.5,
            correct: 7,
            small_sq_sum: 0.25,
            smalls: 3,
            out_of_memory: 1,
            stopping: 0,
        };
        assert_eq!(Tally::from_fields(&t.to_fields()), t);
        assert_eq!(bytes_of(&t), 48);
    }
}
