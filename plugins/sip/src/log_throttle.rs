//! When a repeated event is worth a log line above debug level. Shared by
//! every door and gate of the plugin (a leaf: any layer may use it).

/// Whether the `n`th of a kind of refusal or drop is logged above debug:
/// the 1st, 2nd, 4th, 8th..., so a flood of a million costs twenty lines.
/// Every door of the plugin (UDP, TCP, TLS, the call gates) logs this way.
pub(crate) fn worth_logging(n: u64) -> bool {
    n.is_power_of_two()
}
