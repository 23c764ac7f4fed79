//! The `milliwatt` program as a library: each command is a function returning a serializable
//! report, so tests and benchmarks call exactly what the binary runs.
pub mod dataset;
pub mod energy;
pub mod eval;
pub mod export;
pub mod inspect;
pub mod output;
pub mod quantize;
pub mod report;
pub mod run;
pub mod size;
