//! Who is on the other end of a request, as the rest of the server sees it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::uri::Scheme;

/// The TCP peer of the connection, inserted by the accept loop before the stack runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Marks a request that arrived over TLS the server terminated itself (`TLS_CERT`), so the
/// client's scheme is https before any forwarded header is considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectTls;

/// The client as ProxyFix resolved it: the peer itself, or what a trusted proxy said about the
/// client. Downstream code reads only this, never the raw `X-Forwarded-*` headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (the peer's unless a trusted proxy forwarded another).
    pub addr: IpAddr,
    /// `http` or `https`, as the client spoke to the outermost proxy.
    pub scheme: Scheme,
    /// The host the client asked for (`Host` header or forwarded host), without validation of
    /// whether this server answers for it.
    pub host: Option<String>,
    /// The port the client connected to, when forwarded.
    pub port: Option<u16>,
    /// The path prefix a proxy mounted the server under (`""` when none).
    pub prefix: String,
    /// The TCP peer, kept for logs and for telling proxied requests from direct ones.
    pub peer: SocketAddr,
}

impl ClientInfo {
    /// A client that connected directly, with nothing forwarded.
    pub fn direct(peer: SocketAddr, host: Option<String>) -> Self {
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

    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }
}

/// The [`ClientInfo`] of a request, or [`ClientInfo::unknown`] when none was recorded.
pub fn client_of<B>(req: &http::Request<B>) -> ClientInfo {
    req.extensions()
        .get::<ClientInfo>()
        .cloned()
        .unwrap_or_else(ClientInfo::unknown)
}
