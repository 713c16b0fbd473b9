//! Root writing into a directory another user owns acts as that user: its file-system
//! identity (fsuid/fsgid) becomes the owner's for the operation, and programs it runs there
//! run as the owner. A symlink the owner plants (`config.json` -> /etc/shadow, `.docker` ->
//! /etc) then gets exactly the access the owner has, with no check-then-use window.
//! Files made this way belong to the owner, as if they had written them.

use std::ffi::{CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::exit::{Code, fail};

/// A user account from the system's user database (passwd, LDAP, SSSD: whatever NSS says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

/// The account of `uid`, through getpwuid_r.
pub fn account(uid: u32) -> Option<Account> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: passwd is plain data; getpwuid_r fills it with pointers into `buf`, which
        // outlives every read below.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || found.is_null() || entry.pw_dir.is_null() {
            return None;
        }
        // SAFETY: pw_dir points at a NUL-terminated string inside `buf`.
        let home = unsafe { CStr::from_ptr(entry.pw_dir) };
        return Some(Account {
            uid,
            gid: entry.pw_gid,
            home: PathBuf::from(OsStr::from_bytes(home.to_bytes())),
        });
    }
}

pub fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// While alive, file operations on this thread run as the owner; dropping it restores root.
#[must_use]
pub struct ActingAs {
    owner: Option<Account>,
    /// The file-system ids to go back to.
    previous: (u32, u32),
}

impl ActingAs {
    /// Programs started for this operation run as the owner too, with the owner's home.
    pub fn apply(&self, command: &mut Command) {
        if let Some(owner) = &self.owner {
            command
                .uid(owner.uid)
                .gid(owner.gid)
                .env("HOME", &owner.home);
        }
    }
}

impl Drop for ActingAs {
    fn drop(&mut self) {
        if self.owner.is_some() {
            // SAFETY: our effective uid is 0, so both calls are permitted.
            unsafe {
                libc::setfsuid(self.previous.0);
                libc::setfsgid(self.previous.1);
            }
        }
    }
}

/// Act as the user who controls where `target` goes, when we are root and that is someone
/// else: the owner of the nearest directory on its path, or on the path it resolves to, that
/// root does not own (such an owner can rename or replace anything below it). Not root, or
/// a path only root controls: nothing changes.
pub fn act_as_owner_of(target: &Path) -> Result<ActingAs> {
    let unchanged = ActingAs {
        owner: None,
        previous: (0, 0),
    };
    if effective_uid() != 0 {
        return Ok(unchanged);
    }
    let Some(meta) = controlling_owner(target) else {
        return Ok(unchanged);
    };
    let owner = account(meta.uid()).unwrap_or_else(|| Account {
        uid: meta.uid(),
        gid: meta.gid(),
        home: PathBuf::from("/"),
    });
    // SAFETY: plain syscalls; each returns the previous id, and a refused change leaves the
    // id as it was, which the check below catches.
    let (previous, switched) = unsafe {
        let gid = libc::setfsgid(owner.gid) as u32;
        let uid = libc::setfsuid(owner.uid) as u32;
        let switched = libc::setfsuid(u32::MAX) as u32 == owner.uid
            && libc::setfsgid(u32::MAX) as u32 == owner.gid;
        ((uid, gid), switched)
    };
    let acting = ActingAs {
        owner: Some(owner.clone()),
        previous,
    };
    if !switched {
        drop(acting);
        return Err(fail(
            Code::CantCreat,
            format!(
                "cannot act as uid {} (the owner of {}) to write there: this process may not \
                 change its file-system identity",
                owner.uid,
                target.parent().unwrap_or(target).display()
            ),
        ));
    }
    Ok(acting)
}

/// The deepest directory above `target`, on the path as written and on the path it resolves
/// to, whose owner is not root; ancestors that do not exist yet are skipped.
fn controlling_owner(target: &Path) -> Option<std::fs::Metadata> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let foreign = |path: &Path| {
        path.ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .filter_map(|a| std::fs::symlink_metadata(a).ok())
            .find(|m| m.uid() != 0)
    };
    foreign(dir).or_else(|| {
        let existing = dir.ancestors().find(|a| a.exists())?;
        foreign(&std::fs::canonicalize(existing).ok()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_account_has_a_home() {
        let root = account(0).expect("uid 0 is in every user database");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.home.is_absolute());
    }

    #[test]
    fn acting_as_the_owner_of_a_foreign_directory_and_back() {
        assert_eq!(effective_uid(), 0, "this test needs root, as CI has");
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        std::fs::set_permissions(&theirs, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        {
            let _as = act_as_owner_of(&theirs.join("new/config.json")).unwrap();
            std::fs::create_dir(theirs.join("new")).unwrap();
            // The owner cannot write root's directory: neither can we now.
            assert!(std::fs::write(dir.path().join("x"), b"x").is_err());
        }
        assert_eq!(
            std::fs::metadata(theirs.join("new")).unwrap().uid(),
            65534,
            "made as the owner"
        );
        std::fs::write(dir.path().join("x"), b"x").expect("root again after the guard");
    }
}
