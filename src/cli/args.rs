//! The command line: what each subcommand takes.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "redis-keeper",
    version,
    about = "Keeps a Redis Cluster in Docker at the state declared in cluster.toml",
    after_help = "Exit codes: 0 ok, 1 runtime failure or unhealthy, 2 invalid input, 3 plan has changes."
)]
pub struct Cli {
    /// The cluster file (the desired state).
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "cluster.toml"
    )]
    pub(crate) file: PathBuf,
    /// How log lines are written.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Bring the cluster to cluster.toml and exit 0 once it is healthy.
    Up {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Keep the cluster at cluster.toml: bring it up, then repair every drift until stopped.
    Run {
        /// Seconds between passes when Docker reports nothing (Redis-level drift).
        #[arg(long, default_value_t = 5.0, value_parser = parse_resync)]
        resync: f64,
        /// Serve the inspection API, metrics and dashboard here (`--listen` alone:
        /// 127.0.0.1:8000; any other address only when given).
        #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:8000")]
        listen: Option<std::net::SocketAddr>,
        /// With [tls]: also serve the API over HTTPS here (default: the --listen address on
        /// port 8443), with a certificate from the cluster's CA.
        #[arg(long, requires = "listen")]
        listen_tls: Option<std::net::SocketAddr>,
    },
    /// Print what `up` would do; exit 0 when in sync, 3 when there is something to do.
    Plan,
    /// Even slot ranges for the declared masters, moving the fewest slots: shown, and with
    /// --write written into cluster.toml for review; exit 0 when already even, 3 when not
    /// written yet.
    Balance {
        /// Write the ranges into the cluster file (its comments and layout kept).
        #[arg(long)]
        write: bool,
    },
    /// Show every node and the slot map.
    Status {
        #[arg(short = 'o', long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The checks of `redis-cli --cluster check`; exit 0 healthy, 1 not.
    Check,
    /// The hash slot of KEY and the node that owns it.
    Keyslot { key: String },
    /// Remove the cluster's containers and network (volumes too with --volumes).
    Down {
        /// Also remove the data volumes: node identities and data are lost.
        #[arg(long)]
        volumes: bool,
    },
}

fn parse_resync(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=3600.0).contains(&s) => Ok(s),
        _ => Err("give seconds from 0.1 to 3600".into()),
    }
}
