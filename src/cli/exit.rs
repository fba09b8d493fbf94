//! Exit codes, the same for every subcommand, and the errors that map to them.

use std::process::ExitCode;

use crate::docker::DockerError;
use crate::runtime::reconcile::ReconcileError;
use crate::spec::secret::SecretError;
use crate::spec::SpecError;

/// 0 ok, 1 runtime failure or unhealthy, 2 invalid input, 3 plan has changes, 141 the reader
/// of stdout went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Unhealthy = 1,
    Invalid = 2,
    Changes = 3,
    /// What a shell reports for a program a closed pipe ended (128 + SIGPIPE), as for `ls` in
    /// `ls | head`; nothing is printed.
    ClosedPipe = 141,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(transparent)]
    Lock(#[from] crate::guard::lock::LockError),
    #[error(transparent)]
    Lease(#[from] crate::guard::lease::LeaseError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{} certificate problem(s); nothing was changed:\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Certificates(Vec<crate::tls::CertProblem>),
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
    #[error("{}: {reason}: fix the file and run `balance` again", file.display())]
    Balance {
        file: std::path::PathBuf,
        reason: String,
    },
}

impl CommandError {
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Spec(_)
            | CommandError::Certificates(_)
            | CommandError::Balance { .. } => Exit::Invalid,
            CommandError::Api(e) if e.is_invalid_input() => Exit::Invalid,
            CommandError::Reconcile(ReconcileError::UnsupportedServer(_)) => Exit::Invalid,
            CommandError::Secret(SecretError::Io { .. }) => Exit::Unhealthy,
            CommandError::Secret(_) => Exit::Invalid,
            CommandError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Exit::ClosedPipe
            }
            _ => Exit::Unhealthy,
        }
    }
}
