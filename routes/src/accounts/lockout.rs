//! Failed-login lockout per username, in memory: after `max` failures within `window` the name
//! is refused (429) until the oldest of them leaves the window. Complements the per-address
//! `auth` rate limit, which cannot stop a password guesser spread over many addresses.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Names tracked at once; past this, names with no recent failure are forgotten first.
const MAX_TRACKED: usize = 10_000;

pub struct Lockout {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout::new(10, Duration::from_secs(600))
    }
}

impl Lockout {
    pub fn new(max: usize, window: Duration) -> Self {
        Lockout {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// How long `username` stays locked, or `None` when it may try.
    pub fn locked_for(&self, username: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let times = map.get_mut(&Self::key(username))?;
        prune(times, now, self.window);
        if times.len() < self.max {
            return None;
        }
        let oldest = *times.front()?;
        Some(
            (oldest + self.window)
                .saturating_duration_since(now)
                .max(Duration::from_secs(1)),
        )
    }

    pub fn record_failure(&self, username: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, t| {
                prune(t, now, window);
                !t.is_empty()
            });
        }
        let times = map.entry(Self::key(username)).or_default();
        prune(times, now, self.window);
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }

    pub fn clear(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&Self::key(username));
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_per_name_case_insensitively() {
        let l = Lockout::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            l.record_failure("Ada");
        }
        assert!(l.locked_for("ada").is_none());
        l.record_failure("ADA");
        let wait = l.locked_for("ada").unwrap();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(l.locked_for("bob").is_none());
        l.clear("ada");
        assert!(l.locked_for("ada").is_none());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = Lockout::new(2, Duration::from_millis(30));
        l.record_failure("x");
        l.record_failure("x");
        assert!(l.locked_for("x").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.locked_for("x").is_none());
    }
}
