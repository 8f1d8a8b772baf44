//! Rate limiting: one governor quota per [`RateClass`], keyed by the client address ProxyFix
//! resolved (IPv6 clients by their /64, since one host usually owns the whole prefix).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::Quota;
use http::{header, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::body::Body;
use crate::client::ClientInfo;
use crate::context::RequestContext;
use crate::future::{self, Gate};
use crate::policy::{meta_of, RateClass, SharedPolicy};
use crate::respond::SharedRespond;

pub const DETAIL: &str = "Rate limit exceeded";

/// Quotas per class; `None` leaves a class unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quotas {
    pub auth: Option<Quota>,
    pub write: Option<Quota>,
    pub read: Option<Quota>,
}

impl Default for Quotas {
    /// Per client address: a login every 6 s on average (bursts of 10), 5 writes and 50 reads a
    /// second sustained with bursts of a minute's worth.
    fn default() -> Self {
        Quotas {
            auth: Some(per(10, Duration::from_secs(60))),
            write: Some(per(300, Duration::from_secs(60))),
            read: Some(per(3000, Duration::from_secs(60))),
        }
    }
}

impl Quotas {
    pub fn unlimited() -> Self {
        Quotas {
            auth: None,
            write: None,
            read: None,
        }
    }

    fn slot(&mut self, class: RateClass) -> &mut Option<Quota> {
        match class {
            RateClass::Auth => &mut self.auth,
            RateClass::Write => &mut self.write,
            RateClass::Read => &mut self.read,
        }
    }
}

/// `n` requests per `period`, all of which may come at once.
fn per(n: u32, period: Duration) -> Quota {
    let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period / n.get())
        .unwrap_or_else(|| Quota::per_second(n))
        .allow_burst(n)
}

#[derive(Debug, PartialEq, Eq)]
pub struct QuotaError(String);

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QuotaError {}

impl FromStr for Quotas {
    type Err = QuotaError;

    /// `off`, or a comma list of `class=N/unit` (unit `second|minute|hour|day`, or `class=off`);
    /// classes not named keep their defaults.
    fn from_str(s: &str) -> Result<Self, QuotaError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none") {
            return Ok(Quotas::unlimited());
        }
        let mut quotas = Quotas::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (class, rate) = item
                .split_once('=')
                .ok_or_else(|| QuotaError(format!("'{item}' is not CLASS=N/UNIT")))?;
            let class = match class.trim() {
                "auth" => RateClass::Auth,
                "write" => RateClass::Write,
                "read" => RateClass::Read,
                other => {
                    return Err(QuotaError(format!(
                        "unknown class '{other}' (expected auth, write or read)"
                    )))
                }
            };
            *quotas.slot(class) = parse_rate(rate.trim())?;
        }
        Ok(quotas)
    }
}

fn parse_rate(rate: &str) -> Result<Option<Quota>, QuotaError> {
    if rate.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let bad = || QuotaError(format!("'{rate}' is not N/UNIT (e.g. 5/minute)"));
    let (n, unit) = rate.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(QuotaError(format!(
            "'{rate}': the count must be at least 1 (or use off)"
        )));
    }
    let period = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "second" | "seconds" => 1,
        "m" | "min" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        _ => return Err(bad()),
    };
    Ok(Some(per(n, Duration::from_secs(period))))
}

type Keyed<C> = governor::RateLimiter<
    IpAddr,
    DefaultKeyedStateStore<IpAddr>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// The limiters of every class, sharing one clock.
pub struct Limits<C: Clock = DefaultClock> {
    auth: Option<Keyed<C>>,
    write: Option<Keyed<C>>,
    read: Option<Keyed<C>>,
    clock: C,
}

