//! The official `openai` Python client against `/v1`, in front of each fake provider:
//! `models.list()`, `chat.completions.create(...)` with and without `stream=True`, and its
//! error classes. Fails (never skips) when Python or the `openai` package is missing.

mod common;
mod fakes;

use common::{Builder, TOKEN};

async fn run_client(provider: &str, upstream: &str, model: &str) {
    let b = Builder::static_token().env("CHAT_PROVIDER", provider);
    let server = match provider {
        "ollama" => b.env("OLLAMA_API_URL", upstream),
        _ => b
            .env("OPENAI_API_BASE", upstream)
            .env("OPENAI_API_KEY", fakes::openai::KEY),
    }
    .spawn();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/openai_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .env("BASE_URL", server.origin())
        .env("API_KEY", TOKEN)
        .env("MODEL", model)
        .output()
        .await
        .expect("python3 must be installed to run the openai client test");
    assert!(
        out.status.success(),
        "openai client against {provider} failed:\nstdout:\n{}\nstderr:\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.stderr(),
    );
    println!(
        "{provider}: {}",
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_against_an_ollama_provider() {
    let fake = fakes::ollama::start().await;
    run_client("ollama", &fake.url(), "llama3.2:latest").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_client_works_against_an_openai_compatible_provider() {
    let fake = fakes::openai::start().await;
    run_client("openai", &fake.base(), "gpt-test").await;
}
