//! Who may do what: whose INVITE and MESSAGE are taken (`accept_from.rs`,
//! by the address a request came from, `origin.rs`), where the password
//! may go (`password_scope.rs`), digest challenges mended on the wire
//! before rsipstack reads them (`digest_wire.rs`), how many MESSAGEs one
//! source may send (`message_rate.rs`), and the refusals counted
//! for `sip.status` (`refusals.rs`).
//!
//! **Layer rule**: this layer imports nothing from `ua/` (checked by the
//! unit test in `layers.rs`); it may use `transport/`.

pub mod accept_from;
pub mod digest_wire;
pub mod message_rate;
pub mod origin;
pub mod password_scope;
pub mod refusals;
