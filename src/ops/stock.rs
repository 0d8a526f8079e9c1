//! Layer kernels composed from stock candle ops: the `Kernels::Candle` path, the path on every
//! non-CPU device, and the reference the fast kernels are checked against.
//!
//! Owns only compositions of public candle ops; it must never touch storage directly, so that it
//! runs unchanged on CUDA and its gradients come from candle's own autograd.

use candle_core::{Result, Tensor, D};

/// NCHW convolution without bias via candle's `conv2d`.
pub fn conv2d(x: &Tensor, w: &Tensor, stride: usize, padding: usize) -> Result<Tensor> {
    x.conv2d(w, padding, stride, 1, 1)
}

/// Ghost-chunk boundaries `(start, len)` along N; `ghost == 0` or `ghost >= n` gives one chunk.
pub fn ghost_chunks(n: usize, ghost: usize) -> Vec<(usize, usize)> {
    if ghost == 0 || ghost >= n {
        return vec![(0, n)];
    }
    (0..n)
        .step_by(ghost)
        .map(|s| (s, ghost.min(n - s)))
        .collect()
}

/// Per-channel view `(1, C, 1, 1)` of a `(C,)` parameter, for broadcasting over NCHW.
fn per_channel(t: &Tensor) -> Result<Tensor> {
    t.reshape((1, t.elem_count(), 1, 1))
}

/// Normalises one chunk with its own biased statistics; returns (y, mean (C,), var (C,)).
fn bn_chunk(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let c = x.dim(1)?;
    // Mean over N, H, W: flatten to (C, N*H*W) through a transpose so one reduction suffices.
    let xc = x.transpose(0, 1)?.flatten_from(1)?;
    let mean = xc.mean_keepdim(D::Minus1)?;
    let centered = xc.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let mean4 = mean.reshape((1, c, 1, 1))?;
    let var4 = var.reshape((1, c, 1, 1))?;
    let inv = (var4 + eps)?.sqrt()?.recip()?;
    let y = x
        .broadcast_sub(&mean4)?
        .broadcast_mul(&inv)?
        .broadcast_mul(&per_channel(gamma)?)?
        .broadcast_add(&per_channel(beta)?)?;
    let y = if relu { y.relu()? } else { y };
    Ok((y, mean.flatten_all()?, var.flatten_all()?))
}

/// Training batch norm over ghost chunks; see [`crate::ops::Kernels::batch_norm_train`].
pub fn batch_norm_train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    ghost: usize,
    eps: f64,
    relu: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let n = x.dim(0)?;
    let chunks = ghost_chunks(n, ghost);
    let mut ys = Vec::with_capacity(chunks.len());
    let mut means = Vec::with_capacity(chunks.len());
    let mut vars = Vec::with_capacity(chunks.len());
    for &(start, len) in &chunks {
        let xs = if chunks.len() == 1 {
            x.clone()
        } else {
            x.narrow(0, start, len)?
        };
        let (y, m, v) = bn_chunk(&xs, gamma, beta, eps, relu)?;
        ys.push(y);
        means.push(m.detach());
        vars.push(v.detach());
    }
    let y = if ys.len() == 1 {
        ys.pop().expect("one chunk")
    } else {
        Tensor::cat(&ys, 0)?
    };
    Ok((y, Tensor::stack(&means, 0)?, Tensor::stack(&vars, 0)?))
}

/// Inference batch norm from running statistics; see [`crate::ops::Kernels::batch_norm_eval`].
pub fn batch_norm_eval(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f64,
    relu: bool,
) -> Result<Tensor> {
    let inv = (var + eps)?.sqrt()?.recip()?;
    let scale = (gamma * &inv)?;
    let shift = (beta - (mean * &scale)?)?;
    let y = x
        .broadcast_mul(&per_channel(&scale)?)?
        .broadcast_add(&per_channel(&shift)?)?;
    if relu {
        y.relu()
    } else {
        Ok(y)
    }
}

/// `relu(a + b)` from two stock ops.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a + b)?.relu()
}
