//! Online estimate of the gradient noise scale B_simple = tr(Σ)/|G|² (McCandlish et al. 2018)
//! with the two-batch unbiased estimator; each of |G|² and tr(Σ) is smoothed by its own EMA and
//! the estimate is the ratio of the EMAs. [`NoiseScale`] owns the arithmetic on squared norms,
//! [`NoiseMeter`] which gradients feed it; neither may change a gradient.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::train::step::{squared_norm, squared_norm_of_mean, BatchGradient};

/// The smoothed estimator state (saved in checkpoints).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoiseScale {
    decay: f64,
    grad_sq: Option<f64>,
    trace: Option<f64>,
    /// Observations folded in so far.
    pub count: u64,
}

impl NoiseScale {
    /// An estimator whose EMAs use `decay` (e.g. 0.95).
    pub fn new(decay: f64) -> Self {
        NoiseScale {
            decay,
            ..Default::default()
        }
    }

    /// Folds in one measurement: `small_sq` is the mean of |G_small|² over gradients estimated on
    /// `b_small` samples each, `big_sq` is |G_big|² of their average over `b_big` samples.
    pub fn observe(&mut self, b_small: f64, small_sq: f64, b_big: f64, big_sq: f64) {
        if !(b_big > b_small && small_sq.is_finite() && big_sq.is_finite()) {
            return;
        }
        let g2 = (b_big * big_sq - b_small * small_sq) / (b_big - b_small);
        let tr = (small_sq - big_sq) / (1.0 / b_small - 1.0 / b_big);
        let ema = |old: Option<f64>, new: f64| match old {
            None => new,
            Some(o) => self.decay * o + (1.0 - self.decay) * new,
        };
        self.grad_sq = Some(ema(self.grad_sq, g2));
        self.trace = Some(ema(self.trace, tr));
        self.count += 1;
    }

    /// Smoothed |G|² estimate.
    pub fn grad_sq(&self) -> Option<f64> {
        self.grad_sq
    }

    /// Smoothed tr(Σ) estimate.
    pub fn trace(&self) -> Option<f64> {
        self.trace
    }

    /// B_simple = tr(Σ)/|G|², when both estimates exist and |G|² is positive.
    pub fn b_simple(&self) -> Option<f64> {
        match (self.trace, self.grad_sq) {
            (Some(t), Some(g)) if g > 0.0 => Some(t / g),
            _ => None,
        }
    }
}

/// Feeds the estimator from each measured update: the micro-batches of an update are the small
/// batches and the update the big one; when an update is a single micro-batch, it is paired with
/// the previous update's gradient (kept here) as the big batch.
#[derive(Clone, Debug)]
pub struct NoiseMeter {
    scale: NoiseScale,
    prev: Option<Vec<Tensor>>,
}

impl NoiseMeter {
    /// A meter whose estimator's EMAs use `decay`.
    pub fn new(decay: f64) -> NoiseMeter {
        NoiseMeter {
            scale: NoiseScale::new(decay),
            prev: None,
        }
    }

    /// A meter continuing from a checkpoint's estimator and kept gradient.
    pub fn restored(scale: NoiseScale, prev: Option<Vec<Tensor>>) -> NoiseMeter {
        NoiseMeter { scale, prev }
    }

    /// The estimator.
    pub fn scale(&self) -> &NoiseScale {
        &self.scale
    }

    /// The gradient kept for pairing with the next update, if any.
    pub fn kept_gradient(&self) -> Option<&[Tensor]> {
        self.prev.as_deref()
    }

    /// Folds in one update's gradient (one measured with norms; others are ignored).
    pub fn observe(&mut self, g: &BatchGradient) -> candle_core::Result<()> {
        let Some(n) = &g.norms else {
            return Ok(());
        };
        if n.smalls >= 2 || g.count > n.b_small {
            self.scale
                .observe(n.b_small as f64, n.small_sq, g.count as f64, g.grad_sq);
            self.prev = None;
            return Ok(());
        }
        // One micro-batch per update: pair this gradient with the previous update's (same size)
        // as the big batch; parameters moved one small step in between.
        match self.prev.take().filter(|p| p.len() == g.grads.len()) {
            Some(prev) => {
                let prev_sq = squared_norm(&prev)?;
                let big_sq = squared_norm_of_mean(&prev, &g.grads)?;
                self.scale.observe(
                    n.b_small as f64,
                    (prev_sq + n.small_sq) / 2.0,
                    2.0 * n.b_small as f64,
                    big_sq,
                );
            }
            None => self.prev = Some(g.grads.clone()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Gradients G + noise with per-sample covariance σ²·I in d dimensions: tr(Σ) = d·σ²,
    /// so B_simple = d·σ²/|G|². Batch gradients average b samples.
    #[test]
    fn recovers_known_noise_scale_on_synthetic_gradients() {
        let d = 50;
        let sigma = 2.0f64;
        let g: Vec<f64> = (0..d)
            .map(|i| if i % 2 == 0 { 0.3 } else { -0.2 })
            .collect();
        let g_sq: f64 = g.iter().map(|x| x * x).sum();
        let expected = d as f64 * sigma * sigma / g_sq;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut normal = move || {
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.gen();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        };
        let (b_small, k) = (8usize, 4usize);
        let mut est = NoiseScale::new(0.99);
        for _ in 0..3000 {
            let mut smalls = Vec::new();
            for _ in 0..k {
                // Mean of b_small per-sample gradients: noise std σ/√b.
                let s: Vec<f64> = g
                    .iter()
                    .map(|gi| gi + normal() * sigma / (b_small as f64).sqrt())
                    .collect();
                smalls.push(s);
            }
            let big: Vec<f64> = (0..d)
                .map(|j| smalls.iter().map(|s| s[j]).sum::<f64>() / k as f64)
                .collect();
            let small_sq = smalls
                .iter()
                .map(|s| s.iter().map(|x| x * x).sum::<f64>())
                .sum::<f64>()
                / k as f64;
            let big_sq: f64 = big.iter().map(|x| x * x).sum();
            est.observe(b_small as f64, small_sq, (b_small * k) as f64, big_sq);
        }
        let got = est.b_simple().unwrap();
        assert!(
            (got - expected).abs() < 0.1 * expected,
            "estimated {got}, expected {expected}"
        );
        assert!((est.trace().unwrap() - d as f64 * sigma * sigma).abs() < 0.1 * 200.0);
    }

    #[test]
    fn needs_two_batch_sizes() {
        let mut est = NoiseScale::new(0.9);
        est.observe(32.0, 1.0, 32.0, 1.0);
        assert_eq!(est.b_simple(), None);
        assert_eq!(est.count, 0);
    }
}
