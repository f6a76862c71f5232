//! Everything before rsipstack parses a message: the UDP, TCP and TLS
//! doors, the screen every request passes, the framing of streams, the cap
//! on connections, and the ICMP errors the kernel reports.
//!
//! **Layer rule**: this layer imports nothing from `guard/` or `ua/` (the
//! unit test `layers::transport_and_guard_stay_below_the_user_agent` checks
//! it). What it learns that the user agent must act on (an ICMP report)
//! leaves through a channel the user agent reads.
//!
//! rsipstack's own doors accept any number of connections, wait for a TLS
//! handshake for ever, drop a datagram its parser refuses unanswered and
//! close a stream on the first message it cannot parse; so the plugin owns
//! the sockets and hands rsipstack only what it can use:
//!
//! - `udp.rs`: the UDP socket handed to rsipstack, screening each datagram.
//! - `tcp.rs`, `tls/`: the stream doors (`stream.rs` is what they share),
//!   each message framed by `framing.rs` and screened.
//! - `screen.rs`: the verdict on one message (pass, answer, drop).
//! - `lenient.rs`: the pre-pass before it, for what RFC 3261 allows and
//!   rsip's parser misreads (folded lines, `; tag = x`, RFC 2543 From).
//! - `connections.rs`: `max_connections` and `max_connections_per_source`.
//! - `open.rs`: the doors `transports` names, bound at start.
//! - `listen.rs`: our listeners, as rsipstack must know them, bound one
//!   per family for a dual-stack `listen`.
//! - `family.rs`: our addresses per transport and family, and a request's
//!   Via put in the family of where it goes.
//! - `icmp.rs`: `IP_RECVERR` and the reports it gives.
//! - `route.rs`: which of our addresses a peer is told, for a wildcard
//!   socket the one whose route reaches it.
//! - `public.rs`: the address the registrar saw, for peers beyond a NAT.
//! - `received.rs`: an IPv6 sender's `received` as RFC 3261 writes it
//!   (rsipstack brackets it and then cannot read it back).
//! - `counters.rs`: what the doors did, for `sip.status`.

pub mod connections;
pub mod counters;
pub mod family;
pub mod framing;
pub mod icmp;
pub mod lenient;
pub mod listen;
pub mod open;
pub mod public;
pub mod received;
pub mod route;
pub mod screen;
pub mod stream;
pub mod tcp;
pub mod tls;
pub mod udp;
