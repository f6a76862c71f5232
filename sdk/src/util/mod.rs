//! What every plugin needs and should not copy: maps bounded against
//! peers who invent keys, back-off between attempts, log throttling,
//! UTC times as text, small JSON files kept across restarts.
//! Plain Rust, outside the ABI: changing it never breaks a built plugin.

pub mod backoff;
pub mod bounded;
pub mod state_file;
pub mod throttle;
pub mod utc;

pub use backoff::Backoff;
pub use bounded::BoundedMap;
pub use throttle::{worth_logging, LogThrottle, Throttle};
