//! Ghost batch norm: batch-norm statistics over fixed-size chunks of the batch, so that the
//! normalisation a sample sees does not change when the batch size B grows (Hoffer et al. 2017,
//! used by Smith et al.). Running statistics follow PyTorch: each chunk updates them in turn
//! with the unbiased variance. A training pass writes its chunks' statistics into the caller's
//! [`StatsRecorder`] and keeps nothing itself; they are folded into the running ones only when
//! the update is applied ([`super::ResNet::fold_running_stats`]), so an update that is retried
//! or dropped leaves them untouched, and a data-parallel run can fold every worker's chunks in
//! the same order a single process would. A layer must never change its running statistics
//! during a forward pass.

use candle_core::{Result, Tensor, Var};

use super::ParamStore;
use crate::ops::{ghost_chunks, Kernels};

/// The batch-norm statistics of one training pass as its layers produce them: one slot per
/// layer, indexed by the layer's place in the fixed exchange order, each holding
/// `[positions, means…, vars…]` (chunk-major means and biased variances).
pub(super) struct StatsRecorder {
    slots: Vec<Option<Vec<f32>>>,
}

impl StatsRecorder {
    /// An empty recorder for a network of `layers` batch-norm layers.
    pub(super) fn new(layers: usize) -> Self {
        StatsRecorder {
            slots: vec![None; layers],
        }
    }

    /// Records layer `slot`'s statistics: `means` and `vars` are chunk-major (chunks × C, biased
    /// variances), over `positions` values per channel and sample.
    fn record(&mut self, slot: usize, positions: usize, means: &[f32], vars: &[f32]) -> Result<()> {
        let Some(entry) = self.slots.get_mut(slot) else {
            candle_core::bail!(
                "batch-norm layer {slot} outside a recorder of {}",
                self.slots.len()
            );
        };
        if entry.is_some() {
            candle_core::bail!("batch-norm layer {slot} recorded twice in one pass");
        }
        let mut out = Vec::with_capacity(1 + means.len() + vars.len());
        out.push(positions as f32);
        out.extend_from_slice(means);
        out.extend_from_slice(vars);
        *entry = Some(out);
        Ok(())
    }

    /// Every layer's statistics in slot order, or the first slot left empty.
    pub(super) fn into_layers(self) -> std::result::Result<Vec<Vec<f32>>, usize> {
        self.slots
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.ok_or(i))
            .collect()
    }
}

/// One batch-norm layer with ghost chunks and running statistics.
pub struct GhostBatchNorm {
    gamma: Var,
    beta: Var,
    running_mean: Var,
    running_var: Var,
    ghost: usize,
    momentum: f64,
    eps: f64,
    /// This layer's place in the network's exchange order: its [`StatsRecorder`] slot.
    slot: usize,
}

impl GhostBatchNorm {
    /// A layer over `channels` with chunk size `ghost` (0 = whole batch), recording its
    /// statistics in recorder slot `slot`.
    pub fn new(
        store: &mut ParamStore,
        (name, slot): (&str, usize),
        channels: usize,
        ghost: usize,
        momentum: f64,
        eps: f64,
    ) -> Result<Self> {
        Ok(GhostBatchNorm {
            gamma: store.constant(&format!("{name}.weight"), &[channels], 1.0)?,
            beta: store.constant(&format!("{name}.bias"), &[channels], 0.0)?,
            running_mean: store.buffer(&format!("{name}.running_mean"), &[channels], 0.0)?,
            running_var: store.buffer(&format!("{name}.running_var"), &[channels], 1.0)?,
            ghost,
            momentum,
            eps,
            slot,
        })
    }

    /// Normalises `x` (NCHW) with the running statistics, optionally followed by ReLU.
    pub(super) fn forward_eval(&self, k: Kernels, x: &Tensor, relu: bool) -> Result<Tensor> {
        k.batch_norm_eval(
            x,
            self.gamma.as_tensor(),
            self.beta.as_tensor(),
            self.running_mean.as_tensor(),
            self.running_var.as_tensor(),
            self.eps,
            relu,
        )
    }

