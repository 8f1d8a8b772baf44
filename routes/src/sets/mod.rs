//! Route sets, one module per former service's concern. Add a set by adding its module here.

pub mod admin;
pub mod api;
pub mod health;

use crate::table::RouteSet;

/// Every route set the server serves, in registration order.
pub const ALL: &[RouteSet] = &[health::SET, api::SET, admin::SET];
