//! Shared pieces of Tonewall's benchmarks.
