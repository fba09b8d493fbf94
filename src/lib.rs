//! redis-keeper: a reconciling operator that keeps a Redis Cluster in Docker at the state
//! declared in cluster.toml.
//!
//! The layout follows the loop:
//! - [`spec`]: the desired state (cluster.toml, validated).
//! - [`observe`]: what Docker and Redis say now.
//! - [`plan`]: a pure function from (desired, observed) to actions.
//! - [`actions`]: the steps toward it, each kind with its stage, description and how it is
//!   applied through the Docker Engine API and Redis's own commands.
//! - [`reconcile`]: the loop that drives observe → plan → act until healthy.
//!
//! Around it: [`controller`] (`run`: triggers, conditions, reload), [`api`] and [`metrics`]
//! (what `run --listen` serves), [`tls`] (certificates), [`blueprint`] (what Docker objects
//! should look like), [`health`] (the checks), [`docker`] and [`node_client`] (the clients),
//! [`lock`] and [`lease`] (one operator per cluster, on one machine and across machines),
//! [`commands`] (the CLI's subcommands).

pub mod actions;
pub mod api;
pub mod blueprint;
pub mod cli;
pub mod commands;
pub mod context;
pub mod controller;
pub mod docker;
pub mod exit;
mod files;
mod health;
pub mod keyslot;
mod lease;
pub mod lock;
mod metrics;
mod node_client;
pub mod observe;
mod output;
pub mod plan;
mod progress;
mod reconcile;
mod report;
pub mod secret;
mod slot_moves;
pub mod spec;
pub mod status;
pub mod telemetry;
pub mod tls;
