//! Test harness: temp dirs, the berth binary, the real registry, git fixtures.
