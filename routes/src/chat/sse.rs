//! Server-sent event bodies: `data: <json>\n\n` frames streamed as the upstream produces them,
//! never buffered whole. Dropping the body (the client went away, or a drain cut it) drops the
//! upstream response, which cancels the upstream request, or closes the channel of the
//! producing task, which stops at its next wait.

use std::collections::VecDeque;
use std::convert::Infallible;

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream, StreamExt};
use http::{header, HeaderValue, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use platform_middleware::body::{self, Body};
use serde::Serialize;
use tokio::sync::mpsc;

/// The frame that ends OpenAI streams (and the admin download streams).
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// A line longer than this from an upstream fails the stream rather than growing a buffer.
const MAX_LINE: usize = 8 * 1024 * 1024;

/// One `data:` frame.
pub fn event<T: Serialize + ?Sized>(value: &T) -> Bytes {
    let mut out = b"data: ".to_vec();
    if serde_json::to_writer(&mut out, value).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

pub fn done() -> Bytes {
    Bytes::from_static(DONE)
}

/// A 200 `text/event-stream` response streaming `frames`.
pub fn response<S>(frames: S) -> Response<Body>
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let frames = frames.map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let mut res = Response::new(body::boxed(StreamBody::new(frames)));
    *res.status_mut() = StatusCode::OK;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise hold events back.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Why an upstream stream stopped early.
#[derive(Debug)]
pub enum StreamError {
    Read(reqwest::Error),
    LineTooLong,
}

impl StreamError {
    pub fn is_timeout(&self) -> bool {
        matches!(self, StreamError::Read(e) if e.is_timeout())
    }

    /// A message for the client (no upstream address).
    pub fn message(&self, provider: &str) -> String {
        match self {
            _ if self.is_timeout() => {
                format!("The {provider} provider stopped sending within the read timeout")
            }
            StreamError::Read(_) => format!("The {provider} provider's stream broke off"),
            StreamError::LineTooLong => format!("The {provider} provider sent an oversized line"),
        }
    }
}

/// The lines of a streamed upstream body (NDJSON or SSE), read chunk by chunk.
pub struct Lines {
    res: reqwest::Response,
    buf: BytesMut,
    eof: bool,
}

impl Lines {
    pub fn new(res: reqwest::Response) -> Self {
        Lines {
            res,
            buf: BytesMut::new(),
            eof: false,
        }
    }

    /// The next line without its end (`\n` or `\r\n`); the last line may lack one.
    pub async fn next(&mut self) -> Result<Option<Bytes>, StreamError> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line = self.buf.split_to(at + 1);
                line.truncate(at);
                if line.last() == Some(&b'\r') {
                    line.truncate(at - 1);
                }
                return Ok(Some(line.freeze()));
            }
            if self.eof {
                return Ok((!self.buf.is_empty()).then(|| self.buf.split().freeze()));
            }
            match self.res.chunk().await.map_err(StreamError::Read)? {
                Some(chunk) => {
                    if self.buf.len() + chunk.len() > MAX_LINE {
                        return Err(StreamError::LineTooLong);
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                None => self.eof = true,
            }
        }
    }
}

/// What turns upstream lines into frames for the client.
pub trait Relay: Send + 'static {
    /// Frames for one line; `true` once the upstream said it is done.
    fn line(&mut self, line: &[u8], out: &mut VecDeque<Bytes>) -> bool;
    /// The upstream body ended (after `line` returned `true`, or without it).
    fn end(&mut self, out: &mut VecDeque<Bytes>);
    /// The upstream broke off or went silent.
    fn fail(&mut self, error: StreamError, out: &mut VecDeque<Bytes>);
}

/// Frames from `lines` as `relay` translates them, pulled only as fast as the client reads.
pub fn relay<R: Relay>(lines: Lines, relay: R) -> impl Stream<Item = Bytes> + Send {
    struct State<R> {
        lines: Lines,
        relay: R,
        out: VecDeque<Bytes>,
        finished: bool,
    }
    let state = State {
        lines,
        relay,
        out: VecDeque::new(),
        finished: false,
    };
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(frame) = s.out.pop_front() {
                return Some((frame, s));
            }
            if s.finished {
                return None;
            }
            match s.lines.next().await {
                Ok(Some(line)) if line.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Some(line)) => {
                    if s.relay.line(&line, &mut s.out) {
                        s.relay.end(&mut s.out);
                        s.finished = true;
                    }
                }
                Ok(None) => {
                    s.relay.end(&mut s.out);
                    s.finished = true;
                }
                Err(e) => {
                    s.relay.fail(e, &mut s.out);
                    s.finished = true;
                }
            }
        }
    })
}

/// Frames a task sends, ending when it drops its sender. Dropping the stream closes the
/// channel: the task sees it (`Sender::closed`) and stops, tidying up first (a download keeps
/// what it wrote, for the next one to resume).
pub fn from_channel(rx: mpsc::Receiver<Bytes>) -> impl Stream<Item = Bytes> {
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        assert_eq!(
            event(&serde_json::json!({"a": 1})),
            Bytes::from_static(b"data: {\"a\":1}\n\n")
        );
        assert_eq!(done(), Bytes::from_static(b"data: [DONE]\n\n"));
    }
}
