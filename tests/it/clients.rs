//! Real clients accept what ecr-login writes: docker CLI, skopeo and podman against a real
//! registry under real ECR hostnames, with TLS checked against a CA of the test's own
//! (tests/support/clients.sh, in a private network and mount namespace).

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{bin, exclusive, require, require_root};

#[test]
fn docker_skopeo_and_podman_authenticate_with_what_ecr_login_wrote() {
    require_root("a private network and mount namespace (unshare), with a registry on port 443");
    // Heavy, and its processes handle moto's password: never beside the argv scanners.
    let _alone = exclusive();
    for tool in [
        "docker",
        "skopeo",
        "podman",
        "docker-registry",
        "unshare",
        "pass",
        "docker-credential-pass",
    ] {
        require(tool);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/clients.sh");
    let out = Command::new(script)
        .arg(bin())
        .stdin(Stdio::null())
        .output()
        .expect("running clients.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "clients.sh failed:\n{stdout}\n{stderr}"
    );
    for claim in [
        "config method: skopeo inspect",
        "config method: docker manifest inspect",
        "config method: podman pull",
        "without the entry: skopeo and docker are refused",
        "without the test CA, docker and skopeo refuse",
        "docker method: docker login stored the credentials",
        "docker method with --docker-bin podman",
        "credsStore pass: stored through docker-credential-pass",
        "default store pass installed, config.json with auths of its own: written to auths",
        "wrong registry password: docker method exits 77; config method exits 0",
        "two accounts in two regions in one run",
    ] {
        assert!(
            stdout.contains(&format!("ok: {claim}")),
            "missing: {claim}\n{stdout}"
        );
    }
}
