//! PostgreSQL through sqlx: migrations, connections and their secrets, fields, records,
//! associations, owners, runs, chunks, watermarks and the typed views.
//!
//! Must not: call HubSpot or the broker.
