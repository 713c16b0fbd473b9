//! The registries a command is about, as hostnames, each with the credentials that fetch
//! its token.

use super::report::Report;
use crate::ecr::{self, Credentials, Registry, Spec};
use crate::exit::{Code, classify, fail};
use crate::settings::{RegistryInput, Settings};

/// A registry to log in to, with the credentials that fetch its token.
pub type Wanted = (Registry, Credentials);

/// Parse every registry; bare accounts get the configured or discovered region. A registry
/// the settings file gives credentials of its own gets them however it was named. Bad
/// entries are reported and skipped so the good ones still log in.
pub async fn resolve_registries(settings: &Settings, report: &mut Report) -> Vec<Wanted> {
    let inputs = || settings.registries.iter().chain(&settings.file_credentials);
    let needs_region = inputs().any(|i| matches!(ecr::parse(&i.name), Ok(Spec::Account(_))));
    let region = match (&settings.region, needs_region) {
        (Some(region), _) => Ok(Some(region.clone())),
        (None, true) => ecr::discover_region(settings.profile.as_deref()).await,
        (None, false) => Ok(None),
    };
    let mut wanted = resolve(&settings.registries, &region, report);
    let known = resolve(&settings.file_credentials, &region, &mut Report::default());
    for (registry, credentials) in &mut wanted {
        if *credentials == Credentials::default()
            && let Some((_, theirs)) = known.iter().find(|(r, _)| r.host == registry.host)
        {
            *credentials = theirs.clone();
        }
    }
    wanted
}

fn resolve(
    inputs: &[RegistryInput],
    region: &anyhow::Result<Option<String>>,
    report: &mut Report,
) -> Vec<Wanted> {
    let mut hosts: Vec<Wanted> = Vec::new();
    for input in inputs {
        let resolved = match ecr::parse(&input.name) {
            Ok(Spec::Host(r)) => Ok(r),
            Ok(Spec::Account(account)) => match region {
                Ok(Some(region)) => Registry::for_account(&account, region)
                    .map_err(|e| fail(input.bad_name_code(), e.to_string())),
                Ok(None) => Err(fail(
                    Code::Config,
                    "no region for a bare account ID: use --region, ECR_LOGIN_REGION, AWS_REGION, \
                     `region` in the config file or AWS profile, or a full registry hostname",
                )),
                Err(err) => Err(fail(classify(err), format!("{err:#}"))),
            },
            Err(e) => Err(fail(input.bad_name_code(), e.to_string())),
        };
        match resolved {
            Ok(r) if !hosts.iter().any(|(h, _)| h.host == r.host) => {
                hosts.push((r, input.credentials.clone()))
            }
            Ok(_) => {}
            Err(e) => report.fail(&input.name, &e),
        }
    }
    hosts
}