impl Limits<DefaultClock> {
    pub fn new(quotas: Quotas) -> Self {
        Self::with_clock(quotas, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Limits<C> {
    pub fn with_clock(quotas: Quotas, clock: C) -> Self {
        let make = |q: Option<Quota>| {
            q.map(|q| governor::RateLimiter::new(q, Default::default(), clock.clone()))
        };
        Limits {
            auth: make(quotas.auth),
            write: make(quotas.write),
            read: make(quotas.read),
            clock,
        }
    }

    fn limiter(&self, class: RateClass) -> Option<&Keyed<C>> {
        match class {
            RateClass::Auth => self.auth.as_ref(),
            RateClass::Write => self.write.as_ref(),
            RateClass::Read => self.read.as_ref(),
        }
    }

    /// `Err(wait)` when `client` is over the quota of `class`.
    pub fn check(&self, class: RateClass, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = self.limiter(class) else {
            return Ok(());
        };
        limiter
            .check_key(&key(client))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets clients whose state is back to a fresh one; returns the keys left. Memory is thus
    /// bounded by the clients seen within one replenish period, however many came before.
    pub fn sweep(&self) -> usize {
        [&self.auth, &self.write, &self.read]
            .into_iter()
            .flatten()
            .map(|l| {
                l.retain_recent();
                l.shrink_to_fit();
                l.len()
            })
            .sum()
    }

    /// Keys held across all classes.
    pub fn len(&self) -> usize {
        [&self.auth, &self.write, &self.read]
            .into_iter()
            .flatten()
            .map(|l| l.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// IPv6 clients are limited per /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Runs [`Limits::sweep`] every `every` on a thread of its own, until `limits` is dropped. Not a
/// task on the runtime: a sweep then never waits behind requests, or holds up the requests of
/// the worker it would run on, and no blocking-pool thread is spawned for it every time (the
/// pool's idle threads expire about as often as the sweep comes round).
pub fn spawn_sweeper(limits: &Arc<Limits>, every: Duration) -> std::io::Result<()> {
    let limits = Arc::downgrade(limits);
    std::thread::Builder::new()
        .name("rate-limit-sweep".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(limits) = limits.upgrade() else {
                return;
            };
            let left = limits.sweep();
            tracing::trace!(keys = left, "rate limiter swept");
        })
        .map(drop)
}

/// Behind one `Arc`: the layer is cloned for every request.
#[derive(Clone)]
pub struct RateLimitLayer(Arc<Shared>);

struct Shared {
    limits: Arc<Limits>,
    policy: SharedPolicy,
    respond: SharedRespond,
}

impl RateLimitLayer {
    pub fn new(limits: Arc<Limits>, policy: SharedPolicy, respond: SharedRespond) -> Self {
        RateLimitLayer(Arc::new(Shared {
            limits,
            policy,
            respond,
        }))
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    layer: RateLimitLayer,
}

impl<S> Service<Request<Body>> for RateLimit<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Gate<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let meta = meta_of(&mut req, &*self.layer.0.policy);
        let Some(class) = meta.rate_class(req.method()) else {
            return future::pass(self.inner.call(req));
        };
        let client = RequestContext::client_of(req.extensions()).map(|c| c.addr);
        let client = client.unwrap_or_else(|| ClientInfo::unknown().addr);
        match self.layer.0.limits.check(class, client) {
            Ok(()) => future::pass(self.inner.call(req)),
            Err(wait) => {
                tracing::info!(client = %client, class = class.name(), "rate limited");
                ::metrics::counter!(crate::metrics::RATE_LIMITED, "class" => class.name())
                    .increment(1);
                let (parts, _) = req.into_parts();
                let mut res =
                    self.layer
                        .0
                        .respond
                        .refuse(&parts, StatusCode::TOO_MANY_REQUESTS, DETAIL);
                res.headers_mut()
                    .insert(header::RETRY_AFTER, retry_after(wait));
                future::answer(res)
            }
        }
    }
}

/// Whole seconds, rounded up, at least 1.
fn retry_after(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use crate::policy::{RateRule, RouteMeta};
    use crate::respond::JsonOrHtml;
    use governor::clock::FakeRelativeClock;
    use http::Method;
    use http_body_util::BodyExt;
    use std::convert::Infallible;
    use tower::{service_fn, ServiceExt};

    #[test]
    fn parses_rate_limits() {
        let q: Quotas = "auth=5/minute, write=120/minute,read=off".parse().unwrap();
        assert_eq!(q.auth, Some(per(5, Duration::from_secs(60))));
        assert_eq!(q.write, Some(per(120, Duration::from_secs(60))));
        assert_eq!(q.read, None);
        assert_eq!("off".parse::<Quotas>().unwrap(), Quotas::unlimited());
        assert_eq!("".parse::<Quotas>().unwrap(), Quotas::default());
        for bad in [
            "auth=5",
            "auth=0/minute",
            "auth=5/fortnight",
            "login=5/minute",
            "auth",
        ] {
            assert!(bad.parse::<Quotas>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn v6_clients_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(key(a), key(b));
        let v4: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(key(v4), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn over_quota_reports_the_wait() {
        let clock = FakeRelativeClock::default();
        let quotas = Quotas {
            auth: Some(per(2, Duration::from_secs(60))),
            ..Quotas::unlimited()
        };
        let limits = Limits::with_clock(quotas, clock.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limits.check(RateClass::Auth, ip).is_ok());
        assert!(limits.check(RateClass::Auth, ip).is_ok());
        let wait = limits.check(RateClass::Auth, ip).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        assert!(limits
            .check(RateClass::Auth, "192.0.2.2".parse().unwrap())
            .is_ok());
        assert!(limits.check(RateClass::Read, ip).is_ok(), "unlimited class");
        clock.advance(Duration::from_secs(30));
        assert!(limits.check(RateClass::Auth, ip).is_ok());
    }

    #[test]
    fn a_million_clients_leave_no_lasting_state() {
        let clock = FakeRelativeClock::default();
        let limits = Limits::with_clock(Quotas::default(), clock.clone());
        for wave in 0..4u32 {
            for i in 0..250_000u32 {
                let ip = IpAddr::from((wave << 24 | i).to_be_bytes());
                let _ = limits.check(RateClass::Read, ip);
            }
            assert_eq!(limits.len(), 250_000);
            // One replenish period later every one of them is indistinguishable from new.
            clock.advance(Duration::from_secs(1));
            assert_eq!(limits.sweep(), 0, "wave {wave}");
        }
    }

    #[test]
    fn the_sweeper_thread_forgets_idle_clients_and_ends_with_the_limits() {
        let quotas = Quotas {
            read: Some(per(1000, Duration::from_secs(1))),
            ..Quotas::unlimited()
        };
        let limits = Arc::new(Limits::new(quotas));
        assert!(limits
            .check(RateClass::Read, "192.0.2.1".parse().unwrap())
            .is_ok());
        assert_eq!(limits.len(), 1);
        spawn_sweeper(&limits, Duration::from_millis(10)).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !limits.is_empty() {
            assert!(std::time::Instant::now() < deadline, "never swept");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The thread holds the limits only while it sweeps.
        let weak = Arc::downgrade(&limits);
        drop(limits);
        while weak.upgrade().is_some() {
            assert!(std::time::Instant::now() < deadline, "still held");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn svc(
        limits: Limits,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone {
        let policy: SharedPolicy = Arc::new(|_: &Method, path: &str| RouteMeta {
            public: true,
            rate: if path == "/health" {
                RateRule::Exempt
            } else {
                RateRule::ByMethod
            },
            ..RouteMeta::default()
        });
        let layer = RateLimitLayer::new(Arc::new(limits), policy, Arc::new(JsonOrHtml));
        layer.layer(service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(body::empty()))
        }))
    }

    fn get(path: &str, accept: &str) -> Request<Body> {
        let mut req = Request::get(path)
            .header("accept", accept)
            .body(body::empty())
            .unwrap();
        RequestContext::of_mut(req.extensions_mut()).client =
            Some(ClientInfo::direct("192.0.2.9:1000".parse().unwrap(), None));
        req
    }

    #[tokio::test]
    async fn the_layer_answers_429_with_retry_after() {
        let quotas = Quotas {
            read: Some(per(1, Duration::from_secs(90))),
            ..Quotas::unlimited()
        };
        let svc = svc(Limits::new(quotas));
        assert_eq!(
            svc.clone()
                .oneshot(get("/x", "*/*"))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        let res = svc.clone().oneshot(get("/x", "*/*")).await.unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let after: u64 = res.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((89..=90).contains(&after), "{after}");
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], br#"{"detail":"Rate limit exceeded"}"#);

        let res = svc.clone().oneshot(get("/x", "text/html")).await.unwrap();
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );

        // Health checks are exempt.
        for _ in 0..3 {
            assert_eq!(
                svc.clone()
                    .oneshot(get("/health", "*/*"))
                    .await
                    .unwrap()
                    .status(),
                StatusCode::OK
            );
        }
    }
}
