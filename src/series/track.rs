//! A tag's track for drawing: a downsampled record of the whole series beside an exact recent
//! window, plus the EMA used for smoothing. Owns memory bounds and point selection for drawing;
//! must never know about colours, terminals or events.
//!
//! Downsampling keeps, per bucket of consecutive points, the first, last, lowest and highest
//! point (the "M4" aggregation), so a spike or a dip never disappears however long the run gets,
//! and the drawn line keeps its shape. Hand-written because it is small and must stay O(1) per
//! point with a fixed memory ceiling; no crate we know does exactly this.

use std::collections::VecDeque;

/// Which quantity the curves use on the horizontal axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XAxis {
    /// Parameter updates (shrinks when the batch grows).
    #[default]
    Updates,
    /// Epochs (passes over the training set, fractional within an epoch).
    Epochs,
    /// Wall-clock time, Unix seconds (a TensorBoard run's `wall_time`; relative time is this
    /// minus the run's start, subtracted where it is drawn).
    Wall,
}

impl XAxis {
    /// The other axis.
    pub fn toggled(self) -> Self {
        match self {
            XAxis::Updates => XAxis::Epochs,
            XAxis::Epochs | XAxis::Wall => XAxis::Updates,
        }
    }

    /// Lower-case name shown in titles.
    pub fn label(self) -> &'static str {
        match self {
            XAxis::Updates => "updates",
            XAxis::Epochs => "epochs",
            XAxis::Wall => "wall time",
        }
    }
}

/// One sample located both in steps (a batchramp run's updates) and in (fractional) epochs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Step (update count) at the sample.
    pub step: f64,
    /// Position in epochs at the sample (epoch + fraction done).
    pub epoch: f64,
    /// Unix seconds when it was written (0 where a source has no clock).
    pub wall: f64,
    /// The value.
    pub y: f64,
}

impl Sample {
    /// The sample `y` at `step` and `epoch`.
    pub fn at(step: f64, epoch: f64, y: f64) -> Self {
        Sample {
            step,
            epoch,
            wall: 0.0,
            y,
        }
    }

    /// A TensorBoard-style sample: `y` at `step`, written at `wall` (Unix seconds). Such a
    /// source has no epochs; its epoch coordinate is its step.
    pub fn timed(step: f64, wall: f64, y: f64) -> Self {
        Sample {
            step,
            epoch: step,
            wall,
            y,
        }
    }

    /// The sample's coordinate on `axis`.
    pub fn x(&self, axis: XAxis) -> f64 {
        match axis {
            XAxis::Updates => self.step,
            XAxis::Epochs => self.epoch,
            XAxis::Wall => self.wall,
        }
    }
}

/// Consecutive points summarised by first, last, min and max.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    first: Sample,
    last: Sample,
    min: Sample,
    max: Sample,
    count: u64,
}

impl Bucket {
    fn new(p: Sample) -> Self {
        Bucket {
            first: p,
            last: p,
            min: p,
            max: p,
            count: 1,
        }
    }

    fn push(&mut self, p: Sample) {
        self.last = p;
        if p.y < self.min.y {
            self.min = p;
        }
        if p.y > self.max.y {
            self.max = p;
        }
        self.count += 1;
    }

    fn merge(a: Bucket, b: Bucket) -> Bucket {
        Bucket {
            first: a.first,
            last: b.last,
            min: if b.min.y < a.min.y { b.min } else { a.min },
            max: if b.max.y > a.max.y { b.max } else { a.max },
            count: a.count + b.count,
        }
    }

    /// The distinct summary points in the order they were recorded.
    fn emit(&self, out: &mut Vec<Sample>) {
        let mut pts = [self.first, self.min, self.max, self.last];
        pts.sort_by(|a, b| a.step.total_cmp(&b.step));
        let mut prev: Option<f64> = None;
        for p in pts {
            if prev != Some(p.step) {
                out.push(p);
                prev = Some(p.step);
            }
        }
    }
}

/// A series with a fixed memory ceiling, whatever the number of points pushed.
#[derive(Clone, Debug)]
pub struct Track {
    full: Vec<Bucket>,
    open: Option<Bucket>,
    span: u64,
    max_buckets: usize,
    recent: VecDeque<Sample>,
    recent_cap: usize,
    len: u64,
}

impl Default for Track {
    fn default() -> Self {
        Track::new(1024, 2048)
    }
}

impl Track {
    /// A series keeping at most `max_buckets` summaries of the whole run and the last `recent` points exactly.
    pub fn new(max_buckets: usize, recent: usize) -> Self {
        // An even bucket count lets compaction merge neighbours pairwise.
        let max_buckets = (max_buckets.max(4) + 1) & !1;
        Track {
            full: Vec::with_capacity(max_buckets),
            open: None,
            span: 1,
            max_buckets,
            recent: VecDeque::with_capacity(recent.max(1)),
            recent_cap: recent.max(1),
            len: 0,
        }
    }

