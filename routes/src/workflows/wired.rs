//! [`NodeServices`] over the server's own domains: the assets bucket for `storage.read` and
//! `storage.write` (the same keys as `/api/storage/{key}`), a user's collections for
//! `collection.query`, and the configured chat provider for `llm.chat`.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use platform_middleware::scope::Scope;

use http_body_util::{BodyExt, Limited};
use serde_json::{json, Value};

use super::services::{NodeServices, ServiceFuture};
use crate::chat::{Chat, ChatRequest};
use crate::collections::query;
use crate::storage::{Buckets, ByteStream, Key, StorageError};
use crate::store::Db;

/// The most a `storage.read` node reads: its text goes through the job's memory.
const READ_LIMIT: usize = 16 * 1024 * 1024;

pub struct Wired {
    pub db: Arc<Db>,
    pub storage: Arc<Buckets>,
    pub chat: Option<Arc<dyn ChatText>>,
}

/// One non-streamed completion, as `llm.chat` needs it.
pub trait ChatText: Send + Sync + 'static {
    fn complete<'a>(
        &'a self,
        model: &'a str,
        system: Option<&'a str>,
        prompt: &'a str,
    ) -> ServiceFuture<'a, String>;
}

/// The largest reply an `llm.chat` node takes from the provider.
const REPLY_LIMIT: usize = 4 * 1024 * 1024;

/// `llm.chat` through the same provider and client as `/v1/chat/completions`.
impl ChatText for Chat {
    fn complete<'a>(
        &'a self,
        model: &'a str,
        system: Option<&'a str>,
        prompt: &'a str,
    ) -> ServiceFuture<'a, String> {
        Box::pin(async move {
            let mut messages = Vec::new();
            if let Some(system) = system {
                messages.push(json!({"role": "system", "content": system}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            let body = json!({"model": model, "messages": messages, "stream": false});
            let req = ChatRequest::parse(body.to_string().as_bytes(), &self.settings.default_model)
                .map_err(|e| e.message)?;
            let res = Chat::complete(self, req).await.map_err(|e| e.message)?;
            let bytes = Limited::new(res.into_body(), REPLY_LIMIT)
                .collect()
                .await
                .map_err(|e| format!("reading the chat reply: {e}"))?
                .to_bytes();
            let reply: Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("the chat reply is not JSON: {e}"))?;
            reply
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| "the chat reply has no message content".to_owned())
        })
    }
}

fn key(raw: &str) -> Result<Key, String> {
    Key::parse(raw).map_err(|e| e.to_string())
}

fn storage_error(key: &str, e: StorageError) -> String {
    match e {
        StorageError::NotFound => format!("no stored object '{key}'"),
        other => other.to_string(),
    }
}

impl NodeServices for Wired {
    fn chat<'a>(
        &'a self,
        model: &'a str,
        system: Option<&'a str>,
        prompt: &'a str,
    ) -> ServiceFuture<'a, String> {
        match &self.chat {
            Some(chat) => chat.complete(model, system, prompt),
            None => Box::pin(async {
                Err("llm.chat is not available: no chat provider configured".to_owned())
            }),
        }
    }

    fn query_collection<'a>(
        &'a self,
        user: &'a str,
        collection: &'a str,
        text: &'a str,
        n_results: usize,
    ) -> ServiceFuture<'a, Vec<String>> {
        let (user, name, text) = (user.to_owned(), collection.to_owned(), text.to_owned());
        let db = self.db.clone();
        Box::pin(async move {
            let found = Scope::new(db)
                .run(move |c| query::search(c, &user, &name, &text, n_results, None))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok(found.documents)
        })
    }

    fn read_text<'a>(&'a self, _user: &'a str, raw: &'a str) -> ServiceFuture<'a, String> {
        Box::pin(async move {
            let object = self
                .storage
                .assets
                .get(&key(raw)?, None)
                .await
                .map_err(|e| storage_error(raw, e))?;
            let mut body = object.body;
            let mut buf = BytesMut::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                if buf.len() + chunk.len() > READ_LIMIT {
                    return Err(format!("'{raw}' is larger than {READ_LIMIT} bytes"));
                }
                buf.extend_from_slice(&chunk);
            }
            String::from_utf8(buf.to_vec()).map_err(|_| format!("'{raw}' is not UTF-8 text"))
        })
    }

    fn write_text<'a>(
        &'a self,
        _user: &'a str,
        raw: &'a str,
        text: &'a str,
    ) -> ServiceFuture<'a, ()> {
        Box::pin(async move {
            let key = key(raw)?;
            let bytes = Bytes::copy_from_slice(text.as_bytes());
            let mut body: ByteStream = futures_util::stream::iter([Ok(bytes)]).boxed();
            let limit = self.storage.max_upload;
            self.storage
                .assets
                .put(&key, &mut body, limit)
                .await
                .map_err(|e| storage_error(raw, e))?;
            Ok(())
        })
    }
}
