//! A job's events as a response body: NDJSON (the API) or Server-Sent Events (the old worker's
//! shape). The body reads from the job's bounded channel and holds nothing else shared, so a
//! client that disconnects just drops it while the job runs on.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use platform_middleware::body::{self, Body};
use serde_json::{json, Value};

use super::supervisor::{JobEvent, Outcome, Started};
use crate::workflows::engine::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/x-ndjson`: `job_update`, `node_update`, `output_update`, then
    /// `job_completed` or `job_failed`.
    Ndjson,
    /// `text/event-stream`: `job_update`, `output_update`, then `complete` or `error`, then
    /// `data: [DONE]`.
    Sse,
}

/// The streaming response for a submitted job.
pub fn response(started: Started, format: Format) -> Response<Body> {
    let job_id = started.job_id.clone();
    let state = (started, false);
    let frames = stream::unfold(state, move |(mut started, ended)| {
        let job_id = job_id.clone();
        async move {
            if ended {
                return None;
            }
            while let Some(event) = started.events.recv().await {
                if let Some(line) = encode(format, &job_id, &event) {
                    return Some((Ok::<_, Infallible>(Frame::data(line)), (started, false)));
                }
            }
            let outcome = started.finished().await;
            let last = finish(format, &job_id, &outcome);
            Some((Ok(Frame::data(last)), (started, true)))
        }
    });
    let content_type = match format {
        Format::Ndjson => "application/x-ndjson",
        Format::Sse => "text/event-stream",
    };
    let mut res = Response::new(body::boxed(StreamBody::new(frames)));
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) would otherwise hold the events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// One event on the wire, or `None` when this format leaves it out.
pub fn encode(format: Format, job_id: &str, event: &JobEvent) -> Option<Bytes> {
    let value = match (format, event) {
        (Format::Ndjson, JobEvent::Status { status, error }) => {
            let mut v = json!({"type": "job_update", "job_id": job_id, "status": status});
            if let Some(e) = error {
                v["error"] = json!(e);
            }
            v
        }
        (Format::Sse, JobEvent::Status { status, error }) => {
            let data =
                json!({"type": "job_update", "job_id": job_id, "status": status, "error": error});
            json!({"type": "job_update", "job_id": job_id, "status": status, "data": data})
        }
        (
            Format::Ndjson,
            JobEvent::Engine(Event::Node {
                node_id,
                status,
                error,
            }),
        ) => {
            let mut v =
                json!({"type": "node_update", "node_id": node_id, "status": status.as_str()});
            if let Some(e) = error {
                v["error"] = json!(e);
            }
            v
        }
        (Format::Sse, JobEvent::Engine(Event::Node { .. })) => return None,
        (
            format,
            JobEvent::Engine(Event::Output {
                node_id,
                output_name,
                value,
            }),
        ) => {
            let mut v = json!({
                "type": "output_update",
                "node_id": node_id,
                "output_name": output_name,
                "value": value,
            });
            if format == Format::Sse {
                // The old worker named the output `node_name`.
                v["node_name"] = json!(output_name);
            }
            v
        }
    };
    Some(frame(format, &value))
}

/// The closing event(s) for how the job ended.
pub fn finish(format: Format, job_id: &str, outcome: &Outcome) -> Bytes {
    match (format, outcome) {
        (Format::Ndjson, Outcome::Completed(results)) => frame(
            format,
            &json!({"type": "job_completed", "job_id": job_id, "results": results}),
        ),
        (Format::Ndjson, other) => frame(
            format,
            &json!({"type": "job_failed", "job_id": job_id, "error": other.error()}),
        ),
        (Format::Sse, outcome) => {
            let last = match outcome {
                Outcome::Completed(results) => json!({"type": "complete", "results": results}),
                other => json!({"type": "error", "error": other.error()}),
            };
            let mut out = frame(format, &last).to_vec();
            out.extend_from_slice(b"data: [DONE]\n\n");
            Bytes::from(out)
        }
    }
}

fn frame(format: Format, value: &Value) -> Bytes {
    let json = value.to_string();
    Bytes::from(match format {
        Format::Ndjson => format!("{json}\n"),
        Format::Sse => format!("data: {json}\n\n"),
    })
}
