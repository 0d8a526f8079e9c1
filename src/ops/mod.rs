//! Layer-level kernels the models call: convolution, batch norm (training with ghost chunks, and
//! inference), convolution fused with training batch norm, the fused residual join, and the
//! optimizer's in-place update passes, each with a fast CPU path and a stock candle path.
//!
//! Owns the choice of implementation per call; it must never hold model state (running
//! statistics, parameters) — callers pass every tensor in and get every statistic back.

mod bn;
mod conv;
mod conv_bn;
mod cpu;
mod direct;
mod eltwise;
mod stock;
pub mod update;
mod winograd;

use candle_core::{Result, Tensor};

pub use cpu::OpError;
pub use stock::ghost_chunks;

/// The fast CPU layers on plain f32 slices, for a caller that runs its own backward pass (the
/// model's graph-free training step); the candle ops above wrap the same functions.
pub mod slices {
    pub use super::conv_bn::{ConvBnGrads, ConvBnPass};
    pub use super::cpu::{is_fast, with_f32};
    pub use super::eltwise::{add_assign, add_relu, relu_grad, sum_squares, sum_squares_of_mean};
}

/// Sizes the CPU worker pool the fast kernels share with candle's own element-wise ops
/// (`threads` = 0 keeps candle's default, one per physical core). Call once at start-up, before
/// any tensor op: candle reads `CANDLE_NUM_THREADS` when its pool is first used.
pub fn set_cpu_threads(threads: usize) {
    if threads > 0 {
        std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    }
}

/// Keeps freed activation buffers in the process instead of returning them to the kernel after
/// every op (glibc only; a no-op elsewhere): raises the mmap threshold to its 32 MiB maximum and
/// stops heap trimming. Measured on ResNet-20 b128: page faults 383k → 87k, ~6% faster steps.
/// Call once at start-up.
pub fn tune_cpu_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts glibc malloc parameters; called before heavy allocation.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Which implementation the layers use: our fast CPU ops, or stock candle ops (also the path on CUDA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// Hand-written CPU kernels (f32 on CPU); other devices and dtypes fall back to `Candle`.
    #[default]
    Fast,
    /// Compositions of stock candle ops; runs anywhere candle runs.
    Candle,
}

impl Kernels {
    /// NCHW conv, weight (Cout, Cin, k, k), no bias, k in {1,3}, stride 1|2, zero padding.
    pub fn conv2d(&self, x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
        if self.fast(&[x, w]) {
            x.contiguous()?.apply_op2(
                &w.contiguous()?,
                conv::Conv2d {
                    stride,
                    pad: padding,
                },
            )
        } else {
            stock::conv2d(x, w, stride, padding)
        }
    }

    /// Training-mode batch norm with statistics over ghost chunks of `ghost` samples along N
    /// (ghost = 0 or >= N means one chunk; the last chunk may be smaller). Optional fused ReLU.
    /// Returns (y, mean, var) where mean/var are DETACHED, shape (chunks, C), var biased.
    pub fn batch_norm_train(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        ghost: usize,
        eps: f64,
        relu: bool,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if !self.fast(&[x, gamma, beta]) || x.rank() != 4 {
            return stock::batch_norm_train(x, gamma, beta, ghost, eps, relu);
        }
        let x = x.contiguous()?;
        let d = bn::Dims::new(x.shape(), &[gamma.shape(), beta.shape()])?;
        let chunks = ghost_chunks(x.dim(0)?, ghost);
        let stats = cpu::with_f32("batch_norm_train", &x, |xs| {
            bn::train_stats(xs, d, chunks, eps)
        })?;
        let (mean_t, var_t) = stats_tensors(&stats)?;
        let op = bn::BnTrain { stats, relu };
        let y = x.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)?;
        Ok((y, mean_t, var_t))
    }

    /// Convolution (as [`Kernels::conv2d`]) followed by training-mode batch norm (as
    /// [`Kernels::batch_norm_train`]), fused into one op on the fast path so the convolution's
    /// output and its gradient stay out of candle's graph. Returns (y, mean, var) like
    /// `batch_norm_train`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_bn_train(
        &self,
        x: &Tensor,
        w: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        (stride, padding): (usize, usize),
        ghost: usize,
        eps: f64,
        relu: bool,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if !self.fast(&[x, w, gamma, beta]) || x.rank() != 4 || gamma.rank() != 1 {
            let y = self.conv2d(x, w, stride, padding)?;
            return self.batch_norm_train(&y, gamma, beta, ghost, eps, relu);
        }
        let gb = Tensor::cat(&[gamma, beta], 0)?;
        let (op, stats) = conv_bn::ConvBnTrain::new((stride, padding), ghost, eps, relu);
        let y = x.contiguous()?.apply_op3(&w.contiguous()?, &gb, op)?;
        let stats = stats.lock().unwrap_or_else(|e| e.into_inner()).take();
        let stats = stats.ok_or_else(|| OpError::shape("conv_bn", "no statistics recorded"))?;
        let (mean, var) = stats_tensors(&stats)?;
        Ok((y, mean, var))
    }

    /// Inference batch norm with running statistics, optional fused ReLU. The running statistics
    /// are treated as constants (no gradient flows into them).
    #[allow(clippy::too_many_arguments)]
    pub fn batch_norm_eval(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f64,
        relu: bool,
    ) -> Result<Tensor> {
        if !self.fast(&[x, gamma, beta, mean, var]) || x.rank() != 4 {
            return stock::batch_norm_eval(x, gamma, beta, mean, var, eps, relu);
        }
        let x = x.contiguous()?;
        bn::Dims::new(
            x.shape(),
            &[gamma.shape(), beta.shape(), mean.shape(), var.shape()],
        )?;
        let mean = mean.flatten_all()?.to_vec1::<f32>()?;
        let invstd = var
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
            .collect();
        let op = bn::BnEval { mean, invstd, relu };
        x.apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
    }

    /// Optional fusion: relu(a + b) for the residual join.
    pub fn add_relu(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        if self.fast(&[a, b]) && a.shape() == b.shape() {
            a.contiguous()?
                .apply_op2(&b.contiguous()?, eltwise::AddRelu)
        } else {
            stock::add_relu(a, b)
        }
    }

    /// True when this call should take the fast CPU kernels: `Fast` chosen and every tensor f32
    /// on the CPU (CUDA builds and other dtypes use the stock ops).
    fn fast(&self, ts: &[&Tensor]) -> bool {
        *self == Kernels::Fast && ts.iter().all(|t| cpu::is_fast(t))
    }
}

/// The chunk-major (mean, var) of `st` as detached `(chunks, C)` tensors.
fn stats_tensors(st: &bn::TrainStats) -> Result<(Tensor, Tensor)> {
    let k = st.chunks.len();
    let c = st.mean.len() / k.max(1);
    Ok((
        cpu::tensor(st.mean.clone(), (k, c))?,
        cpu::tensor(st.var.clone(), (k, c))?,
    ))
}

#[cfg(test)]
mod tests;
