//! The user agent over rsipstack's dialog layer: the [`agent::Agent`] and
//! its endpoint (`agent.rs`), Tandem's calls (`calls.rs`), what commands do
//! to them (`call_control.rs`), requests from the network (`incoming.rs`;
//! `completion.rs` reads a refused INVITE's transaction to its end)
//! and within dialogs (`dialog_events.rs`, `in_dialog.rs` for what they
//! carry, `body.rs` for their bodies), calls placed (`outgoing.rs`),
//! the last calls that ended (`history.rs`),
//! registration (`registration.rs`), its keep-alive (`keepalive.rs`) and
//! RFC 5626 outbound flow (`outbound.rs`),
//! MESSAGE sent (`message.rs`) and taken (`taking.rs`: 200 once the relay
//! has it), and what
//! an ICMP report ends (`unreachable.rs`).
//!
//! Every `impl Agent` block lives in this folder: the layers below
//! (`transport/`, `guard/`) know nothing of it.

pub mod agent;
pub mod body;
pub mod call_control;
pub mod calls;
pub mod checks;
pub mod completion;
pub mod dialog_events;
pub mod history;
pub mod identity;
pub mod in_dialog;
pub mod incoming;
pub mod keepalive;
pub mod message;
pub mod outbound;
pub mod outgoing;
pub mod registration;
pub mod taking;
pub mod unreachable;
