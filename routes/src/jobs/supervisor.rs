//! The job supervisor: owns the tasks that run jobs (not the requests that start them), bounds
//! how many run at once (the rest queue, in order), cancels on request, and on shutdown gives
//! running jobs the drain window before failing them.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use platform_middleware::scope::Pool;
use rusqlite::Connection;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::store::{self, INTERRUPTED};
use crate::error::ApiError;
use crate::store::Db;
use crate::workflows::engine::{self, Event, Run, RunError};
use crate::workflows::{NodeServices, Plan};

/// Jobs that may wait for a slot beyond those running; more are refused with 503.
pub const MAX_QUEUED: usize = 1000;
/// Events buffered for a streaming client; one that falls this far behind stops getting
/// intermediate events (it still gets the final one), so a slow reader never holds a job.
const EVENT_BUFFER: usize = 256;
/// How long an interrupted job may take to record that it failed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug)]
pub struct JobSettings {
    /// Longest a node that waits (chat, storage, ...) may take.
    pub node_timeout: Duration,
    /// Jobs running at once.
    pub max_concurrent: usize,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Completed(Map<String, Value>),
    Failed(String),
    Cancelled,
}

impl Outcome {
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Completed(_) => "completed",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled => "cancelled",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Completed(_) => None,
            Outcome::Failed(e) => Some(e),
            Outcome::Cancelled => Some("Job cancelled"),
        }
    }
}

/// What a job reports to the client that started it.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    Status {
        status: &'static str,
        error: Option<String>,
    },
    Engine(Event),
}

/// A submitted job, as the request that submitted it sees it.
pub struct Started {
    pub job_id: String,
    /// Ends when the job has ended (or the client fell behind); then read `outcome`.
    pub events: mpsc::Receiver<JobEvent>,
    pub outcome: watch::Receiver<Option<Outcome>>,
}

impl Started {
    /// Waits for the job's end.
    pub async fn finished(&mut self) -> Outcome {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(o) => o
                .clone()
                .unwrap_or(Outcome::Failed("job ended unexpectedly".into())),
            Err(_) => Outcome::Failed("job ended unexpectedly".into()),
        }
    }
}

struct Live {
    cancel: CancellationToken,
    outcome: watch::Receiver<Option<Outcome>>,
}

pub struct Jobs {
    db: Arc<Db>,
    services: Arc<dyn NodeServices>,
    settings: JobSettings,
    slots: Arc<Semaphore>,
    live: Mutex<HashMap<String, Live>>,
    tasks: TaskTracker,
    /// Set when the server drains: no new jobs, queued ones end.
    stopping: CancellationToken,
    /// Set when the drain window has passed: running jobs end. Every job's cancel token is a
    /// child of it.
    interrupt: CancellationToken,
}

/// One job's work, handed to its task.
struct Work {
    id: String,
    plan: Plan,
    user: String,
    params: Map<String, Value>,
    cancel: CancellationToken,
}

impl Jobs {
    pub fn new(db: Arc<Db>, services: Arc<dyn NodeServices>, settings: JobSettings) -> Jobs {
        Jobs {
            db,
            services,
            slots: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
            settings,
            live: Mutex::new(HashMap::new()),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
            interrupt: CancellationToken::new(),
        }
    }

    /// Start-up: fails the jobs a previous process left queued or running. Blocking.
    pub fn recover(db: &Db) -> Result<usize, ApiError> {
        let conn = db.get().map_err(ApiError::internal)?;
        Ok(store::fail_unfinished(&conn)?)
    }

