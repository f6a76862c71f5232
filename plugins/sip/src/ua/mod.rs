//! The user agent over rsipstack's dialog layer: the [`agent::Agent`] and
//! its endpoint (`agent.rs`), Tandem's calls (`calls.rs`), what commands do
//! to them (`call_control.rs`), requests from the network (`incoming.rs`; `uas.rs` what every new
//! one gets first: who sent it, a refusal seen through, its dialog;
//! `completion.rs` reads a refused INVITE's transaction to its end)
//! and within dialogs (`dialog_events.rs`, `in_dialog.rs` for what they
//! carry, `body.rs` for their bodies), calls placed (`outgoing.rs`),
//! the last calls that ended (`history.rs`),
//! registration (`registration.rs`), its keep-alive (`keepalive.rs`) and
//! RFC 5626 outbound flow (`outbound.rs`),
//! SIP sessions that are not calls (`sessions.rs`, the table beside the
//! calls; `session_incoming.rs`, `session_offer.rs`, `session_control.rs`:
//! an MSRP file offer's INVITE, its SDP carried as text, decision 0066;
//! `call_stream.rs`, `call_stream_offer.rs`: one added to a call by
//! re-INVITE, decision 0072),
//! MESSAGE sent (`message.rs`) and taken (`taking.rs`: 200 once the relay
//! has it), and what
//! an ICMP report ends (`unreachable.rs`).
//!
//! Every `impl Agent` block lives in this folder: the layers below
//! (`transport/`, `guard/`) know nothing of it.

pub mod agent;
pub mod body;
pub mod call_control;
pub mod call_stream;
pub mod call_stream_offer;
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
pub mod session_control;
pub mod session_incoming;
pub mod session_offer;
pub mod sessions;
pub mod taking;
pub mod uas;
pub mod unreachable;
