//! Azure itself: the `azure_identity` credential and the tokens it hands out ([`auth`]), and the
//! Storage queue service `replay --enqueue` writes to ([`queue`]), and the table service that keeps
//! the alert state every instance shares ([`table`]).

pub mod auth;
pub mod queue;
pub mod table;
