//! The `hubsync` binary: one subcommand per role and per ops task.

fn main() {}
