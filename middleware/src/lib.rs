//! The tower layers of platform-server, one type per layer, plus the request-scoped types they
//! leave in the request (one [`context::RequestContext`] extension). This crate knows nothing of
//! the store or the route table: it asks for what it needs through the traits in [`policy`],
//! [`auth`] and [`scope`].

pub mod admin;
pub mod auth;
pub mod blocking;
pub mod body;
pub mod client;
pub mod context;
pub mod csrf;
pub mod future;
pub mod incoming;
pub mod metrics;
pub mod panic;
pub mod policy;
pub mod preflight;
pub mod proxy_fix;
pub mod rate_limit;
pub mod request_id;
pub mod respond;
pub mod scope;
pub mod security_headers;
pub mod trace;

pub use body::{Body, BoxError};
pub use client::ClientInfo;
pub use context::RequestContext;
