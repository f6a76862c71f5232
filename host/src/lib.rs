pub mod bus;
pub mod config;
pub mod lua;
pub mod plugins;
