//! Fast CPU batch norm on NCHW f32: training mode with ghost-chunk statistics and inference mode
//! with running statistics, both with an optional fused ReLU, as candle `CustomOp3`s
//! (`x`, `gamma`, `beta`) with backward.
//!
//! Owns the per-channel loops. Hand-written for speed (the stock path builds batch norm from a
//! dozen broadcast ops, each a full pass and a fresh buffer). Statistics are computed once before
//! the op and carried inside it for the backward pass; it must never update running statistics —
//! the model does that from the returned (mean, var).

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::cpu::{self, OpError, SendPtr};

/// NCHW extents of a batch-norm input: samples, channels, pixels per channel.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    n: usize,
    c: usize,
    p: usize,
}

impl Dims {
    /// Extents of N samples of C channels of `p` pixels.
    pub fn raw(n: usize, c: usize, p: usize) -> Self {
        Self { n, c, p }
    }

    /// Reads (N, C, H·W) from a rank-4 shape and checks the per-channel parameters against C.
    pub fn new(x: &Shape, params: &[&Shape]) -> Result<Self> {
        let (n, c, h, w) = x.dims4()?;
        for s in params {
            if s.elem_count() != c || s.rank() != 1 {
                return Err(OpError::shape(
                    "batch_norm",
                    format!(
                        "parameter of shape {s:?} does not match the {c} channels of input {x:?}"
                    ),
                ));
            }
        }
        Ok(Self { n, c, p: h * w })
    }
}

/// Sum and sum of squares of `v - shift`, in f32 lanes per row and f64 across rows.
fn shifted_sums(v: &[f32], shift: f32) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512() {
        // SAFETY: the CPU has AVX-512F.
        let (a, b) = unsafe { avx512::shifted_sums(v, shift) };
        return (a as f64, b as f64);
    }
    let (mut s1, mut s2) = (0f64, 0f64);
    for &x in v {
        let d = (x - shift) as f64;
        s1 += d;
        s2 += d * d;
    }
    (s1, s2)
}

cpu::multiversion! {
    /// y = x·a + b over one row, then ReLU if asked.
    fn affine_row(x: &[f32], y: &mut [f32], a: f32, b: f32, relu: bool) -> () {
        if relu {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = (v * a + b).max(0.0);
            }
        } else {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = v * a + b;
            }
        }
    }
}

/// Σge and Σge·(x − mu) over one row, ge = g masked to where the fused ReLU output y > 0.
fn grad_row_sums(x: &[f32], g: &[f32], y: Option<&[f32]>, mu: f32) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if cpu::has_avx512() {
        // SAFETY: the CPU has AVX-512F; the rows have equal lengths.
        return unsafe { avx512::grad_row_sums(x, g, y, mu) };
    }
    let (mut sa, mut sb) = (0f32, 0f32);
    for i in 0..x.len() {
        let ge = match y {
            Some(y) if y[i] <= 0.0 => 0.0,
            _ => g[i],
        };
        sa += ge;
        sb += ge * (x[i] - mu);
    }
    (sa, sb)
}

cpu::multiversion! {
    /// dx = A·ge − B·x + C over one row, ge = g masked by the fused ReLU output when given.
    fn input_grad_row(
        x: &[f32],
        g: &[f32],
        y: Option<&[f32]>,
        abc: (f32, f32, f32),
        dx: &mut [f32],
    ) -> () {
        let (a, b, c) = abc;
        match y {
            Some(y) => {
                for (((dv, &xv), &gv), &yv) in dx.iter_mut().zip(x).zip(g).zip(y) {
                    let ge = if yv > 0.0 { gv } else { 0.0 };
                    *dv = a * ge - b * xv + c;
                }
            }
            None => {
                for ((dv, &xv), &gv) in dx.iter_mut().zip(x).zip(g) {
                    *dv = a * gv - b * xv + c;
                }
            }
        }
    }
}

