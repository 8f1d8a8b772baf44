//! Signals: the first SIGTERM or SIGINT drains; a second one exits at once.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves on the first SIGTERM or SIGINT, naming it.
pub async fn first_signal() -> std::io::Result<&'static str> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// After the first signal: exits the process on the next one, whatever is still in flight.
pub fn exit_on_second_signal() {
    tokio::spawn(async {
        if let Ok(name) = first_signal().await {
            tracing::warn!(
                signal = name,
                "second signal: exiting without waiting for the drain"
            );
            std::process::exit(130);
        }
    });
}
