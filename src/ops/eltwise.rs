//! Fused element-wise CPU kernels: the residual join `relu(a + b)`, as a candle `CustomOp2` with
//! backward and on slices (with the in-place gradient sum the model's graph-free step needs),
//! and the squared norms of gradients.
//!
//! Owns only same-shape, contiguous f32 element-wise work; broadcasting must never be handled
//! here (the dispatcher sends such calls to the stock path).

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::cpu::{self, OpError, SendPtr};

/// Elements per parallel task: below this, splitting costs more than it saves.
const GRAIN: usize = 1 << 14;

cpu::multiversion! {
    /// out = max(a + b, 0)
    fn add_relu_row(a: &[f32], b: &[f32], out: &mut [f32]) -> () {
        for ((o, &u), &v) in out.iter_mut().zip(a).zip(b) {
            *o = (u + v).max(0.0);
        }
    }
}

cpu::multiversion! {
    /// out = g where y > 0, else 0
    fn relu_grad_row(g: &[f32], y: &[f32], out: &mut [f32]) -> () {
        for ((o, &g), &y) in out.iter_mut().zip(g).zip(y) {
            *o = if y > 0.0 { g } else { 0.0 };
        }
    }
}

cpu::multiversion! {
    fn add_assign_row(a: &mut [f32], b: &[f32]) -> () {
        for (u, &v) in a.iter_mut().zip(b) {
            *u += v;
        }
    }
}

/// Elements per partial sum of the reductions: a fixed split, so the result does not depend on
/// the thread count or on which thread summed which part.
const SUM_CHUNK: usize = 1 << 15;

cpu::multiversion! {
    fn sum_squares_row(v: &[f32]) -> f64 {
        // Eight f64 lanes: vectorises, and loses nothing over millions of terms.
        let mut acc = [0f64; 8];
        let mut it = v.chunks_exact(8);
        for c in &mut it {
            for (a, &x) in acc.iter_mut().zip(c) {
                *a += x as f64 * x as f64;
            }
        }
        let tail: f64 = it.remainder().iter().map(|&x| x as f64 * x as f64).sum();
        acc.iter().sum::<f64>() + tail
    }
}

cpu::multiversion! {
    fn sum_squares_of_mean_row(a: &[f32], b: &[f32]) -> f64 {
        let mut acc = [0f64; 8];
        let mut ia = a.chunks_exact(8);
        let mut ib = b.chunks_exact(8);
        for (ca, cb) in (&mut ia).zip(&mut ib) {
            for ((s, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
                let m = 0.5 * (x as f64 + y as f64);
                *s += m * m;
            }
        }
        let tail: f64 = ia
            .remainder()
            .iter()
            .zip(ib.remainder())
            .map(|(&x, &y)| {
                let m = 0.5 * (x as f64 + y as f64);
                m * m
            })
            .sum();
        acc.iter().sum::<f64>() + tail
    }
}

/// Σ of `part(range)` over the fixed chunks of `0..len`, added in chunk order.
fn chunked_sum(len: usize, part: impl Fn(std::ops::Range<usize>) -> f64 + Sync) -> f64 {
    cpu::par_map(len.div_ceil(SUM_CHUNK), |i| {
        part(i * SUM_CHUNK..((i + 1) * SUM_CHUNK).min(len))
    })
    .iter()
    .sum()
}

/// Σ v², accumulated in f64 (a gradient's squared norm without an f32 temporary per tensor).
pub fn sum_squares(v: &[f32]) -> f64 {
    chunked_sum(v.len(), |r| sum_squares_row(&v[r]))
}

/// Σ ((a + b) / 2)², accumulated in f64: the squared norm of the mean of two gradients without
/// forming it.
pub fn sum_squares_of_mean(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "sum_squares_of_mean: lengths differ");
    chunked_sum(a.len(), |r| sum_squares_of_mean_row(&a[r.clone()], &b[r]))
}

/// `row(a, b, out)` over two equally long slices, in parallel ranges, into a fresh buffer.
fn zip_map(what: &str, a: &[f32], b: &[f32], row: fn(&[f32], &[f32], &mut [f32])) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let fill = |out: SendPtr| {
        cpu::for_ranges_grain(a.len(), GRAIN, |_, r| {
            // SAFETY: each task writes only its own range of the output.
            let o = unsafe { out.slice(r.clone()) };
            row(&a[r.clone()], &b[r], o);
        })
    };
    // SAFETY: the ranges cover the whole output and each writes all of its elements.
    unsafe { cpu::filled(a.len(), fill) }
}

/// `relu(a + b)` of two equally long slices.
pub fn add_relu(a: &[f32], b: &[f32]) -> Vec<f32> {
    zip_map("add_relu", a, b, add_relu_row)
}

/// The gradient through a ReLU whose output was `y`: `g` where `y > 0`, else 0.
pub fn relu_grad(g: &[f32], y: &[f32]) -> Vec<f32> {
    zip_map("relu_grad", g, y, relu_grad_row)
}

/// `a += b` in place (the sum of two gradients of one tensor).
pub fn add_assign(a: &mut [f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "add_assign: lengths differ");
    let ap = SendPtr(a.as_mut_ptr());
    cpu::for_ranges_grain(b.len(), GRAIN, |_, r| {
        // SAFETY: each task owns the range `r` of `a`.
        let ar = unsafe { ap.slice(r.clone()) };
        add_assign_row(ar, &b[r]);
    });
}

/// `relu(a + b)` on two tensors of the same shape.
pub struct AddRelu;

impl CustomOp2 for AddRelu {
    fn name(&self) -> &'static str {
        "batchramp-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            return Err(OpError::shape(
                "add_relu",
                format!("shapes {:?} and {:?} differ", l1.shape(), l2.shape()),
            ));
        }
        let a = cpu::slice("add_relu", s1, l1)?;
        let b = cpu::slice("add_relu", s2, l2)?;
        let y = add_relu(a, b);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if !a.track_op() && !b.track_op() {
            return Ok((None, None));
        }
        let ge = cpu::with_f32("add_relu", grad, |g| {
            cpu::with_f32("add_relu", res, |y| relu_grad(g, y))
        })??;
        let ge = cpu::tensor(ge, res.shape())?;
        Ok((a.track_op().then(|| ge.clone()), b.track_op().then_some(ge)))
    }
}