    /// Appends a sample; non-finite values are ignored (they would poison the axis bounds).
    pub fn push(&mut self, p: Sample) {
        if !(p.y.is_finite() && p.step.is_finite() && p.epoch.is_finite() && p.wall.is_finite()) {
            return;
        }
        self.len += 1;
        if self.recent.len() == self.recent_cap {
            self.recent.pop_front();
        }
        self.recent.push_back(p);
        match &mut self.open {
            Some(b) => b.push(p),
            None => self.open = Some(Bucket::new(p)),
        }
        if self.open.is_some_and(|b| b.count >= self.span) {
            self.full.extend(self.open.take());
            if self.full.len() >= self.max_buckets {
                self.compact();
            }
        }
    }

    fn compact(&mut self) {
        let merged: Vec<Bucket> = self
            .full
            .chunks(2)
            .map(|c| {
                if c.len() == 2 {
                    Bucket::merge(c[0], c[1])
                } else {
                    c[0]
                }
            })
            .collect();
        self.full = merged;
        self.span *= 2;
    }

    /// Number of samples pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before the first sample.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of stored summaries and points (what bounds the memory).
    pub fn stored(&self) -> usize {
        self.full.len() + usize::from(self.open.is_some()) + self.recent.len()
    }

    /// The latest sample.
    pub fn last(&self) -> Option<Sample> {
        self.recent.back().copied()
    }

    /// The first and the last coordinate on `axis`.
    pub fn x_extent(&self, axis: XAxis) -> Option<(f64, f64)> {
        let first = self
            .full
            .first()
            .map(|b| b.first)
            .or(self.open.map(|b| b.first))?;
        Some((first.x(axis), self.last()?.x(axis)))
    }

    /// The last `n` samples' values (oldest first), for sparklines.
    pub fn tail(&self, n: usize) -> Vec<f64> {
        let skip = self.recent.len().saturating_sub(n);
        self.recent.iter().skip(skip).map(|p| p.y).collect()
    }

    /// Points to draw for `[x0, x1]` on `axis`, at most about `4 * columns` of them.
    ///
    /// Uses the exact recent window when it covers the range, the summaries otherwise; keeps one
    /// point on either side of the range so lines reach the edges. Always keeps each column's
    /// extremes, so zoomed-out views still show spikes.
    pub fn points_in(&self, axis: XAxis, x0: f64, x1: f64, columns: usize) -> Vec<(f64, f64)> {
        let mut pts: Vec<Sample> = Vec::new();
        let recent_start = self.recent.front().map(|p| p.x(axis));
        let use_recent =
            recent_start.is_some_and(|s| s <= x0) || self.len as usize <= self.recent.len();
        if use_recent {
            pts.extend(self.recent.iter().copied());
        } else {
            for b in self.full.iter().chain(self.open.iter()) {
                b.emit(&mut pts);
            }
        }
        let lo = pts.partition_point(|p| p.x(axis) < x0).saturating_sub(1);
        let hi = (pts.partition_point(|p| p.x(axis) <= x1) + 1).min(pts.len());
        let window = &pts[lo..hi.max(lo)];
        decimate(window, axis, x0, x1, columns.max(1))
    }
}

/// Keeps first, min, max and last per column so the result is O(columns) but keeps the shape.
fn decimate(pts: &[Sample], axis: XAxis, x0: f64, x1: f64, columns: usize) -> Vec<(f64, f64)> {
    if pts.len() <= columns * 4 || x1 <= x0 {
        return pts.iter().map(|p| (p.x(axis), p.y)).collect();
    }
    let width = (x1 - x0) / columns as f64;
    let mut out = Vec::with_capacity(columns * 4 + 2);
    let mut current: Option<(i64, Bucket)> = None;
    for &p in pts {
        let col = ((p.x(axis) - x0) / width).floor() as i64;
        match &mut current {
            Some((c, b)) if *c == col => b.push(p),
            _ => {
                if let Some((_, b)) = current.take() {
                    let mut v = Vec::with_capacity(4);
                    b.emit(&mut v);
                    out.extend(v.iter().map(|p| (p.x(axis), p.y)));
                }
                current = Some((col, Bucket::new(p)));
            }
        }
    }
    if let Some((_, b)) = current {
        let mut v = Vec::with_capacity(4);
        b.emit(&mut v);
        out.extend(v.iter().map(|p| (p.x(axis), p.y)));
    }
    out
}

/// Exponential moving average with start-up bias correction (as TensorBoard smooths curves).
#[derive(Clone, Debug)]
pub struct Ema {
    weight: f64,
    value: f64,
    /// weight^n, the share of the (zero) initial value still in `value`.
    decay: f64,
}

impl Ema {
    /// A new average; `weight` in [0, 1) is how much of the past each step keeps.
    pub fn new(weight: f64) -> Self {
        Ema {
            weight: weight.clamp(0.0, 0.999_999),
            value: 0.0,
            decay: 1.0,
        }
    }

