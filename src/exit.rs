//! The one exit-code enum (sysexits names, which systemd prints) and how an error maps to it.

use std::fmt;
use std::io;

/// Process exit codes. `systemctl status` shows these as `status=77/NOPERM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// Every registry logged in.
    Ok = 0,
    /// `status`: credentials missing, changed, or valid for less than --min-valid. 1, not a
    /// sysexits code, because health checks (docker HEALTHCHECK, Marathon) expect 1.
    Stale = 1,
    /// Bad flag or registry string.
    Usage = 64,
    /// Existing docker config is not valid JSON (left untouched).
    DataErr = 65,
    /// A required program (docker, a credential helper) is missing.
    Unavailable = 69,
    /// A bug.
    Software = 70,
    /// Cannot write the target (permissions, disk full, read-only fs).
    CantCreat = 73,
    /// Network, timeout, throttling, 5xx after retries: worth retrying soon.
    TempFail = 75,
    /// ECR or docker answered something malformed.
    Protocol = 76,
    /// No AWS credentials, expired or denied credentials, registry refused login.
    NoPerm = 77,
    /// Config file invalid, or no region can be found.
    Config = 78,
}

impl Code {
    pub const ALL: [Code; 11] = [
        Code::Ok,
        Code::Stale,
        Code::Usage,
        Code::DataErr,
        Code::Unavailable,
        Code::Software,
        Code::CantCreat,
        Code::TempFail,
        Code::Protocol,
        Code::NoPerm,
        Code::Config,
    ];

    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The sysexits name, as systemd prints it (systemd calls 1 FAILURE).
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Stale => "STALE",
            Code::Usage => "USAGE",
            Code::DataErr => "DATAERR",
            Code::Unavailable => "UNAVAILABLE",
            Code::Software => "SOFTWARE",
            Code::CantCreat => "CANTCREAT",
            Code::TempFail => "TEMPFAIL",
            Code::Protocol => "PROTOCOL",
            Code::NoPerm => "NOPERM",
            Code::Config => "CONFIG",
        }
    }

    /// What the code means, for the man page and help.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Ok => "every registry logged in (or still valid, with --min-valid)",
            Code::Stale => {
                "status: a registry's credentials are missing, changed, or valid for less than --min-valid"
            }
            Code::Usage => "bad flag or registry string",
            Code::DataErr => "existing docker config is not valid JSON (left untouched)",
            Code::Unavailable => "a required program (docker, a credential helper) is missing",
            Code::Software => "a bug",
            Code::CantCreat => "cannot write the target (permissions, disk full, read-only fs)",
            Code::TempFail => {
                "network, timeout, throttling, 5xx after retries: worth retrying soon"
            }
            Code::Protocol => "ECR or docker answered something malformed",
            Code::NoPerm => {
                "no AWS credentials, expired or denied credentials, registry refused login"
            }
            Code::Config => "config file invalid, or no region can be found",
        }
    }

    /// Rank for "the worst failure wins" in a partial failure. Failures that need an operator
    /// (bad config, denied credentials) outrank those that heal by themselves (network), so
    /// the unit's `RestartPreventExitStatus=` does not hide a problem behind endless retries.
    fn severity(self) -> u8 {
        match self {
            Code::Ok => 0,
            Code::Stale => 1,
            Code::TempFail => 2,
            Code::Protocol => 3,
            Code::Unavailable => 4,
            Code::CantCreat => 5,
            Code::NoPerm => 6,
            Code::DataErr => 7,
            Code::Usage => 8,
            Code::Config => 9,
            Code::Software => 10,
        }
    }

    /// The worse of two codes.
    pub fn worst(self, other: Code) -> Code {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.as_i32(), self.name())
    }
}

/// An error that knows its exit code. Attach it where the failure is understood; `classify`
/// finds it anywhere in the chain.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    message: String,
}

