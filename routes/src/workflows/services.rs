//! What node kinds need from other domains (chat, collections, storage), behind one trait so
//! the engine stays independent of them and tests can pass fakes. The server wires
//! [`Unavailable`] until the real modules are connected: implement [`NodeServices`] over them
//! in one file and pass it to `Jobs::new` in `src/app.rs`.

use futures_util::future::{self, BoxFuture};

pub type ServiceFuture<'a, T> = BoxFuture<'a, Result<T, String>>;

/// Errors are plain messages: they become the failing node's error, shown to the user.
/// The futures are polled on the job's task: put file and SQLite work on a blocking thread
/// (`spawn_blocking`, `tokio::fs`), and let dropping a future cancel its work (a job cancel
/// or `NODE_TIMEOUT` drops it).
pub trait NodeServices: Send + Sync + 'static {
    /// One chat completion through the configured provider; the reply text.
    fn chat<'a>(
        &'a self,
        model: &'a str,
        system: Option<&'a str>,
        prompt: &'a str,
    ) -> ServiceFuture<'a, String>;

    /// The `n_results` documents of `user`'s collection `collection` nearest to `query`.
    fn query_collection<'a>(
        &'a self,
        user: &'a str,
        collection: &'a str,
        query: &'a str,
        n_results: usize,
    ) -> ServiceFuture<'a, Vec<String>>;

    /// The text stored under `key` in `user`'s storage.
    fn read_text<'a>(&'a self, user: &'a str, key: &'a str) -> ServiceFuture<'a, String>;

    /// Stores `text` under `key` in `user`'s storage.
    fn write_text<'a>(
        &'a self,
        user: &'a str,
        key: &'a str,
        text: &'a str,
    ) -> ServiceFuture<'a, ()>;
}

/// Answers every call with a clear error: the domain is not wired into workflows (yet).
pub struct Unavailable;

fn missing<'a, T: Send + 'a>(what: &str) -> ServiceFuture<'a, T> {
    Box::pin(future::ready(Err(what.to_owned())))
}

impl NodeServices for Unavailable {
    fn chat<'a>(&'a self, _: &'a str, _: Option<&'a str>, _: &'a str) -> ServiceFuture<'a, String> {
        missing("llm.chat is not available: no chat provider configured")
    }

    fn query_collection<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a str,
        _: usize,
    ) -> ServiceFuture<'a, Vec<String>> {
        missing("collection.query is not available: collections are not configured")
    }

    fn read_text<'a>(&'a self, _: &'a str, _: &'a str) -> ServiceFuture<'a, String> {
        missing("storage.read is not available: storage is not configured")
    }

    fn write_text<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> ServiceFuture<'a, ()> {
        missing("storage.write is not available: storage is not configured")
    }
}