    /// Adds a sample and returns the corrected average; non-finite samples are skipped.
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if !x.is_finite() {
            return self.get();
        }
        self.value = self.weight * self.value + (1.0 - self.weight) * x;
        self.decay *= self.weight;
        self.get()
    }

    /// The current corrected average, `None` before the first sample.
    pub fn get(&self) -> Option<f64> {
        (self.decay < 1.0).then(|| self.value / (1.0 - self.decay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(i: u64, y: f64) -> Sample {
        Sample {
            step: i as f64,
            epoch: i as f64 / 100.0,
            wall: 1.7e9 + i as f64 * 0.5,
            y,
        }
    }

    #[test]
    fn memory_stays_bounded_over_a_million_points() {
        let mut s = Track::new(256, 512);
        for i in 0..1_000_000u64 {
            s.push(pt(i, (i as f64).sin()));
        }
        assert_eq!(s.len(), 1_000_000);
        assert!(s.stored() <= 256 + 1 + 512, "stored {}", s.stored());
        let drawn = s.points_in(XAxis::Updates, 0.0, 1e6, 100);
        assert!(drawn.len() <= 4 * 100 + 2, "drew {}", drawn.len());
        assert_eq!(s.x_extent(XAxis::Updates), Some((0.0, 999_999.0)));
    }

    #[test]
    fn downsampling_keeps_a_single_spike_and_the_global_minimum() {
        let mut s = Track::new(64, 128);
        for i in 0..100_000u64 {
            let y = match i {
                31_337 => 50.0,
                77_777 => -7.0,
                _ => 1.0 + (i % 7) as f64 * 0.01,
            };
            s.push(pt(i, y));
        }
        let drawn = s.points_in(XAxis::Updates, 0.0, 100_000.0, 40);
        let max = drawn.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = drawn.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert_eq!(max, 50.0);
        assert_eq!(min, -7.0);
        let spike = drawn.iter().find(|p| p.1 == 50.0).unwrap();
        assert_eq!(spike.0, 31_337.0, "the spike stays where it happened");
    }

    #[test]
    fn downsampling_keeps_a_falling_curve_falling() {
        let mut s = Track::new(32, 64);
        for i in 0..50_000u64 {
            s.push(pt(i, 10.0 / (1.0 + i as f64)));
        }
        let drawn = s.points_in(XAxis::Updates, 0.0, 50_000.0, 20);
        assert!(drawn.len() > 20);
        assert!(drawn.windows(2).all(|w| w[0].0 < w[1].0), "x increases");
        assert!(drawn.windows(2).all(|w| w[0].1 >= w[1].1), "y never rises");
        assert_eq!(drawn[0], (0.0, 10.0));
    }

    #[test]
    fn recent_window_is_exact_and_range_has_edge_points() {
        let mut s = Track::new(16, 1000);
        for i in 0..5000u64 {
            s.push(pt(i, i as f64));
        }
        let drawn = s.points_in(XAxis::Updates, 4500.0, 4510.0, 100);
        let xs: Vec<f64> = drawn.iter().map(|p| p.0).collect();
        assert_eq!(xs.first(), Some(&4499.0));
        assert_eq!(xs.last(), Some(&4511.0));
        assert_eq!(xs.len(), 13, "every point in the window, exactly");
    }

    #[test]
    fn epoch_axis_uses_epoch_coordinates() {
        let mut s = Track::new(16, 100);
        for i in 0..50u64 {
            s.push(pt(i, 1.0));
        }
        let drawn = s.points_in(XAxis::Epochs, 0.0, 0.49, 100);
        assert_eq!(drawn.last().unwrap().0, 0.49);
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let mut s = Track::default();
        s.push(pt(0, 1.0));
        s.push(pt(1, f64::NAN));
        s.push(pt(2, f64::INFINITY));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn tail_returns_latest_values_oldest_first() {
        let mut s = Track::new(8, 10);
        for i in 0..20u64 {
            s.push(pt(i, i as f64));
        }
        assert_eq!(s.tail(3), vec![17.0, 18.0, 19.0]);
        assert_eq!(s.tail(50).len(), 10);
    }

    #[test]
    fn ema_is_unbiased_from_the_first_sample() {
        let mut e = Ema::new(0.9);
        assert_eq!(e.get(), None);
        for _ in 0..5 {
            let v = e.push(2.5).unwrap();
            assert!(
                (v - 2.5).abs() < 1e-12,
                "constant input stays constant, got {v}"
            );
        }
    }

    #[test]
    fn ema_follows_a_step_with_the_expected_lag() {
        let mut e = Ema::new(0.5);
        e.push(0.0);
        let after_one = e.push(1.0).unwrap();
        // Weights after two samples: 1/3 on the first, 2/3 on the second.
        assert!((after_one - 2.0 / 3.0).abs() < 1e-12, "{after_one}");
        for _ in 0..60 {
            e.push(1.0);
        }
        assert!((e.get().unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(e.push(f64::NAN), e.get(), "NaN is skipped");
    }
}
