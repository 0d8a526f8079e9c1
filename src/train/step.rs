//! One parameter update's worth of gradient: the batch split into micro-batches whose
//! gradients are accumulated, so a batch of any size trains within a fixed memory budget.
//! Owns forward/backward and loss bookkeeping; must never change parameters.

use candle_core::{DType, Device, Result, Tensor, Var, D};

use crate::model::{PassStats, ResNet};
use crate::ops::slices;
use crate::parallel::exchange::Summable;
use crate::parallel::share::Share;
use crate::train::micro::MicroBatching;

/// Squared gradient norms gathered for the noise-scale estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct GradNorms {
    /// Samples per full-size micro-batch.
    pub b_small: usize,
    /// Mean |G_small|² over the full-size micro-batches (gradients of their mean loss).
    pub small_sq: f64,
    /// Number of full-size micro-batches measured.
    pub smalls: usize,
}

/// The accumulated gradient of one batch and what the batch scored.
pub struct BatchGradient {
    /// Gradient of the batch's mean loss, one tensor per parameter.
    pub grads: Vec<Tensor>,
    /// Sum of per-sample losses.
    pub loss_sum: f64,
    /// Correctly classified samples.
    pub correct: usize,
    /// Samples in the batch.
    pub count: usize,
    /// Micro-batch gradient norms, when asked for.
    pub norms: Option<GradNorms>,
    /// |G|² of the accumulated gradient (non-finite when any gradient overflowed).
    pub grad_sq: f64,
    /// Batch-norm statistics of every micro-batch, in order, to fold when the update is applied.
    pub bn: Vec<PassStats>,
}

/// What one worker computed of an update: its micro-batches' gradients summed (each already
/// scaled by its share of the whole batch), and the sums the noise scale and the step's
/// figures need.
pub struct LocalGradient {
    /// The summed gradients; `None` when this worker had no micro-batch.
    pub grads: Option<Vec<Tensor>>,
    /// Sum of per-sample losses.
    pub loss_sum: f64,
    /// Correctly classified samples.
    pub correct: usize,
    /// Σ |G_small|² over the full-size micro-batches (of their own mean loss).
    pub small_sq_sum: f64,
    /// Full-size micro-batches in that sum.
    pub smalls: usize,
    /// (micro-batch index, its batch-norm statistics).
    pub bn: Vec<(usize, PassStats)>,
}

/// The noise-scale norms of an update of `n` samples in micro-batches of `full`, from the
/// summed full-size micro-batch norms and the whole batch's |G|².
pub fn norms(
    want: bool,
    full: usize,
    n: usize,
    small_sq_sum: f64,
    smalls: usize,
    grad_sq: f64,
) -> Option<GradNorms> {
    if !want || n == 0 {
        return None;
    }
    // One micro-batch: it is the whole batch, its norm the batch's.
    let (sum, count) = if full == n {
        (grad_sq, 1)
    } else {
        (small_sq_sum, smalls)
    };
    (count > 0).then(|| GradNorms {
        b_small: full,
        small_sq: sum / count as f64,
        smalls: count,
    })
}

