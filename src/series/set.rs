//! Series by tag: the naming half of the store, the same for every point's keeping (every
//! point, or a bounded track for drawing). Owns first-seen order and the tag lookup; must never
//! look inside a point.

use std::collections::HashMap;

use super::{Point, Sample, Series, Track};

/// A run's series of kind `S` by tag, in the order tags first appeared.
#[derive(Clone, Debug)]
pub struct Tagged<S> {
    tags: Vec<(String, S)>,
    index: HashMap<String, usize>,
    /// The tag pushed to last: writers log their tags in the same order at every step, so the
    /// next push is most often to the tag after it (checked before hashing).
    last: usize,
    /// Bumped whenever any series changes.
    version: u64,
}

/// Every point of a run, by tag (what the TensorBoard reader fills and export writes).
pub type SeriesSet = Tagged<Series>;

impl<S> Default for Tagged<S> {
    fn default() -> Self {
        Tagged {
            tags: Vec::new(),
            index: HashMap::new(),
            last: 0,
            version: 0,
        }
    }
}

impl<S> Tagged<S> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tags and their series, in first-seen order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &S)> {
        self.tags.iter().map(|(t, s)| (t.as_str(), s))
    }

    /// The tags, in first-seen order.
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().map(|(t, _)| t.as_str())
    }

    /// One tag's series.
    pub fn get(&self, tag: &str) -> Option<&S> {
        self.index.get(tag).map(|&i| &self.tags[i].1)
    }

    /// How many tags.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether there is no tag.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// Changes so far, over all tags.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The series of `tag`, created by `make` on first use (a String is made only then).
    pub fn entry(&mut self, tag: &str, make: impl FnOnce() -> S) -> &mut S {
        self.version += 1;
        let n = self.tags.len();
        let found = (n > 0)
            .then(|| {
                let next = (self.last + 1) % n;
                [next, self.last % n]
                    .into_iter()
                    .find(|&i| self.tags[i].0 == tag)
            })
            .flatten()
            .or_else(|| self.index.get(tag).copied());
        let i = found.unwrap_or_else(|| {
            self.index.insert(tag.to_string(), n);
            self.tags.push((tag.to_string(), make()));
            n
        });
        self.last = i;
        &mut self.tags[i].1
    }
}

impl Tagged<Series> {
    /// Adds a point to `tag` (created on first use) by [`Series::push`]'s rule; returns how
    /// many older points it dropped.
    pub fn push(&mut self, tag: &str, p: Point) -> usize {
        self.entry(tag, Series::default).push(p)
    }

    /// Points over all tags.
    pub fn point_count(&self) -> usize {
        self.tags.iter().map(|(_, s)| s.len()).sum()
    }

    /// Drops every tag's points at and after `step` (a writer that says it restarted there);
    /// returns how many.
    pub fn truncate_from(&mut self, step: i64) -> usize {
        self.version += 1;
        self.tags
            .iter_mut()
            .map(|(_, s)| s.truncate_from(step))
            .sum()
    }
}

impl Tagged<Track> {
    /// Adds a sample to `tag`, whose track is made by `make` on first use (tracks differ in
    /// how much they keep).
    pub fn push_with(&mut self, tag: &str, p: Sample, make: impl FnOnce() -> Track) {
        self.entry(tag, make).push(p);
    }

    /// Adds a sample to `tag` (a default-sized track on first use).
    pub fn push(&mut self, tag: &str, p: Sample) {
        self.push_with(tag, p, Track::default);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_are_named_like_series() {
        let mut set: Tagged<Track> = Tagged::new();
        for i in 0..10 {
            set.push("train/loss", Sample::at(i as f64, 0.0, 1.0));
            set.push_with("noise", Sample::at(i as f64, 0.0, 2.0), || Track::new(8, 8));
        }
        assert_eq!(set.tags().collect::<Vec<_>>(), vec!["train/loss", "noise"]);
        assert_eq!(set.get("noise").map(Track::len), Some(10));
        assert_eq!(
            set.get("train/loss").and_then(Track::last).map(|p| p.y),
            Some(1.0)
        );
        assert!(set.version() >= 20);
    }
}
