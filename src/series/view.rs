//! The bounded view of a series that a chart draws: the points of a step range, thinned to the
//! lowest and highest value of each of a fixed number of equal-width step buckets, so a spike
//! in a million points still shows and a frame never costs more than the buckets it has.

use super::Point;

/// Which steps a view covers, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepRange {
    /// First step shown.
    pub first: i64,
    /// Last step shown.
    pub last: i64,
}

impl StepRange {
    /// Every step.
    pub const ALL: StepRange = StepRange {
        first: i64::MIN,
        last: i64::MAX,
    };
}

/// The points of `points` (in increasing step order) within `range`, at most
/// `2 × buckets + 1`: each bucket keeps its lowest and highest finite value in step order, and
/// the range's last point is always kept (it is the value a reader looks for at the right
/// edge). Ranges with few enough points come back whole.
pub fn downsample(points: &[Point], range: StepRange, buckets: usize) -> Vec<Point> {
    let lo = points.partition_point(|p| p.step < range.first);
    let hi = points.partition_point(|p| p.step <= range.last);
    let inside = &points[lo..hi.max(lo)];
    let buckets = buckets.max(1);
    if inside.len() <= 2 * buckets {
        return inside.to_vec();
    }
    let (first, last) = (inside[0].step as f64, inside[inside.len() - 1].step as f64);
    let width = (last - first) / buckets as f64;
    let mut out = Vec::with_capacity(2 * buckets + 1);
    let mut start = 0;
    while start < inside.len() {
        let b = (((inside[start].step as f64 - first) / width) as usize).min(buckets - 1);
        let bucket_end = first + width * (b + 1) as f64;
        let mut end = start + 1;
        while end < inside.len() && (b == buckets - 1 || (inside[end].step as f64) < bucket_end) {
            end += 1;
        }
        push_extremes(&inside[start..end], &mut out);
        start = end;
    }
    let tail = inside[inside.len() - 1];
    if out.last().map(|p| p.step) != Some(tail.step) {
        out.push(tail);
    }
    out
}

/// Appends the lowest and highest finite points of `chunk`, in step order (one if they are
/// the same point; none if no value is finite).
fn push_extremes(chunk: &[Point], out: &mut Vec<Point>) {
    let mut lo: Option<usize> = None;
    let mut hi: Option<usize> = None;
    for (i, p) in chunk.iter().enumerate() {
        if !p.value.is_finite() {
            continue;
        }
        if lo.is_none_or(|j| p.value < chunk[j].value) {
            lo = Some(i);
        }
        if hi.is_none_or(|j| p.value > chunk[j].value) {
            hi = Some(i);
        }
    }
    match (lo, hi) {
        (Some(a), Some(b)) if a == b => out.push(chunk[a]),
        (Some(a), Some(b)) => {
            out.push(chunk[a.min(b)]);
            out.push(chunk[a.max(b)]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: i64) -> Vec<Point> {
        (0..n)
            .map(|s| Point {
                step: s,
                wall_time: 0.0,
                value: (s % 7) as f64,
            })
            .collect()
    }

    #[test]
    fn few_points_come_back_whole() {
        let pts = line(10);
        assert_eq!(downsample(&pts, StepRange::ALL, 5), pts);
    }

    #[test]
    fn many_points_are_bounded_and_keep_spikes_and_the_end() {
        let mut pts = line(1_000_000);
        pts[123_457].value = 1e6;
        pts[654_321].value = -1e6;
        let v = downsample(&pts, StepRange::ALL, 200);
        assert!(v.len() <= 401, "{}", v.len());
        assert!(v.windows(2).all(|w| w[0].step < w[1].step));
        assert!(v.iter().any(|p| p.value == 1e6) && v.iter().any(|p| p.value == -1e6));
        assert_eq!(v.last().map(|p| p.step), Some(999_999));
    }

    #[test]
    fn a_range_selects_its_steps() {
        let pts = line(100);
        let v = downsample(
            &pts,
            StepRange {
                first: 10,
                last: 19,
            },
            100,
        );
        assert_eq!(v.len(), 10);
        assert_eq!((v[0].step, v[9].step), (10, 19));
        assert!(downsample(
            &pts,
            StepRange {
                first: 200,
                last: 300
            },
            10
        )
        .is_empty());
    }
}
