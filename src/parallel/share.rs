//! How an update's micro-batches are dealt out to the workers. Owns the rule that makes the
//! micro-batches, and so the result, independent of the world size; must never compute.

/// Which of an update's micro-batches one worker computes: worker `rank` of `world` takes the
/// `rank`-th of `world` contiguous, near-equal blocks. The micro-batches themselves do not
/// depend on the world size, so neither do their gradients, norms or batch statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// This worker.
    pub rank: usize,
    /// Workers in all.
    pub world: usize,
}

impl Share {
    /// One worker computing everything.
    pub const ALL: Share = Share { rank: 0, world: 1 };

    /// The micro-batch indices this worker computes, of `parts`.
    pub fn range(&self, parts: usize) -> std::ops::Range<usize> {
        let world = self.world.max(1);
        self.rank * parts / world..(self.rank + 1) * parts / world
    }

    /// Workers with at least one of `parts` micro-batches to compute.
    pub fn busy(world: usize, parts: usize) -> usize {
        world.max(1).min(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_micro_batch_once() {
        for world in 1..=5 {
            for parts in 0..12 {
                let mut seen = Vec::new();
                for rank in 0..world {
                    seen.extend(Share { rank, world }.range(parts));
                }
                assert_eq!(
                    seen,
                    (0..parts).collect::<Vec<_>>(),
                    "{world} workers, {parts} parts"
                );
            }
        }
        assert_eq!(Share::busy(4, 3), 3);
        assert_eq!(Share::busy(0, 3), 1);
    }
}
