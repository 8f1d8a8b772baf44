//! Limits on how long a client may keep the server waiting on a request body.

use std::time::Duration;

use platform_middleware::incoming::BodyLimits;

use super::{duration, ConfigError, Env};

/// `BODY_READ_TIMEOUT` (longest wait for the next byte of a body, default 30s) and
/// `BODY_MIN_RATE` (bytes per second a body must average after that, default 1024, 0 = off).
pub fn body(env: &Env<'_>) -> Result<BodyLimits, ConfigError> {
    let gap = duration(env, "BODY_READ_TIMEOUT", Duration::from_secs(30))?;
    if gap.is_zero() {
        return Err(ConfigError::invalid(
            "BODY_READ_TIMEOUT",
            "0",
            "expected a positive duration such as 30s",
        ));
    }
    let min_rate = env
        .parse(
            "BODY_MIN_RATE",
            "expected bytes per second, e.g. 1024 (0 turns it off)",
        )?
        .unwrap_or(BodyLimits::default().min_rate);
    Ok(BodyLimits { gap, min_rate })
}
