//! `hubspot-sim`: serves simulated HubSpot portals and prints one JSON line of credentials
//! per portal on stdout, then serves until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use hubspot_sim::{BulkImport, Fault, FaultBody, FaultRate, Latency, SimConfig, Simulator};

#[derive(Debug, Parser)]
#[command(name = "hubspot-sim", about = "A HubSpot API simulator", version)]
struct Args {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:8089", env = "HUBSPOT_SIM_ADDR")]
    addr: SocketAddr,
    /// JSON file with a full SimConfig; flags given on the command line override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed of the portal generator.
    #[arg(long)]
    seed: Option<u64>,
    /// Records per table.
    #[arg(long)]
    records: Option<usize>,
    /// Number of portals.
    #[arg(long)]
    portals: Option<usize>,
    /// Requests per rolling 10-second window (HubSpot: 110).
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Search requests per second (HubSpot: 5).
    #[arg(long)]
    search_rate_limit: Option<u32>,
    /// Disable rate limiting (engine benchmarks).
    #[arg(long)]
    no_rate_limit: bool,
    /// Send Retry-After on 429s.
    #[arg(long)]
    retry_after: bool,
    /// Base latency of every endpoint, in ms.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Random extra latency, up to this many ms.
    #[arg(long)]
    jitter_ms: Option<u64>,
    /// Probability of a 5xx answer (HTML body) on any request.
    #[arg(long)]
    fault_rate: Option<f64>,
    /// Search index lag in ms.
    #[arg(long)]
    index_lag_ms: Option<u64>,
    /// Access-token lifetime in seconds (HubSpot: 1800).
    #[arg(long)]
    token_lifetime: Option<u64>,
    /// Longest accepted request URI before 414.
    #[arg(long)]
    max_url_length: Option<usize>,
    /// Adds a bulk-import cluster of this many contacts sharing one last-modified millisecond.
    #[arg(long)]
    bulk_import: Option<usize>,
}

fn config_from(args: &Args) -> Result<SimConfig, String> {
    let mut c = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("invalid config {}: {e}", path.display()))?
        }
        None => SimConfig::default(),
    };
    if let Some(v) = args.seed {
        c.seed = v;
    }
    if let Some(v) = args.records {
        c.records_per_table = v;
    }
    if let Some(v) = args.portals {
        c.portals = v;
    }
    if let Some(v) = args.rate_limit {
        c.rate_limits.max_per_interval = v;
    }
    if let Some(v) = args.search_rate_limit {
        c.rate_limits.search_per_second = v;
    }
    if args.no_rate_limit {
        c.rate_limits.enabled = false;
    }
    if args.retry_after {
        c.rate_limits.retry_after = true;
    }
    if args.latency_ms.is_some() || args.jitter_ms.is_some() {
        c.latency.default = Latency {
            base_ms: args.latency_ms.unwrap_or(0),
            jitter_ms: args.jitter_ms.unwrap_or(0),
        };
    }
    if let Some(p) = args.fault_rate {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("--fault-rate must be within 0..=1, got {p}"));
        }
        for status in [500, 502, 503, 504] {
            c.faults.rates.push(FaultRate {
                family: None,
                hub_id: None,
                probability: p / 4.0,
                fault: Fault::Status {
                    status,
                    body: FaultBody::Html,
                    retry_after_secs: None,
                },
            });
        }
    }
    if let Some(v) = args.index_lag_ms {
        c.index_lag_ms = v;
    }
    if let Some(v) = args.token_lifetime {
        c.token_lifetime_secs = v;
    }
    if let Some(v) = args.max_url_length {
        c.max_url_length = v;
    }
    if let Some(n) = args.bulk_import {
        c.generator.bulk_import = Some(BulkImport {
            table: "contacts".into(),
            count: n,
        });
    }
    Ok(c)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = match config_from(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hubspot-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Simulator::start_on(config, args.addr).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("hubspot-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    for portal in sim.portals() {
        match serde_json::to_string(&portal) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("hubspot-sim: {e}"),
        }
    }
    eprintln!(
        "hubspot-sim: serving on {} (control API: {}/_sim)",
        sim.base_url(),
        sim.base_url()
    );
    wait_for_signal().await;
    sim.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_file() {
        let path =
            std::env::temp_dir().join(format!("hubspot-sim-config-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"seed": 9, "records_per_table": 10, "latency": {"families": {"search": {"base_ms": 200, "jitter_ms": 50}}},
                "faults": {"script": [{"family": "list", "count": 2, "fault": {"kind": "status", "status": 503}}]}}"#,
        )
        .unwrap();
        let args = Args::parse_from([
            "hubspot-sim",
            "--config",
            path.to_str().unwrap(),
            "--seed",
            "3",
            "--no-rate-limit",
            "--fault-rate",
            "0.1",
        ]);
        let config = config_from(&args).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(config.seed, 3);
        assert_eq!(config.records_per_table, 10);
        assert!(!config.rate_limits.enabled);
        assert_eq!(config.faults.script.len(), 1);
        assert_eq!(config.faults.rates.len(), 4);
        assert_eq!(
            config
                .latency
                .for_family(hubspot_sim::EndpointFamily::Search)
                .base_ms,
            200
        );
        let bad = Args::parse_from(["hubspot-sim", "--fault-rate", "2"]);
        assert!(config_from(&bad).is_err());
    }
}
