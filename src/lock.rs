//! One operator per cluster: an exclusive lock that `run`, `up` and `down` hold while they
//! change the cluster.
//!
//! The lock is an OS file lock (flock), so the kernel drops it the instant its holder dies,
//! SIGKILL included: a crashed operator never blocks the next one. The file says who holds it,
//! so a refusal can name the holder. It lives in the machine's temp folder, not beside
//! cluster.toml, because the Docker objects it guards are machine-wide too.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Who holds a cluster's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    pub since: String,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cluster {cluster} is being managed by `redis-keeper {}` (pid {}, since {}): stop it first, or let it do the work", .holder.command, .holder.pid, .holder.since)]
    Held { cluster: String, holder: Holder },
    #[error("cluster {cluster} is locked by another process (lock file {}): wait for it to finish", .path.display())]
    HeldByUnknown { cluster: String, path: PathBuf },
    #[error("cannot use the lock file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held while the value lives; released by the OS when the process ends in any way.
#[derive(Debug)]
pub struct ClusterLock {
    _file: File,
}

fn path(cluster: &str) -> PathBuf {
    std::env::temp_dir()
        .join("redis-keeper-locks")
        .join(format!("{cluster}.lock"))
}

fn open(cluster: &str) -> Result<(File, PathBuf), LockError> {
    let path = path(cluster);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    Ok((file, path))
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Takes the cluster's lock for `command`, or says who has it.
pub fn acquire(cluster: &str, command: &str) -> Result<ClusterLock, LockError> {
    let (mut file, path) = open(cluster)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(match read_holder(&mut file) {
                Some(holder) => LockError::Held {
                    cluster: cluster.to_string(),
                    holder,
                },
                None => LockError::HeldByUnknown {
                    cluster: cluster.to_string(),
                    path,
                },
            })
        }
        Err(TryLockError::Error(source)) => return Err(LockError::Io { path, source }),
    }
    let holder = Holder {
        pid: std::process::id(),
        command: command.to_string(),
        since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
    };
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    let text = serde_json::to_string(&holder).unwrap_or_default();
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(ClusterLock { _file: file })
}

/// Who holds the cluster's lock right now, if anyone (for `status`).
pub fn holder(cluster: &str) -> Option<Holder> {
    let (mut file, _) = open(cluster).ok()?;
    match file.try_lock() {
        Ok(()) => None,
        Err(_) => read_holder(&mut file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_named_and_the_lock_frees_on_drop() {
        let cluster = format!("lock-test-{}", std::process::id());
        let first = acquire(&cluster, "run").unwrap();
        let err = acquire(&cluster, "up").unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("`redis-keeper run` (pid {}", std::process::id())),
            "{err}"
        );
        assert_eq!(holder(&cluster).map(|h| h.command), Some("run".to_string()));
        drop(first);
        assert!(holder(&cluster).is_none());
        let again = acquire(&cluster, "up").unwrap();
        drop(again);
        let _ = std::fs::remove_file(path(&cluster));
    }
}
