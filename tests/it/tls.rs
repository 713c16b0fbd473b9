//! The HTTPS client (rustls with ring, the system trust store) against moto serving TLS with
//! a certificate from a CA made here: trusted through `SSL_CERT_FILE`, it logs in; without
//! it, the certificate is refused and nothing is written.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// A CA and a certificate for `localhost` signed by it, in `dir` (tests/support/lib.sh).
fn make_certificates(dir: &Path) {
    require("openssl");
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lib.sh");
    let status = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$0" && make_tls_cert "$1" localhost"#)
        .arg(lib)
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success(), "make_tls_cert failed");
}

#[test]
fn logs_in_over_tls_only_with_the_ca_trusted() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let port = free_port();
    let _moto = Server::spawn(
        &format!(
            "exec moto_server -H 127.0.0.1 -p {port} -c {dir}/tls.crt -k {dir}/tls.key",
            dir = dir.path().display()
        ),
        port,
        &dir.path().join("moto.log"),
    );
    let endpoint = format!("https://localhost:{port}");

    let mut untrusted = Run::new(&endpoint).args([USE1_A]);
    // A certificate the trust store refuses is a failure to connect: 75, like any other.
    untrusted
        .run()
        .expect_code(75)
        .expect_stderr_contains("invalid peer certificate: UnknownIssuer");
    assert!(!untrusted.config_json().exists());

    let mut trusted = Run::new(&endpoint)
        .env("SSL_CERT_FILE", dir.path().join("ca.crt"))
        .args([USE1_A]);
    trusted.run().expect_code(0);
    let auth = auth_of(&trusted.config_json(), USE1_A).expect("an entry for the registry");
    assert!(auth.starts_with("AWS:"), "{auth}");
}
