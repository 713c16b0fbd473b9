//! Amazon ECR: registry names, the AWS SDK's setup, and the token call.

mod credentials;
mod errors;
mod registry;
mod sdk;
mod token;

pub use credentials::Credentials;
pub use registry::{Endpoint, Registry, Spec, is_region, parse};
pub use sdk::{Setup, discover_region, sdk_config};
pub use token::{Token, fetch_token};
