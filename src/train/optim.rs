//! Optimizers with PyTorch semantics: SGD (plain, momentum, Nesterov, L2 weight decay) and Adam.
//! candle-nn has no momentum SGD, so this module owns the update rule and the optimizer state
//! that checkpoints save; it must never compute gradients or decide the schedule.

use candle_core::{Result, Tensor, Var};

use crate::config::{OptimConfig, OptimKind};
use crate::ops::update::{fused, Pass};

/// One optimizer over a fixed, ordered list of parameters.
pub struct Optimizer {
    kind: OptimKind,
    params: Vec<Var>,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
    /// Momentum buffer (SGD) or first moment (Adam), created lazily on the first step.
    first: Vec<Option<Tensor>>,
    /// Second moment (Adam only).
    second: Vec<Option<Tensor>>,
}

/// The optimizer's mutable state, for checkpoints: step count and named state tensors.
pub struct OptimState {
    /// Updates applied so far.
    pub step: u64,
    /// `first.<i>` / `second.<i>` buffers by parameter index.
    pub tensors: Vec<(String, Tensor)>,
}

impl Optimizer {
    /// An optimizer of `cfg.kind` over `params` (the order defines the gradient order of [`Self::step`]).
    pub fn new(cfg: &OptimConfig, params: Vec<Var>) -> Optimizer {
        let n = params.len();
        Optimizer {
            kind: cfg.kind,
            params,
            lr: cfg.lr,
            momentum: match cfg.kind {
                OptimKind::Momentum | OptimKind::Nesterov => cfg.momentum,
                OptimKind::Sgd | OptimKind::Adam => 0.0,
            },
            weight_decay: cfg.weight_decay,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.adam_eps,
            step: 0,
            first: vec![None; n],
            second: vec![None; n],
        }
    }

    /// Sets the learning rate for the next updates.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Sets the momentum coefficient (ignored by plain SGD and Adam).
    pub fn set_momentum(&mut self, momentum: f64) {
        if matches!(self.kind, OptimKind::Momentum | OptimKind::Nesterov) {
            self.momentum = momentum;
        }
    }

    /// Current learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Updates applied so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The parameters, in gradient order.
    pub fn params(&self) -> &[Var] {
        &self.params
    }

    /// Applies one update from `grads` (same order and shapes as the parameters).
    pub fn step(&mut self, grads: &[Tensor]) -> Result<()> {
        if grads.len() != self.params.len() {
            return Err(candle_core::Error::Msg(format!(
                "{} gradients for {} parameters",
                grads.len(),
                self.params.len()
            )));
        }
        self.step += 1;
        for (i, grad) in grads.iter().enumerate() {
            if self.step_fused(i, grad)? {
                continue;
            }
            // Detached: arithmetic on a variable is recorded for backprop, and the moment buffers
            // would then hold the whole chain of earlier buffers and gradients alive (a leak of
            // about a parameter set per update).
            let w = &self.params[i].as_tensor().detach();
            let mut g = grad.detach();
            if self.weight_decay != 0.0 {
                g = (g + (w * self.weight_decay)?)?;
            }
            let new_w = match self.kind {
                OptimKind::Sgd => (w - (g * self.lr)?)?,
                OptimKind::Momentum | OptimKind::Nesterov => {
                    let buf = match self.first[i].take() {
                        None => g.clone(),
                        Some(b) => ((b * self.momentum)? + &g)?,
                    };
                    let dir = if self.kind == OptimKind::Nesterov {
                        (&g + (&buf * self.momentum)?)?
                    } else {
                        buf.clone()
                    };
                    self.first[i] = Some(buf);
                    (w - (dir * self.lr)?)?
                }
                OptimKind::Adam => {
                    let m = match self.first[i].take() {
                        None => (&g * (1.0 - self.beta1))?,
                        Some(m) => ((m * self.beta1)? + (&g * (1.0 - self.beta1))?)?,
                    };
                    let g2 = g.sqr()?;
                    let v = match self.second[i].take() {
                        None => (g2 * (1.0 - self.beta2))?,
                        Some(v) => ((v * self.beta2)? + (g2 * (1.0 - self.beta2))?)?,
                    };
                    let bc1 = 1.0 - self.beta1.powi(self.step as i32);
                    let bc2 = 1.0 - self.beta2.powi(self.step as i32);
                    let denom = ((&v / bc2)?.sqrt()? + self.eps)?;
                    let upd = ((&m / bc1)? / denom)?;
                    self.first[i] = Some(m);
                    self.second[i] = Some(v);
                    (w - (upd * self.lr)?)?
                }
            };
            self.params[i].set(&new_w)?;
        }
        Ok(())
    }

