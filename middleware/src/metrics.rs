//! Request metrics. The per-request series (`http_requests_total{set,status}`,
//! `http_request_duration_seconds{set}`, `http_requests_in_flight`) are plain atomics in fixed
//! tables: a slot per route set, claimed the first time the set answers, with a counter per
//! status code and latency buckets. Recording is a few relaxed atomic adds: no label lookup,
//! no allocation, and no upkeep task folding samples on the serving threads. [`render`] writes
//! them in Prometheus text format at scrape time. Rare events (`rate_limited_total`,
//! `auth_refused_total`) go through the `metrics` facade.
//!
//! Until [`enable`] is called (it is not with `METRICS_LISTEN=off`, nor in unit tests) the
//! per-request calls return at once.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use http::StatusCode;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns per-request recording on; call once a recorder is installed.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub const REQUESTS_TOTAL: &str = "http_requests_total";
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";
pub const IN_FLIGHT: &str = "http_requests_in_flight";
pub const RATE_LIMITED: &str = "rate_limited_total";
pub const AUTH_REFUSED: &str = "auth_refused_total";

/// The `set` label of requests that match no route (unknown path or method).
pub const NO_SET: &str = "none";

/// Upper bounds of the latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The same bounds in nanoseconds, so recording compares integers.
const BUCKET_NANOS: [u64; 13] = {
    let us = [
        1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
        2_500_000, 5_000_000, 10_000_000,
    ];
    let mut ns = [0u64; 13];
    let mut i = 0;
    while i < 13 {
        ns[i] = us[i] * 1_000;
        i += 1;
    }
    ns
};

/// Status codes 100-599 each get a counter; anything else (hyper never sends it) counts as 599.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

/// Route sets with their own slot; more than this (there are about a dozen) share the last one,
/// labelled `other`.
const MAX_SETS: usize = 32;

struct SetSlot {
    name: OnceLock<&'static str>,
    statuses: [AtomicU64; STATUSES],
    /// Per bucket (not cumulative; summed at render), the last one past 10 s.
    buckets: [AtomicU64; BUCKET_NANOS.len() + 1],
    sum_nanos: AtomicU64,
}

