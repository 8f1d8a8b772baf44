//! ProxyFix: resolve the real client from `X-Forwarded-*` headers, once, outermost, and only
//! when the TCP peer is a trusted proxy (Werkzeug's `ProxyFix` semantics: for each header, the
//! Nth value from the right, where N is the number of proxies that set it).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme};
use http::{header, HeaderMap, HeaderName, HeaderValue, Request};
use ipnet::IpNet;
use tower::{Layer, Service};

use crate::client::ClientInfo;
use crate::context::RequestContext;

/// How many proxies set each header (Werkzeug's `x_for`, `x_proto`, `x_host`, `x_port`,
/// `x_prefix`); 0 ignores the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hops {
    pub x_for: usize,
    pub x_proto: usize,
    pub x_host: usize,
    pub x_port: usize,
    pub x_prefix: usize,
}

impl Default for Hops {
    fn default() -> Self {
        Hops {
            x_for: 1,
            x_proto: 1,
            x_host: 1,
            x_port: 0,
            x_prefix: 0,
        }
    }
}

/// The peers whose forwarded headers are believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        TrustedProxies(nets)
    }

    /// `127.0.0.0/8` and `::1/128`.
    pub fn loopback() -> Self {
        TrustedProxies(vec![
            IpNet::from_str("127.0.0.0/8").expect("valid literal"),
            IpNet::from_str("::1/128").expect("valid literal"),
        ])
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

#[derive(Clone, Debug)]
pub struct ProxyFixLayer {
    config: Arc<(TrustedProxies, Hops)>,
}

impl ProxyFixLayer {
    pub fn new(trusted: TrustedProxies, hops: Hops) -> Self {
        ProxyFixLayer {
            config: Arc::new((trusted, hops)),
        }
    }
}

impl<S> Layer<S> for ProxyFixLayer {
    type Service = ProxyFix<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ProxyFix {
            inner,
            config: self.config.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProxyFix<S> {
    inner: S,
    config: Arc<(TrustedProxies, Hops)>,
}

impl<S, B> Service<Request<B>> for ProxyFix<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if RequestContext::client_of(req.extensions()).is_none() {
            let (trusted, hops) = &*self.config;
            let info = resolve(&req, trusted, hops);
            RequestContext::of_mut(req.extensions_mut()).client = Some(info);
        }
        self.inner.call(req)
    }
}

// Parsed once: looking a header up by `&str` parses the name on every request.
const X_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Computes the [`ClientInfo`] of a request; untrusted peers get exactly what the TCP
/// connection and `Host` header say.
pub fn resolve<B>(req: &Request<B>, trusted: &TrustedProxies, hops: &Hops) -> ClientInfo {
    let context = RequestContext::of(req.extensions());
    let peer = context
        .and_then(|c| c.peer)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let mut info = ClientInfo::direct(peer, direct_host(req));
    if context.is_some_and(|c| c.direct_tls) {
        info.scheme = Scheme::HTTPS;
    }
    let headers = req.headers();
    if !trusted.contains(peer.ip()) || !has_forwarded(headers) {
        return info;
    }
    if let Some(ip) = nth_from_right(headers, &X_FOR, hops.x_for).and_then(parse_for) {
        info.addr = ip;
    }
    if let Some(scheme) = nth_from_right(headers, &X_PROTO, hops.x_proto).and_then(parse_proto) {
        info.scheme = scheme;
    }
    if let Some(host) = nth_from_right(headers, &X_HOST, hops.x_host).and_then(parse_host) {
        info.host = Some(host);
    }
    if let Some(port) = nth_from_right(headers, &X_PORT, hops.x_port).and_then(|v| v.parse().ok()) {
        info.port = Some(port);
    }
    if let Some(prefix) = nth_from_right(headers, &X_PREFIX, hops.x_prefix).and_then(parse_prefix) {
        info.prefix = prefix;
    }
    info
}

fn direct_host<B>(req: &Request<B>) -> Option<HeaderValue> {
    let from_header = req
        .headers()
        .get(header::HOST)
        .filter(|v| v.to_str().is_ok());
    match from_header {
        Some(host) => Some(host.clone()),
        None => req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    }
}

/// Whether any `X-Forwarded-*` header came: one pass over the names instead of a hashed
/// lookup per header for the requests (direct ones) that have none.
fn has_forwarded(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("x-forwarded-"))
}

