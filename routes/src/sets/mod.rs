//! Route sets, one module per former service's concern. Add a set by adding its module here.

pub mod admin;
pub mod admin_db;
pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod collections;
pub mod health;
pub mod jobs;
pub mod models;
mod paging;
pub mod secrets;
pub mod storage;
pub mod tokens;
pub mod v1;
pub mod worker_workflows;
pub mod workflows;

use crate::table::RouteSet;

/// Every route set the server serves, in registration order.
pub const ALL: &[RouteSet] = &[
    health::SET,
    api::SET,
    tokens::SET,
    auth::SET,
    app::SET,
    admin::SET,
    storage::SET,
    assets::SET,
    admin_db::SET,
    collections::SET,
    secrets::SET,
    workflows::SET,
    worker_workflows::SET,
    jobs::SET,
    v1::SET,
    models::SET,
];
