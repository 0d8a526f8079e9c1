//! The paper's one formula, below everything that shows or plans with it (the schedule, the
//! resource sampler's stage figures, the UI through the events): the SGD noise scale.

/// The SGD noise scale g = ε·N/(B·(1−m)) of Smith et al.
pub fn noise_scale(lr: f64, n_train: usize, batch: usize, momentum: f64) -> f64 {
    lr * n_train as f64 / (batch as f64 * (1.0 - momentum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_the_batch_by_k_matches_dividing_the_lr_by_k() {
        let base = noise_scale(0.1, 50_000, 128, 0.9);
        assert!((base - 0.1 * 50_000.0 / (128.0 * 0.1)).abs() < 1e-9);
        assert!(
            (noise_scale(0.1, 50_000, 640, 0.9) - noise_scale(0.02, 50_000, 128, 0.9)).abs() < 1e-9
        );
    }
}
