//! Access requests: their shape and states, validation of new ones, and the one-line
//! "what happens next" each state implies.

pub mod duration;
pub mod model;
pub mod new;

pub use model::{AccessRequest, Actor, Channel, HistoryEvent, Review, State, Transition};
pub use new::{NewRequest, ValidRequest};
