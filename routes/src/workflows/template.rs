//! `text.template` rendering: minijinja over the node's named inputs. Printing an undefined
//! name is an error (a typo fails the node instead of rendering nothing), and a render is
//! bounded by fuel so a runaway loop fails instead of holding the job forever.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

/// Instructions one render may execute.
const FUEL: u64 = 2_000_000;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        env.set_fuel(Some(FUEL));
        env
    })
}

/// Parses `source`, reporting syntax errors; the names it reads from its context, sorted.
pub fn check(source: &str) -> Result<Vec<String>, String> {
    let template = env().template_from_str(source).map_err(|e| describe(&e))?;
    let mut vars: Vec<String> = template.undeclared_variables(false).into_iter().collect();
    vars.sort();
    Ok(vars)
}

pub fn render(source: &str, vars: &Map<String, Value>) -> Result<String, String> {
    env().render_str(source, vars).map_err(|e| describe(&e))
}

fn describe(e: &minijinja::Error) -> String {
    let mut text = e.kind().to_string();
    if let Some(detail) = e.detail() {
        text = format!("{text}: {detail}");
    }
    if let Some(line) = e.line() {
        text = format!("{text} (line {line})");
    }
    text
}