/// Hand-written AVX-512 row reductions: LLVM keeps masked float reductions scalar.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Mask of the first `n` (< 16) lanes.
    fn tail(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }

    /// Σ(v − shift) and Σ(v − shift)².
    #[target_feature(enable = "avx512f")]
    pub unsafe fn shifted_sums(v: &[f32], shift: f32) -> (f32, f32) {
        let sh = _mm512_set1_ps(shift);
        let (mut s, mut q) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        let n = v.len() / 16 * 16;
        let p = v.as_ptr();
        let mut i = 0;
        while i < n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(p.add(i)), sh);
            s = _mm512_add_ps(s, d);
            q = _mm512_fmadd_ps(d, d, q);
            i += 16;
        }
        if n < v.len() {
            let m = tail(v.len() - n);
            let d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p.add(n)), sh);
            s = _mm512_add_ps(s, d);
            q = _mm512_fmadd_ps(d, d, q);
        }
        (_mm512_reduce_add_ps(s), _mm512_reduce_add_ps(q))
    }

    /// Σge and Σge·(x − mu), ge = g where y > 0 (or everywhere without y).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn grad_row_sums(x: &[f32], g: &[f32], y: Option<&[f32]>, mu: f32) -> (f32, f32) {
        let len = x.len().min(g.len());
        let m0 = _mm512_set1_ps(mu);
        let zero = _mm512_setzero_ps();
        let (mut a, mut b) = (zero, zero);
        let mut i = 0;
        while i < len {
            let m = if len - i >= 16 { 0xffff } else { tail(len - i) };
            let mut ge = _mm512_maskz_loadu_ps(m, g.as_ptr().add(i));
            if let Some(y) = y {
                let yv = _mm512_maskz_loadu_ps(m, y.as_ptr().add(i));
                ge = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(yv, zero), ge);
            }
            let xc = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x.as_ptr().add(i)), m0);
            a = _mm512_add_ps(a, ge);
            b = _mm512_fmadd_ps(ge, xc, b);
            i += 16;
        }
        (_mm512_reduce_add_ps(a), _mm512_reduce_add_ps(b))
    }
}

/// Biased per-chunk statistics: (mean, var), each chunk-major `chunks × C`.
pub fn stats(x: &[f32], d: Dims, chunks: &[(usize, usize)]) -> (Vec<f32>, Vec<f32>) {
    let per_channel: Vec<Vec<(f32, f32)>> = cpu::par_map(d.c, |ch| {
        chunks
            .iter()
            .map(|&(start, len)| {
                // Shifting by a sample value keeps E[x²] − E[x]² from cancelling badly.
                let shift = x[(start * d.c + ch) * d.p];
                let (mut s1, mut s2) = (0f64, 0f64);
                for s in start..start + len {
                    let (a, b) = shifted_sums(&x[(s * d.c + ch) * d.p..][..d.p], shift);
                    s1 += a;
                    s2 += b;
                }
                let m = (len * d.p) as f64;
                let mean = s1 / m;
                let var = (s2 / m - mean * mean).max(0.0);
                ((shift as f64 + mean) as f32, var as f32)
            })
            .collect()
    });
    let k = chunks.len();
    let mut mean = vec![0f32; k * d.c];
    let mut var = vec![0f32; k * d.c];
    for (ch, per) in per_channel.iter().enumerate() {
        for (j, &(m, v)) in per.iter().enumerate() {
            mean[j * d.c + ch] = m;
            var[j * d.c + ch] = v;
        }
    }
    (mean, var)
}

/// Index of the ghost chunk holding each sample.
fn chunk_of(n: usize, chunks: &[(usize, usize)]) -> Vec<usize> {
    let mut out = vec![0; n];
    for (j, &(start, len)) in chunks.iter().enumerate() {
        out[start..start + len].fill(j);
    }
    out
}

/// y = x·a + b per (sample, channel) row, then ReLU if asked; `ab(s, ch)` gives (a, b).
fn affine(
    x: &[f32],
    d: Dims,
    relu: bool,
    ab: impl Fn(usize, usize) -> (f32, f32) + Sync,
) -> Vec<f32> {
    let row = d.c * d.p;
    let fill = |yp: SendPtr| {
        cpu::for_ranges(d.n, |_, r| {
            for s in r {
                // SAFETY: sample rows are disjoint across tasks and inside `y`.
                let ys = unsafe { yp.slice(s * row..(s + 1) * row) };
                let xs = &x[s * row..(s + 1) * row];
                for ch in 0..d.c {
                    let (a, b) = ab(s, ch);
                    affine_row(
                        &xs[ch * d.p..][..d.p],
                        &mut ys[ch * d.p..][..d.p],
                        a,
                        b,
                        relu,
                    );
                }
            }
        })
    };
    // SAFETY: the tasks write every (sample, channel) row of the n·c·p outputs.
    unsafe { cpu::filled(x.len(), fill) }
}

