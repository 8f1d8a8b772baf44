//! Caddy as a child process with a generated Caddyfile on loopback ports: the admin API on its
//! own port so `caddy reload` can switch the upstream, automatic HTTPS off, nothing written
//! outside a temporary directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, require_tool};

/// How the site is served to clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    Http,
    /// `tls internal`: Caddy's own CA, whose root is at [`Caddy::root_ca`].
    Https,
}

pub struct Caddy {
    child: Child,
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub port: u16,
    admin: u16,
    site: Site,
}

impl Caddy {
    /// Starts Caddy proxying to `upstream`; fails the test when Caddy is not installed.
    pub fn start(site: Site, upstream: SocketAddr) -> Caddy {
        let bin = require_tool("caddy", "caddy");
        let dir = tempfile::tempdir().expect("tempdir");
        let (port, admin) = (free_port(), free_port());
        let mut caddy = Caddy {
            child: Command::new("true").spawn().expect("placeholder"),
            bin,
            dir,
            port,
            admin,
            site,
        };
        caddy.write_config(upstream);
        caddy.child = caddy
            .command(&["run", "--adapter", "caddyfile", "--config"])
            .arg(caddy.config())
            .stdout(Stdio::null())
            .stderr(log_file(&caddy.log()))
            .spawn()
            .expect("spawn caddy");
        caddy.wait_ready();
        caddy
    }

    /// Points the site at `upstream` with a graceful config reload through the admin API.
    pub fn reload(&self, upstream: SocketAddr) {
        self.write_config(upstream);
        let out = self
            .command(&["reload", "--adapter", "caddyfile", "--address"])
            .arg(format!("127.0.0.1:{}", self.admin))
            .arg("--config")
            .arg(self.config())
            .output()
            .expect("caddy reload");
        assert!(
            out.status.success(),
            "caddy reload failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn url(&self, path: &str) -> String {
        match self.site {
            Site::Http => format!("http://127.0.0.1:{}{path}", self.port),
            Site::Https => format!("https://localhost:{}{path}", self.port),
        }
    }

    /// The root certificate of Caddy's internal CA (PEM), for clients of an https site.
    pub fn root_ca(&self) -> Vec<u8> {
        let path = self
            .dir
            .path()
            .join("data/caddy/pki/authorities/local/root.crt");
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("Caddyfile")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        // Caddy keeps its CA and autosave under these; keep them in the temporary directory.
        cmd.env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .args(args);
        cmd
    }

    fn write_config(&self, upstream: SocketAddr) {
        let site = match self.site {
            Site::Http => format!("http://127.0.0.1:{}", self.port),
            Site::Https => format!("https://localhost:{}", self.port),
        };
        let tls = match self.site {
            Site::Http => "",
            Site::Https => "\ttls internal\n",
        };
        let text = format!(
            "{{\n\tadmin 127.0.0.1:{admin}\n\tauto_https disable_redirects\n\tskip_install_trust\n}}\n\n\
             {site} {{\n\tbind 127.0.0.1\n{tls}\treverse_proxy {upstream}\n}}\n",
            admin = self.admin,
        );
        std::fs::write(self.config(), text).expect("write Caddyfile");
    }

    /// For an https site, whether Caddy has issued the site certificate (it does so in the
    /// background after it starts listening; handshakes fail until then).
    fn certificate_ready(&self) -> bool {
        let issued = self
            .dir
            .path()
            .join("data/caddy/certificates/local/localhost/localhost.crt");
        self.site == Site::Http || issued.is_file()
    }

    /// Waits until the site listens (and, for https, has its certificate).
    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("caddy exited at start-up ({status}): {}", self.stderr());
            }
            let listening = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if listening && self.certificate_ready() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("caddy did not listen on {} within 20s", self.port);
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("caddy.log")
    }

    /// Caddy's own log (to a file: a pipe nobody reads would block it once full).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

fn log_file(path: &std::path::Path) -> Stdio {
    Stdio::from(std::fs::File::create(path).expect("caddy log file"))
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
