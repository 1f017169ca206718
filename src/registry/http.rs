//! (registry helper fills this in)
