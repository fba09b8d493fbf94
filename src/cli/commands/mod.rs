//! One module per subcommand; each returns the exit code it ends with.

mod balance;
mod check;
mod down;
mod keyslot;
mod plan;
mod run;
pub(crate) mod status;
mod up;

use std::path::Path;

use crate::cli::args::{Cli, Command, LogFormat};
use crate::cli::exit::{CommandError, Exit};
use crate::runtime::context::Context;
use crate::spec::secret::{self, Missing, SecretError};
use crate::spec::{self, ClusterSpec};

pub async fn run(cli: Cli) -> Result<Exit, CommandError> {
    let file = cli.file.as_path();
    let json_logs = cli.log_format == LogFormat::Json;
    match cli.command {
        Command::Up { timeout } => up::run(file, timeout, json_logs).await,
        Command::Run {
            resync,
            listen,
            listen_tls,
        } => run::run(file, resync, listen, listen_tls).await,
        Command::Plan => plan::run(file).await,
        Command::Balance { write } => balance::run(file, write).await,
        Command::Status { output } => status::run(file, output).await,
        Command::Check => check::run(file).await,
        Command::Keyslot { key } => keyslot::run(file, &key),
        Command::Down { volumes } => down::run(file, volumes).await,
    }
}

/// A context for commands that only look: a password file that does not exist yet is no
/// error (nothing can have been created with it), and nothing is written.
async fn read_only_context(file: &Path) -> Result<Context, CommandError> {
    context_for(spec::load(file)?).await
}

/// A read-only context for `spec`, as [`read_only_context`] makes one.
async fn context_for(spec: ClusterSpec) -> Result<Context, CommandError> {
    let password = match secret::resolve(&spec.auth, Missing::Fail) {
        Ok(p) => p,
        Err(SecretError::FileMissing(_)) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(Context::connect(spec, password).await?)
}
