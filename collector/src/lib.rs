//! The jitgate collector service (being built).
