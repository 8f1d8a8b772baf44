//! Names from requests and from the hub that become paths: checked before they touch the disk.

use std::path::{Component, Path, PathBuf};

/// `org/name` or `name`, as the hub allows them (huggingface_hub's `validate_repo_id`).
pub fn check_repo_id(id: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("Invalid repo_id '{id}': {why}"));
    if id.is_empty() || id.len() > 96 * 2 + 1 {
        return bad("expected 'org/name'");
    }
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() > 2 {
        return bad("expected 'org/name'");
    }
    for part in parts {
        if part.is_empty() || part.len() > 96 {
            return bad("each part must be 1-96 characters");
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return bad("only letters, digits, '-', '_' and '.' are allowed");
        }
        if part.starts_with(['-', '.']) || part.ends_with(['-', '.']) {
            return bad("a part may not start or end with '-' or '.'");
        }
        if part.contains("--") || part.contains("..") {
            return bad("'--' and '..' are not allowed");
        }
    }
    if id.ends_with(".git") {
        return bad("may not end with '.git'");
    }
    Ok(())
}

/// The cache folder of a model repository.
pub fn folder(repo_id: &str) -> String {
    format!("models--{}", repo_id.replace('/', "--"))
}

/// A branch, tag, `refs/pr/N` or commit hash.
pub fn check_revision(rev: &str) -> Result<(), String> {
    let ok = !rev.is_empty()
        && rev.len() <= 255
        && rev
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && rev
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..");
    if ok {
        Ok(())
    } else {
        Err(format!("Invalid revision '{rev}'"))
    }
}

/// A file path inside a repository as a relative path with only normal parts.
pub fn repo_file(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.contains(['\\', '\0']) || path.starts_with('/') {
        return None;
    }
    if path
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return None;
    }
    let p = Path::new(path);
    p.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| p.to_path_buf())
}

/// A blob name (the file's ETag) or a commit hash: one plain path part.
pub fn plain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        for ok in ["gpt2", "org/name", "Org-1/model_v2.5"] {
            assert!(check_repo_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b/c",
            "../x",
            "org/..",
            "org//x",
            "a--b/c",
            "x y",
            "/x",
            "x/",
            "org/n.git",
            "-a/b",
        ] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
        assert_eq!(folder("org/name"), "models--org--name");
    }

    #[test]
    fn paths_and_names() {
        assert!(repo_file("a/b.txt").is_some());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a\\b"] {
            assert!(repo_file(bad).is_none(), "{bad}");
        }
        assert!(plain("0123abcd") && !plain("../x") && !plain(".x") && !plain("a/b"));
        assert!(check_revision("refs/pr/1").is_ok() && check_revision("main").is_ok());
        assert!(check_revision("../x").is_err() && check_revision("a//b").is_err());
    }
}
