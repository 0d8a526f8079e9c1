//! A finished log played back: the records, how far playback has got in log time, its speed and
//! pause, and the run as it stood at that point. Owns playback (advancing with the real time the
//! loop passes in, seeking, speed); must never read a clock itself, so playback is tested by
//! passing times in.

use crate::events::Record;
use crate::tui::state::RunState;

use super::Status;

/// Replay applies at most this many records per call when running as fast as possible,
/// so keys stay responsive on huge logs.
const MAX_SPEED_CHUNK: usize = 20_000;
/// Replay skips idle gaps in the log longer than this many seconds of real time.
const MAX_IDLE_GAP: f64 = 3.0;

/// Where playback stands in the log.
#[derive(Clone, Debug)]
pub struct Playback {
    records: Vec<Record>,
    cursor: usize,
    clock: f64,
    speed: Option<f64>,
    paused: bool,
}

impl Playback {
    /// Records applied so far.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Log time reached, seconds.
    pub fn clock(&self) -> f64 {
        self.clock
    }

    /// Speed factor; `None` = as fast as possible.
    pub fn speed(&self) -> Option<f64> {
        self.speed
    }

    /// True while the user has playback paused.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Fraction of the records applied.
    pub fn progress(&self) -> f64 {
        if self.records.is_empty() {
            1.0
        } else {
            self.cursor as f64 / self.records.len() as f64
        }
    }

    /// True when every record has been applied.
    pub fn done(&self) -> bool {
        self.cursor >= self.records.len()
    }
}

/// A replayed log and the run as far as it has been played.
#[derive(Clone, Debug)]
pub struct Replay {
    run: RunState,
    playback: Playback,
}

impl Replay {
    /// A replay of `records` at `speed` × real time (`None`, or a speed that is not a positive
    /// number: as fast as possible), nothing applied yet.
    pub fn new(records: Vec<Record>, speed: Option<f64>) -> Replay {
        Replay {
            run: RunState::default(),
            playback: Playback {
                records,
                cursor: 0,
                clock: 0.0,
                speed: speed.filter(|s| s.is_finite() && *s > 0.0),
                paused: false,
            },
        }
    }

    /// The run as far as it has been played.
    pub fn run(&self) -> &RunState {
        &self.run
    }

    /// Where playback stands.
    pub fn playback(&self) -> &Playback {
        &self.playback
    }

    /// True at the end of the log, or once the run finished or failed.
    pub fn over(&self) -> bool {
        self.playback.done()
            || self.run.progress.finished.is_some()
            || self.run.progress.failed.is_some()
    }

    /// The status for the header: the run's own, at the point reached.
    pub fn status(&self) -> Status {
        Status::of(&self.run)
    }

    /// Pauses or resumes playback.
    pub fn toggle_pause(&mut self) {
        self.playback.paused = !self.playback.paused;
    }

    /// Back to the start: nothing applied.
    pub fn seek_start(&mut self) {
        self.playback.cursor = 0;
        self.playback.clock = 0.0;
        self.run = RunState::default();
    }

    /// To the end: every record applied.
    pub fn seek_end(&mut self) {
        let p = &mut self.playback;
        let rest = &p.records[p.cursor..];
        for r in rest {
            self.run.apply(r);
        }
        p.clock = rest.last().map_or(p.clock, |r| r.t);
        p.cursor = p.records.len();
    }

    /// Doubles the speed (up to a million times real time).
    pub fn faster(&mut self) {
        self.playback.speed = self.playback.speed.map(|s| (s * 2.0).min(1e6));
    }

    /// Halves the speed (down to an eighth); from as fast as possible, to 1000×.
    pub fn slower(&mut self) {
        self.playback.speed = Some(self.playback.speed.map_or(1000.0, |s| (s / 2.0).max(0.125)));
    }

    /// Moves playback on by `dt` seconds of real time; true when records were applied.
    pub fn advance(&mut self, dt: f64) -> bool {
        let p = &mut self.playback;
        if p.paused || p.done() {
            return false;
        }
        let start = p.cursor;
        match p.speed {
            None => {
                let end = (p.cursor + MAX_SPEED_CHUNK).min(p.records.len());
                for r in &p.records[p.cursor..end] {
                    self.run.apply(r);
                }
                p.cursor = end;
                p.clock = p.records.get(end.saturating_sub(1)).map_or(0.0, |r| r.t);
            }
            Some(speed) => {
                p.clock += dt.max(0.0) * speed;
                if let Some(next) = p.records.get(p.cursor) {
                    if next.t > p.clock + MAX_IDLE_GAP * speed {
                        p.clock = next.t;
                    }
                }
                while let Some(r) = p.records.get(p.cursor) {
                    if r.t > p.clock {
                        break;
                    }
                    self.run.apply(r);
                    p.cursor += 1;
                }
            }
        }
        p.cursor != start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixture;

    #[test]
    fn seeking_moves_the_run_with_the_cursor() {
        let recs = fixture::demo_records();
        let mut r = Replay::new(recs.clone(), Some(1.0));
        r.advance(0.0);
        r.advance(5.0);
        let at = r.playback().cursor();
        assert!(at > 0 && !r.over());
        assert_eq!(r.run().progress.records, at as u64);
        r.seek_end();
        assert!(r.playback().done() && r.over());
        assert_eq!(r.run().progress.records, recs.len() as u64);
        assert_eq!(r.status(), Status::Finished);
        assert!(!r.advance(1.0), "nothing left to play");
        r.seek_start();
        assert!(!r.over(), "back at the start the replay is not over");
        assert_eq!((r.playback().cursor(), r.playback().clock()), (0, 0.0));
        assert_eq!(r.run().progress.records, 0);
        assert_eq!(r.status(), Status::WarmingUp);
        r.seek_end();
        let once = r.run().progress.records;
        r.seek_end();
        assert_eq!(
            r.run().progress.records,
            once,
            "seeking to the end twice applies nothing twice"
        );
    }

    #[test]
    fn paused_playback_stands_still_and_speed_stays_in_range() {
        let mut r = Replay::new(fixture::demo_records(), Some(f64::NAN));
        assert_eq!(
            r.playback().speed(),
            None,
            "a speed that is not a number means max"
        );
        r.slower();
        assert_eq!(r.playback().speed(), Some(1000.0));
        for _ in 0..20 {
            r.faster();
        }
        assert_eq!(r.playback().speed(), Some(1e6));
        for _ in 0..40 {
            r.slower();
        }
        assert_eq!(r.playback().speed(), Some(0.125));
        r.toggle_pause();
        assert!(!r.advance(1e9));
        assert_eq!(r.playback().cursor(), 0);
        r.toggle_pause();
        assert!(r.advance(1e9));
    }

    #[test]
    fn an_empty_log_is_played_at_once() {
        let r = Replay::new(Vec::new(), None);
        assert!(r.playback().done() && r.over());
        assert_eq!(r.playback().progress(), 1.0);
    }
}
