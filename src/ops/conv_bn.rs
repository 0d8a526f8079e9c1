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

/// One fused layer's forward pass on plain slices, keeping what its backward pass needs. The
/// candle op below wraps it; a caller that runs its own backward pass (the model's CPU training
/// step, `model::cpu_step`) uses it directly, so no activation or gradient reaches candle's graph.
pub struct ConvBnPass {
    g: Geom,
    d: Dims,
    relu: bool,
    /// The convolution's output (the batch norm's input), NCHW.
    conv_out: Vec<f32>,
    stats: Arc<TrainStats>,
}

/// The gradients of one fused layer.
pub struct ConvBnGrads {
    /// Gradient of the input, when asked for.
    pub dx: Option<Vec<f32>>,
    /// Gradient of the weight, when asked for.
    pub dw: Option<Vec<f32>>,
    /// Gradient of the batch norm's scale.
    pub dgamma: Vec<f32>,
    /// Gradient of the batch norm's shift.
    pub dbeta: Vec<f32>,
}

impl ConvBnPass {
    /// Convolution of NCHW `x` (shape `x_shape`) with `wt` (`w_shape`), then batch norm over ghost
    /// chunks of `ghost` samples with `gamma`/`beta`, then ReLU if `relu`. Returns the pass and
    /// the layer's output (NCHW, shape [`ConvBnPass::out_shape`]).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        x: &[f32],
        x_shape: &Shape,
        wt: &[f32],
        w_shape: &Shape,
        (stride, pad): (usize, usize),
        (ghost, eps): (usize, f64),
        (gamma, beta): (&[f32], &[f32]),
        relu: bool,
    ) -> Result<(ConvBnPass, Vec<f32>)> {
        let g = Geom::new(x_shape, w_shape, stride, pad)?;
        let (n, c, h, w) = g.out_shape().dims4()?;
        if x.len() != x_shape.elem_count() || wt.len() != w_shape.elem_count() {
            return Err(OpError::shape("conv_bn", "data and shape lengths differ"));
        }
        if gamma.len() != c || beta.len() != c {
            return Err(OpError::shape(
                "conv_bn",
                format!(
                    "{}/{} scale/shift values for {c} channels",
                    gamma.len(),
                    beta.len()
                ),
            ));
        }
        let conv_out = conv::forward(&g, x, wt);
        let d = Dims::raw(n, c, h * w);
        let stats = Arc::new(bn::train_stats(
            &conv_out,
            d,
            super::ghost_chunks(n, ghost),
            eps,
        ));
        let y = bn::train_forward(&conv_out, d, &stats, gamma, beta, relu);
        let pass = ConvBnPass {
            g,
            d,
            relu,
            conv_out,
            stats,
        };
        Ok((pass, y))
    }

    /// The output's shape (N, C, H, W).
    pub fn out_shape(&self) -> Shape {
        self.g.out_shape()
    }

    /// The batch statistics: chunk-major means and biased variances (chunks × C), and the chunks.
    pub fn stats(&self) -> &TrainStats {
        &self.stats
    }

    /// Gradients for the output gradient `dy`, given the forward pass's input `x`, weight `wt`,
    /// scale `gamma` and output `y` (read only when a ReLU was fused). Every slice must have the
    /// length the forward pass had (checked: the kernels index through raw pointers).
    pub fn backward(
        &self,
        x: &[f32],
        wt: &[f32],
        gamma: &[f32],
        y: &[f32],
        dy: &[f32],
        (need_dx, need_dw): (bool, bool),
    ) -> Result<ConvBnGrads> {
        let (x_len, w_len, channels) = self.g.lengths();
        let out_len = self.conv_out.len();
        let lengths = [
            (x.len(), x_len, "input"),
            (wt.len(), w_len, "weight"),
            (gamma.len(), channels, "scale"),
            (dy.len(), out_len, "output gradient"),
            (if self.relu { y.len() } else { out_len }, out_len, "output"),
        ];
        if let Some((got, want, what)) = lengths.into_iter().find(|(got, want, _)| got != want) {
            return Err(OpError::shape(
                "conv_bn",
                format!("{what}: {got} values where the forward pass had {want}"),
            ));
        }
        let mask = self.relu.then_some(y);
        let (dc, dgamma, dbeta) =
            bn::train_backward(&self.conv_out, dy, mask, self.d, &self.stats, gamma, true);
        let dc = dc.expect("asked for the input gradient");
        let need = Need {
            dx: need_dx,
            dw: need_dw,
        };
        let (dx, dw) = if need.dx || need.dw {
            conv::backward(&self.g, x, wt, &dc, need)
        } else {
            (None, None)
        };
        Ok(ConvBnGrads {
            dx,
            dw,
            dgamma,
            dbeta,
        })
    }
}

