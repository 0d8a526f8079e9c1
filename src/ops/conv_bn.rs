//! Convolution followed by training-mode batch norm (and optionally ReLU) as one candle
//! `CustomOp3` (`x`, `weight`, `[gamma; beta]`) with backward.
//!
//! Why fused: candle's backward gives every op output its own gradient buffer, zero-filled and
//! then added to (a memset and a three-stream pass over an activation-sized buffer per op).
//! Inside this op the convolution's output and its gradient never reach candle's graph. It owns
//! only the composition; the convolution and batch-norm arithmetic are those of
//! [`super::conv`] and [`super::bn`], so the fused and unfused paths agree to rounding.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::bn::{self, Dims, TrainStats};
use super::conv::{self, Geom, Need};
use super::cpu::{self, OpError};

/// What the forward pass keeps for the backward pass.
struct Saved {
    /// The convolution's output (the batch norm's input), NCHW.
    conv_out: Vec<f32>,
    stats: Arc<TrainStats>,
}

/// The fused op. After `apply_op3`, [`ConvBnTrain::stats`] holds the batch statistics.
pub struct ConvBnTrain {
    stride: usize,
    pad: usize,
    ghost: usize,
    eps: f64,
    relu: bool,
    saved: Mutex<Option<Saved>>,
    stats: Arc<Mutex<Option<Arc<TrainStats>>>>,
}

impl ConvBnTrain {
    /// The op, and the slot its forward pass fills with the chunk statistics.
    #[allow(clippy::type_complexity)]
    pub fn new(
        (stride, pad): (usize, usize),
        ghost: usize,
        eps: f64,
        relu: bool,
    ) -> (Self, Arc<Mutex<Option<Arc<TrainStats>>>>) {
        let stats = Arc::new(Mutex::new(None));
        let op = ConvBnTrain {
            stride,
            pad,
            ghost,
            eps,
            relu,
            saved: Mutex::new(None),
            stats: stats.clone(),
        };
        (op, stats)
    }
}

/// Splits `[gamma; beta]` (2·C values) after checking it against C channels.
fn gamma_beta(gb: &[f32], c: usize) -> Result<(&[f32], &[f32])> {
    if gb.len() != 2 * c {
        return Err(OpError::shape(
            "conv_bn",
            format!("{} scale/shift values for {c} channels", gb.len()),
        ));
    }
    Ok(gb.split_at(c))
}

impl CustomOp3 for ConvBnTrain {
    fn name(&self) -> &'static str {
        "batchramp-conv-bn-train"
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
        let g = Geom::new(l1.shape(), l2.shape(), self.stride, self.pad)?;
        let shape = g.out_shape();
        let (n, c, h, w) = shape.dims4()?;
        let x = cpu::slice("conv_bn", s1, l1)?;
        let wt = cpu::slice("conv_bn", s2, l2)?;
        let (gamma, beta) = gamma_beta(cpu::slice("conv_bn", s3, l3)?, c)?;
        let conv_out = conv::forward(&g, x, wt);
        let d = Dims::raw(n, c, h * w);
        let chunks = super::ghost_chunks(n, self.ghost);
        let stats = Arc::new(bn::train_stats(&conv_out, d, chunks, self.eps));
        let y = bn::train_forward(&conv_out, d, &stats, gamma, beta, self.relu);
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats.clone());
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(Saved { conv_out, stats });
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        wt: &Tensor,
        gb: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = Geom::new(x.shape(), wt.shape(), self.stride, self.pad)?;
        let (n, c, h, w) = res.dims4()?;
        let d = Dims::raw(n, c, h * w);
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(saved) = saved.as_ref() else {
            return Err(OpError::shape("conv_bn", "backward before forward"));
        };
        let gbv = gb.flatten_all()?.to_vec1::<f32>()?;
        let (gamma, _) = gamma_beta(&gbv, c)?;
        let need = Need {
            dx: x.track_op(),
            dw: wt.track_op(),
        };
        let (dx, dw, dgamma, dbeta) = cpu::with_f32("conv_bn", grad, |gs| {
            cpu::with_f32("conv_bn", res, |ys| {
                let y = self.relu.then_some(ys);
                let (dc, dgamma, dbeta) =
                    bn::train_backward(&saved.conv_out, gs, y, d, &saved.stats, gamma, true);
                let dc = dc.expect("asked for the input gradient");
                cpu::with_f32("conv_bn", x, |xs| {
                    cpu::with_f32("conv_bn", wt, |ws| {
                        let (dx, dw) = if need.dx || need.dw {
                            conv::backward(&g, xs, ws, &dc, need)
                        } else {
                            (None, None)
                        };
                        (dx, dw, dgamma, dbeta)
                    })
                })
            })
        })????;
        let dx = dx.map(|v| cpu::tensor(v, x.shape())).transpose()?;
        let dw = dw.map(|v| cpu::tensor(v, wt.shape())).transpose()?;
        let mut dgb = dgamma;
        dgb.extend_from_slice(&dbeta);
        Ok((dx, dw, Some(cpu::tensor(dgb, gb.shape())?)))
    }
}
