//! Stored files: `/storage/{bucket}/{*key}` (read), the worker's `/admin/storage/{bucket}/{*key}`
//! and `/api/storage/{*key}` (the assets bucket). Handlers only pick the bucket and key; the
//! storage module does the files and the HTTP semantics of reading them.

use std::sync::Arc;

use futures_util::TryStreamExt;
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use platform_middleware::body::{self, Body};
use serde_json::json;

use crate::ctx::{discard, Ctx};
use crate::error::ApiError;
use crate::reply;
use crate::storage::{serve, ByteStream, Key, Storage, StorageError};
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "storage",
    register,
};

fn register(r: &mut Routes<'_>) {
    let public = r.settings().public_storage;
    r.get("/storage/{bucket}/{*key}", |ctx| async move {
        let (storage, key) = target(&ctx, Bucket::Param)?;
        serve::respond(&*storage, &key, &ctx.parts).await
    })
    .public_if(public);

    r.get("/admin/storage/{bucket}/{*key}", |ctx| async move {
        let (storage, key) = target(&ctx, Bucket::Param)?;
        serve::respond(&*storage, &key, &ctx.parts).await
    });
    r.put("/admin/storage/{bucket}/{*key}", |ctx| {
        put(ctx, Bucket::Param, Shape::Worker)
    });
    r.delete("/admin/storage/{bucket}/{*key}", |ctx| {
        delete(ctx, Bucket::Param)
    });

    r.get("/api/storage/{*key}", |ctx| async move {
        let (storage, key) = target(&ctx, Bucket::Assets)?;
        serve::respond(&*storage, &key, &ctx.parts).await
    });
    r.put("/api/storage/{*key}", |ctx| {
        put(ctx, Bucket::Assets, Shape::Api)
    });
    r.delete("/api/storage/{*key}", |ctx| delete(ctx, Bucket::Assets));
}

/// Where the bucket comes from: the `{bucket}` parameter, or fixed to `assets`.
#[derive(Clone, Copy)]
enum Bucket {
    Param,
    Assets,
}

/// Which status a successful PUT answers: the worker's clients accept only 200.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Worker,
    Api,
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::NotFound,
            StorageError::TooLarge { limit } => ApiError::PayloadTooLarge {
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
            StorageError::Unsatisfiable { meta } => {
                ApiError::RangeNotSatisfiable { size: meta.size }
            }
            StorageError::Body(e) => ApiError::body_read(e),
            e @ (StorageError::Outside | StorageError::NotAFile) => {
                ApiError::BadRequest(e.to_string())
            }
            StorageError::Io(e) => ApiError::internal(e),
        }
    }
}

/// The bucket (404 when unknown) and the validated key (400 with the old servers' details).
fn target(ctx: &Ctx, bucket: Bucket) -> Result<(Arc<dyn Storage>, Key), ApiError> {
    let buckets = &ctx.state.storage;
    let storage = match bucket {
        Bucket::Assets => &buckets.assets,
        Bucket::Param => buckets
            .by_name(ctx.param("bucket").unwrap_or_default())
            .ok_or(ApiError::NotFound)?,
    };
    let key = Key::from_url(ctx.param("key").unwrap_or_default())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok((storage.clone(), key))
}

/// Streams the body to storage. Whatever `Content-Type` the client sent (the worker's clients
/// say `application/json` on raw bytes), the bytes are stored as they are.
async fn put(mut ctx: Ctx, bucket: Bucket, shape: Shape) -> Result<Response<Body>, ApiError> {
    let (storage, key) = target(&ctx, bucket)?;
    let limit = ctx.state.storage.max_upload;
    ctx.refuse_declared_over(limit).await?;
    let body = ctx.take_body()?;
    let mut stream: ByteStream = Box::pin(body.into_data_stream());
    let stored = match storage.put(&key, &mut stream, limit).await {
        Err(e @ StorageError::TooLarge { .. }) => {
            // Read (a bounded amount of) the rest so the client sees the 413.
            let rest = StreamBody::new(stream.map_ok(Frame::data));
            discard(body::boxed(rest)).await;
            return Err(e.into());
        }
        other => other?,
    };
    let status = if stored.created && shape == Shape::Api {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply::json(
        status,
        &json!({"key": key.as_str(), "size": stored.meta.size, "etag": stored.meta.etag}),
    )
}

async fn delete(ctx: Ctx, bucket: Bucket) -> Result<Response<Body>, ApiError> {
    let (storage, key) = target(&ctx, bucket)?;
    storage.delete(&key).await?;
    let mut res = Response::new(body::empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    Ok(res)
}
