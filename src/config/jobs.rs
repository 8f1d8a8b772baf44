//! Settings of workflow jobs: how many run at once and how long one node may take.

use std::time::Duration;

use super::{duration, ConfigError, Env};

pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(300);
pub const DEFAULT_MAX_CONCURRENT_JOBS: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobsConfig {
    /// `NODE_TIMEOUT`: longest a node that waits (chat, storage, ...) may take.
    pub node_timeout: Duration,
    /// `MAX_CONCURRENT_JOBS`: jobs running at once; more queue.
    pub max_concurrent: usize,
}

pub fn load(env: &Env<'_>) -> Result<JobsConfig, ConfigError> {
    let node_timeout = duration(env, "NODE_TIMEOUT", DEFAULT_NODE_TIMEOUT)?;
    if node_timeout.is_zero() {
        return Err(ConfigError::invalid(
            "NODE_TIMEOUT",
            "0",
            "expected a duration of at least 1ms",
        ));
    }
    let max_concurrent = env
        .parse::<usize>("MAX_CONCURRENT_JOBS", "expected a number from 1 to 1000")?
        .unwrap_or(DEFAULT_MAX_CONCURRENT_JOBS);
    if !(1..=1000).contains(&max_concurrent) {
        return Err(ConfigError::invalid(
            "MAX_CONCURRENT_JOBS",
            &max_concurrent.to_string(),
            "expected a number from 1 to 1000",
        ));
    }
    Ok(JobsConfig {
        node_timeout,
        max_concurrent,
    })
}
