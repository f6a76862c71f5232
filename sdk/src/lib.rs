//! # tandem-sdk
//!
//! The only crate a Tandem plugin depends on. Write a plain Rust type,
//! implement [`Plugin`], and export it:
//!
//! ```ignore
//! use tandem_sdk::{export_plugin, BoxError, Host, Manifest, Plugin};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     type Config = ();
//!     fn manifest() -> Manifest {
//!         Manifest::new("hello", env!("CARGO_PKG_VERSION")).description("says hello")
//!     }
//!     async fn start(host: Host, _config: ()) -> Result<Self, BoxError> {
//!         host.info("hello");
//!         Ok(Hello)
//!     }
//! }
//!
//! export_plugin!(Hello);
//! ```
//!
//! Build it as a `cdylib` and drop the library into a plugin folder. The SDK
//! gives the plugin its own async runtime, queues its events, catches its
//! panics (the host marks it failed and carries on), and checks at load time
//! that host and plugin were built against compatible SDK versions.
//! See `plugins/example/` for a complete, commented plugin.

pub mod abi;
pub mod commands;
pub mod events;
pub mod testing;
pub mod util;

mod command;
mod command_table;
mod error;
mod event;
mod host;
mod manifest;
mod open_enum;
mod payload;
mod plugin;
mod redact;

pub use command::{Command, CommandType};
pub use command_table::{manifest_of, CommandSpec, Commands, Handler};
pub use error::{BoxError, CommandError, ErrorKind};
pub use event::{topic_matches, Event, EventType};
pub use host::{Host, Level, DEFAULT_CALL_TIMEOUT};
pub use manifest::Manifest;
pub use payload::{Payload, PayloadError, Value};
pub use plugin::Plugin;
pub use redact::hide_values;

/// The async runtime the SDK runs plugins on. Use this re-export (not a
/// `tokio` of your own at another version): `tokio::spawn` only works on the
/// runtime instance the SDK created. Need more tokio features (`net`,
/// `io-util`, ...)? Add `tokio` with the same version and those features;
/// cargo unifies them into this one crate.
pub use tokio;

/// JSON, as payloads carry it (`tandem_sdk::serde_json::json!`).
pub use serde_json;

/// The version of this SDK. The host refuses plugins built against an
/// incompatible one (0.x: same minor; 1.x and later: same major, and not newer).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exports a [`Plugin`] type from a `cdylib`, so the Tandem host can load it.
/// Use it once per plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The library header the Tandem host looks up (see `tandem_sdk::abi`).
        #[no_mangle]
        pub static TANDEM_PLUGIN_V0: $crate::abi::__private::LibHeader = {
            extern "C" fn tandem_root_module() -> $crate::abi::__private::RootModuleResult {
                fn module() -> $crate::abi::PluginModuleRef {
                    $crate::abi::module_for::<$plugin>()
                }
                $crate::abi::__private::__call_root_module_loader(module)
            }
            unsafe {
                $crate::abi::__private::LibHeader::from_constructor::<$crate::abi::PluginModuleRef>(
                    tandem_root_module,
                    $crate::abi::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}
