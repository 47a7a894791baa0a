//! Generation and search benchmark: prints how long the generator takes for ~100,000
//! records (target: under 10 s in a release build) and how fast keyset search pages through
//! a 100,000-record table over HTTP with rate limits off.
//!
//! Run: `cargo bench -p hubspot-sim --bench generate`

use std::time::Instant;

use hubspot_sim::generator::{PortalSpec, generate};
use hubspot_sim::{BulkImport, GeneratorOptions, RateLimitConfig, SimConfig, Simulator};
use serde_json::{Value, json};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and then a smoke run keeps the test suite fast
    let full = std::env::args().any(|a| a == "--bench");
    let per_table = if full { 11_300 } else { 50 };
    let cluster = if full { 100_000 } else { 500 };
    let started = Instant::now();
    let data = generate(&PortalSpec {
        seed: 1,
        hub_id: 12_345_678,
        // ~100,000 records in all: 8 full tables, custom objects half, products a quarter,
        // goal targets a tenth
        records_per_table: per_table,
        options: GeneratorOptions::default(),
    });
    let records: usize = data
        .tables
        .iter()
        .map(|t| t.live.len() + t.archived.len())
        .sum();
    println!(
        "generate: {records} records with full values across {} tables in {:.2?}",
        data.tables.len(),
        started.elapsed()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(search_pages(cluster));
}

async fn search_pages(cluster: usize) {
    let config = SimConfig {
        records_per_table: 100,
        rate_limits: RateLimitConfig {
            enabled: false,
            ..RateLimitConfig::default()
        },
        generator: GeneratorOptions {
            bulk_import: Some(BulkImport {
                table: "contacts".into(),
                count: cluster,
            }),
            ..GeneratorOptions::default()
        },
        ..SimConfig::default()
    };
    let started = Instant::now();
    let sim = Simulator::start(config).await.expect("simulator");
    println!(
        "start: simulator with a {cluster}-contact import cluster in {:.2?}",
        started.elapsed()
    );
    let portal = sim.portals().remove(0);
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/oauth/v1/token", portal.base_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", portal.client_id.as_str()),
            ("client_secret", portal.client_secret.as_str()),
            ("refresh_token", portal.refresh_token.as_str()),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let started = Instant::now();
    let (mut last, mut seen, mut pages) = (0u64, 0usize, 0usize);
    loop {
        let body = json!({
            "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": last.to_string()}]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["lastmodifieddate"],
            "limit": 200,
        });
        let page: Value = http
            .post(format!(
                "{}/crm/v3/objects/contacts/search",
                portal.base_url
            ))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        let results = page["results"].as_array().cloned().unwrap_or_default();
        if results.is_empty() {
            break;
        }
        pages += 1;
        seen += results.len();
        last = results
            .last()
            .and_then(|r| r["id"].as_str())
            .and_then(|id| id.parse().ok())
            .unwrap_or(u64::MAX);
    }
    let elapsed = started.elapsed();
    println!(
        "search: keyset-paged {seen} contacts in {pages} pages in {elapsed:.2?} ({:.1} ms per page)",
        elapsed.as_secs_f64() * 1000.0 / pages.max(1) as f64
    );
    sim.shutdown().await;
}