/// A new error with its exit code.
pub fn fail(code: Code, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        code,
        message: message.into(),
    })
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// `.code(Code::X, "doing y")`: add context that also decides the exit code.
pub trait ResultExt<T> {
    fn code(self, code: Code, context: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    Result<T, E>: anyhow::Context<T, E>,
{
    fn code(self, code: Code, context: impl Into<String>) -> anyhow::Result<T> {
        anyhow::Context::context(
            self,
            Failure {
                code,
                message: context.into(),
            },
        )
    }
}

/// Decide the exit code of an error: an explicit `Failure` wins, then I/O error kinds
/// (writing the target), else it is a bug.
pub fn classify(err: &anyhow::Error) -> Code {
    if let Some(failure) = err.downcast_ref::<Failure>() {
        return failure.code;
    }
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return match io.kind() {
                io::ErrorKind::NotFound
                | io::ErrorKind::PermissionDenied
                | io::ErrorKind::ReadOnlyFilesystem
                | io::ErrorKind::StorageFull
                | io::ErrorKind::QuotaExceeded
                | io::ErrorKind::AlreadyExists
                | io::ErrorKind::IsADirectory
                | io::ErrorKind::NotADirectory => Code::CantCreat,
                io::ErrorKind::TimedOut | io::ErrorKind::Interrupted => Code::TempFail,
                _ => Code::Software,
            };
        }
    }
    Code::Software
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_sysexits() {
        let expected = [
            (Code::Ok, 0, "OK"),
            (Code::Stale, 1, "STALE"),
            (Code::Usage, 64, "USAGE"),
            (Code::DataErr, 65, "DATAERR"),
            (Code::Unavailable, 69, "UNAVAILABLE"),
            (Code::Software, 70, "SOFTWARE"),
            (Code::CantCreat, 73, "CANTCREAT"),
            (Code::TempFail, 75, "TEMPFAIL"),
            (Code::Protocol, 76, "PROTOCOL"),
            (Code::NoPerm, 77, "NOPERM"),
            (Code::Config, 78, "CONFIG"),
        ];
        assert_eq!(expected.len(), Code::ALL.len());
        for (code, number, name) in expected {
            assert_eq!(code.as_i32(), number);
            assert_eq!(code.name(), name);
        }
    }

    #[test]
    fn worst_prefers_what_needs_an_operator() {
        assert_eq!(Code::Ok.worst(Code::TempFail), Code::TempFail);
        assert_eq!(Code::TempFail.worst(Code::NoPerm), Code::NoPerm);
        assert_eq!(Code::NoPerm.worst(Code::TempFail), Code::NoPerm);
        assert_eq!(Code::Config.worst(Code::Usage), Code::Config);
        // Every code is worse than Ok, and severity is a total order.
        for a in Code::ALL {
            assert_eq!(Code::Ok.worst(a), a);
            for b in Code::ALL {
                assert_eq!(a.worst(b), b.worst(a));
            }
        }
    }

    #[test]
    fn classify_finds_failure_under_context() {
        let err = fail(Code::Config, "no region").context("resolving region");
        assert_eq!(classify(&err), Code::Config);
        let err: anyhow::Result<()> = Err(io::Error::other("x")).code(Code::DataErr, "parsing");
        assert_eq!(classify(&err.unwrap_err()), Code::DataErr);
    }

    #[test]
    fn classify_io_kinds() {
        let io = |kind| anyhow::Error::new(io::Error::from(kind)).context("writing docker config");
        assert_eq!(
            classify(&io(io::ErrorKind::PermissionDenied)),
            Code::CantCreat
        );
        assert_eq!(classify(&io(io::ErrorKind::StorageFull)), Code::CantCreat);
        assert_eq!(
            classify(&io(io::ErrorKind::ReadOnlyFilesystem)),
            Code::CantCreat
        );
        assert_eq!(classify(&io(io::ErrorKind::TimedOut)), Code::TempFail);
    }

    #[test]
    fn unknown_errors_are_bugs() {
        assert_eq!(classify(&anyhow::anyhow!("surprise")), Code::Software);
    }

    #[test]
    fn display_is_number_and_name() {
        assert_eq!(Code::NoPerm.to_string(), "77/NOPERM");
    }
}
