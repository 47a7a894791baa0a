//! The committer role: advances a table's watermark once every chunk of a run has
//! succeeded, exactly once.
