//! `platform-server user ...`: manage accounts in the server's database from the shell.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

use clap::Subcommand;
use platform_middleware::auth::Role;
use platform_routes::accounts::users::{self, NewUser, UserError};
use platform_routes::accounts::{api_tokens, passwords};
use platform_routes::store;
use serde::Deserialize;

#[derive(Subcommand)]
pub enum UserAction {
    /// Create a user; the password is prompted for, or read from standard input.
    Add {
        name: String,
        /// Make the user an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password as one line from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// The name shown in the UI (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users.
    List,
    /// Set a user's password.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: their sessions end and their API tokens stop working.
    Disable { name: String },
    /// Delete a user with their tokens and sessions.
    Remove { name: String },
    /// Import users from the old multi-user file, keeping ids and token hashes.
    Import { file: std::path::PathBuf },
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    };
    // The operator at the shell may know better (a test box, a throwaway account): a short
    // password is only warned about here, while the account page refuses one.
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    if let Some(weak) = passwords::weakness(&password) {
        eprintln!("platform-server: warning: {weak}");
    }
    Ok(password)
}

fn hash(password: &str) -> Result<String, String> {
    passwords::hash(password).map_err(|e| e.to_string())
}

/// Runs `action` against the database at `db_path`; the message is printed by the caller.
pub fn run(db_path: &Path, action: UserAction) -> Result<String, String> {
    let db = store::open(db_path).map_err(|e| e.to_string())?;
    let conn = platform_middleware::scope::Pool::get(&db).map_err(|e| e.to_string())?;
    let c: &rusqlite::Connection = &conn;
    let err = |e: UserError| e.to_string();
    match action {
        UserAction::Add {
            name,
            admin,
            password_stdin,
            display_name,
        } => {
            let phc = hash(&read_password(password_stdin)?)?;
            let role = if admin { Role::Admin } else { Role::User };
            let user = users::add(
                c,
                NewUser {
                    id: None,
                    username: &name,
                    role,
                    password_hash: Some(phc),
                    created_at: None,
                },
            )
            .map_err(err)?;
            if let Some(display) = display_name {
                users::set_display_name(c, &user.username, &display).map_err(err)?;
            }
            Ok(format!(
                "added {} ({}, id {})",
                user.username,
                role.as_str(),
                user.id
            ))
        }
        UserAction::List => Ok(list(c).map_err(|e| e.to_string())?),
        UserAction::Passwd {
            name,
            password_stdin,
        } => {
            let phc = hash(&read_password(password_stdin)?)?;
            users::set_password(c, &name, &phc, None).map_err(err)?;
            Ok(format!("password of {name} changed"))
        }
        UserAction::Disable { name } => {
            users::disable(c, &name).map_err(err)?;
            Ok(format!("disabled {name}"))
        }
        UserAction::Remove { name } => {
            users::remove(c, &name).map_err(err)?;
            Ok(format!("removed {name}"))
        }
        UserAction::Import { file } => import(c, &file),
    }
}

fn list(c: &rusqlite::Connection) -> rusqlite::Result<String> {
    let mut out = format!(
        "{:<34} {:<24} {:<24} {:<6} {:<26} {}\n",
        "ID", "USERNAME", "DISPLAY NAME", "ROLE", "CREATED", "STATUS"
    );
    for u in users::list(c)? {
        let status = if u.is_active() { "active" } else { "disabled" };
        out.push_str(&format!(
            "{:<34} {:<24} {:<24} {:<6} {:<26} {}\n",
            u.id,
            u.username,
            u.display_name.as_deref().unwrap_or("-"),
            u.role.as_str(),
            u.created_at,
            status
        ));
    }
    Ok(out.trim_end().to_owned())
}

/// The old multi-user file: `users: {name: {user_id, username, role, token_hash, created_at}}`.
#[derive(Deserialize)]
struct OldFile {
    users: BTreeMap<String, OldUser>,
}

#[derive(Deserialize)]
struct OldUser {
    user_id: serde_yaml::Value,
    username: Option<String>,
    role: Option<String>,
    token_hash: Option<String>,
    created_at: Option<serde_yaml::Value>,
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn import(c: &rusqlite::Connection, file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let old: OldFile =
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut report = Vec::new();
    for (key, u) in old.users {
        let name = u.username.clone().unwrap_or_else(|| key.clone());
        let Some(id) = scalar(&u.user_id) else {
            report.push(format!("skipped {name}: no user_id"));
            continue;
        };
        if users::by_id(c, &id).map_err(|e| e.to_string())?.is_some() {
            report.push(format!("skipped {name}: id {id} already exists"));
            continue;
        }
        let role = users::role_from_str(u.role.as_deref().unwrap_or("user"));
        let new = NewUser {
            id: Some(id.clone()),
            username: &name,
            role,
            password_hash: None,
            created_at: u.created_at.as_ref().and_then(scalar),
        };
        match users::add(c, new) {
            Ok(_) => {}
            Err(e) => {
                report.push(format!("skipped {name}: {e}"));
                continue;
            }
        }
        let hash = u
            .token_hash
            .as_deref()
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()));
        if let Some(hash) = hash {
            api_tokens::insert_hash(c, &id, "imported", hash).map_err(|e| e.to_string())?;
        }
        report.push(format!(
            "imported {name} (id {id}, {}{})",
            role.as_str(),
            if hash.is_some() { ", token kept" } else { "" }
        ));
    }
    Ok(report.join("\n"))
}
