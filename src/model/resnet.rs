//! CIFAR ResNets: ResNet-8/20 (He et al. 2016, 16/32/64 channels) and the CIFAR ResNet-18
//! (3×3 stem, no max-pool, 64/128/256/512) used in the paper's follow-ups. Shortcuts that
//! change shape are 1×1 convolutions with batch norm, as in ResNet-18.

use candle_core::{Result, Tensor, Var, D};

use super::ghost_bn::StatsRecorder;
use super::{GhostBatchNorm, ParamStore};
use crate::config::{Arch, ModelConfig};
use crate::ops::Kernels;

/// Convolution followed by ghost batch norm.
pub(super) struct ConvBn {
    pub(super) weight: Var,
    pub(super) stride: usize,
    pub(super) padding: usize,
    pub(super) bn: GhostBatchNorm,
}

impl ConvBn {
    /// A layer whose batch norm takes the next of `slots` (layers are built in exchange order).
    fn new(
        store: &mut ParamStore,
        (name, slots): (&str, &mut usize),
        cfg: &ModelConfig,
        (cin, cout, k, stride): (usize, usize, usize, usize),
    ) -> Result<Self> {
        // Kaiming normal, fan-out, as torchvision initialises ResNets.
        let std = (2.0 / (cout * k * k) as f64).sqrt();
        let slot = *slots;
        *slots += 1;
        Ok(ConvBn {
            weight: store.normal(&format!("{name}.conv.weight"), &[cout, cin, k, k], std)?,
            stride,
            padding: k / 2,
            bn: GhostBatchNorm::new(
                store,
                (&format!("{name}.bn"), slot),
                cout,
                cfg.ghost_batch,
                cfg.bn_momentum,
                cfg.bn_eps,
            )?,
        })
    }

    /// The layer on `x`: in training mode (`stats` given) with batch statistics, which go into
    /// `stats`; otherwise with the running ones.
    fn forward(
        &self,
        k: Kernels,
        x: &Tensor,
        stats: Option<&mut StatsRecorder>,
        relu: bool,
    ) -> Result<Tensor> {
        let w = self.weight.as_tensor();
        if let Some(stats) = stats {
            return self.bn.forward_train_after_conv(
                k,
                (x, w),
                (self.stride, self.padding),
                relu,
                stats,
            );
        }
        let y = k.conv2d(x, w, self.stride, self.padding)?;
        self.bn.forward_eval(k, &y, relu)
    }
}

/// The basic residual block: two 3×3 conv-BN layers and a shortcut.
pub(super) struct Block {
    pub(super) a: ConvBn,
    pub(super) b: ConvBn,
    pub(super) shortcut: Option<ConvBn>,
}

impl Block {
    fn forward(
        &self,
        k: Kernels,
        x: &Tensor,
        mut stats: Option<&mut StatsRecorder>,
    ) -> Result<Tensor> {
        let y = self.a.forward(k, x, stats.as_deref_mut(), true)?;
        let y = self.b.forward(k, &y, stats.as_deref_mut(), false)?;
        let skip = match &self.shortcut {
            Some(s) => s.forward(k, x, stats, false)?,
            None => x.clone(),
        };
        k.add_relu(&y, &skip)
    }
}

/// The batch-norm statistics of one training pass over a micro-batch of `samples` images, every
/// layer's in turn: what a training forward returns, what a data-parallel worker sends so that
/// every worker folds the same ones, and what [`ResNet::fold_running_stats`] folds.
#[derive(Clone, Debug, PartialEq)]
pub struct PassStats {
    /// Images in the micro-batch.
    pub samples: usize,
    /// Per layer: positions per channel, then chunk-major means and biased variances.
    pub values: Vec<f32>,
}

/// A CIFAR ResNet classifier over 3×32×32 images.
pub struct ResNet {
    arch: Arch,
    pub(super) kernels: Kernels,
    pub(super) stem: ConvBn,
    pub(super) blocks: Vec<Block>,
    fc_weight: Var,
    fc_bias: Var,
}

