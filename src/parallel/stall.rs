//! The deadline of an exchange between workers: how a waiting worker polls without burning a
//! core, when it names the workers it waits for, when it gives up, and which worker says so (one
//! line for the job, not one per process). Pure: the engine supplies the "is it done" probe and
//! the clock. Must never touch MPI, the log or the terminal.

use std::time::{Duration, Instant};

use crate::config::ParallelConfig;

/// How long an exchange may wait before it is reported, and before the job is ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StallLimits {
    /// A wait this long is reported, and again each time it has grown by as much.
    pub warn_after: Duration,
    /// A wait this long ends the job; `None`: wait forever.
    pub give_up_after: Option<Duration>,
}

impl StallLimits {
    /// The config's limits.
    pub fn from_config(p: &ParallelConfig) -> StallLimits {
        StallLimits {
            warn_after: Duration::from_secs(p.stall_warning_seconds.max(1)),
            give_up_after: (p.stall_timeout_seconds > 0)
                .then(|| Duration::from_secs(p.stall_timeout_seconds)),
        }
    }
}

impl Default for StallLimits {
    fn default() -> Self {
        StallLimits::from_config(&ParallelConfig::default())
    }
}

/// The longest pause between two polls: a long wait costs about nothing, and a worker that
/// joins is noticed within this.
pub const LONGEST_PAUSE: Duration = Duration::from_millis(50);

/// How long to pause before the next poll after waiting `waited`: not at all for the first
/// 200 µs (an exchange among workers that are all there takes about that), then a sixteenth of
/// the wait so far, so that noticing late adds at most a sixteenth to a wait, up to
/// [`LONGEST_PAUSE`].
pub fn pause_after(waited: Duration) -> Duration {
    if waited < Duration::from_micros(200) {
        Duration::ZERO
    } else {
        (waited / 16).min(LONGEST_PAUSE)
    }
}

/// Time as the waiting loop sees it.
pub trait Clock {
    /// Time since the wait began.
    fn elapsed(&self) -> Duration;
    /// Lets `d` pass (a zero `d` only yields the core).
    fn pause(&mut self, d: Duration);
}

/// The real clock: [`Instant`] and sleeping.
#[derive(Clone, Copy, Debug)]
pub struct RealClock(Instant);

impl RealClock {
    /// A clock that starts now.
    pub fn start() -> RealClock {
        RealClock(Instant::now())
    }
}

impl Clock for RealClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
    fn pause(&mut self, d: Duration) {
        if d.is_zero() {
            std::thread::yield_now();
        } else {
            std::thread::sleep(d);
        }
    }
}

/// The wait gave up after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaveUp(pub Duration);

/// One exchange's wait: it may poll several things in turn (a length, then the data), all under
/// one deadline counted from the start.
#[derive(Debug)]
pub struct Watchdog<C: Clock> {
    clock: C,
    limits: StallLimits,
    warnings: u32,
    /// When the pauses started growing from nothing again (see [`Watchdog::hurry`]).
    paced_from: Duration,
}

impl<C: Clock> Watchdog<C> {
    /// A wait under `limits`, timed by `clock` (started when the exchange began).
    pub fn new(limits: StallLimits, clock: C) -> Watchdog<C> {
        Watchdog {
            clock,
            limits,
            warnings: 0,
            paced_from: Duration::ZERO,
        }
    }

    /// Polls quickly again from now on, the deadline unchanged: every worker has joined, so what
    /// is left of the exchange is quick, and it needs this worker's polls to progress.
    pub fn hurry(&mut self) {
        self.paced_from = self.clock.elapsed();
    }

    /// Polls `done` until it says so, pausing ever longer between polls; each time the wait
    /// passes another multiple of the warning time, `late` is told that multiple. Gives up at
    /// the limit (`done` is asked once more first, so a wait that completed is never failed).
    pub fn wait(
        &mut self,
        mut done: impl FnMut() -> bool,
        mut late: impl FnMut(Duration),
    ) -> Result<(), GaveUp> {
        loop {
            if done() {
                return Ok(());
            }
            let waited = self.clock.elapsed();
            if let Some(limit) = self.limits.give_up_after {
                if waited >= limit {
                    return Err(GaveUp(limit));
                }
            }
            let next_warning = self.limits.warn_after * (self.warnings + 1);
            if waited >= next_warning {
                self.warnings += 1;
                late(next_warning);
                continue;
            }
            // Never sleep past the next warning or the limit.
            let mut pause = pause_after(waited - self.paced_from).min(next_warning - waited);
            if let Some(limit) = self.limits.give_up_after {
                pause = pause.min(limit - waited);
            }
            self.clock.pause(pause);
        }
    }

