//! A ResNet's training pass on the fast CPU kernels with its own backward pass for the residual
//! body, instead of candle's autograd.
//!
//! Why: candle's backward gives each input of every op a zero-filled gradient buffer and adds
//! the op's gradient into it (a memset and a three-stream pass per activation and weight, on
//! fresh pages): 4% of a ResNet-18 step, 8–14% of a ResNet-8/20 one (docs/performance.md).
//! Here the body's forward pass keeps what each layer's backward pass needs, and the backward
//! pass hands each gradient to the layer below by value; the two gradients of a block's input
//! are summed in place. The classifier head (pooling, the linear layer, the loss) stays in
//! candle: it is tiny, and the loss stays that of the graph path. The layers are the ones the
//! candle ops wrap (`ops::slices`), so both paths compute the same gradients, bit for bit
//! (`tests` compares them).

use std::collections::HashMap;

use candle_core::{Result, Shape, Tensor, TensorId, Var};

use super::ghost_bn::StatsRecorder;
use super::resnet::{ConvBn, PassStats, ResNet};
use crate::ops::slices::{self, ConvBnPass};
use crate::ops::{Kernels, OpError};

/// What one training pass produced.
pub struct TrainPass {
    /// The logits (N, classes).
    pub logits: Tensor,
    /// The loss the caller's closure returned, unscaled.
    pub loss: Tensor,
    /// Gradient of `loss × scale` for every trainable tensor, by tensor id.
    pub grads: HashMap<TensorId, Tensor>,
    /// The pass's batch-norm statistics, as [`ResNet::forward_train`] returns them.
    pub stats: PassStats,
}

/// One conv-BN layer's forward pass and its output.
struct LayerRun {
    pass: ConvBnPass,
    out: Vec<f32>,
    shape: Shape,
    /// The scale γ the forward pass used (the backward pass needs it too).
    gamma: Vec<f32>,
}

/// One residual block's layers and its output.
struct BlockRun {
    a: LayerRun,
    b: LayerRun,
    shortcut: Option<LayerRun>,
    out: Vec<f32>,
}

impl ConvBn {
    fn train_forward(
        &self,
        (x, x_shape): (&[f32], &Shape),
        relu: bool,
        stats: &mut StatsRecorder,
    ) -> Result<LayerRun> {
        let (gamma, beta) = self.bn.affine();
        let (gamma, beta) = (vec_of(gamma)?, vec_of(beta)?);
        let wt = self.weight.as_tensor();
        let (pass, out) = slices::with_f32("cpu_step", wt, |w| {
            ConvBnPass::forward(
                x,
                x_shape,
                w,
                wt.shape(),
                (self.stride, self.padding),
                self.bn.ghost_eps(),
                (&gamma, &beta),
                relu,
            )
        })??;
        let shape = pass.out_shape();
        let (_, _, h, wd) = shape.dims4()?;
        let st = pass.stats();
        self.bn.record_stats(stats, h * wd, &st.mean, &st.var)?;
        Ok(LayerRun {
            pass,
            out,
            shape,
            gamma,
        })
    }

    /// The layer's backward pass for output gradient `dy`; records the weight, scale and shift
    /// gradients in `grads` and returns the input gradient when `need_dx`.
    fn train_backward(
        &self,
        run: &LayerRun,
        x: &[f32],
        dy: &[f32],
        need_dx: bool,
        grads: &mut HashMap<TensorId, Tensor>,
    ) -> Result<Option<Vec<f32>>> {
        let (gamma_var, beta_var) = self.bn.affine();
        let wt = self.weight.as_tensor();
        let g = slices::with_f32("cpu_step", wt, |w| {
            run.pass
                .backward(x, w, &run.gamma, &run.out, dy, (need_dx, true))
        })??;
        let dw =
            g.dw.ok_or_else(|| OpError::shape("cpu_step", "no weight gradient"))?;
        grads.insert(wt.id(), Tensor::from_vec(dw, wt.shape(), wt.device())?);
        for (var, d) in [(gamma_var, g.dgamma), (beta_var, g.dbeta)] {
            grads.insert(var.id(), Tensor::from_vec(d, var.shape(), var.device())?);
        }
        Ok(g.dx)
    }
}

fn vec_of(v: &Var) -> Result<Vec<f32>> {
    v.as_tensor().flatten_all()?.to_vec1::<f32>()
}

