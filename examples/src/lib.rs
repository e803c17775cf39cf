//! Runnable fusebox examples: see `examples/*.rs`.
