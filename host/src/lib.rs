//! # tandem
//!
//! The Tandem host: loads plugins through the stable ABI of `tandem-sdk`,
//! routes their events and commands over the [`bus`], and runs the Lua
//! policy rules of [`lua`]. The `tandem` binary is a thin CLI over this
//! library; integration tests and benchmarks use the library directly.

/// Every event is allocated on the publishing plugin's thread and freed on
/// the receiving one's; glibc's malloc spent a third of the bus's time on
/// that hand-over, mimalloc frees to the owning page without a lock. Its
/// transparent huge pages are off (`no_thp`): with them the idle host's
/// RSS doubled. Figures: docs/decisions/0014-allocator.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod bus;
pub mod check;
pub mod config;
pub mod connect_check;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod folders;
pub mod init;
pub mod launch;
pub mod logging;
pub mod lua;
pub mod plugins;
pub mod script_test;
