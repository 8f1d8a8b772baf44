//! hyper's request body with a limit on every wait for the client: no new byte for
//! `BODY_READ_TIMEOUT` ends the read with [`BodyTimeout`], and so does a body that trickles in
//! slower than `BODY_MIN_RATE` on average once that first allowance has passed. Reading stays
//! free of timers while data is already there: one is armed only when the client keeps us
//! waiting.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

/// How long a request body may keep the server waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// The longest wait for the next byte.
    pub gap: Duration,
    /// Bytes per second the body must average after the first `gap`; 0 turns the check off.
    pub min_rate: u64,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            gap: Duration::from_secs(30),
            min_rate: 1024,
        }
    }
}

/// The error a body read ends with when the client stalled; the stack answers it with 408.
#[derive(Debug)]
pub struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request body timeout")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether a body read failed because the client stalled.
pub fn is_timeout(error: &BoxError) -> bool {
    error.is::<BodyTimeout>()
}

pub struct LimitedIncoming<B = Incoming> {
    body: B,
    limits: BodyLimits,
    /// When the first wait began; the minimum rate counts from here.
    started: Option<Instant>,
    received: u64,
    /// Armed while waiting on the client; reused across waits.
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<B> LimitedIncoming<B> {
    pub fn new(body: B, limits: BodyLimits) -> Self {
        LimitedIncoming {
            body,
            limits,
            started: None,
            received: 0,
            timer: None,
            armed: false,
        }
    }

    /// The earlier of "no byte for `gap`" and "below the minimum rate".
    fn deadline(&mut self, now: Instant) -> Instant {
        let started = *self.started.get_or_insert(now);
        let next_byte = now + self.limits.gap;
        if self.limits.min_rate == 0 {
            return next_byte;
        }
        let earned = Duration::from_secs_f64(self.received as f64 / self.limits.min_rate as f64);
        next_byte.min(started + self.limits.gap + earned)
    }

    /// Waits on the timer, arming it (once per wait) when the client has not kept up.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = (!self.armed).then(|| self.deadline(Instant::now()));
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::ZERO)));
        if let Some(deadline) = deadline {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        timer.as_mut().poll(cx)
    }
}

impl<B> http_body::Body for LimitedIncoming<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.armed = false;
            let frame = frame.map(|f| f.map_err(Into::into));
            if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
                this.received += data.len() as u64;
            }
            return Poll::Ready(frame);
        }
        match this.wait(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    type Sender = mpsc::Sender<Result<Frame<Bytes>, BoxError>>;

    fn channel(
        limits: BodyLimits,
    ) -> (
        Sender,
        LimitedIncoming<impl http_body::Body<Data = Bytes, Error = BoxError> + Unpin>,
    ) {
        let (tx, rx) = mpsc::channel(4);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|f| (f, rx)) },
            );
        let body = StreamBody::new(Box::pin(stream));
        (tx, LimitedIncoming::new(body, limits))
    }

    fn data(s: &'static str) -> Result<Frame<Bytes>, BoxError> {
        Ok(Frame::data(Bytes::from_static(s.as_bytes())))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_coming_is_read_to_the_end() {
        let limits = BodyLimits {
            gap: Duration::from_secs(5),
            min_rate: 0,
        };
        let (tx, body) = channel(limits);
        tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                tx.send(data("x")).await.unwrap();
            }
        });
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes.len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_ends_with_a_timeout_after_the_gap() {
        let limits = BodyLimits {
            gap: Duration::from_secs(5),
            min_rate: 0,
        };
        let (tx, mut body) = channel(limits);
        tx.send(data("a")).await.unwrap();
        assert!(body.frame().await.unwrap().is_ok());
        let start = Instant::now();
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(is_timeout(&err), "{err}");
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_below_the_minimum_rate_times_out() {
        let limits = BodyLimits {
            gap: Duration::from_secs(5),
            min_rate: 100,
        };
        let (tx, body) = channel(limits);
        tokio::spawn(async move {
            // One byte a second: never a 5 s gap, but far below 100 bytes/s.
            while tx.send(data("x")).await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let start = Instant::now();
        let err = body.collect().await.unwrap_err();
        assert!(is_timeout(&err));
        assert!(
            start.elapsed() < Duration::from_secs(7),
            "{:?}",
            start.elapsed()
        );
    }
}
