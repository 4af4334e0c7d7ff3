//! Azure itself: the `azure_identity` credential and the tokens it hands out ([`auth`]), and the
//! Storage queue service `replay --enqueue` writes to ([`queue`]).

pub mod auth;
pub mod queue;
