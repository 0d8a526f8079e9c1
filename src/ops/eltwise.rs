//! Fused element-wise CPU kernels: the residual join `relu(a + b)`, as a candle `CustomOp2` with
//! backward.
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
        let fill = |yp: SendPtr| {
            cpu::for_ranges_grain(a.len(), GRAIN, |_, r| {
                // SAFETY: ranges are disjoint and inside `y`.
                let y = unsafe { yp.slice(r.clone()) };
                add_relu_row(&a[r.clone()], &b[r], y);
            })
        };
        // SAFETY: the ranges cover all of `a`'s length and each row writes its whole range.
        let y = unsafe { cpu::filled(a.len(), fill) };
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
            cpu::with_f32("add_relu", res, |y| {
                let fill = |op: SendPtr| {
                    cpu::for_ranges_grain(g.len(), GRAIN, |_, r| {
                        // SAFETY: ranges are disjoint and inside `out`.
                        let o = unsafe { op.slice(r.clone()) };
                        relu_grad_row(&g[r.clone()], &y[r], o);
                    })
                };
                // SAFETY: the ranges cover all of `g`'s length and each row writes its range.
                unsafe { cpu::filled(g.len(), fill) }
            })
        })??;
        let ge = cpu::tensor(ge, res.shape())?;
        Ok((a.track_op().then(|| ge.clone()), b.track_op().then_some(ge)))
    }
}
