//! One update over several workers. Every worker draws the same batch and computes its share of
//! the micro-batches ([`Share`]); the shares are combined with three sums: a small f64 one
//! (loss, correct, noise-scale norms, and the flags that make every worker retry or stop at the
//! same update), the flat gradient (each worker's sum of already-scaled micro-batch gradients:
//! the sum over workers is the gradient of the mean loss, whatever the world size), and every
//! micro-batch's batch-norm statistics in place (zeros elsewhere, so the sum is exact), which
//! every worker then folds in micro-batch order. Must never change parameters.

use std::time::Instant;

use candle_core::{Tensor, Var};

use crate::model::{PassStats, ResNet};
use crate::parallel::collective::{Collective, CollectiveError};
use crate::parallel::share::Share;
use crate::train::micro::MicroBatching;
use crate::train::step::{norms, squared_norm, zeros_like, BatchGradient, LocalGradient};

/// What this worker brings to an update's combination.
pub enum Contribution {
    /// Its share of the update, computed.
    Computed(LocalGradient),
    /// It ran out of memory: every worker shrinks its micro-batches and retries.
    OutOfMemory,
    /// It was asked to stop: every worker stops before this update.
    Stop,
}

/// How the combination came out, the same on every worker.
pub enum Combined {
    /// The whole batch's gradient, and what combining it cost.
    Gradient(BatchGradient, CommCost),
    /// Some worker ran out of memory.
    OutOfMemory,
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
    let empty = LocalGradient {
        grads: None,
        loss_sum: 0.0,
        correct: 0,
        small_sq_sum: 0.0,
        smalls: 0,
        bn: Vec::new(),
    };
    let (local, oom, stop) = match contribution {
        Contribution::Computed(l) => (l, 0.0, 0.0),
        Contribution::OutOfMemory => (empty, 1.0, 0.0),
        Contribution::Stop => (empty, 0.0, 1.0),
    };
    let mut sums = vec![
        local.loss_sum,
        local.correct as f64,
        local.small_sq_sum,
        local.smalls as f64,
        oom,
        stop,
    ];
    comm.sum_f64(&mut sums)?;
    let wait_seconds = started.elapsed().as_secs_f64();
    if sums[5] > 0.0 {
        return Ok(Combined::Stop);
    }
    if sums[4] > 0.0 {
        return Ok(Combined::OutOfMemory);
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
        bytes: (8 * sums.len() + 4 * (flat.len() + bn.len())) as u64,
    };
    let grad_sq = squared_norm(&grads).map_err(tensor_failed)?;
    Ok(Combined::Gradient(
        BatchGradient {
            norms: norms(
                want_norms,
                micro.size(n),
                n,
                sums[2],
                sums[3] as usize,
                grad_sq,
            ),
            grad_sq,
            grads,
            loss_sum: sums[0],
            correct: sums[1] as usize,
            count: n,
            bn: passes,
        },
        cost,
    ))
}

/// The workers an update of `n` samples keeps busy.
pub fn busy_workers(world: usize, n: usize, micro: &MicroBatching) -> usize {
    Share::busy(world, micro.split(n).count())
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
