//! Pure parser for ECR registry names: hostnames in every documented flavour, or a bare account.

use std::fmt;

/// ECR Public's one registry (and its dual-stack name), and the only region its token API
/// runs in.
pub const PUBLIC_HOST: &str = "public.ecr.aws";
pub const PUBLIC_DUAL_STACK_HOST: &str = "ecr-public.aws.com";
pub const PUBLIC_REGION: &str = "us-east-1";

/// Shown in every parse error, so the fix is on the screen.
pub const ACCEPTED_FORMS: &str = "accepted forms: ACCOUNT.dkr.ecr.REGION.amazonaws.com, \
ACCOUNT.dkr.ecr-fips.REGION.amazonaws.com, ACCOUNT.dkr-ecr.REGION.on.aws, \
ACCOUNT.dkr.ecr.cn-REGION.amazonaws.com.cn, public.ecr.aws, ecr-public.aws.com, optionally with \
https:// and a /path, or a bare 12-digit ACCOUNT with a region set";

/// One ECR private registry, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// Lowercase hostname, the key docker uses in `auths`.
    pub host: String,
    pub account: String,
    pub region: String,
    pub partition: &'static str,
    pub fips: bool,
    pub dual_stack: bool,
    /// ECR Public (`public.ecr.aws`): its own API (`ecr-public`, us-east-1 only).
    pub public: bool,
}

/// Which API endpoint serves a registry's token: one `GetAuthorizationToken` per endpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub region: String,
    pub fips: bool,
    pub dual_stack: bool,
    pub public: bool,
}

/// What the user wrote: a full hostname, or an account that still needs a region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Host(Registry),
    Account(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid registry {:?}: {} ({})",
            self.input, self.reason, ACCEPTED_FORMS
        )
    }
}

impl std::error::Error for ParseError {}

/// Hostname suffixes and the partition they belong to. `region_prefix` tells partitions apart
/// that share a suffix (`amazonaws.com` serves both `aws` and `aws-us-gov`).
struct Suffix {
    suffix: &'static str,
    dual_stack: bool,
    partition: &'static str,
    region_prefix: &'static str,
}

// Order matters: the first entry whose suffix and region prefix match wins, so the specific
// gov prefix comes before the catch-all commercial one.
#[rustfmt::skip]
const SUFFIXES: &[Suffix] = &[
    Suffix { suffix: "amazonaws.com", dual_stack: false, partition: "aws-us-gov", region_prefix: "us-gov-" },
    Suffix { suffix: "amazonaws.com", dual_stack: false, partition: "aws", region_prefix: "" },
    Suffix { suffix: "on.aws", dual_stack: true, partition: "aws-us-gov", region_prefix: "us-gov-" },
    Suffix { suffix: "on.aws", dual_stack: true, partition: "aws", region_prefix: "" },
    Suffix { suffix: "amazonaws.com.cn", dual_stack: false, partition: "aws-cn", region_prefix: "cn-" },
    Suffix { suffix: "on.amazonwebservices.com.cn", dual_stack: true, partition: "aws-cn", region_prefix: "cn-" },
    Suffix { suffix: "c2s.ic.gov", dual_stack: false, partition: "aws-iso", region_prefix: "us-iso-" },
    Suffix { suffix: "sc2s.sgov.gov", dual_stack: false, partition: "aws-iso-b", region_prefix: "us-isob-" },
    Suffix { suffix: "cloud.adc-e.uk", dual_stack: false, partition: "aws-iso-e", region_prefix: "eu-isoe-" },
    Suffix { suffix: "csp.hci.ic.gov", dual_stack: false, partition: "aws-iso-f", region_prefix: "us-isof-" },
    Suffix { suffix: "amazonaws.eu", dual_stack: false, partition: "aws-eusc", region_prefix: "eusc-" },
];

/// Region prefixes that belong to a partition other than `aws`: such a region on a commercial
/// suffix is a typo, not a registry.
const NON_COMMERCIAL_PREFIXES: &[&str] = &[
    "cn-", "us-iso-", "us-isob-", "eu-isoe-", "us-isof-", "eusc-",
];

impl Registry {
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            region: self.region.clone(),
            fips: self.fips,
            // ECR Public's two names share one token from one API.
            dual_stack: self.dual_stack && !self.public,
            public: self.public,
        }
    }

    /// The standard registry of `account` in `region` (a bare account plus a resolved region).
    pub fn for_account(account: &str, region: &str) -> Result<Registry, ParseError> {
        let err = |reason| ParseError {
            input: format!("{account} in {region}"),
            reason,
        };
        if !is_region(region) {
            return Err(err("the region is not a valid AWS region name"));
        }
        let suffix = SUFFIXES
            .iter()
            .find(|s| !s.dual_stack && region_in_partition(region, s))
            .ok_or_else(|| err("the region is not in a known partition"))?;
        parse(&format!("{account}.dkr.ecr.{region}.{}", suffix.suffix)).and_then(
            |spec| match spec {
                Spec::Host(registry) => Ok(registry),
                Spec::Account(_) => Err(err("not a registry")),
            },
        )
    }
}

