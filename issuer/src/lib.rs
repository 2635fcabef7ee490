//! The jitgate issuer service (being built).
