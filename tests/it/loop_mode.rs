//! `--every`: the loop for hosts without systemd, against moto. Runs repeat, failures back
//! off, SIGTERM/SIGINT stop it with exit 0, the watchdog is pinged, memory stays flat, and
//! the seed container's variables work behind --compat-env.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;

/// The running loop and its stderr lines as they come.
struct Looping {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Looping {
    fn start(run: &mut Run) -> Looping {
        let mut child = run.command().stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Looping {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for the `n`th line containing `text`; panics with everything seen on timeout.
    fn wait_for(&mut self, text: &str, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.seen.iter().filter(|l| l.contains(text)).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "no {n}x {text:?} within {within:?}:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn count(&self, text: &str) -> usize {
        self.seen.iter().filter(|l| l.contains(text)).count()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill only sends a signal.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Exit code, waiting at most `within`.
    fn exit_within(mut self, within: Duration) -> (i32, Vec<String>) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.lines.try_iter());
                return (status.code().expect("exited, not killed"), self.seen);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit within {within:?}:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

const SIGTERM: i32 = libc::SIGTERM;
const SIGINT: i32 = libc::SIGINT;

#[test]
fn every_repeats_and_stops_cleanly_on_sigterm_and_sigint() {
    let proxy = CountingProxy::start(&moto().url(), Duration::ZERO);
    for signal in [SIGTERM, SIGINT] {
        let mut run = Run::new(&proxy.url()).args([USE1_A, "--every", "300ms"]);
        let mut looping = Looping::start(&mut run);
        looping.wait_for("logged in to 1 of 1 registries", 3, Duration::from_secs(20));
        assert!(looping.count("next run in") >= 2);
        looping.signal(signal);
        let (code, lines) = looping.exit_within(Duration::from_secs(3));
        assert_eq!(code, 0, "{}", lines.join("\n"));
        assert!(
            lines.last().unwrap().contains("stopping on signal"),
            "{}",
            lines.join("\n")
        );
        // Jitter only ever shortens the wait: 270-300 ms.
        for line in lines.iter().filter(|l| l.contains("next run in")) {
            assert!(line.ends_with("next run in 0s"), "{line}");
        }
    }
    assert!(proxy.total_calls() >= 6);

    // A signal during the sleep of a long interval ends it at once.
    let mut run = Run::new(&proxy.url()).args([USE1_A, "--every", "6h"]);
    let mut looping = Looping::start(&mut run);
    looping.wait_for("next run in 5h", 1, Duration::from_secs(20));
    looping.signal(SIGTERM);
    let (code, _) = looping.exit_within(Duration::from_secs(2));
    assert_eq!(code, 0);
}

#[test]
fn failures_back_off_and_a_healed_endpoint_recovers() {
    // An endpoint that refuses connections, then comes up on the same port.
    let port = free_port();
    let mut run = Run::new(&format!("http://127.0.0.1:{port}"))
        .env("AWS_MAX_ATTEMPTS", "1")
        .args([USE1_A, "--every", "4s", "--timeout", "2s"]);
    let mut looping = Looping::start(&mut run);
    looping.wait_for("exit 75/TEMPFAIL", 2, Duration::from_secs(20));
    // Backoff: 5 s capped by --every 4 s, jittered in its upper half: 2-4 s.
    let waits: Vec<&String> = looping
        .seen
        .iter()
        .filter(|l| l.contains("next run in"))
        .collect();
    for line in &waits {
        assert!(
            line.ends_with("in 2s") || line.ends_with("in 3s") || line.ends_with("in 4s"),
            "{line}"
        );
    }
    let proxy = CountingProxy::start_with(&moto().url(), ProxyOptions::default());
    let _forward = forward(port, proxy.port);
    looping.wait_for("logged in to 1 of 1 registries", 1, Duration::from_secs(15));
    looping.signal(SIGTERM);
    let (code, _) = looping.exit_within(Duration::from_secs(3));
    assert_eq!(code, 0);
}

/// Listen on `from` and pass connections to `to`: the endpoint "coming back".
fn forward(from: u16, to: u16) -> std::thread::JoinHandle<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", from)).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let upstream = std::net::TcpStream::connect(("127.0.0.1", to)).unwrap();
            let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            let (mut c, mut u) = (client, upstream);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c, &mut u);
                let _ = u.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut u2, &mut c2);
                let _ = c2.shutdown(std::net::Shutdown::Write);
            });
        }
    })
}

#[test]
fn watchdog_is_pinged_and_readiness_reported() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut run = Run::new(&moto().url())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .args([USE1_A, "--every", "1h"]);
    let looping = Looping::start(&mut run);
    let mut messages = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while messages
        .iter()
        .filter(|m: &&String| m.as_str() == "WATCHDOG=1")
        .count()
        < 5
    {
        assert!(started.elapsed() < Duration::from_secs(10), "{messages:?}");
        let n = socket.recv(&mut buf).expect("a notification");
        messages.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
    }
    // Five pings at 100 ms intervals (half of WATCHDOG_USEC) while it sleeps.
    assert!(started.elapsed() < Duration::from_secs(5), "{messages:?}");
    assert!(messages.iter().any(|m| m == "READY=1"), "{messages:?}");
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("STATUS=logged in to 1 of 1")),
        "{messages:?}"
    );
    looping.signal(SIGTERM);
    let (code, _) = looping.exit_within(Duration::from_secs(3));
    assert_eq!(code, 0);
}

