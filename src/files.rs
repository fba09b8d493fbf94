//! Files the operator writes for itself: keys and certificates, the password and API token,
//! the status file, a balanced cluster.toml. Each is replaced whole or not at all, whatever
//! ends the process, and a private file is private from its first byte. Imports no room.
//!
//! A write goes to a temp file of its own beside the target (a unique name, created with the
//! final mode, never an existing file), is synced, renamed over the target, and the folder is
//! synced so the rename survives a power cut. The mode is checked after the rename: a folder
//! that cannot keep it is an error, not a world-readable key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Readable by the owner only: keys, the password, the API token.
pub(crate) const PRIVATE: u32 = 0o600;
/// Readable by everyone: certificates, the status file.
pub(crate) const PUBLIC: u32 = 0o644;

/// Replaces `path` with `data`, created with `mode` (its folder is created when missing).
pub(crate) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = write_temp(path, data, mode)?;
    let placed = std::fs::rename(&tmp, path).and_then(|()| settle(path, mode));
    if placed.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    placed
}

/// Like [`write_atomic`], but only when `path` does not exist yet; `AlreadyExists` otherwise.
/// Two racing creators each write a whole file, and exactly one of them is linked into place.
pub(crate) fn create_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = write_temp(path, data, mode)?;
    let linked = std::fs::hard_link(&tmp, path);
    std::fs::remove_file(&tmp).ok();
    linked?;
    settle(path, mode)
}

/// The whole of `data` in a new temp file beside `path`, synced to disk.
fn write_temp(path: &Path, data: &[u8], mode: u32) -> std::io::Result<PathBuf> {
    let dir = folder_of(path);
    std::fs::create_dir_all(dir)?;
    let tmp = temp_name(path);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .and_then(|mut file| {
            // Exactly `mode`, whatever the umask took away.
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            file.write_all(data)?;
            file.sync_all()
        });
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            std::fs::remove_file(&tmp).ok();
            Err(e)
        }
    }
}

/// After the rename: the folder synced, and the file's mode what was asked.
fn settle(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::File::open(folder_of(path))?.sync_all()?;
    let actual = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if actual & !mode != 0 {
        return Err(std::io::Error::other(format!(
            "{} is mode {actual:o} after writing, not {mode:o}: the folder does not keep file modes; use another folder",
            path.display()
        )));
    }
    Ok(())
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `.<name>.<pid>.<n>.tmp` beside `path`: no two writes, in this process or another, share
/// one, and a temp file left by a crash is never written into again.
fn temp_name(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    folder_of(path).join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_private_file_is_private_even_over_a_leftover_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("tls/redis.key");
        // What a crash of the old writer left: a world-readable temp file by the old name.
        std::fs::create_dir_all(key.parent().unwrap()).unwrap();
        let leftover = key.with_extension("tmp");
        std::fs::write(&leftover, "torn").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&key, b"secret key", PRIVATE).unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"secret key");
        assert_eq!(mode_of(&key), 0o600);
        write_atomic(&key, b"next key", PRIVATE).unwrap();
        assert_eq!(mode_of(&key), 0o600);
        let cert = dir.path().join("tls/redis.crt");
        write_atomic(&cert, b"cert", PUBLIC).unwrap();
        assert_eq!(mode_of(&cert), 0o644);
        let names: Vec<String> = std::fs::read_dir(key.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "no temp file of ours is left: {names:?}");
    }

    #[test]
    fn a_replaced_file_of_looser_mode_becomes_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("redis.key");
        std::fs::write(&key, "old").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&key, b"new", PRIVATE).unwrap();
        assert_eq!(mode_of(&key), 0o600);
    }

    #[test]
    fn create_never_replaces_and_one_of_many_racers_wins_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        let racers: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    create_atomic(&path, format!("password-{i}").as_bytes(), PRIVATE)
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
        assert!(results
            .iter()
            .filter_map(|r| r.as_ref().err())
            .all(|e| e.kind() == std::io::ErrorKind::AlreadyExists));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("password-") && text.len() == 10, "{text}");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
