//! How one update's batch is executed: split into micro-batches whose gradients are accumulated.
//! Owns the rule "a micro-batch is a multiple of the ghost batch; halve it on out-of-memory;
//! accumulation = ⌈B / micro⌉"; must never run a forward pass or touch tensors.

/// The micro-batch size in force and the ghost batch it keeps aligned with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MicroBatching {
    micro: usize,
    ghost: usize,
}

impl MicroBatching {
    /// Micro-batches of the largest multiple of `ghost` that fits in `max_micro` (or `max_micro`
    /// itself when no ghost batch is set or it is larger), so ghost chunks line up with
    /// micro-batches and accumulating them does not change the result.
    pub fn new(max_micro: usize, ghost: usize) -> MicroBatching {
        let micro = if ghost == 0 || ghost > max_micro {
            max_micro.max(1)
        } else {
            max_micro / ghost * ghost
        };
        MicroBatching { micro, ghost }
    }

    /// The physical batch for an update of `batch` samples.
    pub fn size(&self, batch: usize) -> usize {
        self.micro.min(batch).max(1)
    }

    /// Micro-batches accumulated into one update of `batch` samples.
    pub fn accumulation(&self, batch: usize) -> usize {
        batch.div_ceil(self.size(batch))
    }

    /// The consecutive `(start, len)` micro-batches of `n` samples.
    pub fn split(&self, n: usize) -> impl Iterator<Item = (usize, usize)> {
        let micro = self.micro;
        (0..n).step_by(micro).map(move |s| (s, micro.min(n - s)))
    }

    /// After an out-of-memory failure on a batch of `batch`: halves the micro-batch (kept a
    /// multiple of the ghost batch while it can be, so the update is unchanged). Returns the
    /// old and new sizes, or `None` when a micro-batch is already one sample.
    pub fn shrink(&mut self, batch: usize) -> Option<(usize, usize)> {
        let old = self.size(batch);
        if old <= 1 {
            return None;
        }
        let half = (old / 2).max(1);
        self.micro = if self.ghost > 0 && half >= self.ghost {
            half / self.ghost * self.ghost
        } else {
            half
        };
        Some((old, self.micro))
    }

    /// Whether micro-batches have fallen below the ghost batch (batch-norm statistics then use
    /// fewer samples than configured).
    pub fn below_ghost(&self) -> bool {
        self.ghost > 0 && self.micro < self.ghost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_line_up_with_ghost_chunks() {
        assert_eq!(MicroBatching::new(256, 128).size(10_000), 256);
        assert_eq!(MicroBatching::new(300, 128).size(10_000), 256);
        assert_eq!(MicroBatching::new(100, 128).size(10_000), 100);
        assert_eq!(MicroBatching::new(50, 0).size(10_000), 50);
        let m = MicroBatching::new(256, 128);
        assert_eq!(m.size(100), 100, "a small batch is one micro-batch");
        assert_eq!(m.accumulation(640), 3);
        assert_eq!(
            m.split(640).collect::<Vec<_>>(),
            vec![(0, 256), (256, 256), (512, 128)]
        );
    }

    #[test]
    fn shrinking_keeps_ghost_multiples_then_halves_to_one() {
        let mut m = MicroBatching::new(512, 128);
        assert_eq!(m.shrink(3200), Some((512, 256)));
        assert_eq!(m.shrink(3200), Some((256, 128)));
        assert!(!m.below_ghost());
        assert_eq!(m.shrink(3200), Some((128, 64)));
        assert!(m.below_ghost());
        assert_eq!(m.accumulation(3200), 50);
        let mut m = MicroBatching::new(384, 128);
        assert_eq!(
            m.shrink(3200),
            Some((384, 128)),
            "192 rounds down to a ghost multiple"
        );
        let mut tiny = MicroBatching::new(2, 0);
        assert_eq!(tiny.shrink(10), Some((2, 1)));
        assert_eq!(tiny.shrink(10), None);
        // A batch smaller than the micro-batch shrinks from its own size.
        let mut m = MicroBatching::new(512, 32);
        assert_eq!(m.shrink(64), Some((64, 32)));
    }
}
