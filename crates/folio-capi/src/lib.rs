//! Folio's C ABI (`libfolio`, `include/folio.h`): the five-function
//! pluggable key-value interface. This crate is a placeholder until the C ABI
//! issue lands; it exports nothing yet.