/// Per-chunk, per-channel sums of the masked gradient `ge` and of `ge·(x − mean)`, chunk-major.
fn grad_sums(
    x: &[f32],
    g: &[f32],
    y: Option<&[f32]>,
    d: Dims,
    chunks: &[(usize, usize)],
    mean: &[f32],
) -> (Vec<f64>, Vec<f64>) {
    let per_channel: Vec<Vec<(f64, f64)>> = cpu::par_map(d.c, |ch| {
        chunks
            .iter()
            .enumerate()
            .map(|(j, &(start, len))| {
                let mu = mean[j * d.c + ch];
                let (mut sg, mut sgx) = (0f64, 0f64);
                for s in start..start + len {
                    let o = (s * d.c + ch) * d.p;
                    let (xr, gr) = (&x[o..][..d.p], &g[o..][..d.p]);
                    let (a, b) = grad_row_sums(xr, gr, y.map(|y| &y[o..][..d.p]), mu);
                    sg += a as f64;
                    sgx += b as f64;
                }
                (sg, sgx)
            })
            .collect()
    });
    let k = chunks.len();
    let mut sg = vec![0f64; k * d.c];
    let mut sgx = vec![0f64; k * d.c];
    for (ch, per) in per_channel.iter().enumerate() {
        for (j, &(a, b)) in per.iter().enumerate() {
            sg[j * d.c + ch] = a;
            sgx[j * d.c + ch] = b;
        }
    }
    (sg, sgx)
}

/// dx = A·ge − B·x + C per (sample, channel) row; `abc(s, ch)` gives (A, B, C).
fn input_grad(
    x: &[f32],
    g: &[f32],
    y: Option<&[f32]>,
    d: Dims,
    abc: impl Fn(usize, usize) -> (f32, f32, f32) + Sync,
) -> Vec<f32> {
    let row = d.c * d.p;
    let fill = |dp: SendPtr| {
        cpu::for_ranges(d.n, |_, r| {
            for s in r {
                // SAFETY: sample rows are disjoint across tasks and inside `dx`.
                let out = unsafe { dp.slice(s * row..(s + 1) * row) };
                for ch in 0..d.c {
                    let o = s * row + ch * d.p;
                    let (xr, gr) = (&x[o..][..d.p], &g[o..][..d.p]);
                    let yr = y.map(|y| &y[o..][..d.p]);
                    input_grad_row(xr, gr, yr, abc(s, ch), &mut out[ch * d.p..][..d.p]);
                }
            }
        })
    };
    // SAFETY: the tasks write every (sample, channel) row of the n·c·p input gradients.
    unsafe { cpu::filled(x.len(), fill) }
}

/// Reads `t` as a (C,) f32 vector.
fn vec_of(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// The statistics a training-mode forward pass keeps for its backward pass.
pub struct TrainStats {
    /// Ghost chunks `(start, len)` along N.
    pub chunks: Vec<(usize, usize)>,
    /// Chunk-major means, `chunks × C`.
    pub mean: Vec<f32>,
    /// Chunk-major biased variances, `chunks × C` (for the running averages).
    pub var: Vec<f32>,
    /// Chunk-major 1/sqrt(var + eps), `chunks × C`.
    pub invstd: Vec<f32>,
}

/// Computes the chunk statistics of `x`.
pub fn train_stats(x: &[f32], d: Dims, chunks: Vec<(usize, usize)>, eps: f64) -> TrainStats {
    let (mean, var) = stats(x, d, &chunks);
    let invstd = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + eps).sqrt()) as f32)
        .collect();
    TrainStats {
        chunks,
        mean,
        var,
        invstd,
    }
}

/// Normalises `x` with its chunk statistics, scales and shifts (and applies ReLU if asked).
pub fn train_forward(
    x: &[f32],
    d: Dims,
    st: &TrainStats,
    gamma: &[f32],
    beta: &[f32],
    relu: bool,
) -> Vec<f32> {
    let which = chunk_of(d.n, &st.chunks);
    affine(x, d, relu, |s, ch| {
        let j = which[s] * d.c + ch;
        let a = gamma[ch] * st.invstd[j];
        (a, beta[ch] - st.mean[j] * a)
    })
}