    /// Training mode applied to the convolution of `x` by `w` (stride, padding): the two run as
    /// one fused op where the kernels allow, and the chunks' statistics go into `stats`.
    pub(super) fn forward_train_after_conv(
        &self,
        k: Kernels,
        (x, w): (&Tensor, &Tensor),
        stride_padding: (usize, usize),
        relu: bool,
        stats: &mut StatsRecorder,
    ) -> Result<Tensor> {
        let (y, mean, var) = k.conv_bn_train(
            x,
            w,
            self.gamma.as_tensor(),
            self.beta.as_tensor(),
            stride_padding,
            self.ghost,
            self.eps,
            relu,
        )?;
        let (_, _, h, wd) = y.dims4()?;
        let means = mean.flatten_all()?.to_vec1::<f32>()?;
        let vars = var.flatten_all()?.to_vec1::<f32>()?;
        self.record_stats(stats, h * wd, &means, &vars)?;
        Ok(y)
    }

    /// Writes one training pass's batch statistics into `stats`: `means` and `vars` are
    /// chunk-major (chunks × C, biased variances), over `positions` values per channel and sample.
    pub(super) fn record_stats(
        &self,
        stats: &mut StatsRecorder,
        positions: usize,
        means: &[f32],
        vars: &[f32],
    ) -> Result<()> {
        stats.record(self.slot, positions, means, vars)
    }

    /// Values this layer records for a pass over `samples`.
    pub(super) fn stats_len(&self, samples: usize) -> usize {
        1 + 2 * ghost_chunks(samples, self.ghost).len() * rm_len(&self.running_mean)
    }

    /// Folds one pass's statistics, as [`StatsRecorder`] laid them out, over a micro-batch of
    /// `n` samples into the running ones.
    pub(super) fn fold_stats(&self, n: usize, stats: &[f32]) -> Result<()> {
        let c = rm_len(&self.running_mean);
        let chunks = ghost_chunks(n, self.ghost).len();
        if stats.len() != 1 + 2 * chunks * c {
            candle_core::bail!(
                "batch-norm statistics of {} values for {n} samples, expected {}",
                stats.len(),
                1 + 2 * chunks * c
            );
        }
        let positions = stats[0] as usize;
        let (means, vars) = stats[1..].split_at(chunks * c);
        self.update_running_stats(n, positions, means, vars)
    }

    /// Folds the batch statistics of one training pass into the running ones: `means` and `vars`
    /// are chunk-major (chunks × C, biased variances) over a batch of `n` samples of `positions`
    /// values per channel.
    fn update_running_stats(
        &self,
        n: usize,
        positions: usize,
        means: &[f32],
        vars: &[f32],
    ) -> Result<()> {
        let m = self.momentum;
        // Stats are small (chunks × C); fold them on the host in f64 for a deterministic order.
        let mut rm = self
            .running_mean
            .as_tensor()
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()?;
        let mut rv = self
            .running_var
            .as_tensor()
            .to_dtype(candle_core::DType::F64)?
            .to_vec1::<f64>()?;
        let c = rm.len();
        for ((_, len), (cm, cv)) in ghost_chunks(n, self.ghost)
            .into_iter()
            .zip(means.chunks(c).zip(vars.chunks(c)))
        {
            let count = (len * positions) as f64;
            let unbias = if count > 1.0 {
                count / (count - 1.0)
            } else {
                1.0
            };
            for c in 0..rm.len() {
                rm[c] = (1.0 - m) * rm[c] + m * cm[c] as f64;
                rv[c] = (1.0 - m) * rv[c] + m * cv[c] as f64 * unbias;
            }
        }
        let dev = self.running_mean.device();
        let to = |v: Vec<f64>| -> Result<Tensor> {
            let f: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
            Tensor::from_vec(f, rm_len(&self.running_mean), dev)
        };
        self.running_mean.set(&to(rm)?)?;
        self.running_var.set(&to(rv)?)?;
        Ok(())
    }

    /// The scale γ and shift β.
    pub(super) fn affine(&self) -> (&Var, &Var) {
        (&self.gamma, &self.beta)
    }

    /// This layer's [`StatsRecorder`] slot.
    #[cfg(test)]
    pub(super) fn slot(&self) -> usize {
        self.slot
    }

    /// Samples per ghost chunk (0 = the whole batch) and ε.
    pub(super) fn ghost_eps(&self) -> (usize, f64) {
        (self.ghost, self.eps)
    }
}

fn rm_len(v: &Var) -> usize {
    v.elem_count()
}
