//! Graph passes. Each is a set of rewrite rules applied through [`crate::rewrite`], and each
//! returns a report of what it changed.
