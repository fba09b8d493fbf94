use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use redis_keeper::cli::args::Cli;
use redis_keeper::cli::exit::Exit;
use redis_keeper::cli::{commands, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format, "info");
    match commands::run(cli).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            let exit = e.exit();
            if exit != Exit::ClosedPipe {
                // Not eprintln: with stderr's reader gone too, the exit code still tells.
                writeln!(std::io::stderr(), "error: {e}").ok();
            }
            exit.into()
        }
    }
}