/// This worker's share (`share`) of the forward and backward passes over `images` with
/// `labels`, in the micro-batches of `micro`. `keep_going` is asked before every micro-batch;
/// when it says no, the pass is abandoned (`None`) and nothing it computed is kept, so a stop
/// never waits for the rest of a long update.
pub fn local_gradient(
    model: &ResNet,
    params: &[Var],
    (images, labels): (&[f32], &[u32]),
    (micro, share): (&MicroBatching, Share),
    device: &Device,
    want_norms: bool,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Option<LocalGradient>> {
    let n = labels.len();
    let mut acc: Option<Vec<Tensor>> = None;
    let mut loss_sum = 0.0;
    let mut correct = 0;
    let mut small_sq_sum = 0.0;
    let mut smalls = 0;
    let mut bn = Vec::new();
    let full = micro.size(n);
    let parts: Vec<(usize, usize)> = micro.split(n).collect();
    for index in share.range(parts.len()) {
        if !keep_going() {
            return Ok(None);
        }
        let (start, len) = parts[index];
        let x = Tensor::from_slice(
            &images[start * 3072..(start + len) * 3072],
            (len, 3, 32, 32),
            device,
        )?;
        let y = Tensor::from_slice(&labels[start..start + len], len, device)?;
        // Scale so the accumulated sum is the gradient of the mean over the whole batch.
        let scale = len as f64 / n as f64;
        let (logits, loss, grads, stats) = if model.trains_without_graph(&x) {
            let pass = model.train_pass(
                &x,
                |logits| candle_nn::loss::cross_entropy(logits, &y),
                scale,
            )?;
            let grads = gather(params, |p| pass.grads.get(&p.id()).cloned())?;
            (pass.logits, pass.loss, grads, pass.stats)
        } else {
            let (logits, stats) = model.forward_train(&x)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let store = (&loss * scale)?.backward()?;
            // Detached, so that keeping a gradient (accumulation, optimizer state) never keeps
            // the graph that produced it.
            let grads = gather(params, |p| store.get(p.as_tensor()).map(Tensor::detach))?;
            (logits, loss, grads, stats)
        };
        bn.push((index, stats));
        let loss_value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        loss_sum += loss_value * len as f64;
        correct += logits
            .argmax(D::Minus1)?
            .eq(&y)?
            .to_dtype(DType::U32)?
            .sum_all()?
            .to_scalar::<u32>()? as usize;
        if want_norms && len == full && len < n {
            // |G_small|² of this micro-batch's own mean loss: undo the 1/n scaling.
            let rescale = n as f64 / len as f64;
            small_sq_sum += squared_norm(&grads)? * rescale * rescale;
            smalls += 1;
        }
        acc = Some(match acc {
            None => grads,
            Some(a) => a
                .iter()
                .zip(&grads)
                .map(|(a, g)| a + g)
                .collect::<Result<Vec<_>>>()?,
        });
    }
    Ok(Some(LocalGradient {
        grads: acc,
        loss_sum,
        correct,
        small_sq_sum,
        smalls,
        bn,
    }))
}

/// Zeros shaped like every parameter (the gradient of a worker with nothing to compute).
pub fn zeros_like(params: &[Var]) -> Result<Vec<Tensor>> {
    params.iter().map(|p| p.as_tensor().zeros_like()).collect()
}

/// Each parameter's gradient from `get`, zeros for a parameter the loss does not reach.
fn gather(params: &[Var], get: impl Fn(&Var) -> Option<Tensor>) -> Result<Vec<Tensor>> {
    params
        .iter()
        .map(|p| match get(p) {
            Some(g) => Ok(g),
            None => p.as_tensor().zeros_like(),
        })
        .collect()
}

/// Σ over tensors of the sum of squares (f64 sums of f32 data on the fast CPU path; candle ops
/// with one device-to-host transfer elsewhere).
pub fn squared_norm(tensors: &[Tensor]) -> Result<f64> {
    if tensors.is_empty() {
        return Ok(0.0);
    }
    if tensors.iter().all(slices::is_fast) {
        return tensors
            .iter()
            .map(|t| slices::with_f32("squared_norm", t, slices::sum_squares))
            .sum();
    }
    let sums = tensors
        .iter()
        .map(|t| t.sqr()?.sum_all())
        .collect::<Result<Vec<_>>>()?;
    Tensor::stack(&sums, 0)?
        .to_dtype(DType::F64)?
        .sum_all()?
        .to_scalar::<f64>()
}

/// |(a + b) / 2|² over pairs of equally shaped tensors: the squared norm of the mean of two
/// gradients, without forming it on the fast CPU path.
pub fn squared_norm_of_mean(a: &[Tensor], b: &[Tensor]) -> Result<f64> {
    if a.iter().chain(b).all(slices::is_fast) {
        return a
            .iter()
            .zip(b)
            .map(|(x, y)| {
                slices::with_f32("squared_norm", x, |xs| {
                    slices::with_f32("squared_norm", y, |ys| slices::sum_squares_of_mean(xs, ys))
                })?
            })
            .sum();
    }
    let mean = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x + y).and_then(|s| s * 0.5))
        .collect::<Result<Vec<_>>>()?;
    squared_norm(&mean)
}

/// What an evaluation adds up to: loss sum, correct predictions and samples (so several
/// workers' shares of the test set can be summed before dividing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EvalSums {
    /// Sum of per-sample losses.
    pub loss_sum: f64,
    /// Correct predictions.
    pub correct: f64,
    /// Samples.
    pub count: f64,
}