fn region_in_partition(region: &str, suffix: &Suffix) -> bool {
    if suffix.region_prefix.is_empty() {
        !NON_COMMERCIAL_PREFIXES
            .iter()
            .any(|p| region.starts_with(p))
            && !region.starts_with("us-gov-")
    } else {
        region.starts_with(suffix.region_prefix)
    }
}

/// `us-east-1`, `cn-northwest-1`, `us-gov-west-1`, `eusc-de-east-1`: letters, dashes, a number.
pub fn is_region(s: &str) -> bool {
    let mut parts = s.split('-').collect::<Vec<_>>();
    let Some(number) = parts.pop() else {
        return false;
    };
    parts.len() >= 2
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse one registry as a user or a config file writes it.
pub fn parse(input: &str) -> Result<Spec, ParseError> {
    let err = |reason| ParseError {
        input: input.to_string(),
        reason,
    };
    let trimmed = input.trim();
    let lower = trimmed.to_ascii_lowercase();
    let rest = match lower.split_once("://") {
        Some(("https" | "http", rest)) => rest,
        Some(_) => return Err(err("only https:// may precede the hostname")),
        None => lower.as_str(),
    };
    // A trailing slash or a repository path names the same registry.
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(err("it is empty"));
    }
    if host.contains(':') || host.contains('@') {
        return Err(err(
            "ports and user names are not part of an ECR registry name",
        ));
    }
    if host.bytes().all(|b| b.is_ascii_digit()) {
        return if is_account(host) {
            Ok(Spec::Account(host.to_string()))
        } else {
            Err(err("an account ID has exactly 12 digits"))
        };
    }
    if host == PUBLIC_HOST || host == PUBLIC_DUAL_STACK_HOST {
        // One registry for every public repository; the path names the repository.
        return Ok(Spec::Host(Registry {
            host: host.to_string(),
            account: String::new(),
            region: PUBLIC_REGION.to_string(),
            partition: "aws",
            fips: false,
            dual_stack: host == PUBLIC_DUAL_STACK_HOST,
            public: true,
        }));
    }
    if host.ends_with(".public.ecr.aws") {
        return Err(err("ECR Public's registry is public.ecr.aws"));
    }

    let (account, rest) = host
        .split_once('.')
        .ok_or_else(|| err("not an ECR hostname"))?;
    if !is_account(account) {
        return Err(err("the hostname must start with the 12-digit account ID"));
    }
    // `dkr.ecr` and `dkr-ecr` are both in use, with any domain (as the credential helper
    // accepts them); the domain alone says whether the name is dual-stack.
    let rest = ["dkr.", "dkr-"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
        .ok_or_else(|| {
            err("expected dkr.ecr, dkr.ecr-fips, dkr-ecr or dkr-ecr-fips after the account")
        })?;
    let (fips, rest) = match rest.split_once('.') {
        Some(("ecr", rest)) => (false, rest),
        Some(("ecr-fips", rest)) => (true, rest),
        _ => {
            return Err(err(
                "expected dkr.ecr, dkr.ecr-fips, dkr-ecr or dkr-ecr-fips after the account",
            ));
        }
    };
    let (region, suffix) = rest
        .split_once('.')
        .ok_or_else(|| err("the region is missing"))?;
    if !is_region(region) {
        return Err(err("the region is not a valid AWS region name"));
    }
    let matching = SUFFIXES
        .iter()
        .filter(|s| s.suffix == suffix)
        .collect::<Vec<_>>();
    if matching.is_empty() {
        return Err(err("unknown domain"));
    }
    let found = matching
        .iter()
        .find(|s| region_in_partition(region, s))
        .ok_or_else(|| err("the region does not belong to this domain's partition"))?;
    let (partition, dual_stack_label) = (found.partition, found.dual_stack);
    Ok(Spec::Host(Registry {
        host: host.to_string(),
        account: account.to_string(),
        region: region.to_string(),
        partition,
        fips,
        dual_stack: dual_stack_label,
        public: false,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(input: &str) -> Registry {
        match parse(input) {
            Ok(Spec::Host(r)) => r,
            other => panic!("{input}: expected a host, got {other:?}"),
        }
    }

    #[test]
    #[rustfmt::skip]
    fn valid_hostnames() {
        // (input, host, account, region, partition, fips, dual_stack)
        let cases: &[(&str, &str, &str, &str, &str, bool, bool)] = &[
            ("111122223333.dkr.ecr.us-east-1.amazonaws.com", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "111122223333", "us-east-1", "aws", false, false),
            ("https://111122223333.dkr.ecr.eu-west-2.amazonaws.com", "111122223333.dkr.ecr.eu-west-2.amazonaws.com", "111122223333", "eu-west-2", "aws", false, false),
            ("http://111122223333.dkr.ecr.eu-west-2.amazonaws.com/", "111122223333.dkr.ecr.eu-west-2.amazonaws.com", "111122223333", "eu-west-2", "aws", false, false),
            ("111122223333.dkr.ecr.ap-southeast-2.amazonaws.com/team/app", "111122223333.dkr.ecr.ap-southeast-2.amazonaws.com", "111122223333", "ap-southeast-2", "aws", false, false),
            ("111122223333.dkr.ecr.us-east-1.amazonaws.com/", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "111122223333", "us-east-1", "aws", false, false),
            ("  111122223333.DKR.ECR.US-EAST-1.AMAZONAWS.COM  ", "111122223333.dkr.ecr.us-east-1.amazonaws.com", "111122223333", "us-east-1", "aws", false, false),
            ("111122223333.dkr.ecr-fips.us-east-1.amazonaws.com", "111122223333.dkr.ecr-fips.us-east-1.amazonaws.com", "111122223333", "us-east-1", "aws", true, false),
            ("111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "111122223333.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "111122223333", "us-gov-west-1", "aws-us-gov", true, false),
            ("111122223333.dkr.ecr.us-gov-east-1.amazonaws.com", "111122223333.dkr.ecr.us-gov-east-1.amazonaws.com", "111122223333", "us-gov-east-1", "aws-us-gov", false, false),
            ("111122223333.dkr-ecr.eu-central-1.on.aws", "111122223333.dkr-ecr.eu-central-1.on.aws", "111122223333", "eu-central-1", "aws", false, true),
            ("111122223333.dkr-ecr-fips.us-west-2.on.aws", "111122223333.dkr-ecr-fips.us-west-2.on.aws", "111122223333", "us-west-2", "aws", true, true),
            ("111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn", "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn", "111122223333", "cn-north-1", "aws-cn", false, false),
            ("https://111122223333.dkr.ecr.cn-northwest-1.amazonaws.com.cn/repo", "111122223333.dkr.ecr.cn-northwest-1.amazonaws.com.cn", "111122223333", "cn-northwest-1", "aws-cn", false, false),
            ("111122223333.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "111122223333.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "111122223333", "cn-north-1", "aws-cn", false, true),
            ("111122223333.dkr.ecr.us-iso-east-1.c2s.ic.gov", "111122223333.dkr.ecr.us-iso-east-1.c2s.ic.gov", "111122223333", "us-iso-east-1", "aws-iso", false, false),
            ("111122223333.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "111122223333.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "111122223333", "us-isob-east-1", "aws-iso-b", false, false),
            ("111122223333.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "111122223333.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "111122223333", "eu-isoe-west-1", "aws-iso-e", false, false),
            ("111122223333.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "111122223333.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "111122223333", "us-isof-south-1", "aws-iso-f", false, false),
            ("111122223333.dkr.ecr.eusc-de-east-1.amazonaws.eu", "111122223333.dkr.ecr.eusc-de-east-1.amazonaws.eu", "111122223333", "eusc-de-east-1", "aws-eusc", false, false),
            // The credential helper's forms: dkr.ecr and dkr-ecr with any domain.
            ("111122223333.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn", "111122223333.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn", "111122223333", "cn-north-1", "aws-cn", false, true),
            ("111122223333.dkr.ecr.us-east-1.on.aws", "111122223333.dkr.ecr.us-east-1.on.aws", "111122223333", "us-east-1", "aws", false, true),
            ("111122223333.dkr-ecr.us-east-1.amazonaws.com", "111122223333.dkr-ecr.us-east-1.amazonaws.com", "111122223333", "us-east-1", "aws", false, false),
            ("111122223333.dkr.ecr-fips.us-gov-east-1.on.aws", "111122223333.dkr.ecr-fips.us-gov-east-1.on.aws", "111122223333", "us-gov-east-1", "aws-us-gov", true, true),
        ];
        for &(input, h, account, region, partition, fips, dual_stack) in cases {
            let r = host(input);
            assert_eq!(
                (r.host.as_str(), r.account.as_str(), r.region.as_str(), r.partition, r.fips, r.dual_stack),
                (h, account, region, partition, fips, dual_stack),
                "{input}"
            );
        }
    }

    #[test]
    fn bare_accounts() {
        assert_eq!(
            parse("111122223333"),
            Ok(Spec::Account("111122223333".into()))
        );
        assert_eq!(
            parse(" 444455556666 "),
            Ok(Spec::Account("444455556666".into()))
        );
    }

    #[test]
    fn ecr_public() {
        for input in [
            "public.ecr.aws",
            "https://public.ecr.aws/nginx/nginx",
            "PUBLIC.ECR.AWS/",
        ] {
            let r = host(input);
            assert_eq!(r.host, "public.ecr.aws");
            assert!(r.public);
            assert_eq!(r.endpoint().region, "us-east-1");
        }
        // The dual-stack name is its own docker host, but shares the one token.
        let dual = host("https://ecr-public.aws.com/docker/library/redis");
        assert_eq!(dual.host, "ecr-public.aws.com");
        assert!(dual.public && dual.dual_stack);
        assert_eq!(dual.endpoint(), host("public.ecr.aws").endpoint());
    }

    #[test]
    fn invalid_inputs() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("   ", "empty"),
            ("https://", "empty"),
            ("12345", "12 digits"),
            ("1111222233334", "12 digits"),
            ("foo.public.ecr.aws", "public.ecr.aws"),
            ("docker.io", "12-digit account"),
            ("ghcr.io/owner/image", "12-digit account"),
            (
                "11112222333.dkr.ecr.us-east-1.amazonaws.com",
                "12-digit account",
            ),
            (
                "11112222333a.dkr.ecr.us-east-1.amazonaws.com",
                "12-digit account",
            ),
            ("111122223333.dkr.ecr.us-east-1.amazonaws.com:443", "ports"),
            (
                "user@111122223333.dkr.ecr.us-east-1.amazonaws.com",
                "ports and user names",
            ),
            (
                "ftp://111122223333.dkr.ecr.us-east-1.amazonaws.com",
                "https://",
            ),
            ("111122223333.dkr.ecs.us-east-1.amazonaws.com", "dkr.ecr"),
            (
                "111122223333.api.ecr.us-east-1.amazonaws.com",
                "after the account",
            ),
            ("111122223333.dkr.ecr.amazonaws.com", "region"),
            ("111122223333.dkr.ecr.useast1.amazonaws.com", "region"),
            (
                "111122223333.dkr.ecr.us-east-1.amazonaws.org",
                "unknown domain",
            ),
            ("111122223333.dkr.ecr.us-east-1.on.aws.cn", "unknown domain"),
            ("111122223333.dkr_ecr.us-east-1.on.aws", "dkr.ecr"),
            ("111122223333.dkr-ecr-.us-east-1.on.aws", "dkr.ecr"),
            ("ecr-public.aws.com.evil", "12-digit account"),
            ("111122223333.dkr.ecr.cn-north-1.amazonaws.com", "partition"),
            (
                "111122223333.dkr.ecr.us-east-1.amazonaws.com.cn",
                "partition",
            ),
            ("111122223333.dkr.ecr.us-gov-west-1.c2s.ic.gov", "partition"),
            ("111122223333.dkr.ecr.us-east-1", "region"),
            ("111122223333", ""),
        ];
        for &(input, reason) in cases {
            match parse(input) {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(msg.contains(reason), "{input}: {msg}");
                    assert!(msg.contains("accepted forms"), "{input}: {msg}");
                }
                Ok(Spec::Account(_)) if reason.is_empty() => {}
                Ok(other) => panic!("{input}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn account_plus_region_builds_the_standard_host() {
        let cases = [
            (
                "us-east-1",
                "111122223333.dkr.ecr.us-east-1.amazonaws.com",
                "aws",
            ),
            (
                "cn-north-1",
                "111122223333.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "aws-cn",
            ),
            (
                "us-gov-west-1",
                "111122223333.dkr.ecr.us-gov-west-1.amazonaws.com",
                "aws-us-gov",
            ),
            (
                "us-isob-east-1",
                "111122223333.dkr.ecr.us-isob-east-1.sc2s.sgov.gov",
                "aws-iso-b",
            ),
        ];
        for (region, h, partition) in cases {
            let r = Registry::for_account("111122223333", region).unwrap();
            assert_eq!((r.host.as_str(), r.partition), (h, partition));
        }
        assert!(Registry::for_account("111122223333", "nowhere").is_err());
    }

    #[test]
    fn endpoints_group_by_region_and_flavour() {
        let a = host("111122223333.dkr.ecr.us-east-1.amazonaws.com").endpoint();
        let b = host("444455556666.dkr.ecr.us-east-1.amazonaws.com").endpoint();
        let fips = host("111122223333.dkr.ecr-fips.us-east-1.amazonaws.com").endpoint();
        let ds = host("111122223333.dkr-ecr.us-east-1.on.aws").endpoint();
        assert_eq!(a, b);
        assert_ne!(a, fips);
        assert_ne!(a, ds);
        assert_ne!(fips, ds);
    }
}
