//! Stored files over HTTP: conditional requests (`If-None-Match`, `If-Modified-Since` → 304),
//! one byte range (206, or 416 with `Content-Range: bytes */len`), and the entity headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt;
use http::request::Parts;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use platform_middleware::body::{self, Body};

use super::{Key, Meta, Object, RangeSpec, Storage, StorageError};
use crate::error::ApiError;

/// The response to a GET or HEAD of `key` (the router drops the body of a HEAD).
pub async fn respond(
    storage: &dyn Storage,
    key: &Key,
    req: &Parts,
) -> Result<Response<Body>, ApiError> {
    let headers = &req.headers;
    let wanted = (req.method == Method::GET)
        .then(|| text(headers, header::RANGE).and_then(RangeSpec::parse))
        .flatten();
    let obj = match storage.get(key, wanted).await {
        Err(StorageError::Unsatisfiable { meta }) => {
            if not_modified(headers, &meta) {
                return Ok(not_modified_response(&meta));
            }
            if if_range_holds(headers, &meta) {
                return Err(ApiError::RangeNotSatisfiable { size: meta.size });
            }
            storage.get(key, None).await?
        }
        other => other?,
    };
    if not_modified(headers, &obj.meta) {
        return Ok(not_modified_response(&obj.meta));
    }
    let obj = if obj.range.is_some() && !if_range_holds(headers, &obj.meta) {
        storage.get(key, None).await?
    } else {
        obj
    };
    Ok(object_response(key, obj))
}

fn object_response(key: &Key, obj: Object) -> Response<Body> {
    let Object { meta, range, body } = obj;
    let stream = StreamBody::new(body.map_ok(Frame::data));
    let mut res = Response::new(body::boxed(stream));
    let h = res.headers_mut();
    entity_headers(h, &meta);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(key)),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let len = match &range {
        Some(r) => {
            let value = format!("bytes {}-{}/{}", r.start, r.end - 1, meta.size);
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(header::CONTENT_RANGE, v);
            }
            *res.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.end - r.start
        }
        None => meta.size,
    };
    res.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}

fn not_modified_response(meta: &Meta) -> Response<Body> {
    let mut res = Response::new(body::empty());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    entity_headers(res.headers_mut(), meta);
    res
}

/// Validators, plus headers that keep an uploaded HTML or SVG file from running as a page of
/// this origin.
fn entity_headers(h: &mut HeaderMap, meta: &Meta) {
    if let Ok(v) = HeaderValue::from_str(&meta.etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(meta.modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
}

/// `Content-Type` by the key's extension; `application/octet-stream` when unknown.
pub fn content_type(key: &Key) -> &'static str {
    key.extension()
        .and_then(|ext| mime_guess::from_ext(ext).first_raw())
        .unwrap_or("application/octet-stream")
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// RFC 9110 13.2.2: `If-None-Match` (weak comparison) wins over `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, meta: &Meta) -> bool {
    if let Some(list) = text(headers, header::IF_NONE_MATCH) {
        return list
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == meta.etag.as_str());
    }
    match text(headers, header::IF_MODIFIED_SINCE).map(httpdate::parse_http_date) {
        Some(Ok(since)) => whole_seconds(meta.modified) <= since,
        _ => false,
    }
}

/// `If-Range`: the range applies only while the client's copy is current (strong match).
fn if_range_holds(headers: &HeaderMap, meta: &Meta) -> bool {
    match text(headers, header::IF_RANGE) {
        None => true,
        Some(v) if v.starts_with('"') => v == meta.etag,
        Some(v) => httpdate::parse_http_date(v).is_ok_and(|d| d == whole_seconds(meta.modified)),
    }
}

/// HTTP dates have whole seconds; compare at that precision.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            key: "k".into(),
            size: 3,
            modified: UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
            etag: "\"3-1-2\"".into(),
        }
    }

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn conditionals() {
        let m = meta();
        assert!(not_modified(
            &with("if-none-match", "\"x\", W/\"3-1-2\""),
            &m
        ));
        assert!(not_modified(&with("if-none-match", "*"), &m));
        assert!(!not_modified(&with("if-none-match", "\"x\""), &m));
        let date = httpdate::fmt_http_date(m.modified);
        assert!(not_modified(&with("if-modified-since", &date), &m));
        let earlier = httpdate::fmt_http_date(m.modified - Duration::from_secs(5));
        assert!(!not_modified(&with("if-modified-since", &earlier), &m));
        // If-None-Match decides when both are present.
        let mut both = with("if-none-match", "\"x\"");
        both.insert("if-modified-since", HeaderValue::from_str(&date).unwrap());
        assert!(!not_modified(&both, &m));
        assert!(if_range_holds(&with("if-range", "\"3-1-2\""), &m));
        assert!(!if_range_holds(&with("if-range", "W/\"3-1-2\""), &m));
        assert!(if_range_holds(&with("if-range", &date), &m));
        assert!(!if_range_holds(&with("if-range", &earlier), &m));
    }

    #[test]
    fn content_types_by_extension() {
        let ct = |k: &str| content_type(&Key::parse(k).unwrap());
        assert_eq!(ct("a/b.png"), "image/png");
        assert_eq!(ct("a/b.json"), "application/json");
        assert_eq!(ct("a/b"), "application/octet-stream");
        assert_eq!(ct("a/b.unknownext"), "application/octet-stream");
    }
}
