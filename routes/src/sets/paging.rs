//! Query strings and cursor paging shared by the listing routes.

use std::collections::HashMap;

use crate::ctx::Ctx;
use crate::error::ApiError;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The query string's parameters (the last value wins); empty values count as absent.
pub fn query(ctx: &Ctx) -> HashMap<String, String> {
    let raw = ctx.parts.uri.query().unwrap_or_default();
    url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// `limit` (default 100, at most 1000) and `cursor` from the query.
pub fn page(q: &HashMap<String, String>) -> Result<(usize, Option<String>), ApiError> {
    let limit = match q.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::BadRequest("limit must be a positive integer".into()))?
            .min(MAX_LIMIT),
    };
    Ok((limit, q.get("cursor").cloned()))
}
