//! Which AWS credentials a registry's token is fetched with.

/// Which AWS credentials fetch a registry's token. Registries with equal credentials (and
/// endpoint) share one API call.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Credentials {
    /// Overrides the global --profile.
    pub profile: Option<String>,
    /// Assumed (through STS, from the profile's credentials) before the call.
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
}
