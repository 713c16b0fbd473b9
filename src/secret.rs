//! A string that never prints itself: the one type that carries a registry password, and
//! the fingerprint that recognises a password without keeping it.

use std::fmt;

use sha2::{Digest, Sha256};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The only way to read the value; grep for it to audit where the token goes.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replace every occurrence of the secret in `text` (output of a program we ran).
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

/// Fingerprint of credentials as a sink holds them (`user:password`): `sha256:HEX`.
pub fn fingerprint_of(user_colon_password: &[u8]) -> String {
    let digest = Sha256::digest(user_colon_password);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

pub fn fingerprint(username: &str, password: &Secret) -> String {
    fingerprint_of(format!("{username}:{}", password.expose()).as_bytes())
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.redact("bad password hunter2!"), "bad password ***!");
    }

    #[test]
    fn fingerprint_is_sha256_of_user_colon_password() {
        let out = std::process::Command::new("sh")
            .args(["-c", "printf 'AWS:pw' | sha256sum"])
            .output()
            .unwrap();
        let expected = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            fingerprint("AWS", &Secret::new("pw".into())),
            format!("sha256:{}", &expected[..64])
        );
    }
}