    /// Updates parameter `i` and its state in place with fused CPU passes (one sweep per tensor
    /// written); false, with nothing changed, where they do not apply (other devices, dtypes).
    fn step_fused(&mut self, i: usize, grad: &Tensor) -> Result<bool> {
        let w = self.params[i].as_tensor();
        if !crate::ops::update::fused_applies(w, grad) {
            return Ok(false);
        }
        let (lr, wd, m) = (
            self.lr as f32,
            self.weight_decay as f32,
            self.momentum as f32,
        );
        match self.kind {
            OptimKind::Sgd => fused(w, grad, grad, Pass::Sgd { lr, wd }),
            OptimKind::Momentum | OptimKind::Nesterov => {
                // A fresh zero buffer makes the first update's v = g + wd·w, as PyTorch's.
                let v = match &self.first[i] {
                    Some(v) => v.clone(),
                    None => w.zeros_like()?,
                };
                fused(&v, grad, w, Pass::MomentumBuffer { m, wd })?;
                let nesterov = self.kind == OptimKind::Nesterov;
                fused(
                    w,
                    grad,
                    &v,
                    Pass::MomentumApply {
                        lr,
                        m,
                        wd,
                        nesterov,
                    },
                )?;
                self.first[i] = Some(v);
                Ok(())
            }
            OptimKind::Adam => {
                let m1 = match &self.first[i] {
                    Some(t) => t.clone(),
                    None => w.zeros_like()?,
                };
                let m2 = match &self.second[i] {
                    Some(t) => t.clone(),
                    None => w.zeros_like()?,
                };
                let first = Pass::AdamFirst {
                    beta: self.beta1 as f32,
                    rest: (1.0 - self.beta1) as f32,
                    wd,
                };
                let second = Pass::AdamSecond {
                    beta: self.beta2 as f32,
                    rest: (1.0 - self.beta2) as f32,
                    wd,
                };
                fused(&m1, grad, w, first)?;
                fused(&m2, grad, w, second)?;
                let apply = Pass::AdamApply {
                    lr,
                    bc1: (1.0 - self.beta1.powi(self.step as i32)) as f32,
                    bc2: (1.0 - self.beta2.powi(self.step as i32)) as f32,
                    eps: self.eps as f32,
                };
                fused(w, &m1, &m2, apply)?;
                self.first[i] = Some(m1);
                self.second[i] = Some(m2);
                Ok(())
            }
        }?;
        Ok(true)
    }

    /// Snapshot of the state for a checkpoint.
    pub fn state(&self) -> OptimState {
        let mut tensors = Vec::new();
        for (i, t) in self.first.iter().enumerate() {
            if let Some(t) = t {
                tensors.push((format!("first.{i}"), t.clone()));
            }
        }
        for (i, t) in self.second.iter().enumerate() {
            if let Some(t) = t {
                tensors.push((format!("second.{i}"), t.clone()));
            }
        }
        OptimState {
            step: self.step,
            tensors,
        }
    }

