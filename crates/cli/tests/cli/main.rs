//! The `hubsync` binary as a user and an operator drive it: configuration errors,
//! `connect` (refresh token and browser flow), `tables`, `sync --wait`, `status`,
//! `requeue`, and the roles' graceful stop. Real PostgreSQL, real RabbitMQ, the
//! simulator over HTTP; each test has its own database, queues and simulator.

mod harness;

use std::collections::HashMap;
use std::time::Duration;

use hubspot_sim::{EndpointFamily, Fault, FaultPlan, FaultRate, Tier};
use hubsync_e2e::eventually;
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

use harness::{Harness, assert_no_secrets, small_sim};

#[tokio::test]
async fn bad_configuration_is_refused_before_anything_is_written() {
    let mut h = Harness::start(small_sim()).await;

    let run = h.run(&["worker", "--concurrency", "0"]).await;
    assert_ne!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("concurrency"), "{run:#?}");

    h.set("HUBSYNC__WORKER__CONCURENCY", "4");
    let run = h.run(&["status"]).await.failed_with(2);
    assert!(
        run.stderr.contains("concurency"),
        "a misspelt key is named: {run:#?}"
    );
    h.unset("HUBSYNC__WORKER__CONCURENCY");

    h.run(&["migrate"]).await.ok();
    let key = h.get("HUBSYNC__SECURITY__ENCRYPTION_KEY").unwrap();
    h.unset("HUBSYNC__SECURITY__ENCRYPTION_KEY");
    let run = h
        .run(&[
            "connect",
            "--refresh-token",
            &h.portal.refresh_token.clone(),
        ])
        .await
        .failed_with(1);
    assert!(
        run.stderr.contains("HUBSYNC__SECURITY__ENCRYPTION_KEY"),
        "{run:#?}"
    );
    h.set("HUBSYNC__SECURITY__ENCRYPTION_KEY", "c2hvcnQ=");
    let run = h
        .run(&[
            "connect",
            "--refresh-token",
            &h.portal.refresh_token.clone(),
        ])
        .await
        .failed_with(1);
    assert!(run.stderr.contains("encryption_key"), "{run:#?}");
    let connections: i64 = sqlx::query_scalar("SELECT count(*) FROM hubsync.connections")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(connections, 0, "nothing is written by a refused command");
    h.set("HUBSYNC__SECURITY__ENCRYPTION_KEY", &key);

    let run = h
        .run(&["tables", "--connection", "not-a-portal"])
        .await
        .failed_with(1);
    assert!(run.stderr.contains("not-a-portal"), "{run:#?}");
    // The prefix alone makes an `amqp` section without its URL: refused as settings.
    h.unset("HUBSYNC__AMQP__URL");
    let run = h.run(&["sync", "--connection", "1"]).await.failed_with(2);
    assert!(run.stderr.contains("HUBSYNC__AMQP__URL"), "{run:#?}");
    // No broker settings at all: refused by the command that needs them.
    h.unset("HUBSYNC__AMQP__PREFIX");
    let run = h.run(&["sync", "--connection", "1"]).await.failed_with(1);
    assert!(run.stderr.contains("HUBSYNC__AMQP__URL"), "{run:#?}");
    h.finish().await;
}

