//! Request metrics, recorded through the `metrics` facade. Until [`enable`] is called (it is
//! not with `METRICS_LISTEN=off`, nor in unit tests) the per-request calls return before
//! building any key. Label values are `&'static str` so recording allocates nothing for
//! common statuses.

use std::sync::atomic::{AtomicBool, Ordering};

use ::metrics::SharedString;
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

/// Counts one request in flight until dropped, whatever way the request ends.
#[must_use]
pub struct InFlight(bool);

impl InFlight {
    pub fn start() -> Self {
        let on = enabled();
        if on {
            ::metrics::gauge!(IN_FLIGHT).increment(1.0);
        }
        InFlight(on)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0 {
            ::metrics::gauge!(IN_FLIGHT).decrement(1.0);
        }
    }
}

/// Records a finished request of route set `set`.
pub fn record_response(set: &'static str, status: StatusCode, seconds: f64) {
    if !enabled() {
        return;
    }
    ::metrics::counter!(REQUESTS_TOTAL, "set" => set, "status" => status_label(status))
        .increment(1);
    ::metrics::histogram!(REQUEST_DURATION, "set" => set).record(seconds);
}

/// The status as a label: a static string for the codes this server sends, an owned one for
/// the rest (rare, so the allocation does not matter).
pub fn status_label(status: StatusCode) -> SharedString {
    let known = match status.as_u16() {
        200 => "200",
        201 => "201",
        204 => "204",
        206 => "206",
        301 => "301",
        302 => "302",
        303 => "303",
        304 => "304",
        307 => "307",
        308 => "308",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => return SharedString::from(status.as_u16().to_string()),
    };
    SharedString::const_str(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_numbers() {
        for code in [200u16, 201, 404, 429, 503, 418, 599] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(status_label(status).as_ref(), code.to_string());
        }
    }
}