    /// Runs `f` with a pooled connection on a blocking thread, holding it for this call only.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        blocking(&self.db, f).await
    }

    /// Queues a run of `plan` for `user`; the job starts when a slot is free.
    pub async fn submit(
        self: &Arc<Self>,
        workflow_id: &str,
        plan: Plan,
        user: &str,
        params: Map<String, Value>,
    ) -> Result<Started, ApiError> {
        if self.stopping.is_cancelled() {
            return Err(ApiError::Unavailable);
        }
        plan.input_values(&params)
            .map_err(|e| ApiError::BadRequest(format!("Invalid params: {e}")))?;
        if self.live_count() >= self.settings.max_concurrent + MAX_QUEUED {
            tracing::warn!("job queue full; refusing a run");
            return Err(ApiError::Unavailable);
        }
        let id = crate::workflows::store::new_id();
        let (job, wf, who, p) = (
            id.clone(),
            workflow_id.to_owned(),
            user.to_owned(),
            params.clone(),
        );
        self.db(move |c| Ok(store::insert(c, &job, &wf, &who, &p)?))
            .await?;
        let (events, rx) = mpsc::channel(EVENT_BUFFER);
        let (done, outcome) = watch::channel(None);
        let _ = events.try_send(JobEvent::Status {
            status: "queued",
            error: None,
        });
        let cancel = self.interrupt.child_token();
        self.lock().insert(
            id.clone(),
            Live {
                cancel: cancel.clone(),
                outcome: outcome.clone(),
            },
        );
        let work = Work {
            id: id.clone(),
            plan,
            user: user.to_owned(),
            params,
            cancel,
        };
        let this = self.clone();
        self.tasks
            .spawn(async move { this.run(work, events, done).await });
        Ok(Started {
            job_id: id,
            events: rx,
            outcome,
        })
    }

    /// Asks a live job to stop and waits (briefly) for it to end. `false` when the job is not
    /// running in this process.
    pub async fn cancel(&self, id: &str) -> bool {
        let Some((cancel, mut outcome)) = self
            .lock()
            .get(id)
            .map(|l| (l.cancel.clone(), l.outcome.clone()))
        else {
            return false;
        };
        cancel.cancel();
        let _ = tokio::time::timeout(INTERRUPT_GRACE, outcome.wait_for(Option::is_some)).await;
        true
    }

    /// The drain: no new jobs, queued ones fail at once, running ones get `window` to finish
    /// and are then failed ("interrupted by shutdown").
    pub async fn drain(&self, window: Duration) {
        self.stopping.cancel();
        self.tasks.close();
        if tokio::time::timeout(window, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                jobs = self.live_count(),
                "drain window passed; interrupting running jobs"
            );
            self.interrupt.cancel();
            let _ = tokio::time::timeout(INTERRUPT_GRACE, self.tasks.wait()).await;
        }
    }

    /// Jobs queued or running in this process.
    pub fn live_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(
        self: Arc<Self>,
        work: Work,
        events: mpsc::Sender<JobEvent>,
        done: watch::Sender<Option<Outcome>>,
    ) {
        let mut events = Some(events);
        // A bug in a node must not leave the job `running` forever: record it as failed.
        let outcome = AssertUnwindSafe(self.drive(&work, &mut events))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(job = %work.id, "a job panicked");
                Outcome::Failed("internal error while running the job".into())
            });
        let (id, status) = (work.id.clone(), outcome.status());
        let results = match &outcome {
            Outcome::Completed(r) => Some(r.clone()),
            _ => None,
        };
        let error = outcome.error().map(str::to_owned);
        let err = error.clone();
        let recorded = self
            .db(move |c| {
                Ok(store::finish(
                    c,
                    &id,
                    status,
                    results.as_ref(),
                    err.as_deref(),
                )?)
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!(job = %work.id, error = %e, "could not record the end of a job");
        }
        send(&mut events, JobEvent::Status { status, error });
        self.lock().remove(&work.id);
        let _ = done.send(Some(outcome));
    }

    async fn drive(&self, work: &Work, events: &mut Option<mpsc::Sender<JobEvent>>) -> Outcome {
        // A free slot is taken even while draining; only a job that has to wait is failed.
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => tokio::select! {
                biased;
                () = work.cancel.cancelled() => return self.stopped(),
                () = self.stopping.cancelled() => return Outcome::Failed(INTERRUPTED.into()),
                slot = self.slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return Outcome::Failed(INTERRUPTED.into()),
                },
            },
        };
        if work.cancel.is_cancelled() {
            return self.stopped();
        }
        let id = work.id.clone();
        if let Err(e) = self.db(move |c| Ok(store::mark_running(c, &id)?)).await {
            return Outcome::Failed(format!("could not start the job: {e}"));
        }
        send(
            events,
            JobEvent::Status {
                status: "running",
                error: None,
            },
        );
        let run = Run {
            plan: &work.plan,
            user: &work.user,
            params: &work.params,
            services: self.services.as_ref(),
            cancel: &work.cancel,
            node_timeout: self.settings.node_timeout,
        };
        let result = engine::run(run, |e| send(events, JobEvent::Engine(e))).await;
        drop(slot);
        match result {
            Ok(results) => Outcome::Completed(results),
            Err(RunError::Cancelled) => self.stopped(),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    /// A job's cancel token fired: by a client, or by the end of the drain window.
    fn stopped(&self) -> Outcome {
        if self.interrupt.is_cancelled() {
            Outcome::Failed(INTERRUPTED.into())
        } else {
            Outcome::Cancelled
        }
    }
}

/// Passes an event on without ever waiting: a client that is gone or too far behind stops
/// getting them.
fn send(events: &mut Option<mpsc::Sender<JobEvent>>, event: JobEvent) {
    if let Some(tx) = events {
        if tx.try_send(event).is_err() {
            *events = None;
        }
    }
}

/// Runs `f` on a blocking thread with a connection taken from the pool for this call only.
pub async fn blocking<T, F>(db: &Arc<Db>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Connection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let db = db.clone();
    tokio::task::spawn_blocking(move || {
        let conn = db.get().map_err(|e| {
            tracing::warn!(error = %e, "database pool exhausted");
            ApiError::Unavailable
        })?;
        f(&conn)
    })
    .await
    .map_err(ApiError::internal)?
}

impl Jobs {
    /// A supervisor with no external services and short limits, for tests.
    pub fn for_tests(db: Arc<Db>) -> Arc<Jobs> {
        Arc::new(Jobs::new(
            db,
            Arc::new(crate::workflows::Unavailable),
            JobSettings {
                node_timeout: Duration::from_secs(5),
                max_concurrent: 2,
            },
        ))
    }
}
