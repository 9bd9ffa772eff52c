//! The library behind `v0-prune` and `v0-prune-daemon`.
//!
//! It is split along the flow of a prune: [`config`] finds the v0 project and
//! its settings, [`paths`] names every file we touch in the build directory,
//! [`prune`] is the engine (logs, merge queue, operations), [`platform`] holds
//! the Linux specifics the engine needs (who holds a file open, collapse-range,
//! leases), and [`demo`] builds realistic v0 projects for tests, benchmarks and
//! the dashboard's demo mode. The daemon is reached over a local socket:
//! [`socket`] says where it lives, [`protocol`] what is said on it, and
//! [`client`] is the side the CLI and the dashboard use. [`units`] and
//! [`words`] put bytes, durations and counts in words, the same everywhere.

// Build-script code (see the module): compiled here only to be tested.
#[cfg(test)]
pub mod build_info;
// Build-script code too: what the tests need from outside the repository.
pub mod client;
pub mod config;
pub mod demo;
pub mod files_view;
pub mod hash;
pub mod paths;
pub mod platform;
pub mod protocol;
pub mod prune;
pub mod socket;
#[cfg(test)]
pub mod test_needs;
pub mod units;
pub mod words;
