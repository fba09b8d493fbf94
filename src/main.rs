use std::process::ExitCode;

use clap::Parser;
use redis_keeper::cli::Cli;
use redis_keeper::{commands, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, "info");
    match commands::run(cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e}");
            e.exit().into()
        }
    }
}