impl ResNet {
    /// Whether [`ResNet::train_pass`] applies: our kernels, and parameters and input on the CPU
    /// in f32.
    pub fn trains_without_graph(&self, x: &Tensor) -> bool {
        self.kernels == Kernels::Fast
            && slices::is_fast(x)
            && slices::is_fast(self.stem.weight.as_tensor())
            && x.rank() == 4
    }

    /// Forward pass in training mode (with the batch-norm statistics [`ResNet::forward_train`]
    /// returns) and the gradient of `loss(logits) × scale` for every trainable tensor. Only
    /// where [`ResNet::trains_without_graph`] holds.
    pub fn train_pass(
        &self,
        x: &Tensor,
        loss: impl FnOnce(&Tensor) -> Result<Tensor>,
        scale: f64,
    ) -> Result<TrainPass> {
        // A copy of the images (N × 12 kB) keeps the borrows simple.
        let images = x.flatten_all()?.to_vec1::<f32>()?;
        let mut stats = self.stats_recorder();
        let stem = self
            .stem
            .train_forward((&images, x.shape()), true, &mut stats)?;
        let mut runs: Vec<BlockRun> = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (h, h_shape) = match runs.last() {
                Some(r) => (&r.out, &r.b.shape),
                None => (&stem.out, &stem.shape),
            };
            let a = block.a.train_forward((h, h_shape), true, &mut stats)?;
            let b = block
                .b
                .train_forward((&a.out, &a.shape), false, &mut stats)?;
            let shortcut = match &block.shortcut {
                Some(s) => Some(s.train_forward((h, h_shape), false, &mut stats)?),
                None => None,
            };
            let out = slices::add_relu(&b.out, shortcut.as_ref().map_or(h, |s| &s.out));
            runs.push(BlockRun {
                a,
                b,
                shortcut,
                out,
            });
        }

        // The head in candle, on a copy of the last feature map (N × 512 × 4 × 4 at most).
        let (last, last_shape) = match runs.last() {
            Some(r) => (&r.out, &r.b.shape),
            None => (&stem.out, &stem.shape),
        };
        let features = Var::from_slice(last, last_shape, x.device())?;
        let logits = self.head(features.as_tensor())?;
        let loss = loss(&logits)?;
        let head_grads = (&loss * scale)?.backward()?;
        let mut grads = HashMap::new();
        for v in self.head_params() {
            if let Some(g) = head_grads.get(v.as_tensor()) {
                grads.insert(v.id(), g.detach());
            }
        }
        let mut dh = match head_grads.get(features.as_tensor()) {
            Some(g) => g.flatten_all()?.to_vec1::<f32>()?,
            None => {
                return Err(OpError::shape(
                    "cpu_step",
                    "the loss does not depend on the features",
                ))
            }
        };

