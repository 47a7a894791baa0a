//! End-to-end tests across crates: real PostgreSQL, real RabbitMQ, the simulator over HTTP.
