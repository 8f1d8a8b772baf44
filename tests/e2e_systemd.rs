//! `systemd-analyze verify` on the units in `systemd/`. Fails (never skips) when
//! systemd-analyze is missing.

mod e2e_support;

use std::path::{Path, PathBuf};

use e2e_support::{repo_root, require_tool, BIN};

/// The unit files shipped in `systemd/`.
fn units() -> Vec<PathBuf> {
    let dir = repo_root().join("systemd");
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path());
    let mut units: Vec<PathBuf> = entries
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("service" | "socket")
            )
        })
        .collect();
    units.sort();
    units
}

/// A copy of `unit` in `dir` whose `ExecStart=`/`ExecReload=` binary is the one just built:
/// verify checks that the command exists, and the install path does not on a build machine.
fn with_built_binary(unit: &Path, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(unit).expect("read unit");
    let text = text.replace("/usr/local/bin/platform-server", BIN);
    let text = text.replace("/usr/bin/platform-server", BIN);
    let copy = dir.join(unit.file_name().expect("file name"));
    std::fs::write(&copy, text).expect("write unit copy");
    copy
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let tool = require_tool("systemd-analyze", "systemd");
    let units = units();
    let has = |ext: &str| {
        units
            .iter()
            .any(|u| u.extension().is_some_and(|e| e == ext))
    };
    assert!(
        has("service") && has("socket"),
        "systemd/ needs a .service and a .socket: {units:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let copies: Vec<PathBuf> = units
        .iter()
        .map(|u| with_built_binary(u, dir.path()))
        .collect();
    let out = std::process::Command::new(tool)
        .arg("verify")
        .arg("--man=no")
        .args(&copies)
        .output()
        .expect("run systemd-analyze");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{report}"
    );
    // Unknown keys and bad values are only warnings to systemd; treat them as failures.
    for line in report.lines() {
        let unit_line = copies.iter().any(|c| line.contains(&*c.to_string_lossy()));
        assert!(!unit_line, "systemd-analyze verify warned:\n{report}");
    }
}
