//! The root module every plugin library exports.

use abi_stable::library::RootModule;
use abi_stable::package_version_strings;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RStr, RString, RVec};
use abi_stable::{declare_root_module_statics, StableAbi};

use super::types::{FfiHostBox, FfiPluginBox};

/// Name of the exported symbol. Tandem uses its own symbol (not
/// `abi_stable`'s default) so that plugin crates need no direct dependency on
/// `abi_stable`, and so that another program's `abi_stable` library is
/// reported as "not a Tandem plugin" rather than as a layout mismatch.
pub const PLUGIN_SYMBOL: &str = "TANDEM_PLUGIN_V0";
/// [`PLUGIN_SYMBOL`] with the trailing NUL that the dynamic loader wants.
pub const PLUGIN_SYMBOL_WITH_NUL: &str = "TANDEM_PLUGIN_V0\0";

/// The functions a plugin library exports. A prefix type: later SDK
/// versions may only append fields after `start`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The manifest as JSON (see [`crate::Manifest`]).
    pub manifest: extern "C" fn() -> RResult<RString, RString>,
    /// Validates a config section (JSON) without starting anything.
    pub check_config: extern "C" fn(config: RStr<'_>) -> RResult<(), RString>,
    /// Starts the plugin with its config section (JSON).
    #[sabi(last_prefix_field)]
    pub start: extern "C" fn(host: FfiHostBox, config: RStr<'_>) -> RResult<FfiPluginBox, RString>,
    /// What `tandem check` should say of a valid config section on this
    /// machine (see [`crate::Plugin::check_notes`]). Appended after
    /// `start`: a plugin built with an SDK before it lacks the field, and
    /// the host then has no notes from it (`None` from the accessor).
    #[sabi(missing_field(option))]
    pub check_notes: extern "C" fn(config: RStr<'_>) -> RResult<RVec<RString>, RString>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "tandem_plugin";
    const NAME: &'static str = "tandem_plugin";
    /// The SDK's own version: what the loader compares.
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
