//! Named scalar series: tag → points, the one store every source fills (a TensorBoard logdir,
//! batchramp's own events mapped onto tags) and the UI draws.
//!
//! A tag's points come in two keepings of the same concept: [`Series`] keeps every point (for
//! export and the reader's restart rule: a step at or before the last one replaces the points
//! from that step on), [`Track`] keeps a fixed-size summary for drawing (the UI's memory stays
//! bounded however long the run). [`Tagged`] names either by tag. Also owns the bounded view
//! of a full series and TensorBoard's smoothing. It must never read files or know where a
//! series came from.

mod set;
mod smooth;
mod track;
mod view;

pub use set::{SeriesSet, Tagged};
pub use smooth::smooth_ema;
pub use track::{Ema, Sample, Track, XAxis};
pub use view::{downsample, StepRange};

/// One measured value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The writer's step (global step, update, epoch: whatever it counted).
    pub step: i64,
    /// Unix seconds when it was written.
    pub wall_time: f64,
    /// The value. `f64` holds a float32 exactly (so TensorBoard's `simple_value` round-trips)
    /// and keeps a double tensor's full precision.
    pub value: f64,
}

/// One tag's points, in strictly increasing step order.
#[derive(Clone, Debug, Default)]
pub struct Series {
    points: Vec<Point>,
    /// Smallest and largest finite value; `None` before the first finite one.
    range: Option<(f64, f64)>,
    /// Bumped on every change, so a reader can cache what it drew.
    version: u64,
}

impl Series {
    /// Every point, in step order.
    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// How many points there are.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether there is no point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The newest point.
    pub fn last(&self) -> Option<&Point> {
        self.points.last()
    }

    /// Smallest and largest finite value.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        self.range
    }

    /// Changes so far (a reader that saw the same version has seen every point).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Adds a point. A step at or before the last one means the writer restarted from there:
    /// the points from that step on are dropped first, as TensorBoard's data server does, so
    /// steps stay strictly increasing. Returns how many points were dropped.
    pub fn push(&mut self, p: Point) -> usize {
        let dropped = match self.points.last() {
            Some(last) if p.step <= last.step => self.truncate_from(p.step),
            _ => 0,
        };
        self.points.push(p);
        if p.value.is_finite() {
            self.range = Some(match self.range {
                Some((lo, hi)) => (lo.min(p.value), hi.max(p.value)),
                None => (p.value, p.value),
            });
        }
        self.version += 1;
        dropped
    }

    /// Drops the points at and after `step`; returns how many.
    pub fn truncate_from(&mut self, step: i64) -> usize {
        let keep = self.points.partition_point(|p| p.step < step);
        let dropped = self.points.len() - keep;
        if dropped > 0 {
            self.points.truncate(keep);
            self.range = finite_range(&self.points);
            self.version += 1;
        }
        dropped
    }

    /// At most about `2 × buckets` points of `range` for drawing (see [`downsample`]).
    pub fn view(&self, range: StepRange, buckets: usize) -> Vec<Point> {
        downsample(&self.points, range, buckets)
    }

    /// Reserves room for `n` more points.
    pub fn reserve(&mut self, n: usize) {
        self.points.reserve(n);
    }
}

/// The points whose value differs from the point before (the first point excluded): where a
/// batch-size or learning-rate tag starts a new stage of the schedule.
pub fn value_changes(points: &[Point]) -> impl Iterator<Item = &Point> {
    points
        .windows(2)
        .filter(|w| w[1].value != w[0].value)
        .map(|w| &w[1])
}

fn finite_range(points: &[Point]) -> Option<(f64, f64)> {
    points
        .iter()
        .map(|p| p.value)
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            Some((lo, hi)) => Some((v.min(lo), v.max(hi))),
            None => Some((v, v)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(step: i64, value: f64) -> Point {
        Point {
            step,
            wall_time: step as f64,
            value,
        }
    }

    #[test]
    fn a_step_going_back_replaces_the_points_from_there() {
        let mut s = Series::default();
        for step in 0..10 {
            assert_eq!(s.push(pt(step, step as f64)), 0);
        }
        assert_eq!(s.push(pt(4, -1.0)), 6, "steps 4..=9 dropped");
        let steps: Vec<i64> = s.points().iter().map(|p| p.step).collect();
        assert_eq!(steps, vec![0, 1, 2, 3, 4]);
        assert_eq!(s.last().map(|p| p.value), Some(-1.0));
        assert_eq!(s.min_max(), Some((-1.0, 3.0)));
        assert_eq!(s.push(pt(4, 7.0)), 1, "the same step again replaces it");
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn truncation_recomputes_the_range_and_ignores_nan() {
        let mut s = Series::default();
        s.push(pt(0, 1.0));
        s.push(pt(1, f64::NAN));
        s.push(pt(2, 9.0));
        assert_eq!(s.min_max(), Some((1.0, 9.0)));
        let v = s.version();
        assert_eq!(s.truncate_from(2), 1);
        assert!(s.version() > v);
        assert_eq!(s.min_max(), Some((1.0, 1.0)));
        assert_eq!(s.truncate_from(5), 0);
    }

    #[test]
    fn changes_are_where_the_value_steps() {
        let pts: Vec<Point> = [128.0, 128.0, 640.0, 640.0, 3200.0]
            .iter()
            .enumerate()
            .map(|(i, &v)| pt(i as i64 * 10, v))
            .collect();
        let at: Vec<i64> = value_changes(&pts).map(|p| p.step).collect();
        assert_eq!(at, vec![20, 40]);
    }

    #[test]
    fn a_set_keeps_first_seen_order_and_truncates_every_tag() {
        let mut set = SeriesSet::new();
        set.push("b", pt(0, 0.0));
        set.push("a", pt(0, 0.0));
        set.push("b", pt(5, 0.0));
        set.push("a", pt(6, 0.0));
        assert_eq!(set.tags().collect::<Vec<_>>(), vec!["b", "a"]);
        assert_eq!(set.truncate_from(5), 2);
        assert_eq!(set.point_count(), 2);
        assert_eq!(set.get("a").map(Series::len), Some(1));
        assert!(set.get("c").is_none());
    }
}