    /// Restores a state saved by [`Self::state`]; unknown names or wrong shapes are errors.
    pub fn load_state(&mut self, state: OptimState) -> Result<()> {
        self.step = state.step;
        self.first = vec![None; self.params.len()];
        self.second = vec![None; self.params.len()];
        for (name, t) in state.tensors {
            let (slot, idx) = name
                .split_once('.')
                .and_then(|(s, i)| Some((s, i.parse::<usize>().ok()?)))
                .filter(|(_, i)| *i < self.params.len())
                .ok_or_else(|| {
                    candle_core::Error::Msg(format!("unknown optimizer state {name}"))
                })?;
            if t.dims() != self.params[idx].dims() {
                return Err(candle_core::Error::Msg(format!(
                    "optimizer state {name} has shape {:?}, parameter has {:?}",
                    t.dims(),
                    self.params[idx].dims()
                )));
            }
            let t = t.to_device(self.params[idx].device())?;
            match slot {
                "first" => self.first[idx] = Some(t),
                "second" => self.second[idx] = Some(t),
                _ => {
                    return Err(candle_core::Error::Msg(format!(
                        "unknown optimizer state {name}"
                    )))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn run(kind: OptimKind, wd: f64, grads: &[[f32; 2]]) -> Vec<f32> {
        let cfg = OptimConfig {
            kind,
            lr: 0.1,
            momentum: 0.9,
            weight_decay: wd,
            ..OptimConfig::default()
        };
        let w = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(&cfg, vec![w.clone()]);
        for g in grads {
            let g = Tensor::from_slice(g, 2, &Device::Cpu).unwrap();
            opt.step(&[g]).unwrap();
        }
        w.as_tensor().to_vec1().unwrap()
    }

    #[test]
    fn state_does_not_keep_a_computation_graph() {
        for kind in [OptimKind::Momentum, OptimKind::Nesterov, OptimKind::Adam] {
            let cfg = OptimConfig {
                kind,
                weight_decay: 5e-4,
                ..OptimConfig::default()
            };
            let w = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu).unwrap();
            let mut opt = Optimizer::new(&cfg, vec![w.clone()]);
            // A gradient that is itself recorded, as backprop's outputs can be.
            let g = (w.as_tensor() * 2.0).unwrap();
            assert!(g.track_op());
            for _ in 0..3 {
                opt.step(std::slice::from_ref(&g)).unwrap();
            }
            for (name, t) in opt.state().tensors {
                assert!(!t.track_op(), "{kind:?} {name} records its history");
            }
            assert!(!w.as_tensor().detach().track_op());
        }
    }

    fn close(a: &[f32], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((*x as f64 - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn plain_sgd_with_weight_decay() {
        // g' = g + wd·w = 0.5 + 0.01·1 = 0.51 → w = 1 − 0.1·0.51 = 0.949
        let w = run(OptimKind::Sgd, 0.01, &[[0.5, 0.5]]);
        close(&w, &[0.949, -2.0 - 0.1 * (0.5 - 0.02)]);
    }

    #[test]
    fn momentum_matches_pytorch_by_hand() {
        // step 1: buf = g = 1 → w = 1 − 0.1 = 0.9
        // step 2: buf = 0.9·1 + 1 = 1.9 → w = 0.9 − 0.19 = 0.71
        let w = run(OptimKind::Momentum, 0.0, &[[1.0, 0.0], [1.0, 0.0]]);
        close(&w, &[0.71, -2.0]);
    }

    #[test]
    fn nesterov_matches_pytorch_by_hand() {
        // step 1: buf = 1, d = g + m·buf = 1.9 → w = 1 − 0.19 = 0.81
        // step 2: buf = 1.9, d = 1 + 0.9·1.9 = 2.71 → w = 0.81 − 0.271 = 0.539
        let w = run(OptimKind::Nesterov, 0.0, &[[1.0, 0.0], [1.0, 0.0]]);
        close(&w, &[0.539, -2.0]);
    }

    #[test]
    fn adam_matches_pytorch_by_hand() {
        // Adam's first step moves each weight by lr·sign(g) (bias correction cancels).
        let w = run(OptimKind::Adam, 0.0, &[[3.0, -0.5]]);
        close(&w, &[0.9, -1.9]);
        // Second step with g = 1 after g = 3: m = 0.9·0.3 + 0.1 = 0.37 → m̂ = 0.37/0.19;
        // v = 0.999·0.009 + 0.001 = 0.009991 → v̂ = v/0.001999; w = 0.9 − 0.1·m̂/(√v̂ + 1e-8).
        let w = run(OptimKind::Adam, 0.0, &[[3.0, 0.0], [1.0, 0.0]]);
        let m_hat = 0.37 / (1.0 - 0.81);
        let v_hat: f64 = 0.009991 / (1.0 - 0.998001);
        close(&w[..1], &[0.9 - 0.1 * m_hat / (v_hat.sqrt() + 1e-8)]);
    }

    /// The fused in-place passes (CPU f32) and the stock-op path (taken here by f64 tensors, as by
    /// CUDA ones) compute the same updates, and neither writes into the gradients it is given.
    #[test]
    fn fused_and_stock_paths_agree() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let w0: Vec<f64> = (0..1000).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let grads: Vec<Vec<f64>> = (0..4)
            .map(|_| (0..1000).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect();
        for kind in [
            OptimKind::Sgd,
            OptimKind::Momentum,
            OptimKind::Nesterov,
            OptimKind::Adam,
        ] {
            let cfg = OptimConfig {
                kind,
                lr: 0.05,
                weight_decay: 5e-4,
                ..OptimConfig::default()
            };
            let w32 =
                Var::from_vec(w0.iter().map(|&v| v as f32).collect(), 1000, &Device::Cpu).unwrap();
            let w64 = Var::from_vec(w0.clone(), 1000, &Device::Cpu).unwrap();
            let mut fused = Optimizer::new(&cfg, vec![w32.clone()]);
            let mut stock = Optimizer::new(&cfg, vec![w64.clone()]);
            for g in &grads {
                let g32 =
                    Tensor::from_vec(g.iter().map(|&v| v as f32).collect(), 1000, &Device::Cpu)
                        .unwrap();
                fused.step(std::slice::from_ref(&g32)).unwrap();
                stock
                    .step(&[Tensor::from_vec(g.clone(), 1000, &Device::Cpu).unwrap()])
                    .unwrap();
                let after: Vec<f32> = g32.to_vec1().unwrap();
                assert!(
                    after.iter().zip(g).all(|(a, b)| *a == *b as f32),
                    "{kind:?}: the step wrote into its gradient"
                );
            }
            let a: Vec<f32> = w32.as_tensor().to_vec1().unwrap();
            let b: Vec<f64> = w64.as_tensor().to_vec1().unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((*x as f64 - y).abs() < 1e-5, "{kind:?}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn state_round_trips() {
        let cfg = OptimConfig::default();
        let w = Var::from_slice(&[1.0f32, 2.0], 2, &Device::Cpu).unwrap();
        let mut a = Optimizer::new(&cfg, vec![w.clone()]);
        let g = Tensor::from_slice(&[0.3f32, -0.1], 2, &Device::Cpu).unwrap();
        a.step(std::slice::from_ref(&g)).unwrap();
        let w2 = Var::from_tensor(w.as_tensor()).unwrap();
        let mut b = Optimizer::new(&cfg, vec![w2.clone()]);
        b.load_state(a.state()).unwrap();
        a.step(std::slice::from_ref(&g)).unwrap();
        b.step(&[g]).unwrap();
        assert_eq!(
            w.as_tensor().to_vec1::<f32>().unwrap(),
            w2.as_tensor().to_vec1::<f32>().unwrap()
        );
        assert_eq!(b.steps(), 2);
    }
}