impl SetSlot {
    const fn new() -> Self {
        SetSlot {
            name: OnceLock::new(),
            statuses: [const { AtomicU64::new(0) }; STATUSES],
            buckets: [const { AtomicU64::new(0) }; BUCKET_NANOS.len() + 1],
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, status: StatusCode, elapsed: Duration) {
        let code = usize::from(status.as_u16().saturating_sub(FIRST_STATUS)).min(STATUSES - 1);
        self.statuses[code].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKET_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BUCKET_NANOS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

static SLOTS: [SetSlot; MAX_SETS] = [const { SetSlot::new() }; MAX_SETS];
/// Slots claimed so far; claimed slots never change their name.
static CLAIMED: AtomicUsize = AtomicUsize::new(0);
static CLAIMING: Mutex<()> = Mutex::new(());
static IN_FLIGHT_NOW: AtomicI64 = AtomicI64::new(0);

/// The slot of route set `set`, claiming one the first time the set is seen.
fn slot(set: &'static str) -> &'static SetSlot {
    if let Some(found) = find(set, CLAIMED.load(Ordering::Acquire)) {
        return found;
    }
    let _claiming = CLAIMING.lock().unwrap_or_else(|e| e.into_inner());
    let claimed = CLAIMED.load(Ordering::Acquire);
    if let Some(found) = find(set, claimed) {
        return found;
    }
    let (index, name) = if claimed < MAX_SETS - 1 {
        (claimed, set)
    } else {
        (MAX_SETS - 1, "other")
    };
    let slot = &SLOTS[index];
    let _ = slot.name.set(name);
    CLAIMED.store((index + 1).max(claimed), Ordering::Release);
    slot
}

fn find(set: &'static str, claimed: usize) -> Option<&'static SetSlot> {
    // Set names are constants: the pointer usually matches, the text always does.
    SLOTS[..claimed].iter().find(|s| {
        s.name
            .get()
            .is_some_and(|n| std::ptr::eq(*n, set) || *n == set)
    })
}

/// Counts one request in flight until dropped, whatever way the request ends.
#[must_use]
pub struct InFlight(bool);

impl InFlight {
    pub fn start() -> Self {
        let on = enabled();
        if on {
            IN_FLIGHT_NOW.fetch_add(1, Ordering::Relaxed);
        }
        InFlight(on)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0 {
            IN_FLIGHT_NOW.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Records a finished request of route set `set`.
pub fn record_response(set: &'static str, status: StatusCode, elapsed: Duration) {
    if !enabled() {
        return;
    }
    slot(set).record(status, elapsed);
}

/// The request series in Prometheus text format, appended to `out`.
pub fn render(out: &mut String) {
    let claimed = &SLOTS[..CLAIMED.load(Ordering::Acquire)];
    let named = || claimed.iter().filter_map(|s| s.name.get().map(|n| (*n, s)));
    let _ = writeln!(
        out,
        "# HELP {REQUESTS_TOTAL} Requests answered, by route set and status.\n\
         # TYPE {REQUESTS_TOTAL} counter"
    );
    for (set, slot) in named() {
        for (i, count) in slot.statuses.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            if count > 0 {
                let status = i + usize::from(FIRST_STATUS);
                let _ = writeln!(
                    out,
                    "{REQUESTS_TOTAL}{{set=\"{set}\",status=\"{status}\"}} {count}"
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n# HELP {REQUEST_DURATION} Time until the response head was ready, by route set.\n\
         # TYPE {REQUEST_DURATION} histogram"
    );
    for (set, slot) in named() {
        let mut total = 0;
        for (i, bucket) in slot.buckets.iter().enumerate() {
            total += bucket.load(Ordering::Relaxed);
            match LATENCY_BUCKETS.get(i) {
                Some(le) => writeln!(
                    out,
                    "{REQUEST_DURATION}_bucket{{set=\"{set}\",le=\"{le}\"}} {total}"
                ),
                None => writeln!(
                    out,
                    "{REQUEST_DURATION}_bucket{{set=\"{set}\",le=\"+Inf\"}} {total}"
                ),
            }
            .ok();
        }
        let sum = slot.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "{REQUEST_DURATION}_sum{{set=\"{set}\"}} {sum}\n\
             {REQUEST_DURATION}_count{{set=\"{set}\"}} {total}"
        );
    }
    let _ = writeln!(
        out,
        "\n# HELP {IN_FLIGHT} Requests being handled now.\n\
         # TYPE {IN_FLIGHT} gauge\n\
         {IN_FLIGHT} {}\n",
        IN_FLIGHT_NOW.load(Ordering::Relaxed)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn records_without_a_recorder_and_renders_prometheus_text() {
        // The tables are process-wide: this test owns the set names it uses.
        enable();
        let ms = Duration::from_millis;
        record_response("metrics-test", StatusCode::OK, ms(2));
        record_response("metrics-test", StatusCode::OK, ms(20));
        record_response("metrics-test", StatusCode::IM_A_TEAPOT, ms(20_000));
        let in_flight = InFlight::start();
        let mut text = String::new();
        render(&mut text);
        drop(in_flight);
        let at = |s: &str| value(&text, s);
        assert_eq!(
            at(r#"http_requests_total{set="metrics-test",status="200"}"#),
            Some(2.0)
        );
        assert_eq!(
            at(r#"http_requests_total{set="metrics-test",status="418"}"#),
            Some(1.0)
        );
        let bucket = |le: &str| {
            at(&format!(
                r#"http_request_duration_seconds_bucket{{set="metrics-test",le="{le}"}}"#
            ))
        };
        assert_eq!(bucket("0.001"), Some(0.0));
        assert_eq!(bucket("0.0025"), Some(1.0));
        assert_eq!(bucket("0.025"), Some(2.0));
        assert_eq!(bucket("10"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(3.0));
        assert_eq!(
            at(r#"http_request_duration_seconds_count{set="metrics-test"}"#),
            Some(3.0)
        );
        let sum = at(r#"http_request_duration_seconds_sum{set="metrics-test"}"#).unwrap();
        assert!((sum - 20.022).abs() < 1e-9, "{sum}");
        assert!(at("http_requests_in_flight").unwrap() >= 1.0);
        assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
    }

    #[test]
    fn a_set_keeps_its_slot() {
        let a = slot("metrics-slot-a") as *const SetSlot;
        let b = slot("metrics-slot-b") as *const SetSlot;
        assert_ne!(a, b);
        let name = String::from("metrics-slot-a").leak();
        assert_eq!(slot(name) as *const SetSlot, a, "same text, other pointer");
    }
}