/// Memory over many cycles: the resident set after the warm-up must not keep growing.
/// `ECR_LOGIN_LOOP_CYCLES` sets the count (CI: 300; the closing note's figure: 1000).
#[test]
fn memory_stays_flat_over_many_cycles() {
    let _exclusive = exclusive();
    let cycles: usize = std::env::var("ECR_LOGIN_LOOP_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let warmup = 50.min(cycles / 2);
    let mut run = Run::new(&moto().url())
        .args([USE1_A, "--every", "1ms", "-q"])
        .env("ECR_LOGIN_VERBOSE", "0");
    // -q hides the per-run lines; count runs from the warnings moto's 2015 expiry causes.
    let mut looping = Looping::start(&mut run);
    looping.wait_for("expired on arrival", warmup, Duration::from_secs(120));
    let after_warmup = looping.rss_kib();
    looping.wait_for("expired on arrival", cycles, Duration::from_secs(900));
    let at_end = looping.rss_kib();
    looping.signal(SIGTERM);
    let (code, _) = looping.exit_within(Duration::from_secs(5));
    assert_eq!(code, 0);
    eprintln!("RSS after {warmup} cycles: {after_warmup} KiB; after {cycles}: {at_end} KiB");
    assert!(
        at_end <= after_warmup + 1024,
        "RSS grew from {after_warmup} KiB to {at_end} KiB over {} cycles",
        cycles - warmup
    );
}

#[test]
fn compat_env_reads_the_seed_containers_variables_only_when_asked() {
    let moto = moto();
    let location = tempfile::tempdir().unwrap();
    let seed_env = |run: Run| {
        run.env("REGION", "eu-west-1")
            .env("REGISTRIES", "111122223333 444455556666")
            .env("FILE_LOCATION", location.path())
    };
    // Without the switch the names mean nothing: no registries.
    let done = seed_env(Run::new(&moto.url())).run();
    done.expect_code(64);

    let mut run = seed_env(Run::new(&moto.url())).args(["--compat-env"]);
    run.run().expect_code(0);
    let config = location.path().join(".docker/config.json");
    for host in [
        "111122223333.dkr.ecr.eu-west-1.amazonaws.com",
        "444455556666.dkr.ecr.eu-west-1.amazonaws.com",
    ] {
        assert!(auth_of(&config, host).is_some(), "{host}");
    }
    assert!(location.path().join("docker.tar.gz").is_file());

    // INTERVAL (seconds) loops, like the seed's `sleep $INTERVAL`.
    let mut run = seed_env(Run::new(&moto.url()))
        .env("ECR_LOGIN_COMPAT_ENV", "true")
        .env("INTERVAL", "1");
    let mut looping = Looping::start(&mut run);
    looping.wait_for("logged in to 2 of 2 registries", 2, Duration::from_secs(20));
    looping.signal(SIGTERM);
    assert_eq!(looping.exit_within(Duration::from_secs(3)).0, 0);
}

/// A run waiting for config.json's lock (held by someone else) is stopped by SIGTERM at
/// once, not when the wait gives up.
#[test]
fn sigterm_while_waiting_for_the_lock_stops_at_once() {
    let mut run = Run::new(&moto().url()).args([USE1_A, "--every", "1h", "--timeout", "30s"]);
    std::fs::create_dir_all(run.docker_dir()).unwrap();
    let lock = std::fs::File::create(run.docker_dir().join("config.json.lock")).unwrap();
    lock.try_lock().unwrap();
    let mut looping = Looping::start(&mut run);
    // The token is fetched (moto's expires in 2015: a warning); then the write waits.
    looping.wait_for("expired on arrival", 1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let signalled = Instant::now();
    looping.signal(SIGTERM);
    let (code, lines) = looping.exit_within(Duration::from_secs(3));
    assert_eq!(code, 0, "{}", lines.join("\n"));
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        signalled.elapsed()
    );
    assert!(
        lines.last().unwrap().contains("stopping on signal"),
        "{lines:?}"
    );
    drop(lock);
}

/// SIGTERM during a run stops what the run started too: a hung docker and its child.
#[test]
fn sigterm_stops_the_programs_a_run_started() {
    let mut run = Run::new(&moto().url()).args([
        USE1_A,
        "--every",
        "1h",
        "--method",
        "docker",
        "--timeout",
        "60s",
    ]);
    let pids = run.home.path().join("pids");
    let bin = run.home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        format!("#!/bin/sh\n{}\n", hang_with_a_child(&pids)),
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let looping = Looping::start(&mut run);
    let started = Instant::now();
    while !pids.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "docker never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    looping.signal(SIGTERM);
    let (code, lines) = looping.exit_within(Duration::from_secs(3));
    assert_eq!(code, 0, "{}", lines.join("\n"));
    expect_gone(&pids);
}
