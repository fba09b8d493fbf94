//! The cluster password: where it comes from, and how it is kept out of logs.

use std::fmt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};

use crate::spec::AuthSpec;

/// A password. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Compares in time independent of where the inputs differ, so a guess cannot be
    /// refined by timing the answer.
    pub(crate) fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set (or is empty): export it, or use password_file in [cluster]")]
    EnvMissing(String),
    #[error("password file {} does not exist yet: run `redis-keeper up` to create it", .0.display())]
    FileMissing(PathBuf),
    #[error("password file {} is empty: put the password in it, or delete it to have one generated", .0.display())]
    FileEmpty(PathBuf),
    #[error("cannot read or create password file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to do when the password file does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Generate a strong password and write it with mode 0600 (`up`).
    Create,
    /// Report it (read-only commands must not create anything).
    Fail,
}

/// Resolves the cluster's password from the spec's source. `None` means no password was asked for.
pub fn resolve(auth: &AuthSpec, missing: Missing) -> Result<Option<Secret>, SecretError> {
    match auth {
        AuthSpec::NoPassword => Ok(None),
        AuthSpec::Env(var) => match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Some(Secret(v))),
            _ => Err(SecretError::EnvMissing(var.clone())),
        },
        AuthSpec::File(path) => read_or_create(path, missing).map(Some),
    }
}

fn read_or_create(path: &Path, missing: Missing) -> Result<Secret, SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let password = text.trim_end_matches(['\r', '\n']).to_string();
            if password.is_empty() {
                return Err(SecretError::FileEmpty(path.to_path_buf()));
            }
            Ok(Secret(password))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match missing {
            Missing::Fail => Err(SecretError::FileMissing(path.to_path_buf())),
            Missing::Create => create(path).map_err(io),
        },
        Err(e) => Err(io(e)),
    }
}

/// Writes a new random 40-character secret to `path` (mode 0600, its folder 0700), or reads
/// the one a concurrent caller just wrote.
pub fn create(path: &Path) -> std::io::Result<Secret> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let password = Alphanumeric.sample_string(&mut rand::rng(), 40);
    // Never replaces: two racing `up`s must not overwrite each other's password.
    match crate::files::create_atomic(
        path,
        format!("{password}\n").as_bytes(),
        crate::files::PRIVATE,
    ) {
        Ok(()) => Ok(Secret(password)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map(|t| Secret(t.trim_end().to_string()))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_a_strong_private_password_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/pw");
        let auth = AuthSpec::File(path.clone());
        assert!(matches!(
            resolve(&auth, Missing::Fail),
            Err(SecretError::FileMissing(_))
        ));
        let first = resolve(&auth, Missing::Create).unwrap().unwrap();
        assert_eq!(first.expose().len(), 40);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = resolve(&auth, Missing::Create).unwrap().unwrap();
        assert_eq!(
            first, again,
            "an existing file is reused, never overwritten"
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let s = Secret("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(
            resolve(&AuthSpec::File(path), Missing::Create),
            Err(SecretError::FileEmpty(_))
        ));
    }
}
