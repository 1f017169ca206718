//! Git fixture repositories made with the git CLI, with fixed dates (filled in by its helper).
