//! TensorBoard's smoothing: an exponential moving average with its start-up bias removed.

/// The smoothed values of `values` for `weight` in `[0, 1)` (TensorBoard's slider; 0 = raw).
///
/// The average starts at zero, so its first values are divided by `1 − weightⁿ` (after `n`
/// finite values) to undo the pull towards zero. A non-finite value passes through unsmoothed
/// and does not enter the average; a constant series is returned as it is (its average would
/// only add rounding).
pub fn smooth_ema(values: &[f64], weight: f64) -> Vec<f64> {
    let weight = weight.clamp(0.0, 1.0);
    let constant = values.windows(2).all(|w| w[0] == w[1]);
    let (mut avg, mut n) = (0.0f64, 0i32);
    values
        .iter()
        .map(|&v| {
            if constant || !v.is_finite() {
                return v;
            }
            avg = avg * weight + (1.0 - weight) * v;
            n += 1;
            let debias = if weight < 1.0 {
                1.0 - weight.powi(n)
            } else {
                1.0
            };
            avg / debias
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_zero_is_the_raw_curve() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(smooth_ema(&v, 0.0), v.to_vec());
    }

    #[test]
    fn the_first_value_is_not_pulled_to_zero() {
        let s = smooth_ema(&[10.0, 0.0], 0.6);
        assert!((s[0] - 10.0).abs() < 1e-12);
        // avg = 0.6·4 + 0 = 2.4 after (0.4·10 = 4); debias 1 − 0.36 = 0.64 → 3.75.
        assert!((s[1] - 3.75).abs() < 1e-12, "{}", s[1]);
    }

    #[test]
    fn nan_passes_through_and_constants_stay() {
        let s = smooth_ema(&[1.0, f64::NAN, 3.0], 0.5);
        assert!(s[1].is_nan());
        assert!((s[2] - (0.25 + 1.5) / 0.75).abs() < 1e-12);
        assert_eq!(smooth_ema(&[2.0; 4], 0.9), vec![2.0; 4]);
    }
}