        for (i, (block, run)) in self.blocks.iter().zip(&runs).enumerate().rev() {
            let h: &[f32] = if i == 0 { &stem.out } else { &runs[i - 1].out };
            let dsum = slices::relu_grad(&dh, &run.out);
            let da = block
                .b
                .train_backward(&run.b, &run.a.out, &dsum, true, &mut grads)?
                .ok_or_else(|| OpError::shape("cpu_step", "no input gradient"))?;
            let mut dx = block
                .a
                .train_backward(&run.a, h, &da, true, &mut grads)?
                .ok_or_else(|| OpError::shape("cpu_step", "no input gradient"))?;
            match (&block.shortcut, &run.shortcut) {
                (Some(s), Some(s_run)) => {
                    let ds = s
                        .train_backward(s_run, h, &dsum, true, &mut grads)?
                        .ok_or_else(|| OpError::shape("cpu_step", "no input gradient"))?;
                    slices::add_assign(&mut dx, &ds);
                }
                _ => slices::add_assign(&mut dx, &dsum),
            }
            dh = dx;
        }
        // The images need no gradient.
        self.stem
            .train_backward(&stem, &images, &dh, false, &mut grads)?;
        Ok(TrainPass {
            logits,
            loss,
            grads,
            stats: self.finish_stats(stats, x.dim(0)?)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::config::{Arch, ModelConfig};
    use crate::model::ParamStore;

    fn build(arch: Arch, ghost: usize) -> (ParamStore, ResNet) {
        let cfg = ModelConfig {
            arch,
            ghost_batch: ghost,
            ..ModelConfig::default()
        };
        let mut store = ParamStore::new(&Device::Cpu, 7);
        let net = ResNet::new(&mut store, &cfg, Kernels::Fast, 10).unwrap();
        (store, net)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    /// The graph-free pass against candle's autograd over the same kernels: the same loss,
    /// gradients and running statistics, bit for bit.
    fn matches_graph_path(arch: Arch, n: usize, ghost: usize) {
        let (store_a, net_a) = build(arch, ghost);
        let (store_b, net_b) = build(arch, ghost);
        let x = Tensor::randn(0f32, 1.0, (n, 3, 32, 32), &Device::Cpu).unwrap();
        let labels: Vec<u32> = (0..n as u32).map(|i| (i * 7) % 10).collect();
        let y = Tensor::new(labels.as_slice(), &Device::Cpu).unwrap();
        let scale = 0.25;
        assert!(net_a.trains_without_graph(&x));
        let pass = net_a
            .train_pass(&x, |l| candle_nn::loss::cross_entropy(l, &y), scale)
            .unwrap();
        let (logits, stats_b) = net_b.forward_train(&x).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
        let store = (&loss * scale).unwrap().backward().unwrap();
        assert_eq!(values(&pass.loss), values(&loss), "{arch} n={n}: loss");
        assert_eq!(
            values(&pass.logits),
            values(&logits),
            "{arch} n={n}: logits"
        );
        for ((name, va), (_, vb)) in store_a.trainable().iter().zip(store_b.trainable()) {
            let ga = values(&pass.grads[&va.id()]);
            let gb = values(store.get(vb.as_tensor()).expect("graph gradient"));
            // Same kernels in the same order: the same bits, not just close.
            assert_eq!(ga, gb, "{arch} n={n} {name}");
        }
        let stats_a = pass.stats;
        assert_eq!(stats_a.values.len(), net_a.pass_stats_len(n));
        assert_eq!(stats_a, stats_b, "{arch} n={n}: batch statistics");
        net_a.fold_running_stats(&[stats_a]).unwrap();
        net_b.fold_running_stats(&[stats_b]).unwrap();
        for ((name, a), (_, b)) in store_a.buffers().iter().zip(store_b.buffers()) {
            assert_eq!(
                values(a.as_tensor()),
                values(b.as_tensor()),
                "{arch} n={n} {name}"
            );
        }
    }

    #[test]
    fn resnet8_matches_the_graph_path() {
        matches_graph_path(Arch::Resnet8, 5, 0);
        matches_graph_path(Arch::Resnet8, 6, 4);
        matches_graph_path(Arch::Resnet8, 1, 0);
    }

    #[test]
    fn resnet18_matches_the_graph_path() {
        matches_graph_path(Arch::Resnet18, 3, 2);
    }

    #[test]
    fn train_passes_return_their_own_statistics() {
        let (store, net) = build(Arch::Resnet8, 2);
        let (_, fresh) = build(Arch::Resnet8, 2);
        let x = Tensor::randn(0f32, 1.0, (5, 3, 32, 32), &Device::Cpu).unwrap();
        let other = Tensor::randn(0f32, 1.0, (3, 3, 32, 32), &Device::Cpu).unwrap();
        let loss = |l: &Tensor| l.sqr()?.mean_all();
        let running = || -> Vec<Vec<f32>> {
            store
                .buffers()
                .iter()
                .map(|(_, v)| values(v.as_tensor()))
                .collect()
        };
        let before = running();
        // A dropped pass (as after an out-of-memory failure) leaves nothing behind.
        drop(net.train_pass(&other, loss, 1.0).unwrap());
        let first = net.train_pass(&x, loss, 1.0).unwrap().stats;
        let second = net.train_pass(&x, loss, 1.0).unwrap().stats;
        assert_eq!(first, second);
        assert_eq!(first, fresh.train_pass(&x, loss, 1.0).unwrap().stats);
        assert_eq!(first, net.forward_train(&x).unwrap().1);
        assert_eq!(running(), before, "no pass folded");
    }

    #[test]
    fn stock_kernels_keep_the_graph_path() {
        let cfg = ModelConfig::default();
        let mut store = ParamStore::new(&Device::Cpu, 7);
        let net = ResNet::new(&mut store, &cfg, Kernels::Candle, 10).unwrap();
        let x = Tensor::zeros((2, 3, 32, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(!net.trains_without_graph(&x));
    }
}
