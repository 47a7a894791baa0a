//! `hubsync migrate`: applies the database migrations. sqlx holds an advisory lock while
//! it migrates, so an init job in every pod is safe.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::settings::Settings;
use crate::wiring;

pub async fn run(settings: &Settings) -> Result<ExitCode> {
    let pool = wiring::database(settings, "migrate", 1).await?;
    hubsync_store::migrate(&pool)
        .await
        .context("cannot apply the migrations")?;
    println!("database is up to date");
    Ok(ExitCode::SUCCESS)
}
