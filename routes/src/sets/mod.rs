//! Route sets, one module per former service's concern. Add a set by adding its module here.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod health;
pub mod models;
pub mod tokens;
pub mod v1;

use crate::table::RouteSet;

/// Every route set the server serves, in registration order.
pub const ALL: &[RouteSet] = &[
    health::SET,
    api::SET,
    tokens::SET,
    auth::SET,
    app::SET,
    admin::SET,
    v1::SET,
    models::SET,
];
