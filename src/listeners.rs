//! The sockets the server accepts on: addresses it binds itself, plus sockets handed over by
//! systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`), which stay open in
//! systemd across restarts so no connection is refused while the process is replaced.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid {var}={value:?}: expected a number")]
    BadEnv { var: &'static str, value: String },
    #[error("inherited file descriptor {fd} ({name}) is not a listening TCP socket: {source}")]
    NotASocket {
        fd: RawFd,
        name: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("nothing to listen on: no address configured and no socket passed by systemd")]
    Nothing,
}

/// A socket passed by the service manager, with its `FileDescriptorName=`.
#[derive(Debug)]
pub struct Inherited {
    pub listener: std::net::TcpListener,
    pub name: String,
}

/// Takes the sockets systemd passed and removes the variables so children do not see them.
/// Must run before any thread is spawned (it edits the environment). `LISTEN_PID` must match
/// this process when set; a harness that only sets `LISTEN_FDS` is trusted too.
pub fn take_inherited() -> Result<Vec<Inherited>, ListenError> {
    let fds = std::env::var("LISTEN_FDS").ok();
    let pid = std::env::var("LISTEN_PID").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    for var in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
        std::env::remove_var(var);
    }
    let Some(fds) = fds else {
        return Ok(Vec::new());
    };
    let count: RawFd = fds.trim().parse().map_err(|_| ListenError::BadEnv {
        var: "LISTEN_FDS",
        value: fds.clone(),
    })?;
    if let Some(pid) = pid {
        let pid: u32 = pid.trim().parse().map_err(|_| ListenError::BadEnv {
            var: "LISTEN_PID",
            value: pid.clone(),
        })?;
        if pid != std::process::id() {
            tracing::warn!(
                listen_pid = pid,
                "LISTEN_PID is another process's; ignoring passed sockets"
            );
            return Ok(Vec::new());
        }
    }
    let names: Vec<String> = names
        .map(|n| n.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    (0..count)
        .map(|i| {
            let fd = FIRST_FD + i;
            let name = names
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| format!("fd{fd}"));
            adopt(fd, name)
        })
        .collect()
}

fn adopt(fd: RawFd, name: String) -> Result<Inherited, ListenError> {
    let fail = |source| ListenError::NotASocket {
        fd,
        name: name.clone(),
        source,
    };
    // Check the descriptor is open before anything owns it: dropping an owner of a closed fd
    // aborts the process.
    set_cloexec(fd).map_err(fail)?;
    // SAFETY: systemd's protocol hands this process descriptors FIRST_FD.. FIRST_FD+LISTEN_FDS-1,
    // the fd is open (checked above) and nothing else has claimed it (this runs first in main).
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    listener.local_addr().map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    Ok(Inherited { listener, name })
}

fn set_cloexec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: plain fcntl calls on a descriptor this process owns.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A socket being served.
#[derive(Debug)]
pub struct Listener {
    pub inner: tokio::net::TcpListener,
    pub name: String,
    pub addr: SocketAddr,
}

/// Adopts inherited sockets and binds `addrs`; with sockets inherited, the default address is
/// left to them (`explicit` false) and configured addresses they already cover are skipped.
pub fn bind_all(
    addrs: &[SocketAddr],
    explicit: bool,
    inherited: Vec<Inherited>,
) -> Result<Vec<Listener>, ListenError> {
    let mut out = Vec::new();
    for Inherited { listener, name } in inherited {
        let addr = listener
            .local_addr()
            .map_err(|source| ListenError::NotASocket {
                fd: -1,
                name: name.clone(),
                source,
            })?;
        let inner = tokio::net::TcpListener::from_std(listener)
            .map_err(|source| ListenError::Bind { addr, source })?;
        out.push(Listener { inner, name, addr });
    }
    if out.is_empty() || explicit {
        for &addr in addrs {
            if out.iter().any(|l| l.addr == addr) {
                continue;
            }
            let std = std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|source| ListenError::Bind { addr, source })?;
            let inner = tokio::net::TcpListener::from_std(std)
                .map_err(|source| ListenError::Bind { addr, source })?;
            let addr = inner
                .local_addr()
                .map_err(|source| ListenError::Bind { addr, source })?;
            out.push(Listener {
                inner,
                name: "http".into(),
                addr,
            });
        }
    }
    if out.is_empty() {
        return Err(ListenError::Nothing);
    }
    Ok(out)
}
