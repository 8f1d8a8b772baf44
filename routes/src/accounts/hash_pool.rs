//! Where password hashes are computed: a few dedicated threads (one per core), fed by a queue.
//! An argon2 hash needs ~19 MiB of working memory; run on whichever blocking thread is free,
//! each of dozens of threads would keep such a buffer in its own allocator arena and memory
//! would grow with the blocking pool (gigabytes under load). Here it grows with the number of
//! hashing threads only, and a burst of logins queues instead of multiplying memory.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub struct HashPool {
    jobs: mpsc::Sender<Job>,
}

#[derive(Debug, thiserror::Error)]
#[error("the password hashing pool is gone")]
pub struct PoolGone;

impl HashPool {
    /// `threads` dedicated threads (at least one).
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        HashPool { jobs: tx }
    }

    /// One thread per available core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Runs `f` on a hashing thread, waiting for a free one.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolGone>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.send(job).map_err(|_| PoolGone)?;
        rx.await.map_err(|_| PoolGone)
    }
}

fn work(jobs: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            // A panicking job must not take the thread with it.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[tokio::test]
    async fn jobs_run_on_the_pool_threads_only() {
        let pool = Arc::new(HashPool::new(2));
        let mut names = HashSet::new();
        let runs = (0..16).map(|_| {
            let pool = pool.clone();
            async move {
                pool.run(|| std::thread::current().name().map(str::to_owned))
                    .await
                    .unwrap()
            }
        });
        for name in futures_util::future::join_all(runs).await {
            names.insert(name.unwrap());
        }
        assert!(names.iter().all(|n| n.starts_with("argon2-")), "{names:?}");
        assert!(names.len() <= 2);
    }

    #[tokio::test]
    async fn a_panicking_job_leaves_the_pool_working() {
        let pool = HashPool::new(1);
        assert!(pool.run(|| panic!("boom")).await.is_err());
        assert_eq!(pool.run(|| 7).await.unwrap(), 7);
    }
}
