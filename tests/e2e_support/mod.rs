//! Helpers for the end-to-end tests: the release-shaped binary as a child process, a bounded
//! load generator, Caddy as a child process. Everything listens on 127.0.0.1 only.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod caddy;
pub mod load;
#[path = "../support/mod.rs"]
mod support;

use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

#[allow(unused_imports)] // each test crate uses a different part
pub use support::{client, command, parse_ready, Ready, Server, BIN};

/// Makes `fd` the child's descriptor 3 and sets `LISTEN_FDS=1`, as systemd would. `LISTEN_PID`
/// is left unset: the pid is unknown before exec, and the server accepts that.
pub fn pass_socket(cmd: &mut Command, fd: RawFd) {
    cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "http");
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd != 3 && libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // dup2 clears FD_CLOEXEC on the copy; when fd already is 3, clear it by hand.
            let flags = libc::fcntl(3, libc::F_GETFD);
            if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A free loopback port (bound and released; good enough for a child to bind right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The repository root (for `smoke-test.sh`, `systemd/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of `tool` on PATH; panics (the test fails, never skips) when it is missing, naming
/// the Debian package to install.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` is not installed: this end-to-end test needs it (apt-get install -y {package})")
        })
}