    /// Whether this wait has been reported.
    pub fn warned(&self) -> bool {
        self.warnings > 0
    }

    /// How long the exchange has waited so far.
    pub fn waited(&self) -> Duration {
        self.clock.elapsed()
    }
}

/// A worker, as the messages name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// Its rank.
    pub rank: usize,
    /// Its machine, once the handshake has told.
    pub host: Option<String>,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Some(h) => write!(f, "{} on {h}", self.rank),
            None => write!(f, "{}", self.rank),
        }
    }
}

/// An exchange that waits: for whom, and how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// How long it has waited.
    pub waited: Duration,
    /// The workers that have not joined it; empty when all have but it has not completed (one
    /// stopped inside it).
    pub missing: Vec<Named>,
}

impl Stall {
    /// "worker 1 on node-3", "workers 1 on node-3 and 2 on node-4".
    fn whom(&self) -> String {
        let names: Vec<String> = self.missing.iter().map(|n| n.to_string()).collect();
        match names.as_slice() {
            [one] => format!("worker {one}"),
            [init @ .., last] => format!("workers {} and {last}", init.join(", ")),
            [] => String::new(),
        }
    }

    /// The warning while it waits: "waiting 60 s for worker 1 on node-3".
    pub fn waiting_line(&self) -> String {
        let s = self.waited.as_secs();
        if self.missing.is_empty() {
            format!("waiting {s} s for an exchange that every worker joined to complete (one may have stopped inside it)")
        } else {
            format!("waiting {s} s for {}", self.whom())
        }
    }

    /// The note when the wait is over after a warning: "worker 1 on node-3 answered after 75 s:
    /// the run continues".
    pub fn answered_line(&self) -> String {
        let s = self.waited.as_secs();
        if self.missing.is_empty() {
            format!("the exchange completed after {s} s: the run continues")
        } else {
            format!("{} answered after {s} s: the run continues", self.whom())
        }
    }
}

impl std::fmt::Display for Stall {
    /// The line that ends the job.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.waited.as_secs();
        if self.missing.is_empty() {
            write!(f, "an exchange that every worker joined has not completed for {s} s (one may have stopped inside it): ending the job")
        } else {
            let verb = if self.missing.len() == 1 {
                "has"
            } else {
                "have"
            };
            write!(
                f,
                "{} {verb} not answered for {s} s: ending the job",
                self.whom()
            )
        }
    }
}

