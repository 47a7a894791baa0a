//! "Other clients run unmodified": HubSpot's official Python client drives the simulator
//! with only its host changed (`compat/python_client.py`).
//!
//! The client is installed once into a venv under the target dir (`CARGO_TARGET_TMPDIR`)
//! from PyPI. The test skips, loudly, only when python3 itself is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::start;

/// The pinned client version the script was written against.
const PYTHON_CLIENT: &str = "hubspot-api-client==12.0.0";

fn venv_python() -> Option<PathBuf> {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!(
            "\n!!! SKIPPED: python3 is not installed; the official-client compatibility test did not run !!!\n"
        );
        return None;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compat-venv");
    let python = venv.join("bin").join("python");
    let installed = Command::new(&python)
        .args(["-c", "import hubspot"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        let created = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 -m venv runs");
        assert!(
            created.success(),
            "python3 -m venv {} failed (is python3-venv installed?)",
            venv.display()
        );
        let pip = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                PYTHON_CLIENT,
            ])
            .status()
            .expect("pip runs");
        assert!(pip.success(), "pip install {PYTHON_CLIENT} failed");
    }
    Some(python)
}

#[tokio::test]
async fn hubspots_python_client_runs_unmodified() {
    let Some(python) = tokio::task::spawn_blocking(venv_python).await.unwrap() else {
        return;
    };
    let t = start().await;
    let line = serde_json::to_string(&t.portal).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compat")
        .join("python_client.py");
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(python)
            .arg(script)
            .arg(line)
            .output(),
    )
    .await
    .expect("the script finishes within a minute")
    .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    for step in [
        "oauth refresh",
        "list",
        "search",
        "properties",
        "owners",
        "associations v4 batch read",
    ] {
        assert!(
            stdout.contains(&format!("ok {step}")),
            "missing step {step}:\n{stdout}"
        );
    }
    // the client really went over HTTP to the simulator
    let counters = t.control().counters();
    assert!(counters.requests_of("oauth") >= 1);
    assert!(counters.requests_of("search") >= 1);
    assert!(counters.requests_of("owners") >= 1);
}
