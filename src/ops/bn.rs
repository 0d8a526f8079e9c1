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
    const L: usize = 16;
    let mut s = [0f32; L];
    let mut q = [0f32; L];
    let mut it = v.chunks_exact(L);
    for ch in &mut it {
        for i in 0..L {
            let d = ch[i] - shift;
            s[i] += d;
            q[i] += d * d;
        }
    }
    let (mut s1, mut s2) = (0f64, 0f64);
    for &x in it.remainder() {
        let d = (x - shift) as f64;
        s1 += d;
        s2 += d * d;
    }
    for i in 0..L {
        s1 += s[i] as f64;
        s2 += q[i] as f64;
    }
    (s1, s2)
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
    let mut y = vec![0f32; x.len()];
    let yp = SendPtr(y.as_mut_ptr());
    let row = d.c * d.p;
    cpu::for_ranges(d.n, |_, r| {
        for s in r {
            // SAFETY: sample rows are disjoint across tasks and inside `y`.
            let ys = unsafe { yp.slice(s * row..(s + 1) * row) };
            let xs = &x[s * row..(s + 1) * row];
            for ch in 0..d.c {
                let (a, b) = ab(s, ch);
                let yr = &mut ys[ch * d.p..][..d.p];
                let xr = &xs[ch * d.p..][..d.p];
                if relu {
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = (v * a + b).max(0.0);
                    }
                } else {
                    for (o, &v) in yr.iter_mut().zip(xr) {
                        *o = v * a + b;
                    }
                }
            }
        }
    });
    y
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
                    let (a, b) = match y {
                        Some(y) => masked_row_sums(xr, gr, &y[o..][..d.p], mu),
                        None => row_sums(xr, gr, mu),
                    };
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

/// Σg and Σg·(x − mu) over one row.
fn row_sums(x: &[f32], g: &[f32], mu: f32) -> (f32, f32) {
    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
    let mut xi = x.chunks_exact(8);
    let mut gi = g.chunks_exact(8);
    for (xc, gc) in (&mut xi).zip(&mut gi) {
        for i in 0..8 {
            a[i] += gc[i];
            b[i] += gc[i] * (xc[i] - mu);
        }
    }
    let (mut sa, mut sb) = (a.iter().sum::<f32>(), b.iter().sum::<f32>());
    for (&xv, &gv) in xi.remainder().iter().zip(gi.remainder()) {
        sa += gv;
        sb += gv * (xv - mu);
    }
    (sa, sb)
}

/// [`row_sums`] with the gradient masked to where the fused ReLU output `y` is positive.
fn masked_row_sums(x: &[f32], g: &[f32], y: &[f32], mu: f32) -> (f32, f32) {
    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
    let mut xi = x.chunks_exact(8);
    let mut gi = g.chunks_exact(8);
    let mut yi = y.chunks_exact(8);
    for ((xc, gc), yc) in (&mut xi).zip(&mut gi).zip(&mut yi) {
        for i in 0..8 {
            let ge = if yc[i] > 0.0 { gc[i] } else { 0.0 };
            a[i] += ge;
            b[i] += ge * (xc[i] - mu);
        }
    }
    let (mut sa, mut sb) = (a.iter().sum::<f32>(), b.iter().sum::<f32>());
    for ((&xv, &gv), &yv) in xi
        .remainder()
        .iter()
        .zip(gi.remainder())
        .zip(yi.remainder())
    {
        let ge = if yv > 0.0 { gv } else { 0.0 };
        sa += ge;
        sb += ge * (xv - mu);
    }
    (sa, sb)
}

/// dx = A·ge − B·x + C per (sample, channel) row; `abc(s, ch)` gives (A, B, C).
fn input_grad(
    x: &[f32],
    g: &[f32],
    y: Option<&[f32]>,
    d: Dims,
    abc: impl Fn(usize, usize) -> (f32, f32, f32) + Sync,
) -> Vec<f32> {
    let mut dx = vec![0f32; x.len()];
    let row = d.c * d.p;
    let dp = SendPtr(dx.as_mut_ptr());
    cpu::for_ranges(d.n, |_, r| {
        for s in r {
            // SAFETY: sample rows are disjoint across tasks and inside `dx`.
            let out = unsafe { dp.slice(s * row..(s + 1) * row) };
            for ch in 0..d.c {
                let (a, b, c) = abc(s, ch);
                let o = s * row + ch * d.p;
                let (xr, gr) = (&x[o..][..d.p], &g[o..][..d.p]);
                let dr = &mut out[ch * d.p..][..d.p];
                match y {
                    Some(y) => {
                        let yr = &y[o..][..d.p];
                        for (((dv, &xv), &gv), &yv) in dr.iter_mut().zip(xr).zip(gr).zip(yr) {
                            let ge = if yv > 0.0 { gv } else { 0.0 };
                            *dv = a * ge - b * xv + c;
                        }
                    }
                    None => {
                        for ((dv, &xv), &gv) in dr.iter_mut().zip(xr).zip(gr) {
                            *dv = a * gv - b * xv + c;
                        }
                    }
                }
            }
        }
    });
    dx
}

/// Reads `t` as a (C,) f32 vector.
fn vec_of(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// Training-mode batch norm with its statistics computed before the op and kept for backward.
pub struct BnTrain {
    /// Ghost chunks `(start, len)` along N.
    pub chunks: Vec<(usize, usize)>,
    /// Chunk-major means, `chunks × C`.
    pub mean: Vec<f32>,
    /// Chunk-major 1/sqrt(var + eps), `chunks × C`.
    pub invstd: Vec<f32>,
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
        let which = chunk_of(d.n, &self.chunks);
        let y = affine(x, d, self.relu, |s, ch| {
            let j = which[s] * d.c + ch;
            let a = gamma[ch] * self.invstd[j];
            (a, beta[ch] - self.mean[j] * a)
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
        let (dx, dgamma, dbeta) = cpu::with_f32("batch_norm_train", x, |xs| {
            cpu::with_f32("batch_norm_train", grad, |gs| {
                cpu::with_f32("batch_norm_train", res, |ys| {
                    let y = self.relu.then_some(ys);
                    let (sg, sgx) = grad_sums(xs, gs, y, d, &self.chunks, &self.mean);
                    let mut dgamma = vec![0f32; d.c];
                    let mut dbeta = vec![0f32; d.c];
                    for j in 0..self.chunks.len() {
                        for ch in 0..d.c {
                            let i = j * d.c + ch;
                            dgamma[ch] += (sgx[i] * self.invstd[i] as f64) as f32;
                            dbeta[ch] += sg[i] as f32;
                        }
                    }
                    let dx = x.track_op().then(|| {
                        let which = chunk_of(d.n, &self.chunks);
                        input_grad(xs, gs, y, d, |s, ch| {
                            let j = which[s];
                            let i = j * d.c + ch;
                            let m = (self.chunks[j].1 * d.p) as f64;
                            let inv = self.invstd[i] as f64;
                            let a = gam[ch] as f64 * inv;
                            let b = a * inv * inv * sgx[i] / m;
                            let c = -a * sg[i] / m + b * self.mean[i] as f64;
                            (a as f32, b as f32, c as f32)
                        })
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
