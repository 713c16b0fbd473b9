//! Files that hold credentials: a lock beside the file, and replacement by an fsynced 0600
//! temp file renamed into place, so a reader or a crash only ever sees the old or new bytes.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::exit::{Code, ResultExt, fail};

const TEMP_SUFFIX: &str = ".tmp";

/// Exclusive lock on `FILE.lock`, beside the file, waiting at most until `deadline`.
/// The lock file stays: deleting it would let two writers lock different inodes.
pub fn lock(target: &Path, deadline: Instant) -> Result<File> {
    let path = sibling(target, "", ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        // The lock file must not be a symlink planted to make us open something else, nor a
        // FIFO that blocks the open until someone reads it.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .code(
            Code::CantCreat,
            format!("opening lock file {}", path.display()),
        )?;
    regular_file(&file, &path, "lock file")?;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(fail(
                    Code::TempFail,
                    format!("timed out waiting for the lock on {}", path.display()),
                ));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(e).code(Code::CantCreat, format!("locking {}", path.display()));
            }
        }
    }
}

/// Create the directory a credentials file goes in, private (0700) where it is new.
pub fn create_parent_dir(target: &Path) -> Result<()> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => return Ok(()),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .code(
            Code::CantCreat,
            format!("creating directory {}", dir.display()),
        )
}

/// `dir/PREFIXnameSUFFIX` for `dir/name`.
fn sibling(target: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!("{prefix}{name}{suffix}"))
}

fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// The metadata of an open file that must be a regular file (not a FIFO, device or
/// directory, which would block us or make no sense to replace).
fn regular_file(file: &File, path: &Path, what: &str) -> Result<fs::Metadata> {
    let meta = file
        .metadata()
        .with_context(|| format!("reading {what} {}", path.display()))?;
    if !meta.is_file() {
        return Err(fail(
            Code::CantCreat,
            format!("{what} {} is not a regular file", path.display()),
        ));
    }
    Ok(meta)
}

/// The current bytes and metadata of a regular file, or `None` if there is none yet.
/// Opened without blocking, so a FIFO planted in its place is refused, not waited on.
pub fn read_existing(path: &Path, what: &str) -> Result<Option<(Vec<u8>, fs::Metadata)>> {
    let mut file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).code(
                Code::CantCreat,
                format!("reading {what} {}", path.display()),
            );
        }
    };
    let meta = regular_file(&file, path, what)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).code(
        Code::CantCreat,
        format!("reading {what} {}", path.display()),
    )?;
    Ok(Some((bytes, meta)))
}

/// Temp files of ours that a killed run left behind. Only a lock holder creates them, so call
/// this holding the lock: none of them belongs to a live writer.
pub fn remove_stale_temp_files(target: &Path) {
    let dir = target.parent().unwrap_or(Path::new("."));
    let prefix = temp_prefix(target);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(TEMP_SUFFIX) {
            match fs::remove_file(entry.path()) {
                Ok(()) => log::debug!("removed {name}, left by an interrupted run"),
                Err(e) => log::warn!("cannot remove stale {name}: {e}"),
            }
        }
    }
}

/// Temp file (0600 from creation, O_EXCL) in the same directory, fsync, rename, fsync the
/// directory. An existing file's owner is kept; its mode too, minus group/other access,
/// because it now holds credentials.
pub fn write(target: &Path, bytes: &[u8], existing: Option<&fs::Metadata>) -> Result<()> {
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .suffix(TEMP_SUFFIX)
        .permissions(Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .context("creating temporary file")?;
    if let Some(meta) = existing {
        let ours = tmp.as_file().metadata()?;
        if (meta.uid(), meta.gid()) != (ours.uid(), ours.gid()) {
            std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()))
                .context("keeping the owner of the existing file")?;
        }
        let mode = (meta.mode() & 0o700) | 0o600;
        if meta.mode() & 0o077 != 0 {
            log::warn!(
                "{}: mode {:o} gave others access; writing it as {:o} because it holds credentials",
                target.display(),
                meta.mode() & 0o777,
                mode
            );
        }
        if mode != 0o600 {
            tmp.as_file()
                .set_permissions(Permissions::from_mode(mode))?;
        }
    }
    tmp.write_all(bytes).context("writing temporary file")?;
    tmp.as_file().sync_all().context("syncing temporary file")?;
    tmp.persist(target)
        .map_err(|e| e.error)
        .context("renaming temporary file into place")?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context("syncing the directory")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_beside_the_target() {
        let target = Path::new("/x/.docker/config.json");
        assert_eq!(
            sibling(target, "", ".lock"),
            Path::new("/x/.docker/config.json.lock")
        );
        assert_eq!(temp_prefix(target), ".config.json.");
    }

    #[test]
    fn write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("auth.json");
        write(&target, b"one", None).unwrap();
        let meta = fs::metadata(&target).unwrap();
        write(&target, b"two", Some(&meta)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["auth.json"]);
    }
}
