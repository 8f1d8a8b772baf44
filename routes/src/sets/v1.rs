//! The OpenAI-compatible API: `/v1/models` and `/v1/chat/completions` in front of the chat
//! provider. Errors answer in OpenAI's shape (`chat::OpenAiError`), not `{"detail"}`.

use http::Response;
use platform_middleware::body::Body;

use crate::chat::{ChatRequest, OpenAiError};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::reply;
use crate::table::{RouteSet, Routes};

pub const SET: RouteSet = RouteSet {
    name: "v1",
    register,
};

fn register(r: &mut Routes<'_>) {
    r.get("/v1/models", models);
    r.post("/v1/chat/completions", chat_completions);
}

/// Chat bodies carry whole conversations and inline images.
const CHAT_BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Every `/v1` error leaves here as an OpenAI error response.
fn openai(result: Result<Response<Body>, OpenAiError>) -> Result<Response<Body>, ApiError> {
    Ok(result.unwrap_or_else(OpenAiError::into_response))
}

async fn models(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    openai(
        async {
            let list = ctx.state.chat.models().await?;
            reply::ok(&list).map_err(OpenAiError::from)
        }
        .await,
    )
}

async fn chat_completions(mut ctx: Ctx) -> Result<Response<Body>, ApiError> {
    openai(
        async {
            let bytes = ctx.bytes_limited(CHAT_BODY_LIMIT).await?;
            let chat = ctx.state.chat.clone();
            let req = ChatRequest::parse(&bytes, &chat.settings.default_model)?;
            chat.complete(req).await
        }
        .await,
    )
}
