//! The integration tests, one binary: the built ecr-login against real servers and tools
//! (moto, Debian's registry, docker, skopeo, podman, pass, systemd in a container), one
//! module per area. One binary links the AWS SDK once, and shares one moto.

mod architecture;
mod clients;
mod common;
mod credential_store;
mod credentials;
mod docker_method;
mod expiry;
mod faults;
mod fleet;
mod fuzz;
mod journal;
mod login;
mod loop_mode;
mod packaging;
mod properties;
mod secrets;
mod sinks;
mod tls;
