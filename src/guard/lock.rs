//! One operator per cluster: an exclusive lock that `run`, `up` and `down` hold while they
//! change the cluster.
//!
//! The lock is an OS file lock (flock), so the kernel drops it the instant its holder dies,
//! SIGKILL included: a crashed operator never blocks the next one. The file says who holds it,
//! so a refusal can name the holder. It lives in the machine's temp folder, not beside
//! cluster.toml, because the Docker objects it guards are machine-wide too.
//!
//! Asking who holds the lock (`status`) never touches the lock itself, so it can neither block
//! nor refuse anyone. What the file says counts only while the process it names runs: the
//! holder clears it on release, and a holder that was killed is recognised by its pid no
//! longer running, or running as another process (the start time differs).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Who holds a cluster's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Holder {
    pub(crate) pid: u32,
    pub(crate) command: String,
    pub(crate) since: String,
    /// The process's start time (clock ticks after boot, from /proc), which tells the holder
    /// from a later process given the same pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) started: Option<u64>,
}

impl Holder {
    pub(crate) fn of_this_process(command: &str) -> Holder {
        let pid = std::process::id();
        Holder {
            pid,
            command: command.to_string(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            started: start_time(pid),
        }
    }

    /// Whether this names the process asking (its pid and start time).
    pub(crate) fn is_this_process(&self) -> bool {
        self.pid == std::process::id() && self.started == start_time(self.pid)
    }

    /// Whether the process this names still runs. Without /proc (not Linux) the pid and start
    /// time cannot be checked, and what the file says is believed.
    pub(crate) fn is_running(&self) -> bool {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return true;
        }
        start_time(self.pid).is_some_and(|t| self.started.is_none_or(|s| s == t))
    }
}

/// A process's start time: field 22 of /proc/<pid>/stat, counted after the command name,
/// which may itself hold spaces and parentheses.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
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
    file: File,
    holder: Holder,
}

impl ClusterLock {
    /// Who holds it: this process.
    pub(crate) fn holder(&self) -> &Holder {
        &self.holder
    }
}

impl Drop for ClusterLock {
    /// Clears who held it before the lock goes, so the file never names a past holder.
    fn drop(&mut self) {
        self.file.set_len(0).ok();
    }
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

/// Who the file names, if that process still runs.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str::<Holder>(&text)
        .ok()
        .filter(Holder::is_running)
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
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let holder = Holder::of_this_process(command);
    let text = serde_json::to_string(&holder).unwrap_or_default();
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(ClusterLock { file, holder })
}

/// Who holds the cluster's lock right now, if anyone (for `status`): read from the file
/// alone, without taking the lock even for a moment.
pub fn holder(cluster: &str) -> Option<Holder> {
    let mut file = File::open(path(cluster)).ok()?;
    read_holder(&mut file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(test: &str) -> String {
        format!("lock-test-{test}-{}", std::process::id())
    }

    /// Taken by the tests that spawn a process or count on a dropped lock being free. A
    /// process forked by another test thread holds copies of every descriptor until it
    /// execs, the lock's among them, so a lock just dropped can still be held for that
    /// moment (a `run` that spawns ssh while releasing is the same, and harmless there).
    static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn no_forks() -> std::sync::MutexGuard<'static, ()> {
        FORKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[test]
    fn a_second_holder_is_refused_with_the_first_named_and_the_lock_frees_on_drop() {
        let _forks = no_forks();
        let cluster = cluster("second");
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

    /// `status` asking who holds the lock used to take it for a moment, and an `up` starting
    /// in that moment was refused.
    #[test]
    fn asking_who_holds_the_lock_never_refuses_anyone() {
        let _forks = no_forks();
        let cluster = cluster("probe");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let prober = {
            let (cluster, stop) = (cluster.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    holder(&cluster);
                }
            })
        };
        let refused = (0..3000)
            .filter(|_| acquire(&cluster, "up").is_err())
            .count();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        prober.join().unwrap();
        assert_eq!(refused, 0, "of 3000 acquisitions during probes");
        let _ = std::fs::remove_file(path(&cluster));
    }

    /// A holder killed with SIGKILL leaves its data behind; it must not be named afterwards,
    /// even while someone else (not yet written in) holds the lock.
    #[test]
    fn a_dead_holder_is_never_named() {
        let _forks = no_forks();
        let cluster = cluster("dead");
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = gone.id();
        gone.wait().unwrap();
        let (mut file, _) = open(&cluster).unwrap();
        let stale = Holder {
            pid: dead_pid,
            command: "run".into(),
            since: "2026-01-01T00:00:00Z".into(),
            started: Some(1),
        };
        file.write_all(serde_json::to_string(&stale).unwrap().as_bytes())
            .unwrap();
        assert_eq!(holder(&cluster), None, "a dead holder is nobody");
        // Locked by another open file, as by a holder that has not written itself in yet.
        file.try_lock().unwrap();
        let err = acquire(&cluster, "up").unwrap_err();
        assert!(
            matches!(err, LockError::HeldByUnknown { .. }),
            "the dead pid {dead_pid} is not named: {err}"
        );
        drop(file);
        let _ = std::fs::remove_file(path(&cluster));
    }

    #[test]
    fn this_process_is_running_and_a_reused_pid_is_not_its_holder() {
        let me = Holder::of_this_process("run");
        assert!(me.started.is_some());
        assert!(me.is_running());
        let reused = Holder {
            started: me.started.map(|t| t + 1),
            ..me
        };
        assert!(!reused.is_running());
    }
}
