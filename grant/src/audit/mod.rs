//! Audit records: one per request the gate sees, and their OpenTelemetry log form.

pub mod otlp;
pub mod record;

pub use record::{AuditDecision, AuditRecord};
