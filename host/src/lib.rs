//! # tandem
//!
//! The Tandem host: loads plugins through the stable ABI of `tandem-sdk`,
//! routes their events and commands over the [`bus`], and runs the Lua
//! policy rules of [`lua`]. The `tandem` binary is a thin CLI over this
//! library; integration tests and benchmarks use the library directly.

pub mod bus;
pub mod check;
pub mod config;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod folders;
pub mod logging;
pub mod lua;
pub mod plugins;
pub mod script_test;
