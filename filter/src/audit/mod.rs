//! Audit streaming: one record per request the filter sees, allowed or denied, built when the
//! request completes and shipped in batches to the collector as OTLP/HTTP JSON logs.
//!
//! Each VM is one *stream*: it numbers its records 1, 2, 3 … with no gaps, so the collector
//! (which stores each (stream, sequence) once) can prove nothing between two records is
//! missing. Records wait in a bounded buffer until the collector acknowledges them; retries
//! back off with jitter. When the buffer is full the configured overflow policy decides:
//! `deny` (default) refuses new requests with 503 `audit_unavailable` rather than let through
//! a call that could not be recorded; `drop_oldest` keeps serving and counts what it drops.

pub mod buffer;
pub mod usage;

pub use buffer::{AuditBuffer, Overflow};
pub use usage::{Usage, UsageReader};
