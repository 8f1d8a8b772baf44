//! JSON API calls as the server token or a signed-in user, for the route-set tests that share
//! the multi-user harness (collections, secrets, assets).

use reqwest::{Method, RequestBuilder};
use serde_json::Value;

use super::{client, common, signed_in, Server, SERVER_TOKEN};

/// Who calls: the server token (user "1"), or a signed-in user's cookie.
#[derive(Clone)]
pub enum Caller {
    Token,
    Cookie(String),
}

impl Caller {
    /// The cookie of `username`, signed in through the login form.
    pub async fn user(server: &Server, username: &str) -> Caller {
        Caller::Cookie(signed_in(server, username).await)
    }

    pub fn req(&self, server: &common::Server, method: Method, path: &str) -> RequestBuilder {
        let req = client().request(method, server.url(path));
        match self {
            Caller::Token => req.bearer_auth(SERVER_TOKEN),
            // Same-origin, as the browser UI sends it (cross-site cookie writes are refused).
            Caller::Cookie(c) => req.header("cookie", c).header("origin", server.origin()),
        }
    }
}

/// Sends `req`: the status and the JSON body (`null` when the body is not JSON).
pub async fn send(req: RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `method path` as `who`, with `body` as JSON when given.
pub async fn call(
    server: &common::Server,
    who: &Caller,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = who.req(server, method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    send(req).await
}

/// A multipart/form-data body with a `file` part and extra text fields: its content type and
/// bytes.
pub fn multipart(filename: &str, content: &[u8], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "----platform-test-boundary-7d93";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
             filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A multipart upload to `path` as `who`.
pub async fn upload(
    server: &common::Server,
    who: &Caller,
    path: &str,
    filename: &str,
    content: &[u8],
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let (content_type, body) = multipart(filename, content, fields);
    send(
        who.req(server, Method::POST, path)
            .header("content-type", content_type)
            .body(body),
    )
    .await
}
