pub mod bus;
pub mod config;
pub mod plugins;