/// The `n`th comma-separated value from the right across every line of `name`; `None` when
/// `n` is 0, the header is absent or has fewer than `n` values, or is not visible ASCII.
fn nth_from_right<'a>(headers: &'a HeaderMap, name: &HeaderName, n: usize) -> Option<&'a str> {
    if n == 0 {
        return None;
    }
    let lines = headers.get_all(name);
    let mut count = 0;
    for line in &lines {
        count += line.to_str().ok()?.split(',').count();
    }
    let wanted = count.checked_sub(n)?;
    lines
        .iter()
        .flat_map(|line| line.to_str().unwrap_or_default().split(','))
        .nth(wanted)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_for(value: &str) -> Option<IpAddr> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    value
        .parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

fn parse_proto(value: &str) -> Option<Scheme> {
    if value.eq_ignore_ascii_case("https") {
        Some(Scheme::HTTPS)
    } else if value.eq_ignore_ascii_case("http") {
        Some(Scheme::HTTP)
    } else {
        None
    }
}

fn parse_host(value: &str) -> Option<HeaderValue> {
    let authority = Authority::from_str(value).ok()?;
    // An authority with userinfo is not a host a proxy would forward.
    if authority.as_str().contains('@') {
        return None;
    }
    HeaderValue::from_str(&authority.as_str().to_ascii_lowercase()).ok()
}

