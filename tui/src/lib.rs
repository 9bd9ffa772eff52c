//! The library half of `v0-prune`: the live dashboard (`v0-prune top`), kept
//! in a library so that its tests, and the binary, reach it the same way.

pub mod top;
