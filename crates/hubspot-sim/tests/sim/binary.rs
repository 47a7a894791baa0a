//! The binary prints one JSON line per portal, serves, and stops on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[tokio::test]
async fn the_binary_prints_credentials_and_serves_until_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-sim"))
        .args([
            "--seed",
            "1",
            "--addr",
            "127.0.0.1:0",
            "--portals",
            "2",
            "--records",
            "20",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<Value> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(2)
            .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
            .collect()
    })
    .await
    .unwrap();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "base_url",
                "hub_id",
                "client_id",
                "client_secret",
                "redirect_uri",
                "refresh_token",
                "scopes"
            ]
        );
    }
    assert_ne!(lines[0]["hub_id"], lines[1]["hub_id"]);
    let base = lines[0]["base_url"].as_str().unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/oauth/v1/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", lines[0]["client_id"].as_str().unwrap()),
            ("client_secret", lines[0]["client_secret"].as_str().unwrap()),
            ("refresh_token", lines[1]["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["hub_id"], lines[1]["hub_id"]);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Some(s) = child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        None
    })
    .await
    .unwrap();
    assert!(exit.expect("exits on SIGTERM").success());
}
