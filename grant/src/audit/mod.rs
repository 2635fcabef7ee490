//! Audit records: one per request the gate sees, and their OpenTelemetry log form — written
//! by one encoder (`text`), read by one set of rules (`otlp`) from fields either encoding
//! fills (`fields`, read from JSON by `json_read` without a `Value` tree).

pub mod fields;
pub mod json_read;
pub mod otlp;
pub mod record;
pub mod text;

pub use record::{AuditDecision, AuditRecord};

#[cfg(test)]
mod reference;
