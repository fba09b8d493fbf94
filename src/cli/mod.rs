//! The command line: arguments, the subcommands, what they print, their exit codes, and
//! logging.
//!
//! The top of the house: it may import every other room, and none imports it.

pub mod args;
pub mod commands;
pub mod exit;
pub(crate) mod output;
pub mod telemetry;
