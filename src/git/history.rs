//! (git helper fills this in)
