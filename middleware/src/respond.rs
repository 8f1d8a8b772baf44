//! How layers answer a request they refuse. JSON `{"detail": ...}` for API clients; a short HTML
//! page when the client prefers HTML. The route crate may swap in its own templated pages.

use std::sync::Arc;

use http::{header, request::Parts, HeaderMap, Response, StatusCode};

use crate::body::{self, Body};

pub trait Respond: Send + Sync + 'static {
    /// Builds the refusal for `status` with a human-readable `detail`.
    fn refuse(&self, req: &Parts, status: StatusCode, detail: &str) -> Response<Body>;
}

pub type SharedRespond = Arc<dyn Respond>;

/// JSON unless `Accept` prefers `text/html`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonOrHtml;

impl Respond for JsonOrHtml {
    fn refuse(&self, req: &Parts, status: StatusCode, detail: &str) -> Response<Body> {
        if prefers_html(&req.headers) {
            body::with_type(
                status,
                "text/html; charset=utf-8",
                simple_page(status, detail),
            )
        } else {
            body::detail(status, detail)
        }
    }
}

fn simple_page(status: StatusCode, detail: &str) -> String {
    let title = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{code} {title}</title></head>\
         <body><h1>{code} {title}</h1><p>{detail}</p></body></html>\n",
        code = status.as_u16(),
        detail = escape_html(detail),
    )
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// True when `Accept` ranks `text/html` above `application/json` (browsers do; API clients
/// send `*/*` or JSON and get JSON).
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn browsers_prefer_html_api_clients_do_not() {
        assert!(prefers_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(!prefers_html(&accept("*/*")));
        assert!(!prefers_html(&accept("application/json")));
        assert!(!prefers_html(&accept("application/json, text/html;q=0.5")));
        assert!(!prefers_html(&HeaderMap::new()));
    }

    #[test]
    fn pages_escape_the_detail() {
        assert!(simple_page(StatusCode::TOO_MANY_REQUESTS, "<x>").contains("&lt;x&gt;"));
    }
}
