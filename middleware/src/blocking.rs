//! A fixed set of threads that run the requests' blocking calls (SQLite), fed through one queue.
//!
//! Cheaper than `spawn_blocking` per call under load: no task is allocated and scheduled per
//! call, the threads stay few (tokio's blocking pool grows a thread per concurrent call, each
//! with its own malloc arena, so RSS grew with the load), and a thread that finds more calls
//! queued runs them one after another without going back to sleep. `block_in_place` was tried
//! as well: it moves the worker to another thread on every call, which cost more than either.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Stops its threads once the last handle is dropped.
pub struct Threads {
    jobs: Sender<Job>,
}

/// The call's closure panicked (the thread survives), so no result came back.
#[derive(Debug)]
pub struct Lost;

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a blocking call panicked or its threads are gone")
    }
}

impl std::error::Error for Lost {}

impl Threads {
    /// Starts `count` threads named `name-N`.
    pub fn start(name: &str, count: usize) -> std::io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..count.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || work(&queue))?;
        }
        Ok(Threads { jobs })
    }

    /// Runs `f` on one of the threads and waits for its result without blocking the caller's
    /// thread.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Lost>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.send(job).map_err(|_| Lost)?;
        rx.await.map_err(|_| Lost)
    }
}

fn work(queue: &Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        // A panicking call loses its own result (its caller sees `Lost`), not the thread.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_calls_off_the_callers_thread_and_survives_a_panic() {
        let threads = Threads::start("test-blocking", 2).unwrap();
        let caller = std::thread::current().id();
        let ran_on = threads.run(|| std::thread::current().id()).await.unwrap();
        assert_ne!(ran_on, caller);
        let name = threads
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("test-blocking-"));
        assert!(threads.run(|| panic!("boom")).await.is_err());
        for _ in 0..4 {
            assert_eq!(threads.run(|| 2 + 2).await.unwrap(), 4);
        }
    }

    #[tokio::test]
    async fn many_calls_at_once_all_finish() {
        let threads = std::sync::Arc::new(Threads::start("test-many", 2).unwrap());
        let calls: Vec<_> = (0..64u64)
            .map(|i| {
                let threads = threads.clone();
                tokio::spawn(async move { threads.run(move || i * 2).await.unwrap() })
            })
            .collect();
        let mut sum = 0;
        for c in calls {
            sum += c.await.unwrap();
        }
        assert_eq!(sum, (0..64u64).map(|i| i * 2).sum::<u64>());
    }
}
