//! quicket's runnable examples live in `examples/`.