impl Summable for EvalSums {
    fn to_fields(&self) -> Vec<f64> {
        vec![self.loss_sum, self.correct, self.count]
    }
    fn from_fields(f: &[f64]) -> Self {
        EvalSums {
            loss_sum: f[0],
            correct: f[1],
            count: f[2],
        }
    }
}

impl EvalSums {
    /// Mean loss and accuracy (NaN and 0 for no samples).
    pub fn mean(&self) -> (f64, f64) {
        if self.count == 0.0 {
            return (f64::NAN, 0.0);
        }
        (self.loss_sum / self.count, self.correct / self.count)
    }
}

/// Loss and accuracy sums of `model` (inference mode) over prepared test batches.
pub fn evaluate<'a>(
    model: &ResNet,
    batches: impl Iterator<Item = (&'a [f32], &'a [u32])>,
    device: &Device,
) -> Result<EvalSums> {
    let (mut loss_sum, mut correct, mut count) = (0.0, 0usize, 0usize);
    for (images, labels) in batches {
        let len = labels.len();
        let x = Tensor::from_slice(images, (len, 3, 32, 32), device)?;
        let y = Tensor::from_slice(labels, len, device)?;
        let logits = model.forward_eval(&x)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()? * len as f64;
        correct += logits
            .argmax(D::Minus1)?
            .eq(&y)?
            .to_dtype(DType::U32)?
            .sum_all()?
            .to_scalar::<u32>()? as usize;
        count += len;
    }
    Ok(EvalSums {
        loss_sum,
        correct: correct as f64,
        count: count as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arch, ModelConfig, OptimConfig};
    use crate::model::ParamStore;
    use crate::ops::Kernels;
    use crate::train::optim::Optimizer;

    fn setup(ghost: usize) -> (ParamStore, ResNet) {
        let cfg = ModelConfig {
            arch: Arch::Resnet8,
            ghost_batch: ghost,
            ..ModelConfig::default()
        };
        let mut store = ParamStore::new(&Device::Cpu, 3);
        let net = ResNet::new(&mut store, &cfg, Kernels::Candle, 10).unwrap();
        (store, net)
    }

    fn data(n: usize) -> (Vec<f32>, Vec<u32>) {
        let images = (0..n * 3072)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let labels = (0..n).map(|i| (i * 3 % 10) as u32).collect();
        (images, labels)
    }

    /// The whole batch's gradient as one worker computes it (the engine's path for the world
    /// of one).
    fn batch_gradient(
        model: &ResNet,
        params: &[Var],
        images: &[f32],
        labels: &[u32],
        micro: &MicroBatching,
        device: &Device,
        want_norms: bool,
    ) -> Result<BatchGradient> {
        let local = local_gradient(
            model,
            params,
            (images, labels),
            (micro, Share::ALL),
            device,
            want_norms,
            &mut || true,
        )?
        .expect("never asked to stop");
        crate::train::combine::whole_batch(local, labels.len(), micro, params, want_norms)
    }

    fn params(store: &ParamStore) -> Vec<Var> {
        store.trainable().iter().map(|(_, v)| v.clone()).collect()
    }

    /// One update of B=128 equals the update from 4 accumulated micro-batches of 32 when the
    /// ghost batch is 32 (batch-norm statistics then see the same samples either way).
    #[test]
    fn accumulation_matches_one_big_batch() {
        let (images, labels) = data(128);
        let mut results = Vec::new();
        for micro in [128, 32] {
            let (store, net) = setup(32);
            let ps = params(&store);
            let micro = MicroBatching::new(micro, 32);
            let g =
                batch_gradient(&net, &ps, &images, &labels, &micro, &Device::Cpu, false).unwrap();
            let mut opt = Optimizer::new(&OptimConfig::default(), ps.clone());
            opt.step(&g.grads).unwrap();
            let flat: Vec<f32> = ps
                .iter()
                .flat_map(|p| {
                    p.as_tensor()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                })
                .collect();
            results.push((flat, g.loss_sum, g.correct));
        }
        let (a, b) = (&results[0], &results[1]);
        assert!((a.1 - b.1).abs() < 1e-3, "loss sums {} vs {}", a.1, b.1);
        assert_eq!(a.2, b.2);
        let max_diff =
            a.0.iter()
                .zip(&b.0)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
        assert!(max_diff < 1e-5, "max parameter difference {max_diff}");
    }

    #[test]
    fn norms_are_measured_on_full_micro_batches() {
        let (images, labels) = data(80);
        let (store, net) = setup(32);
        let ps = params(&store);
        let g = batch_gradient(
            &net,
            &ps,
            &images,
            &labels,
            &MicroBatching::new(32, 32),
            &Device::Cpu,
            true,
        )
        .unwrap();
        let n = g.norms.unwrap();
        assert_eq!((n.b_small, n.smalls), (32, 2));
        let big = squared_norm(&g.grads).unwrap();
        assert!(n.small_sq > big, "small-batch gradients are noisier");
    }

    /// Stock candle's gradients are recorded ops whose history holds the activations; a gradient
    /// kept past its update (accumulation, momentum) must not keep them alive.
    #[test]
    fn gradients_carry_no_graph() {
        let (images, labels) = data(64);
        for kernels in [Kernels::Candle, Kernels::Fast] {
            let cfg = ModelConfig {
                arch: Arch::Resnet8,
                ghost_batch: 32,
                ..ModelConfig::default()
            };
            let mut store = ParamStore::new(&Device::Cpu, 3);
            let net = ResNet::new(&mut store, &cfg, kernels, 10).unwrap();
            let ps = params(&store);
            let g = batch_gradient(
                &net,
                &ps,
                &images,
                &labels,
                &MicroBatching::new(32, 32),
                &Device::Cpu,
                true,
            )
            .unwrap();
            for (i, t) in g.grads.iter().enumerate() {
                assert!(
                    !t.track_op(),
                    "{kernels:?}: gradient {i} records its history"
                );
            }
        }
    }

    #[test]
    fn one_micro_batch_reports_its_own_norm() {
        let (images, labels) = data(32);
        let (store, net) = setup(32);
        let ps = params(&store);
        let g = batch_gradient(
            &net,
            &ps,
            &images,
            &labels,
            &MicroBatching::new(32, 32),
            &Device::Cpu,
            true,
        )
        .unwrap();
        let n = g.norms.unwrap();
        assert_eq!((n.b_small, n.smalls), (32, 1));
        assert_eq!(n.small_sq, g.grad_sq);
    }

    #[test]
    fn squared_norms_match_f64_sums_on_both_paths() {
        let dev = Device::Cpu;
        // Long enough for several partial sums, with a ragged tail.
        let a = [
            Tensor::randn(0f32, 1.0, (3, 70_001), &dev).unwrap(),
            Tensor::randn(0f32, 2.0, 17, &dev).unwrap(),
        ];
        let b = [
            Tensor::randn(0f32, 1.0, (3, 70_001), &dev).unwrap(),
            Tensor::randn(0f32, 2.0, 17, &dev).unwrap(),
        ];
        let vals = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want: f64 = a.iter().flat_map(vals).map(|x| x as f64 * x as f64).sum();
        let want_mean: f64 = a
            .iter()
            .zip(&b)
            .flat_map(|(x, y)| vals(x).into_iter().zip(vals(y)))
            .map(|(x, y)| (0.5 * (x as f64 + y as f64)).powi(2))
            .sum();
        let close = |got: f64, want: f64, eps: f64| (got - want).abs() <= eps * want;
        let fast = squared_norm(&a).unwrap();
        assert!(close(fast, want, 1e-12), "{fast} vs {want}");
        let fast_mean = squared_norm_of_mean(&a, &b).unwrap();
        assert!(
            close(fast_mean, want_mean, 1e-12),
            "{fast_mean} vs {want_mean}"
        );
        // The candle path (f64 tensors are not the fast path's), within f32 summation error.
        let a64: Vec<Tensor> = a.iter().map(|t| t.to_dtype(DType::F64).unwrap()).collect();
        let b64: Vec<Tensor> = b.iter().map(|t| t.to_dtype(DType::F64).unwrap()).collect();
        assert!(close(squared_norm(&a64).unwrap(), want, 1e-9));
        assert!(close(
            squared_norm_of_mean(&a64, &b64).unwrap(),
            want_mean,
            1e-9
        ));
    }
}
