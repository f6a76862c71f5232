//! SIP over TLS: the settings from the config (`settings.rs`), the door
//! that accepts (`accept.rs`), the connector that dials and hands accepted
//! streams to rsipstack (`connector.rs`), and the stream every TLS
//! connection is read through (`screened.rs`).

use std::time::Duration;

pub mod accept;
pub mod connector;
pub mod screened;
pub mod settings;

/// How long a TLS peer has to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
