//! Reading variables: one lookup function (the process environment, or a map in tests) and typed
//! parsers whose errors name the variable.

use std::fmt::Display;
use std::str::FromStr;

use super::ConfigError;

pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The value of `var`, with empty values treated as unset (as env files often leave them).
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The first of `vars` that is set, with the name it was found under.
    pub fn first(&self, vars: &[&'static str]) -> Option<(&'static str, String)> {
        vars.iter().find_map(|&var| self.get(var).map(|v| (var, v)))
    }

    /// `var` parsed with `FromStr`; `expected` describes valid values in the error.
    pub fn parse<T>(&self, var: &'static str, expected: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(var)
            .map(|v| parse_value(var, &v, expected))
            .transpose()
    }
}

pub fn parse_value<T>(var: &'static str, value: &str, expected: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: Display,
{
    value
        .parse()
        .map_err(|e: T::Err| ConfigError::invalid(var, value, format!("{expected}: {e}")))
}