fn parse_prefix(value: &str) -> Option<String> {
    let ok = value.starts_with('/')
        && !value.starts_with("//")
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'\\'));
    ok.then(|| value.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    fn request(peer: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder()
            .uri("/x")
            .header("host", "direct.example:7777");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(()).unwrap();
        RequestContext::of_mut(req.extensions_mut()).peer = Some(peer.parse().unwrap());
        req
    }

    async fn run(layer: &ProxyFixLayer, req: Request<()>) -> ClientInfo {
        layer
            .layer(service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(
                    RequestContext::client_of(req.extensions())
                        .cloned()
                        .unwrap(),
                )
            }))
            .oneshot(req)
            .await
            .unwrap()
    }

    fn default_layer() -> ProxyFixLayer {
        ProxyFixLayer::new(TrustedProxies::loopback(), Hops::default())
    }

    #[tokio::test]
    async fn trusted_peer_forwards_client_scheme_and_host() {
        let req = request(
            "127.0.0.1:5000",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "Platform.Example.com"),
            ],
        );
        let info = run(&default_layer(), req).await;
        assert_eq!(info.addr, "203.0.113.9".parse::<IpAddr>().unwrap());
        assert!(info.is_https());
        assert_eq!(info.host(), Some("platform.example.com"));
        assert_eq!(info.peer, "127.0.0.1:5000".parse().unwrap());
    }

    #[tokio::test]
    async fn direct_tls_is_https_even_from_an_untrusted_peer() {
        let mut req = request("198.51.100.7:4000", &[("x-forwarded-proto", "http")]);
        RequestContext::of_mut(req.extensions_mut()).direct_tls = true;
        assert!(run(&default_layer(), req).await.is_https());
    }

    #[tokio::test]
    async fn untrusted_peer_is_taken_literally() {
        let req = request(
            "198.51.100.7:4000",
            &[
                ("x-forwarded-for", "203.0.113.9"),
                ("x-forwarded-proto", "https"),
            ],
        );
        let info = run(&default_layer(), req).await;
        assert_eq!(info.addr, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert!(!info.is_https());
        assert_eq!(info.host(), Some("direct.example:7777"));
    }

    #[tokio::test]
    async fn spoofed_leftmost_entries_are_ignored() {
        // The client sent "X-Forwarded-For: 6.6.6.6"; the one trusted proxy appended the real one.
        let req = request(
            "127.0.0.1:5000",
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.9")],
        );
        assert_eq!(
            run(&default_layer(), req).await.addr,
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Also when split across header lines.
        let req = request(
            "127.0.0.1:5000",
            &[
                ("x-forwarded-for", "6.6.6.6"),
                ("x-forwarded-for", "203.0.113.9"),
            ],
        );
        assert_eq!(
            run(&default_layer(), req).await.addr,
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test]
    async fn two_hops_take_the_second_from_the_right() {
        let hops = Hops {
            x_for: 2,
            ..Hops::default()
        };
        let layer = ProxyFixLayer::new(TrustedProxies::loopback(), hops);
        let req = request(
            "127.0.0.1:1",
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")],
        );
        assert_eq!(
            run(&layer, req).await.addr,
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // Fewer values than hops: nothing is believed.
        let req = request("127.0.0.1:1", &[("x-forwarded-for", "10.0.0.2")]);
        assert_eq!(
            run(&layer, req).await.addr,
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test]
    async fn malformed_values_keep_the_peer() {
        let req = request(
            "127.0.0.1:5000",
            &[
                ("x-forwarded-for", "not-an-ip"),
                ("x-forwarded-proto", "gopher"),
                ("x-forwarded-host", "bad host/x"),
            ],
        );
        let info = run(&default_layer(), req).await;
        assert_eq!(info.addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert!(!info.is_https());
        assert_eq!(info.host(), Some("direct.example:7777"));
    }

    #[tokio::test]
    async fn ports_and_v6_forms_parse() {
        let req = request("[::1]:5000", &[("x-forwarded-for", "[2001:db8::7]:4431")]);
        assert_eq!(
            run(&default_layer(), req).await.addr,
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let req = request(
            "[::ffff:127.0.0.1]:5000",
            &[("x-forwarded-for", "203.0.113.9:80")],
        );
        assert_eq!(
            run(&default_layer(), req).await.addr,
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
    }

    #[tokio::test]
    async fn port_and_prefix_when_enabled() {
        let hops = Hops {
            x_port: 1,
            x_prefix: 1,
            ..Hops::default()
        };
        let layer = ProxyFixLayer::new(TrustedProxies::loopback(), hops);
        let req = request(
            "127.0.0.1:1",
            &[
                ("x-forwarded-port", "8443"),
                ("x-forwarded-prefix", "/platform/"),
            ],
        );
        let info = run(&layer, req).await;
        assert_eq!(info.port, Some(8443));
        assert_eq!(info.prefix, "/platform");
        let req = request(
            "127.0.0.1:1",
            &[
                ("x-forwarded-port", "99999"),
                ("x-forwarded-prefix", "//evil"),
            ],
        );
        let info = run(&layer, req).await;
        assert_eq!((info.port, info.prefix.as_str()), (None, ""));
    }

    #[tokio::test]
    async fn applying_twice_changes_nothing() {
        // The inner application would pick another entry if it ran again.
        let inner = ProxyFixLayer::new(
            TrustedProxies::loopback(),
            Hops {
                x_for: 2,
                ..Hops::default()
            },
        );
        let twice = default_layer().layer(inner.layer(service_fn(|req: Request<()>| async move {
            Ok::<_, Infallible>(
                RequestContext::client_of(req.extensions())
                    .cloned()
                    .unwrap(),
            )
        })));
        let req = request(
            "127.0.0.1:5000",
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.9")],
        );
        let info = twice.oneshot(req).await.unwrap();
        assert_eq!(info.addr, "203.0.113.9".parse::<IpAddr>().unwrap());
    }
}
