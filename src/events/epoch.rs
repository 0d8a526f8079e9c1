//! Epochs are counted two ways: how many are done (from 0: what the schedule, the loader and
//! the progress index by) and an epoch's number (from 1: what every event, line and panel
//! shows). These two functions are the only conversions between them.

/// The number of the epoch in progress when `done` epochs are done (epoch 1 first).
pub fn number(done: usize) -> usize {
    done + 1
}

/// Epochs done when epoch `number` begins (0 for epoch 1; numbers below 1 count as 1).
pub fn done_before(number: usize) -> usize {
    number.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_counts_convert_both_ways() {
        for done in 0..5 {
            assert_eq!(done_before(number(done)), done);
        }
        assert_eq!(done_before(0), 0);
    }
}