/// Whether worker `me` speaks for the waiting ones: the lowest rank not among the `missing`
/// (rank 0 whenever it is there, since it owns the log and the UI).
pub fn speaks(me: usize, missing: &[usize]) -> bool {
    (0..=me).find(|r| !missing.contains(r)) == Some(me)
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;

    use super::*;

    /// A clock that moves only when paused; the probes read it through the shared cell.
    #[derive(Clone, Default)]
    struct FakeClock {
        now: Rc<Cell<Duration>>,
        pauses: Rc<RefCell<Vec<Duration>>>,
    }

    impl FakeClock {
        fn now(&self) -> Duration {
            self.now.get()
        }
    }

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            self.now.get()
        }
        fn pause(&mut self, d: Duration) {
            self.pauses.borrow_mut().push(d);
            // A yield takes a little time too.
            self.now
                .set(self.now.get() + d.max(Duration::from_micros(10)));
        }
    }

    fn limits(warn: u64, give_up: Option<u64>) -> StallLimits {
        StallLimits {
            warn_after: Duration::from_secs(warn),
            give_up_after: give_up.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_quick_exchange_is_neither_paused_nor_reported() {
        let clock = FakeClock::default();
        let mut polls = 0;
        let mut dog = Watchdog::new(limits(60, Some(600)), clock.clone());
        let r = dog.wait(
            || {
                polls += 1;
                polls == 5
            },
            |_| panic!("no warning"),
        );
        assert_eq!(r, Ok(()));
        assert!(!dog.warned());
        assert!(clock.pauses.borrow().iter().all(|p| p.is_zero()));
    }

    #[test]
    fn pauses_grow_to_the_longest_and_cost_at_most_a_sixteenth() {
        assert_eq!(pause_after(Duration::from_micros(100)), Duration::ZERO);
        assert_eq!(
            pause_after(Duration::from_millis(16)),
            Duration::from_millis(1)
        );
        assert_eq!(pause_after(Duration::from_secs(100)), LONGEST_PAUSE);
        // A wait of 10 minutes polls about 20 times a second, not millions of times.
        let clock = FakeClock::default();
        let mut dog = Watchdog::new(limits(60, Some(600)), clock.clone());
        let mut polls = 0u64;
        let r = dog.wait(
            || {
                polls += 1;
                false
            },
            |_| {},
        );
        assert_eq!(r, Err(GaveUp(Duration::from_secs(600))));
        assert!((11_000..13_000).contains(&polls), "{polls} polls in 600 s");
    }

    #[test]
    fn warnings_repeat_every_warning_time_until_the_limit() {
        let clock = FakeClock::default();
        let mut dog = Watchdog::new(limits(2, Some(7)), clock.clone());
        let mut warned = Vec::new();
        let r = dog.wait(|| false, |w| warned.push(w.as_secs()));
        assert_eq!(warned, vec![2, 4, 6]);
        assert_eq!(r, Err(GaveUp(Duration::from_secs(7))));
        assert!(dog.warned());
        // It gave up at the limit, not a pause later.
        assert_eq!(clock.now(), Duration::from_secs(7));
    }

    #[test]
    fn a_worker_that_joins_after_a_warning_ends_the_wait_within_a_pause() {
        let clock = FakeClock::default();
        let mut dog = Watchdog::new(limits(2, Some(8)), clock.clone());
        let mut warned = Vec::new();
        // One exchange in two steps under one deadline: the first done at once, the second
        // when the late worker joins at 5 s.
        assert_eq!(dog.wait(|| true, |_| unreachable!()), Ok(()));
        let joined = Duration::from_secs(5);
        let r = dog.wait(|| clock.now() >= joined, |w| warned.push(w.as_secs()));
        assert_eq!(r, Ok(()));
        assert_eq!(warned, vec![2, 4]);
        assert!(dog.warned());
        assert!(clock.now() - joined <= LONGEST_PAUSE, "{:?}", clock.now());
        // Once every worker has joined, the polls are quick again, the deadline unchanged.
        dog.hurry();
        let pauses = clock.pauses.borrow().len();
        let mut polls = 0;
        assert_eq!(
            dog.wait(
                || {
                    polls += 1;
                    polls == 10
                },
                |_| unreachable!()
            ),
            Ok(())
        );
        assert!(clock.pauses.borrow()[pauses..].iter().all(|p| p.is_zero()));
    }

    #[test]
    fn without_a_limit_it_waits_until_done() {
        let clock = FakeClock::default();
        let mut dog = Watchdog::new(limits(60, None), clock.clone());
        let mut polls = 0u64;
        let mut warned = 0;
        let r = dog.wait(
            || {
                polls += 1;
                polls == 50_000
            },
            |_| warned += 1,
        );
        assert_eq!(r, Ok(()));
        // 50,000 polls of 50 ms is about 2,500 s: about 41 warnings of 60 s.
        assert!((40..=42).contains(&warned), "{warned}");
        assert!(dog.waited() > Duration::from_secs(2400));
    }

    #[test]
    fn the_lines_name_rank_and_host() {
        let stall = |missing: Vec<Named>| Stall {
            waited: Duration::from_secs(60),
            missing,
        };
        let w1 = Named {
            rank: 1,
            host: Some("node-3".into()),
        };
        let w2 = Named {
            rank: 2,
            host: None,
        };
        assert_eq!(
            stall(vec![w1.clone()]).waiting_line(),
            "waiting 60 s for worker 1 on node-3"
        );
        assert_eq!(
            stall(vec![w1.clone()]).to_string(),
            "worker 1 on node-3 has not answered for 60 s: ending the job"
        );
        assert_eq!(
            stall(vec![w1.clone(), w2.clone()]).waiting_line(),
            "waiting 60 s for workers 1 on node-3 and 2"
        );
        assert_eq!(
            stall(vec![w1.clone(), w2]).to_string(),
            "workers 1 on node-3 and 2 have not answered for 60 s: ending the job"
        );
        assert_eq!(
            stall(vec![w1]).answered_line(),
            "worker 1 on node-3 answered after 60 s: the run continues"
        );
        assert!(stall(vec![]).waiting_line().contains("every worker joined"));
    }

    #[test]
    fn the_lowest_worker_that_is_there_speaks() {
        assert!(speaks(0, &[1]));
        assert!(!speaks(2, &[1]));
        assert!(speaks(1, &[0]));
        assert!(!speaks(2, &[0]));
        assert!(speaks(2, &[0, 1]));
        assert!(speaks(0, &[]));
        assert!(!speaks(1, &[]));
    }

    #[test]
    fn limits_come_from_the_config() {
        let l = StallLimits::from_config(&ParallelConfig {
            stall_warning_seconds: 2,
            stall_timeout_seconds: 0,
        });
        assert_eq!(l, limits(2, None));
        assert_eq!(StallLimits::default(), limits(60, Some(600)));
    }
}
