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
    /// No credentials at all.
    Anonymous,
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
            Caller::Anonymous => req,
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

/// A caller bound to its server: `ada.json(Method::POST, "/api/x", body)`.
pub struct As<'a> {
    pub server: &'a common::Server,
    pub who: Caller,
    /// Sent on every request (the old clients' Accept, say).
    headers: Vec<(&'static str, &'static str)>,
}

impl<'a> As<'a> {
    pub fn new(server: &'a common::Server, who: Caller) -> As<'a> {
        As {
            server,
            who,
            headers: Vec::new(),
        }
    }

    /// The server token (user "1").
    pub fn token(server: &'a common::Server) -> As<'a> {
        As::new(server, Caller::Token)
    }

    /// No credentials.
    pub fn anonymous(server: &'a common::Server) -> As<'a> {
        As::new(server, Caller::Anonymous)
    }

    /// `username`, signed in through the login form.
    pub async fn user(server: &'a Server, username: &str) -> As<'a> {
        As::new(server, Caller::user(server, username).await)
    }

    /// Sends `name: value` on every request too.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> As<'a> {
        self.headers.push((name, value));
        self
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.who.req(self.server, method, path);
        for (name, value) in &self.headers {
            req = req.header(*name, *value);
        }
        req
    }

    /// The response itself, for its status and headers.
    pub async fn raw(&self, method: Method, path: &str) -> reqwest::Response {
        self.req(method, path).send().await.unwrap()
    }

    /// The response to `body` sent as `content_type` (malformed JSON, odd multipart...).
    pub async fn raw_body(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let req = self.req(method, path).header("content-type", content_type);
        req.body(body).send().await.unwrap()
    }

    /// `method path` without a body.
    pub async fn call(&self, method: Method, path: &str) -> (u16, Value) {
        send(self.req(method, path)).await
    }

    /// `method path` with `body` as JSON.
    pub async fn json(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        send(self.req(method, path).json(&body)).await
    }

    /// `method path` with `body` as JSON when there is one.
    pub async fn request(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        match body {
            Some(body) => self.json(method, path, body).await,
            None => self.call(method, path).await,
        }
    }

    /// A multipart upload to `path` of `content` as the `file` part, `fields` as text parts.
    pub async fn upload(
        &self,
        path: &str,
        filename: &str,
        content: &[u8],
        fields: &[(&str, &str)],
    ) -> (u16, Value) {
        let (content_type, body) = multipart(filename, content, fields);
        let req = self
            .req(Method::POST, path)
            .header("content-type", content_type)
            .body(body);
        send(req).await
    }

    /// The status and the raw body of a GET.
    pub async fn bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let res = self.req(Method::GET, path).send().await.unwrap();
        (res.status().as_u16(), res.bytes().await.unwrap().to_vec())
    }
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
