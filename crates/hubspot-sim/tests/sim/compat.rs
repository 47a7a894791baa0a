//! "Other clients run unmodified": HubSpot's official Python and Node clients drive the simulator
//! with only their base URL changed (`compat/python_client.py`, `compat/node_client.mjs`).
//!
//! Each client is installed once under the target dir (`CARGO_TARGET_TMPDIR`) from its
//! registry. A test skips, loudly, only when python3 (or node/npm) itself is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::{TestSim, start};

fn compat_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("compat")
        .join(name)
}

/// Runs a client script with the portal's credentials line as its argument and checks
/// that it went through every step of the sync's API surface.
async fn run_client(t: &TestSim, mut command: tokio::process::Command, client: &str) {
    let line = serde_json::to_string(&t.portal).unwrap();
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        command.arg(line).output(),
    )
    .await
    .expect("the script finishes within a minute")
    .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{client} client failed:\n{stdout}\n{stderr}"
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
            "{client}: missing step {step}:\n{stdout}"
        );
    }
}

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
    let mut command = tokio::process::Command::new(python);
    command.arg(compat_script("python_client.py"));
    run_client(&t, command, "python").await;
    // the client really went over HTTP to the simulator
    let counters = t.control().counters();
    assert!(counters.requests_of("oauth") >= 1);
    assert!(counters.requests_of("search") >= 1);
    assert!(counters.requests_of("owners") >= 1);
}

/// The pinned Node client version the script was written against.
const NODE_CLIENT: &str = "@hubspot/api-client@14.0.1";

fn node_modules() -> Option<PathBuf> {
    let has = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has("node") || !has("npm") {
        eprintln!(
            "\n!!! SKIPPED: node or npm is not installed; the Node client compatibility test did not run !!!\n"
        );
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compat-node");
    let modules = dir.join("node_modules");
    if !modules
        .join("@hubspot")
        .join("api-client")
        .join("package.json")
        .exists()
    {
        std::fs::create_dir_all(&dir).expect("compat-node dir");
        std::fs::write(
            dir.join("package.json"),
            r#"{"name":"hubspot-sim-compat","private":true}"#,
        )
        .expect("package.json");
        let npm = Command::new("npm")
            .args([
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                NODE_CLIENT,
            ])
            .current_dir(&dir)
            .status()
            .expect("npm runs");
        assert!(npm.success(), "npm install {NODE_CLIENT} failed");
    }
    Some(modules)
}

#[tokio::test]
async fn hubspots_node_client_runs_unmodified() {
    let Some(modules) = tokio::task::spawn_blocking(node_modules).await.unwrap() else {
        return;
    };
    let t = start().await;
    let mut command = tokio::process::Command::new("node");
    command
        .arg(compat_script("node_client.mjs"))
        .env("HUBSPOT_CLIENT_DIR", modules);
    run_client(&t, command, "node").await;
    assert!(t.control().counters().requests_of("associations") >= 1);
}