#[tokio::test]
async fn connect_with_a_refresh_token_then_manage_tables() {
    let h = Harness::start(small_sim()).await;
    h.run(&["migrate"]).await.ok();
    h.run(&["migrate"]).await.ok();
    let run = h
        .run(&["connect", "--refresh-token", &h.portal.refresh_token])
        .await
        .ok();
    assert!(
        run.stdout
            .contains(&format!("connected portal {}", h.hub())),
        "{run:#?}"
    );
    for table in [
        "deals",
        "companies",
        "contacts",
        "line_items",
        "goals",
        "cars",
    ] {
        assert!(run.stdout.contains(table), "{table} listed: {}", run.stdout);
    }
    assert!(!run.stdout.contains("not synced:"), "{}", run.stdout);

    // A valid query is stored; an invalid one is refused with the reason and changes
    // nothing.
    let query = r#"{"propertyName":"dealstage","operator":"IN","values":["contractsent"]}"#;
    h.run(&[
        "tables",
        "-c",
        &h.hub(),
        "set-query",
        "-t",
        "deals",
        "--query",
        query,
    ])
    .await
    .ok();
    let bad = r#"{"propertyName":"no_such_property","operator":"EQ","value":"x"}"#;
    let run = h
        .run(&[
            "tables",
            "-c",
            &h.hub(),
            "set-query",
            "-t",
            "deals",
            "--query",
            bad,
        ])
        .await
        .failed_with(1);
    assert!(run.stderr.contains("no_such_property"), "{run:#?}");
    let too_many = format!(
        r#"{{"filterGroups":[{{"filters":[{f},{f},{f},{f}]}}]}}"#,
        f = r#"{"propertyName":"amount","operator":"GT","value":"1"}"#
    );
    let run = h
        .run(&[
            "tables",
            "-c",
            &h.hub(),
            "set-query",
            "-t",
            "deals",
            "--query",
            &too_many,
        ])
        .await
        .failed_with(1);
    assert!(run.stderr.contains("at most 3"), "{run:#?}");
    let list = h.run(&["tables", "-c", &h.hub()]).await.ok();
    let deals_line = list
        .stdout
        .lines()
        .find(|line| line.starts_with("deals "))
        .expect("deals row");
    assert!(deals_line.contains("contractsent"), "{deals_line}");
    assert!(deals_line.contains("syncs"), "{deals_line}");

    h.run(&["tables", "-c", &h.hub(), "disable", "-t", "calls"])
        .await
        .ok();
    let list = h.run(&["tables", "-c", &h.hub()]).await.ok();
    assert!(
        list.stdout
            .lines()
            .any(|line| line.starts_with("calls ") && line.contains("disabled")),
        "{}",
        list.stdout
    );
    h.run(&["tables", "-c", &h.hub(), "enable", "-t", "calls"])
        .await
        .ok();
    h.run(&["tables", "-c", &h.hub(), "clear-query", "-t", "deals"])
        .await
        .ok();
    let list = h.run(&["tables", "-c", &h.hub()]).await.ok();
    assert!(!list.stdout.contains("contractsent"), "{}", list.stdout);
    h.finish().await;
}

/// The interactive install: the CLI prints HubSpot's install URL and listens on the
/// redirect URI; a "browser" opens the consent page and approves; the CLI exchanges
/// the code. The portal's tier lacks the optional scopes, so their tables are skipped
/// and `status` says why.
#[tokio::test]
async fn connect_through_the_install_flow_on_a_portal_without_optional_scopes() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let redirect = format!("http://localhost:{port}/oauth/callback");
    let mut sim = small_sim();
    sim.portal_tiers = vec![Tier::Free];
    sim.redirect_uris = vec![redirect.clone()];
    let h = Harness::start(sim).await;
    h.run(&["migrate"]).await.ok();

    let mut child = h
        .command(&["connect", "--timeout-secs", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let install_url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the install URL is printed")
            .unwrap()
            .expect("stdout open");
        if line.starts_with("http") {
            break Url::parse(&line).unwrap();
        }
    };
    let query: HashMap<String, String> = install_url.query_pairs().into_owned().collect();
    assert_eq!(query["redirect_uri"], redirect);
    assert!(query["scope"].contains("crm.objects.deals.read"));
    assert!(query["optional_scope"].contains("crm.objects.custom.read"));

    // The browser: consent page, Approve, then the redirect back to the CLI.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = browser
        .get(install_url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = format!("id=\"approve-{}\"", h.portal.hub_id);
    let anchor = &html[html.find(&marker).expect("approve link")..];
    let start = anchor.find("href=\"").unwrap() + 6;
    let href = anchor[start..start + anchor[start..].find('"').unwrap()].replace("&amp;", "&");
    let decision = browser
        .get(install_url.join(&href).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(decision.status(), 302);
    let back = decision.headers()["location"].to_str().unwrap().to_owned();
    let page = browser.get(&back).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("connected"));

    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("connect finishes")
        .unwrap();
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains(&format!("connected portal {}", h.hub())),
        "{rest}"
    );
    assert!(rest.contains("not synced:"), "{rest}");

    let run = h.run(&["status", "--connection", &h.hub()]).await.ok();
    assert!(
        run.stdout
            .contains("custom tables: scope crm.objects.custom.read not granted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|line| line.starts_with("goals ")
            && line.contains("skipped: scope crm.objects.goals.read not granted")),
        "{}",
        run.stdout
    );
    h.finish().await;
}

