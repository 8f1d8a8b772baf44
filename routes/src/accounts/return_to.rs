//! `return_to` after login: only same-origin relative paths, so the login page cannot be used
//! as an open redirect.

/// Where the login form sends a user when nothing (valid) was asked for.
pub const DEFAULT: &str = "/app/";

/// `candidate` when it is a local absolute path (`/x`), else [`DEFAULT`]. Refuses `//host`,
/// `/\host` (browsers read `\` as `/`), schemes, and control characters.
pub fn sanitize(candidate: Option<&str>) -> String {
    let Some(path) = candidate.map(str::trim) else {
        return DEFAULT.into();
    };
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && !path.chars().any(|c| c.is_control() || c == '\\')
        && http::Uri::try_from(path).is_ok_and(|u| u.scheme().is_none() && u.host().is_none());
    if ok {
        path.into()
    } else {
        DEFAULT.into()
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn only_local_paths_pass() {
        assert_eq!(sanitize(Some("/app/account?x=1")), "/app/account?x=1");
        assert_eq!(sanitize(None), "/app/");
        for bad in [
            "//evil.example",
            "https://evil.example/",
            "/\\evil.example",
            "\\\\evil",
            "javascript:alert(1)",
            "evil.example",
            "/a\nb",
            "",
            "http:/x",
        ] {
            assert_eq!(sanitize(Some(bad)), "/app/", "{bad:?}");
        }
    }
}
