//! Realistic v0 projects on disk, for tests, benchmarks and the demo. (stub — being written)