impl ResNet {
    /// Builds `cfg.arch` with `classes` outputs, creating its parameters in `store`.
    pub fn new(
        store: &mut ParamStore,
        cfg: &ModelConfig,
        kernels: Kernels,
        classes: usize,
    ) -> Result<Self> {
        let (stem_width, widths, depth): (usize, &[usize], usize) = match cfg.arch {
            Arch::Resnet8 => (16, &[16, 32, 64], 1),
            Arch::Resnet20 => (16, &[16, 32, 64], 3),
            Arch::Resnet18 => (64, &[64, 128, 256, 512], 2),
        };
        let mut slots = 0;
        let stem = ConvBn::new(store, ("stem", &mut slots), cfg, (3, stem_width, 3, 1))?;
        let mut blocks = Vec::new();
        let mut cin = stem_width;
        for (stage, &width) in widths.iter().enumerate() {
            for i in 0..depth {
                let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                let name = format!("layer{}.{i}", stage + 1);
                let a = ConvBn::new(
                    store,
                    (&format!("{name}.a"), &mut slots),
                    cfg,
                    (cin, width, 3, stride),
                )?;
                let b = ConvBn::new(
                    store,
                    (&format!("{name}.b"), &mut slots),
                    cfg,
                    (width, width, 3, 1),
                )?;
                let shortcut = if stride != 1 || cin != width {
                    Some(ConvBn::new(
                        store,
                        (&format!("{name}.shortcut"), &mut slots),
                        cfg,
                        (cin, width, 1, stride),
                    )?)
                } else {
                    None
                };
                blocks.push(Block { a, b, shortcut });
                cin = width;
            }
        }
        // PyTorch's Linear default: U(±1/√fan_in) for weight and bias.
        let bound = 1.0 / (cin as f64).sqrt();
        let fc_weight = store.uniform("fc.weight", &[classes, cin], bound)?;
        let fc_bias = store.uniform("fc.bias", &[classes], bound)?;
        Ok(ResNet {
            arch: cfg.arch,
            kernels,
            stem,
            blocks,
            fc_weight,
            fc_bias,
        })
    }

    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Logits (N, classes) for images (N, 3, 32, 32) in training mode (batch statistics), and
    /// the pass's batch-norm statistics. The running statistics stay as they are until the
    /// caller folds these ([`Self::fold_running_stats`]); dropping them drops the pass.
    pub fn forward_train(&self, x: &Tensor) -> Result<(Tensor, PassStats)> {
        let mut stats = self.stats_recorder();
        let logits = self.forward_with(x, Some(&mut stats))?;
        Ok((logits, self.finish_stats(stats, x.dim(0)?)?))
    }