/// What an operator does: start roles, sync and wait, read the status; a second sync of
/// a table in flight is refused; a run that fails holds its watermark until `requeue`
/// puts its chunks back; SIGTERM stops the roles cleanly.
#[tokio::test]
async fn sync_status_refusal_failure_requeue_and_graceful_stop() {
    let h = Harness::start(small_sim()).await;
    h.run(&["migrate"]).await.ok();
    h.run(&["connect", "--refresh-token", &h.portal.refresh_token])
        .await
        .ok();

    // The roles log at debug level into files: no secret may reach them.
    let logs = std::env::temp_dir().join(format!("hubsync-cli-{}", h.queues.prefix));
    std::fs::create_dir_all(&logs).unwrap();
    let mut worker = h.spawn_logged(
        &["worker", "--concurrency", "2"],
        &logs.join("worker.log"),
        "debug",
    );
    let mut committer = h.spawn_logged(&["committer"], &logs.join("committer.log"), "debug");
    let mut printed = String::new();
    let run = h
        .run(&["sync", "--connection", &h.hub(), "--full", "--wait"])
        .await
        .ok();
    printed.push_str(&format!("{run:?}"));
    assert!(run.stdout.contains("deals"), "{run:#?}");
    let status = h.run(&["status", "--connection", &h.hub()]).await.ok();
    let deals = status
        .stdout
        .lines()
        .find(|line| line.starts_with("deals "))
        .expect("deals row")
        .to_owned();
    let expected = h
        .sim
        .control()
        .records(h.portal.hub_id, "deals", false)
        .unwrap()
        .len();
    assert_eq!(
        column(&status.stdout, &deals, "RECORDS"),
        expected.to_string(),
        "{expected} deals stored: {deals}"
    );
    assert!(deals.contains("full succeeded"), "{deals}");

    // Every search fails: the deals run fails and keeps its watermark.
    h.sim.control().set_faults(FaultPlan {
        rates: vec![FaultRate {
            family: Some(EndpointFamily::Search),
            hub_id: None,
            probability: 1.0,
            fault: Fault::Status {
                status: 503,
                body: Default::default(),
                retry_after_secs: None,
            },
        }],
        script: Vec::new(),
    });
    let watermark_before: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT watermark FROM hubsync.tables WHERE table_name = 'deals'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    let failed = h
        .run(&[
            "sync",
            "--connection",
            &h.hub(),
            "--table",
            "deals",
            "--wait",
        ])
        .await
        .failed_with(1);
    assert!(failed.stderr.contains("did not succeed"), "{failed:#?}");
    printed.push_str(&format!("{failed:?}"));
    let status = h.run(&["status", "--connection", &h.hub()]).await.ok();
    assert!(status.stdout.contains("failed chunks"), "{}", status.stdout);
    printed.push_str(&format!("{status:?}"));
    let watermark_after: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT watermark FROM hubsync.tables WHERE table_name = 'deals'")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert_eq!(
        watermark_before, watermark_after,
        "a failed run holds the watermark"
    );

    // HubSpot recovers; the operator requeues; the run completes and moves it.
    h.sim.control().clear_faults();
    let run = h.run(&["requeue", "--all-failed"]).await.ok();
    assert!(run.stdout.contains("requeued"), "{run:#?}");
    printed.push_str(&format!("{run:?}"));
    eventually(
        "the requeued run commits",
        Duration::from_secs(60),
        || async {
            let watermark: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
                "SELECT watermark FROM hubsync.tables WHERE table_name = 'deals'",
            )
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
            (watermark > watermark_before).then_some(())
        },
    )
    .await;

    // With no worker, a run stays in flight and a second one is refused.
    signal_term(&worker);
    let code = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("worker stops on SIGTERM")
        .unwrap();
    assert!(code.success(), "worker exits 0 on SIGTERM: {code:?}");
    let planned = h
        .run(&[
            "sync",
            "--connection",
            &h.hub(),
            "--table",
            "companies",
            "--table",
            "calls",
        ])
        .await
        .ok();
    let refused = h
        .run(&["sync", "--connection", &h.hub(), "--table", "companies"])
        .await
        .failed_with(3);
    assert!(
        refused.stdout.contains("already has a run in flight"),
        "{refused:#?}"
    );
    let run_of = |table: &str| -> String {
        let line = planned
            .stdout
            .lines()
            .find(|line| line.trim_start().starts_with(table))
            .unwrap_or_else(|| panic!("{table} planned: {}", planned.stdout));
        line.split_whitespace()
            .skip_while(|word| *word != "run")
            .nth(1)
            .expect("the run id is printed")
            .to_owned()
    };
    let (companies_run, calls_run) = (run_of("companies"), run_of("calls"));

    // Both jobs leave the work queue: the broker dead-letters the companies job on its
    // own (as past the queue's delivery limit: its chunk stays `pending`, not
    // `failed`), and the calls job is lost (a purged queue). `requeue --run` brings
    // back the first from the dead-letter queue and republishes the second.
    let names = h.queues.names();
    let work_queue = names.queue(hubsync_queue::Route::Chunks);
    for _ in 0..2 {
        let job = h
            .queues
            .take_one(&work_queue)
            .await
            .expect("the planned jobs wait in the queue");
        let job_of = hubsync_core::decode_job(&job).unwrap();
        if job_of.table.as_str() == "companies" {
            h.queues
                .put(
                    &names.dead_queue(hubsync_queue::Route::Chunks),
                    &job_of.chunk_id.to_string(),
                    &job,
                )
                .await;
        }
    }
    let run = h.run(&["requeue", "--run", &companies_run]).await.ok();
    assert!(
        run.stdout
            .contains("1 job(s) back from the dead-letter queue, 0 republished"),
        "{run:#?}"
    );
    let run = h.run(&["requeue", "--run", &calls_run]).await.ok();
    assert!(
        run.stdout
            .contains("0 job(s) back from the dead-letter queue, 1 republished"),
        "{run:#?}"
    );
    let mut worker = h.spawn(&["worker"]);
    let recent = h
        .run(&["status", "--connection", &h.hub(), "--runs", "2"])
        .await
        .ok();
    assert!(recent.stdout.contains(&companies_run), "{}", recent.stdout);
    eventually(
        "the revived and the republished jobs complete their runs",
        Duration::from_secs(60),
        || async {
            let finished: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM hubsync.runs WHERE id IN ($1::uuid, $2::uuid) AND status = 'succeeded'",
            )
            .bind(&companies_run)
            .bind(&calls_run)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
            (finished == 2).then_some(())
        },
    )
    .await;
    signal_term(&worker);
    assert!(worker.wait().await.unwrap().success());

    signal_term(&committer);
    let code = tokio::time::timeout(Duration::from_secs(30), committer.wait())
        .await
        .expect("committer stops on SIGTERM")
        .unwrap();
    assert!(code.success(), "committer exits 0 on SIGTERM: {code:?}");

    let secrets = h.secrets();
    assert_no_secrets("what the commands printed", &printed, &secrets);
    for log in ["worker.log", "committer.log"] {
        let text = std::fs::read_to_string(logs.join(log)).unwrap();
        assert!(
            text.contains("hubspot") || text.contains("chunk"),
            "{log} holds the role's debug logs: {text}"
        );
        assert_no_secrets(log, &text, &secrets);
        assert!(!text.contains('\u{1b}'), "{log}: colour codes in a file");
    }
    let _ = std::fs::remove_dir_all(&logs);
    h.finish().await;
}

fn signal_term(child: &tokio::process::Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The cell of `row` under `header` in a table `printed`: cells are left-aligned under
/// their header, so the cell starts where the header does and ends at the next blank.
fn column(printed: &str, row: &str, header: &str) -> String {
    let headers = printed
        .lines()
        .find(|line| line.starts_with("TABLE "))
        .expect("a table header");
    let at = headers.find(header).expect("the column");
    row.get(at..)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}