/// Gradients of the training forward pass: (dx if `need_dx`, dgamma, dbeta). `y` is the output
/// when a ReLU was fused (its mask gates `g`).
pub fn train_backward(
    x: &[f32],
    g: &[f32],
    y: Option<&[f32]>,
    d: Dims,
    st: &TrainStats,
    gamma: &[f32],
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (sg, sgx) = grad_sums(x, g, y, d, &st.chunks, &st.mean);
    let mut dgamma = vec![0f32; d.c];
    let mut dbeta = vec![0f32; d.c];
    for j in 0..st.chunks.len() {
        for ch in 0..d.c {
            let i = j * d.c + ch;
            dgamma[ch] += (sgx[i] * st.invstd[i] as f64) as f32;
            dbeta[ch] += sg[i] as f32;
        }
    }
    let dx = need_dx.then(|| {
        let which = chunk_of(d.n, &st.chunks);
        input_grad(x, g, y, d, |s, ch| {
            let j = which[s];
            let i = j * d.c + ch;
            let m = (st.chunks[j].1 * d.p) as f64;
            let inv = st.invstd[i] as f64;
            let a = gamma[ch] as f64 * inv;
            let b = a * inv * inv * sgx[i] / m;
            let c = -a * sg[i] / m + b * st.mean[i] as f64;
            (a as f32, b as f32, c as f32)
        })
    });
    (dx, dgamma, dbeta)
}

/// Training-mode batch norm with its statistics computed before the op and kept for backward.
pub struct BnTrain {
    /// The input's chunk statistics.
    pub stats: TrainStats,
    /// Whether a ReLU follows (fused).
    pub relu: bool,
}

impl CustomOp3 for BnTrain {
    fn name(&self) -> &'static str {
        "batchramp-batch-norm-train"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = Dims::new(l1.shape(), &[l2.shape(), l3.shape()])?;
        let x = cpu::slice("batch_norm_train", s1, l1)?;
        let gamma = cpu::slice("batch_norm_train", s2, l2)?;
        let beta = cpu::slice("batch_norm_train", s3, l3)?;
        let y = train_forward(x, d, &self.stats, gamma, beta, self.relu);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = Dims::new(x.shape(), &[gamma.shape(), beta.shape()])?;
        let gam = vec_of(gamma)?;
        let (dx, dgamma, dbeta) = cpu::with_f32("batch_norm_train", x, |xs| {
            cpu::with_f32("batch_norm_train", grad, |gs| {
                cpu::with_f32("batch_norm_train", res, |ys| {
                    let y = self.relu.then_some(ys);
                    train_backward(xs, gs, y, d, &self.stats, &gam, x.track_op())
                })
            })
        })???;
        let dx = dx.map(|v| cpu::tensor(v, x.shape())).transpose()?;
        Ok((
            dx,
            Some(cpu::tensor(dgamma, gamma.shape())?),
            Some(cpu::tensor(dbeta, beta.shape())?),
        ))
    }
}

/// Inference batch norm; running statistics are detached constants carried in the op.
pub struct BnEval {
    /// Running means, (C,).
    pub mean: Vec<f32>,
    /// 1/sqrt(running var + eps), (C,).
    pub invstd: Vec<f32>,
    /// Whether a ReLU follows (fused).
    pub relu: bool,
}

impl CustomOp3 for BnEval {
    fn name(&self) -> &'static str {
        "batchramp-batch-norm-eval"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = Dims::new(l1.shape(), &[l2.shape(), l3.shape()])?;
        let x = cpu::slice("batch_norm_eval", s1, l1)?;
        let gamma = cpu::slice("batch_norm_eval", s2, l2)?;
        let beta = cpu::slice("batch_norm_eval", s3, l3)?;
        let y = affine(x, d, self.relu, |_, ch| {
            let a = gamma[ch] * self.invstd[ch];
            (a, beta[ch] - self.mean[ch] * a)
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = Dims::new(x.shape(), &[gamma.shape(), beta.shape()])?;
        let gam = vec_of(gamma)?;
        let whole = [(0, d.n)];
        let (dx, dgamma, dbeta) = cpu::with_f32("batch_norm_eval", x, |xs| {
            cpu::with_f32("batch_norm_eval", grad, |gs| {
                cpu::with_f32("batch_norm_eval", res, |ys| {
                    let y = self.relu.then_some(ys);
                    let (sg, sgx) = grad_sums(xs, gs, y, d, &whole, &self.mean);
                    let dgamma: Vec<f32> = (0..d.c)
                        .map(|ch| (sgx[ch] * self.invstd[ch] as f64) as f32)
                        .collect();
                    let dbeta: Vec<f32> = sg.iter().map(|&v| v as f32).collect();
                    let dx = x.track_op().then(|| {
                        input_grad(xs, gs, y, d, |_, ch| (gam[ch] * self.invstd[ch], 0.0, 0.0))
                    });
                    (dx, dgamma, dbeta)
                })
            })
        })???;
        let dx = dx.map(|v| cpu::tensor(v, x.shape())).transpose()?;
        Ok((
            dx,
            Some(cpu::tensor(dgamma, gamma.shape())?),
            Some(cpu::tensor(dbeta, beta.shape())?),
        ))
    }
}
