//! The planner role: discovers tables and fields, computes each table's window,
//! records the run and its chunks, and publishes one job per chunk.