    /// Logits (N, classes) for images (N, 3, 32, 32) in inference mode (running statistics).
    pub fn forward_eval(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, None)
    }

    fn forward_with(&self, x: &Tensor, mut stats: Option<&mut StatsRecorder>) -> Result<Tensor> {
        let k = self.kernels;
        let mut h = self.stem.forward(k, x, stats.as_deref_mut(), true)?;
        for block in &self.blocks {
            h = block.forward(k, &h, stats.as_deref_mut())?;
        }
        self.head(&h)
    }

    /// An empty recorder for one training pass, one slot per batch-norm layer.
    pub(super) fn stats_recorder(&self) -> StatsRecorder {
        StatsRecorder::new(self.bn_layers().len())
    }

    /// The pass's statistics over `samples` images, every layer's in [`Self::bn_layers`] order;
    /// an error if a layer recorded nothing or a layout other than the one folding expects.
    pub(super) fn finish_stats(&self, stats: StatsRecorder, samples: usize) -> Result<PassStats> {
        let layers = match stats.into_layers() {
            Ok(layers) => layers,
            Err(slot) => candle_core::bail!("batch-norm layer {slot} recorded no statistics"),
        };
        let mut values = Vec::with_capacity(self.pass_stats_len(samples));
        for (slot, (bn, layer)) in self.bn_layers().iter().zip(layers).enumerate() {
            let want = bn.stats_len(samples);
            if layer.len() != want {
                candle_core::bail!(
                    "batch-norm layer {slot} recorded {} values for {samples} samples, expected {want}",
                    layer.len()
                );
            }
            values.extend(layer);
        }
        Ok(PassStats { samples, values })
    }

    /// Every batch-norm layer, in the fixed order their statistics are exchanged and folded (each
    /// layer's [`StatsRecorder`] slot is its place here).
    fn bn_layers(&self) -> Vec<&GhostBatchNorm> {
        let mut out = vec![&self.stem.bn];
        for b in &self.blocks {
            out.push(&b.a.bn);
            out.push(&b.b.bn);
            if let Some(s) = &b.shortcut {
                out.push(&s.bn);
            }
        }
        out
    }

    /// Values of a [`PassStats`] over `samples` images.
    pub fn pass_stats_len(&self, samples: usize) -> usize {
        self.bn_layers()
            .iter()
            .map(|bn| bn.stats_len(samples))
            .sum()
    }

    /// Folds passes' statistics into the running ones, in the order given (one pass after the
    /// other, as a single process training on those micro-batches in turn would).
    pub fn fold_running_stats(&self, passes: &[PassStats]) -> Result<()> {
        let layers = self.bn_layers();
        for pass in passes {
            let mut rest = pass.values.as_slice();
            for bn in &layers {
                let len = bn.stats_len(pass.samples);
                if rest.len() < len {
                    candle_core::bail!(
                        "batch-norm statistics of {} values for {} samples, expected {}",
                        pass.values.len(),
                        pass.samples,
                        self.pass_stats_len(pass.samples)
                    );
                }
                let (mine, tail) = rest.split_at(len);
                bn.fold_stats(pass.samples, mine)?;
                rest = tail;
            }
        }
        Ok(())
    }

    /// The classifier's parameters (weight, bias).
    pub(super) fn head_params(&self) -> [&Var; 2] {
        [&self.fc_weight, &self.fc_bias]
    }

    /// The classifier on the last feature map (N, C, H, W): global average pooling, then the
    /// linear layer.
    pub(super) fn head(&self, h: &Tensor) -> Result<Tensor> {
        let pooled = h.mean(D::Minus1)?.mean(D::Minus1)?;
        pooled
            .matmul(&self.fc_weight.as_tensor().t()?)?
            .broadcast_add(self.fc_bias.as_tensor())
    }

    /// Forward FLOPs per image of the convolutions and the classifier (multiply-add = 2).
    pub fn flops_per_image(&self) -> f64 {
        let mut flops = 0.0;
        let mut size = 32usize;
        let conv = |c: &ConvBn, size: usize| {
            let out = size / c.stride;
            let d = c.weight.dims();
            2.0 * (d[0] * d[1] * d[2] * d[3] * out * out) as f64
        };
        flops += conv(&self.stem, size);
        for b in &self.blocks {
            flops += conv(&b.a, size);
            let out = size / b.a.stride;
            flops += conv(&b.b, out);
            if let Some(s) = &b.shortcut {
                flops += conv(s, size);
            }
            size = out;
        }
        flops + 2.0 * self.fc_weight.elem_count() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn build(arch: Arch) -> (ParamStore, ResNet) {
        build_with(arch, Kernels::Candle, 0)
    }

    fn build_with(arch: Arch, kernels: Kernels, ghost: usize) -> (ParamStore, ResNet) {
        let cfg = ModelConfig {
            arch,
            ghost_batch: ghost,
            ..ModelConfig::default()
        };
        let mut store = ParamStore::new(&Device::Cpu, 1);
        let net = ResNet::new(&mut store, &cfg, kernels, 10).unwrap();
        (store, net)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn running(store: &ParamStore) -> Vec<Vec<f32>> {
        store
            .buffers()
            .iter()
            .map(|(_, v)| values(v.as_tensor()))
            .collect()
    }

    fn images(n: usize, seed: f32) -> Tensor {
        let v: Vec<f32> = (0..n * 3072)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 2.0)
            .collect();
        Tensor::from_vec(v, (n, 3, 32, 32), &Device::Cpu).unwrap()
    }

    #[test]
    fn recorder_slots_follow_the_exchange_order() {
        for arch in [Arch::Resnet8, Arch::Resnet20, Arch::Resnet18] {
            let (_, net) = build(arch);
            let slots: Vec<usize> = net.bn_layers().iter().map(|bn| bn.slot()).collect();
            assert_eq!(slots, (0..slots.len()).collect::<Vec<_>>(), "{arch}");
        }
    }

    #[test]
    fn training_forwards_carry_nothing_between_them() {
        for kernels in [Kernels::Candle, Kernels::Fast] {
            let (_, net) = build_with(Arch::Resnet8, kernels, 2);
            let (_, fresh) = build_with(Arch::Resnet8, kernels, 2);
            let (x, other) = (images(5, 0.0), images(3, 1.5));
            // A pass over other images first, its statistics never taken.
            drop(net.forward_train(&other).unwrap());
            let (logits_1, first) = net.forward_train(&x).unwrap();
            let (logits_2, second) = net.forward_train(&x).unwrap();
            let (_, alone) = fresh.forward_train(&x).unwrap();
            assert_eq!(first.samples, 5);
            assert_eq!(first.values.len(), net.pass_stats_len(5));
            assert_eq!(first, second, "{kernels:?}: same input, same statistics");
            assert_eq!(first, alone, "{kernels:?}: nothing from the earlier pass");
            assert_eq!(values(&logits_1), values(&logits_2), "{kernels:?}");
            assert_ne!(first, net.forward_train(&other).unwrap().1, "{kernels:?}");
        }
    }

    #[test]
    fn a_dropped_forward_leaves_the_running_statistics_untouched() {
        for kernels in [Kernels::Candle, Kernels::Fast] {
            let (store, net) = build_with(Arch::Resnet8, kernels, 0);
            let x = images(4, 0.5);
            let before = running(&store);
            let eval_before = values(&net.forward_eval(&x).unwrap());
            let (_, stats) = net.forward_train(&x).unwrap();
            drop(net.forward_train(&images(2, 3.0)).unwrap());
            assert_eq!(running(&store), before, "{kernels:?}");
            assert_eq!(values(&net.forward_eval(&x).unwrap()), eval_before);
            // Folding what a pass returned is what moves them.
            net.fold_running_stats(&[stats]).unwrap();
            assert_ne!(running(&store), before, "{kernels:?}");
            assert_ne!(values(&net.forward_eval(&x).unwrap()), eval_before);
        }
    }

    #[test]
    fn parameter_counts_match_the_reference_architectures() {
        // ResNet-20 with 1×1 projection shortcuts: 269,722 (0.27M in He et al. with option A).
        let (s20, _) = build(Arch::Resnet20);
        assert_eq!(s20.param_count(), 272_474);
        // CIFAR ResNet-18: 11,173,962 as in the widely used PyTorch CIFAR implementation.
        let (s18, _) = build(Arch::Resnet18);
        assert_eq!(s18.param_count(), 11_173_962);
        let (s8, _) = build(Arch::Resnet8);
        assert_eq!(s8.param_count(), 78_042);
    }

    #[test]
    fn forward_gives_logits_and_flops() {
        let (_, net) = build(Arch::Resnet8);
        let x = Tensor::randn(0f32, 1.0, (3, 3, 32, 32), &Device::Cpu).unwrap();
        let (y, _) = net.forward_train(&x).unwrap();
        assert_eq!(y.dims(), &[3, 10]);
        let y = net.forward_eval(&x).unwrap();
        assert_eq!(y.dims(), &[3, 10]);
        let (_, r18) = build(Arch::Resnet18);
        // ≈0.56 GFLOPs (multiply-adds) per image for CIFAR ResNet-18.
        let gmacs = r18.flops_per_image() / 2e9;
        assert!((0.55..0.57).contains(&gmacs), "{gmacs}");
    }

    #[test]
    fn same_seed_same_weights() {
        let (a, _) = build(Arch::Resnet8);
        let (b, _) = build(Arch::Resnet8);
        for ((_, x), (_, y)) in a.named_tensors().iter().zip(b.named_tensors().iter()) {
            assert_eq!(
                x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            );
        }
    }
}
