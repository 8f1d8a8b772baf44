//! The response future of a layer that either answers itself or passes the request on: a named
//! type, so the future of a whole request is one value rather than a box per layer.

use futures_util::future::{self, Either, Ready};
use http::Response;

use crate::body::Body;

/// Either the layer's own response (a refusal) or the inner service's future.
pub type Gate<F, E> = Either<Ready<Result<Response<Body>, E>>, F>;

/// The layer answers with `res`.
pub fn answer<F, E>(res: Response<Body>) -> Gate<F, E> {
    Either::Left(future::ready(Ok(res)))
}

/// The inner service answers.
pub fn pass<F, E>(fut: F) -> Gate<F, E> {
    Either::Right(fut)
}
