//! The command line: `serve` (the default), `token show|rotate` and `user ...`.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use platform_server::config::{Config, Overrides};
use platform_server::serve::Drained;
use platform_server::users_cli::{self, UserAction};
use platform_server::{app, drain, listeners, logging, token};
use sd_notify::NotifyState;

#[derive(Parser)]
#[command(
    name = "platform-server",
    version,
    about = "API, worker routes, auth pages and UI on one port"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Show or replace the server token of AUTH_PROVIDER=static.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Replace the session signing key (the old one keeps verifying until its sessions expire).
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Manage user accounts (AUTH_PROVIDER=multi_user and the browser login).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Print the token in use and where it comes from.
    Show,
    /// Generate a new token and save it to the deployment config.
    Rotate,
}

#[derive(Subcommand)]
enum KeyAction {
    /// Retire the current signing key and generate a new one; restart the server to use it.
    Rotate,
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Address to bind (overrides HOST).
    #[arg(long)]
    host: Option<String>,
    /// Port to bind (overrides PORT).
    #[arg(long)]
    port: Option<u16>,
    /// ADDR:PORT to listen on; repeat for several (overrides LISTEN, HOST and PORT).
    #[arg(long = "listen", value_name = "ADDR")]
    listen: Vec<String>,
}

impl From<ServeArgs> for Overrides {
    fn from(a: ServeArgs) -> Self {
        Overrides {
            host: a.host,
            port: a.port,
            listen: a.listen,
        }
    }
}

fn main() -> ExitCode {
    fixed_mmap_threshold();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => serve(args.into()),
        Command::Token { action } => token_command(action),
        Command::User { action } => user_command(action),
        Command::Key {
            action: KeyAction::Rotate,
        } => key_rotate(),
    }
}

/// Large allocations (argon2's 19 MiB, big bodies) go straight to the kernel and back. glibc
/// otherwise raises its mmap threshold after the first such buffer is freed, after which every
/// thread of the blocking pool keeps buffers up to that size in its own arena: memory then grows
/// with the number of threads (gigabytes under ordinary load). Setting the threshold turns the
/// adjustment off.
fn fixed_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// Prints one line and returns the start-up failure exit code.
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("platform-server: error: {message}");
    ExitCode::from(2)
}

fn serve(flags: Overrides) -> ExitCode {
    // Before any thread exists: this edits the environment.
    let inherited = match listeners::take_inherited() {
        Ok(inherited) => inherited,
        Err(e) => return fail(e),
    };
    let config = match Config::from_process_env(&flags) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    let _log_guard = logging::init(config.log_format);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(run(config, inherited))
}

async fn run(config: Config, inherited: Vec<listeners::Inherited>) -> ExitCode {
    let (db_path, auth) = (config.db_path.clone(), config.auth);
    let mut running = match app::start(config, inherited).await {
        Ok(running) => running,
        Err(e) => return fail(e),
    };
    if let Some(t) = &running.token {
        println!("{}", token::banner(t));
    }
    tracing::info!(db = %db_path.display(), auth = auth.as_str(), routes = running.routes, "ready");
    let scheme = if running.https { "https" } else { "http" };
    for (name, addr) in &running.listeners {
        println!(
            "platform-server {} listening on {scheme}://{addr} ({name})",
            env!("CARGO_PKG_VERSION")
        );
    }
    if let Some(addr) = running.metrics {
        println!("metrics listening on http://{addr}");
    }
    let _ = sd_notify::notify(&[NotifyState::Ready, NotifyState::Status("serving")]);

    let signal = drain::first_signal().await;
    let _ = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status("draining")]);
    tracing::info!(
        signal = signal.as_deref().unwrap_or("?"),
        "shutting down: draining in-flight requests"
    );
    drain::exit_on_second_signal();
    running.drain();
    match running.wait().await {
        Ok(Drained::Clean) => {
            tracing::info!("drained; bye");
            ExitCode::SUCCESS
        }
        Ok(Drained::TimedOut(open)) => {
            tracing::warn!(
                connections = open,
                "DRAIN_TIMEOUT passed; closing the connections left"
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn token_command(action: TokenAction) -> ExitCode {
    let config = match Config::from_process_env(&Overrides::default()) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    let file = &config.deployment_config;
    match action {
        TokenAction::Show => {
            if let Some((var, value)) = &config.server_token {
                println!("{value}\n(from environment variable {var})");
                return ExitCode::SUCCESS;
            }
            match token::read(file) {
                Ok(Some(value)) => {
                    println!("{value}\n(from {})", file.display());
                    ExitCode::SUCCESS
                }
                Ok(None) => fail(format!(
                    "no server token in {}; one is generated on first start, or run 'platform-server token rotate'",
                    file.display()
                )),
                Err(e) => fail(e),
            }
        }
        TokenAction::Rotate => {
            let value = token::generate();
            if let Err(e) = token::write(file, &value) {
                return fail(e);
            }
            println!(
                "{value}\n(saved to {}; restart the server to use it)",
                file.display()
            );
            if let Some((var, _)) = &config.server_token {
                eprintln!(
                    "platform-server: warning: {var} is set and takes precedence over the file"
                );
            }
            ExitCode::SUCCESS
        }
    }
}

fn user_command(action: UserAction) -> ExitCode {
    let config = match Config::from_process_env(&Overrides::default()) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    match users_cli::run(&config.db_path, action) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn key_rotate() -> ExitCode {
    let config = match Config::from_process_env(&Overrides::default()) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    let path = &config.accounts.signing_key_path;
    match platform_routes::accounts::keys::rotate(path) {
        Ok(kid) => {
            println!(
                "new signing key {kid} in {}; restart the server to sign with it",
                path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
