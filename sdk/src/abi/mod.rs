//! The stable ABI between the host and a plugin library.
//!
//! Everything `abi_stable` lives here and nowhere else, so that replacing it
//! only ever touches this module. Plugin authors never name these types: the
//! [`export_plugin!`](crate::export_plugin) macro and [`crate::Host`] hide them.
//!
//! Evolution rules (see `docs/decisions/0001-stable-abi.md`):
//! - prefix types and `#[sabi_trait]`s grow only by adding at the end;
//! - rich data (manifest, payloads) crosses as JSON text, so adding a field to
//!   an event or to the manifest is never an ABI break.

mod adapter;
mod log_bridge;
mod root;
mod types;

pub use crate::host::await_reply;
pub use adapter::{level_from_u8, module_for, reply_from_fn};
pub use root::{PluginModule, PluginModuleRef, PLUGIN_SYMBOL, PLUGIN_SYMBOL_WITH_NUL};
pub use types::{
    EventData, FfiCommandError, FfiHost, FfiHostBox, FfiHost_TO, FfiPlugin, FfiPluginBox,
    FfiPlugin_TO, FfiReply, FfiReplyBox, FfiReply_TO, SharedEvent,
};

/// Re-exports used by the code that `export_plugin!` and the host expand to.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader, AbiHeaderRef, CheckTypeLayout, LibHeader, LibraryError,
        RawLibrary, RootModule, RootModuleResult,
    };
    pub use abi_stable::sabi_trait::TD_Opaque;
    pub use abi_stable::std_types::{RArc, RBox, RResult, RStr, RString};
}
