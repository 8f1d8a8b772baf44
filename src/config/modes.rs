//! The enumerated settings: deployment environment, server mode, auth provider, log format.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Environment {
    #[default]
    Development,
    Production,
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "production" | "prod" => Ok(Environment::Production),
            other => Err(format!("unknown environment '{other}'")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerMode {
    /// One user on their own machine.
    #[default]
    Desktop,
    /// A team's server: every request authenticated.
    Private,
    /// Internet-facing: accounts from an external identity provider.
    Public,
}

impl ServerMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerMode::Desktop => "desktop",
            ServerMode::Private => "private",
            ServerMode::Public => "public",
        }
    }
}

impl FromStr for ServerMode {
    type Err = String;
    /// The error is the whole message the old server printed.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "desktop" => Ok(ServerMode::Desktop),
            "private" => Ok(ServerMode::Private),
            "public" => Ok(ServerMode::Public),
            _ => Err(format!(
                "Invalid server mode '{s}'. Expected one of: desktop, public, private."
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthProvider {
    /// No authentication at all.
    None,
    /// Single local user; the server token is accepted but not required.
    #[default]
    Local,
    /// The server token is required.
    Static,
    /// Accounts with per-user API tokens and browser sessions.
    MultiUser,
    /// Bearer JWTs from an external issuer (Supabase and alike).
    Jwt,
}

impl AuthProvider {
    /// Whether requests without valid credentials are refused.
    pub fn enforces(self) -> bool {
        matches!(
            self,
            AuthProvider::Static | AuthProvider::MultiUser | AuthProvider::Jwt
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthProvider::None => "none",
            AuthProvider::Local => "local",
            AuthProvider::Static => "static",
            AuthProvider::MultiUser => "multi_user",
            AuthProvider::Jwt => "jwt",
        }
    }
}

impl fmt::Display for AuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthProvider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(AuthProvider::None),
            "local" => Ok(AuthProvider::Local),
            "static" => Ok(AuthProvider::Static),
            "multi_user" | "multi-user" => Ok(AuthProvider::MultiUser),
            "jwt" | "supabase" => Ok(AuthProvider::Jwt),
            other => Err(format!("unknown provider '{other}'")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "pretty" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("unknown format '{other}'")),
        }
    }
}
