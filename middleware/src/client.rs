//! Who is on the other end of a request, as the rest of the server sees it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::uri::Scheme;
use http::HeaderValue;

/// The client as ProxyFix resolved it: the peer itself, or what a trusted proxy said about the
/// client. Downstream code reads only this, never the raw `X-Forwarded-*` headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (the peer's unless a trusted proxy forwarded another).
    pub addr: IpAddr,
    /// `http` or `https`, as the client spoke to the outermost proxy.
    pub scheme: Scheme,
    /// The host the client asked for (`Host` header or forwarded host), without validation of
    /// whether this server answers for it. A header value so that the usual case, the request's
    /// own `Host`, is shared rather than copied; read it with [`ClientInfo::host`].
    pub host: Option<HeaderValue>,
    /// The port the client connected to, when forwarded.
    pub port: Option<u16>,
    /// The path prefix a proxy mounted the server under (`""` when none).
    pub prefix: String,
    /// The TCP peer, kept for logs and for telling proxied requests from direct ones.
    pub peer: SocketAddr,
}

impl ClientInfo {
    /// A client that connected directly, with nothing forwarded.
    pub fn direct(peer: SocketAddr, host: Option<HeaderValue>) -> Self {
        ClientInfo {
            addr: peer.ip().to_canonical(),
            scheme: Scheme::HTTP,
            host,
            port: None,
            prefix: String::new(),
            peer,
        }
    }

    /// Used when a request reaches a layer without an accept loop in front (unit tests).
    pub fn unknown() -> Self {
        Self::direct(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)), None)
    }

    /// The host the client asked for, when it is text.
    pub fn host(&self) -> Option<&str> {
        self.host.as_ref().and_then(|h| h.to_str().ok())
    }

    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }
}

/// The [`ClientInfo`] of a request (its extensions), or [`ClientInfo::unknown`] when none was
/// recorded.
pub fn client_of(extensions: &http::Extensions) -> ClientInfo {
    crate::context::RequestContext::client_of(extensions)
        .cloned()
        .unwrap_or_else(ClientInfo::unknown)
}
