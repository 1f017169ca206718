//! (filled in by its helper)