/// The fused op. After `apply_op3`, [`ConvBnTrain::stats`] holds the batch statistics.
pub struct ConvBnTrain {
    stride: usize,
    pad: usize,
    ghost: usize,
    eps: f64,
    relu: bool,
    saved: Mutex<Option<ConvBnPass>>,
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
        let c = l2.shape().dims().first().copied().unwrap_or(0);
        let x = cpu::slice("conv_bn", s1, l1)?;
        let wt = cpu::slice("conv_bn", s2, l2)?;
        let (gamma, beta) = gamma_beta(cpu::slice("conv_bn", s3, l3)?, c)?;
        let (pass, y) = ConvBnPass::forward(
            x,
            l1.shape(),
            wt,
            l2.shape(),
            (self.stride, self.pad),
            (self.ghost, self.eps),
            (gamma, beta),
            self.relu,
        )?;
        let shape = pass.out_shape();
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(pass.stats.clone());
        *self.saved.lock().unwrap_or_else(|e| e.into_inner()) = Some(pass);
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
        let saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pass) = saved.as_ref() else {
            return Err(OpError::shape("conv_bn", "backward before forward"));
        };
        let gbv = gb.flatten_all()?.to_vec1::<f32>()?;
        let (gamma, _) = gamma_beta(&gbv, res.dims4()?.1)?;
        let need = (x.track_op(), wt.track_op());
        let grads = cpu::with_f32("conv_bn", grad, |gs| {
            cpu::with_f32("conv_bn", res, |ys| {
                cpu::with_f32("conv_bn", x, |xs| {
                    cpu::with_f32("conv_bn", wt, |ws| {
                        pass.backward(xs, ws, gamma, ys, gs, need)
                    })
                })
            })
        })?????;
        let dx = grads.dx.map(|v| cpu::tensor(v, x.shape())).transpose()?;
        let dw = grads.dw.map(|v| cpu::tensor(v, wt.shape())).transpose()?;
        let mut dgb = grads.dgamma;
        dgb.extend_from_slice(&grads.dbeta);
        Ok((dx, dw, Some(cpu::tensor(dgb, gb.shape())?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_refuses_slices_of_other_lengths() {
        let x: Vec<f32> = (0..2 * 3 * 5 * 5).map(|i| (i % 7) as f32 - 3.0).collect();
        let w: Vec<f32> = (0..4 * 3 * 3 * 3).map(|i| (i % 5) as f32 * 0.1).collect();
        let (gamma, beta) = ([1.0f32; 4], [0.0f32; 4]);
        let (pass, y) = ConvBnPass::forward(
            &x,
            &Shape::from((2, 3, 5, 5)),
            &w,
            &Shape::from((4, 3, 3, 3)),
            (1, 1),
            (0, 1e-5),
            (&gamma, &beta),
            true,
        )
        .unwrap();
        assert_eq!(pass.out_shape().dims(), &[2, 4, 5, 5]);
        let dy = vec![1.0f32; y.len()];
        let need = (true, true);
        assert!(pass.backward(&x, &w, &gamma, &y, &dy, need).is_ok());
        for (case, err) in [
            (
                "output gradient",
                pass.backward(&x, &w, &gamma, &y, &dy[1..], need),
            ),
            ("input", pass.backward(&x[1..], &w, &gamma, &y, &dy, need)),
            ("weight", pass.backward(&x, &w[..9], &gamma, &y, &dy, need)),
            ("scale", pass.backward(&x, &w, &gamma[..3], &y, &dy, need)),
            ("output", pass.backward(&x, &w, &gamma, &y[2..], &dy, need)),
        ] {
            let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(case), "{case}: {msg}");
        }
    }
}
