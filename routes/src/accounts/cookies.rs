//! The `platform_token` session cookie: its attributes, decided per request.

use std::net::IpAddr;
use std::time::Duration;

use http::request::Parts;
use http::{header, HeaderValue};
use platform_middleware::client::ClientInfo;

pub const NAME: &str = "platform_token";

#[derive(Clone, Debug, Default)]
pub struct CookiePolicy {
    /// `COOKIE_DOMAIN`; never applied to a localhost request.
    pub domain: Option<String>,
    pub max_age: Duration,
    /// ENV=development: plain http on loopback gets a cookie without `Secure`, which browsers
    /// would otherwise drop.
    pub development: bool,
}

/// `host` without its port and IPv6 brackets.
fn host_name(host: &str) -> &str {
    let name = host
        .rsplit_once(':')
        .filter(|(h, port)| {
            !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':')
        })
        .map_or(host, |(h, _)| h);
    name.trim_start_matches('[').trim_end_matches(']')
}

/// `localhost` and its subdomains: browsers refuse a `Domain` attribute there.
fn is_localhost(host: &str) -> bool {
    let name = host_name(host).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

fn is_loopback_host(host: &str) -> bool {
    is_localhost(host)
        || host_name(host)
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl CookiePolicy {
    /// `Secure` unless this is a development server reached over plain http on loopback.
    pub fn secure(&self, client: &ClientInfo) -> bool {
        let local_dev = self.development
            && !client.is_https()
            && client.addr.is_loopback()
            && client.host().is_none_or(is_loopback_host);
        !local_dev
    }

    fn attributes(&self, client: &ClientInfo) -> String {
        let mut out = String::from("; Path=/; HttpOnly; SameSite=Lax");
        let local = client.host().is_some_and(is_localhost);
        if let Some(domain) = self.domain.as_deref().filter(|_| !local) {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if self.secure(client) {
            out.push_str("; Secure");
        }
        out
    }

    pub fn set(&self, token: &str, client: &ClientInfo) -> Option<HeaderValue> {
        let value = format!(
            "{NAME}={token}; Max-Age={}{}",
            self.max_age.as_secs(),
            self.attributes(client)
        );
        HeaderValue::from_str(&value).ok()
    }

    /// Expires the cookie with the same Domain and Path it was set with.
    pub fn clear(&self, client: &ClientInfo) -> Option<HeaderValue> {
        let value = format!(
            "{NAME}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT{}",
            self.attributes(client)
        );
        HeaderValue::from_str(&value).ok()
    }
}

/// The session token from the request's `Cookie` headers.
pub fn read(req: &Parts) -> Option<&str> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::uri::Scheme;

    fn client(addr: &str, host: &str, https: bool) -> ClientInfo {
        let mut c = ClientInfo::direct(format!("{addr}:5000").parse().unwrap(), host.parse().ok());
        if https {
            c.scheme = Scheme::HTTPS;
        }
        c
    }

    fn policy(domain: Option<&str>) -> CookiePolicy {
        CookiePolicy {
            domain: domain.map(Into::into),
            max_age: Duration::from_secs(86400),
            development: true,
        }
    }

    #[test]
    fn local_development_over_http_is_not_secure() {
        let v = policy(None)
            .set("t", &client("127.0.0.1", "127.0.0.1:7777", false))
            .unwrap();
        assert_eq!(
            v,
            "platform_token=t; Max-Age=86400; Path=/; HttpOnly; SameSite=Lax"
        );
        let v = policy(Some("example.com"))
            .set("t", &client("127.0.0.1", "localhost:7777", false))
            .unwrap();
        assert!(!v.to_str().unwrap().contains("Domain"), "not for localhost");
    }

    #[test]
    fn https_and_remote_hosts_are_secure_with_domain() {
        let v = policy(Some("example.com"))
            .set("t", &client("127.0.0.1", "app.example.com", true))
            .unwrap();
        let v = v.to_str().unwrap();
        assert!(
            v.contains("; Secure") && v.contains("; Domain=example.com"),
            "{v}"
        );
        let remote = policy(None)
            .set("t", &client("10.1.2.3", "10.0.0.1:7777", false))
            .unwrap();
        assert!(remote.to_str().unwrap().ends_with("; Secure"));
        let mut prod = policy(None);
        prod.development = false;
        let v = prod
            .set("t", &client("127.0.0.1", "localhost:7777", false))
            .unwrap();
        assert!(v.to_str().unwrap().contains("; Secure"));
    }

    #[test]
    fn clearing_keeps_domain_and_path() {
        let v = policy(Some("example.com"))
            .clear(&client("10.1.2.3", "app.example.com", true))
            .unwrap();
        let v = v.to_str().unwrap();
        assert!(
            v.starts_with("platform_token=; Max-Age=0;")
                && v.contains("Domain=example.com; Secure"),
            "{v}"
        );
    }

    #[test]
    fn reads_the_cookie_among_others() {
        let req = http::Request::get("/")
            .header("cookie", "a=1; platform_token=abc.def; b=2")
            .body(())
            .unwrap();
        assert_eq!(read(&req.into_parts().0), Some("abc.def"));
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:80",
            "127.0.0.1:7",
            "[::1]:7",
            "::1",
            "a.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        assert!(!is_loopback_host("example.com:80"));
    }
}
