//! Benchmarks of fusebox: see `benches/`.
