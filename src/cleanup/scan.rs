//! (cleanup helper fills this in)
