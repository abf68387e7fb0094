//! A hashed timer wheel: O(1) to schedule, O(due) to expire, coarse ticks.
//!
//! Media timers (media timeout, telephone-event end timeout) need tens of milliseconds of
//! precision, and a worker holds thousands of them; a heap would cost a log per reschedule.
//! Entries are not cancelled: a session's timer is rescheduled lazily, and a stale entry that
//! fires early just finds nothing due (`handle_timeout` is safe to call early or twice).

use std::time::Duration;

/// The wheel.
pub struct Wheel {
    tick: Duration,
    slots: Vec<Vec<(u64, usize)>>,
    /// The next tick to process.
    current: u64,
    pending: usize,
}

impl Wheel {
    /// A wheel of `slots` slots of `tick` each.
    pub fn new(tick: Duration, slots: usize) -> Self {
        Wheel { tick, slots: vec![Vec::new(); slots.max(1)], current: 0, pending: 0 }
    }

    fn tick_of(&self, at: Duration) -> u64 {
        (at.as_nanos() / self.tick.as_nanos().max(1)) as u64
    }

    /// Schedules `key` to fire at `at` (rounded up to the tick; at once if already past).
    pub fn schedule(&mut self, at: Duration, key: usize) {
        let t = (self.tick_of(at) + 1).max(self.current);
        let n = self.slots.len() as u64;
        self.slots[(t % n) as usize].push((t, key));
        self.pending += 1;
    }

    /// Calls `fire` for every key due by `now`.
    pub fn expire(&mut self, now: Duration, mut fire: impl FnMut(usize)) {
        let now_tick = self.tick_of(now);
        let n = self.slots.len() as u64;
        // One lap at most: beyond that every slot has been visited once.
        let end = now_tick.min(self.current + n - 1);
        while self.current <= end {
            let slot = &mut self.slots[(self.current % n) as usize];
            let mut i = 0;
            while i < slot.len() {
                if slot[i].0 <= now_tick {
                    let (_, key) = slot.swap_remove(i);
                    self.pending -= 1;
                    fire(key);
                } else {
                    i += 1;
                }
            }
            self.current += 1;
        }
        // After a lap every slot was visited, so everything due has fired.
        self.current = self.current.max(now_tick + 1);
    }

    /// How long until the next tick worth waking for, if anything is scheduled.
    pub fn next_wake(&self, now: Duration) -> Option<Duration> {
        (self.pending > 0).then(|| {
            let into_tick = Duration::from_nanos((now.as_nanos() % self.tick.as_nanos().max(1)) as u64);
            self.tick.saturating_sub(into_tick)
        })
    }

    /// Entries scheduled.
    pub fn len(&self) -> usize {
        self.pending
    }

    /// Whether nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn fires_each_key_once_not_before_its_time() {
        let mut w = Wheel::new(ms(10), 8);
        w.schedule(ms(25), 1);
        w.schedule(ms(5), 2);
        w.schedule(ms(500), 3); // several laps ahead
        let mut fired = vec![];
        for t in (0..600).step_by(7) {
            w.expire(ms(t), |k| fired.push((k, t)));
        }
        assert_eq!(fired.iter().map(|f| f.0).collect::<Vec<_>>(), vec![2, 1, 3]);
        for (k, t) in fired {
            let due = [0, 25, 5, 500][k];
            assert!(t >= due && t <= due + 20, "key {k} fired at {t}");
        }
        assert!(w.is_empty());
        assert_eq!(w.next_wake(ms(3)), None);
    }

    #[test]
    fn a_long_sleep_fires_everything_due() {
        let mut w = Wheel::new(ms(10), 4);
        for k in 0..10 {
            w.schedule(ms(k as u64 * 15), k);
        }
        let mut fired = vec![];
        w.expire(ms(1000), |k| fired.push(k));
        fired.sort();
        assert_eq!(fired, (0..10).collect::<Vec<_>>());
        // And the wheel goes on working from there.
        w.schedule(ms(1030), 42);
        w.expire(ms(1020), |_| panic!("early"));
        w.expire(ms(1045), |k| fired.push(k));
        assert_eq!(fired.last(), Some(&42));
        assert_eq!(w.next_wake(ms(1045)), None);
    }
}
