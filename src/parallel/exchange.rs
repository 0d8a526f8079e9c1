//! Typed sums over the workers: a struct of counts and totals goes out as one small all-reduce
//! and comes back as the same struct, so no caller ever indexes positional slots. Owns the
//! field order of each exchange; must never decide what is summed (the callers do).

use super::collective::{Collective, CollectiveError};

/// A record of numbers that add up over workers: every field is a sum (a total, a count, or a
/// 0/1 flag whose sum counts the workers that raised it).
pub trait Summable: Sized {
    /// The fields in a fixed order.
    fn to_fields(&self) -> Vec<f64>;
    /// The record from fields in that order.
    fn from_fields(fields: &[f64]) -> Self;
}

/// `mine` summed field by field over every worker (the world of one returns it as it is).
pub fn sum_over<T: Summable>(comm: &mut dyn Collective, mine: &T) -> Result<T, CollectiveError> {
    let mut fields = mine.to_fields();
    if comm.world() > 1 {
        comm.sum_f64(&mut fields)?;
    }
    Ok(T::from_fields(&fields))
}

/// Bytes an exchange of `T` sends per worker.
pub fn bytes_of<T: Summable>(value: &T) -> u64 {
    8 * value.to_fields().len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parallel::collective::Local;

    #[derive(Debug, PartialEq)]
    struct Pair {
        total: f64,
        flags: usize,
    }

    impl Summable for Pair {
        fn to_fields(&self) -> Vec<f64> {
            vec![self.total, self.flags as f64]
        }
        fn from_fields(f: &[f64]) -> Self {
            Pair {
                total: f[0],
                flags: f[1] as usize,
            }
        }
    }

    #[test]
    fn the_world_of_one_returns_its_own_record() {
        let mine = Pair {
            total: 2.5,
            flags: 1,
        };
        assert_eq!(sum_over(&mut Local, &mine).unwrap(), mine);
        assert_eq!(bytes_of(&mine), 16);
    }
}
