//! Shared fixtures for the integration tests: a real moto_server on loopback, a counting
//! reverse proxy in front of it, tiny HTTP servers for answers moto cannot give, and a
//! hermetic way to run the built binary.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// Registries used across the tests: two accounts (A, B) in two regions.
pub const USE1_A: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";
pub const USE1_B: &str = "444455556666.dkr.ecr.us-east-1.amazonaws.com";
pub const EUW1_A: &str = "111122223333.dkr.ecr.eu-west-1.amazonaws.com";
pub const EUW1_B: &str = "444455556666.dkr.ecr.eu-west-1.amazonaws.com";

/// The binary under test: cargo's build of it, or `ECR_LOGIN_TEST_BINARY` (to run the suite
/// against a packaged build, or an older one to see a regression test fail).
pub fn bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("ECR_LOGIN_TEST_BINARY")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ecr-login").to_string())
    })
}

/// A server process that dies with the test binary: it runs under `sh`, which kills it once
/// our end of its stdin pipe closes (the test process exited, however it exited).
pub struct Server {
    pub port: u16,
    _child: Child,
}

impl Server {
    pub fn spawn(command: &str, port: u16, log: &Path) -> Server {
        let script = format!(
            "{command} >{log} 2>&1 & pid=$!; read _; kill $pid",
            log = log.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {command}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{command} did not listen on port {port} within 30 s; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(50));
        }
        Server {
            port,
            _child: child,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Full path of a program the test needs; a missing one fails the test loudly.
pub fn require(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{program} is not installed: run scripts/test, which installs it")
        })
}

/// Tests that need root (namespaces, mounts, other users' files) say so and why, rather than
/// failing somewhere inside. CI runs as root.
#[track_caller]
pub fn require_root(why: &str) {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root ({why}); run it as root, as CI does"
    );
}

/// A FIFO at `path` (to plant where a regular file belongs).
pub fn make_fifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// A shell body that records its pid and its child's in `pids`, then waits forever.
pub fn hang_with_a_child(pids: &Path) -> String {
    format!(
        "/bin/cat >/dev/null; /bin/sleep 600 & echo $$ $! > {}; wait",
        pids.display()
    )
}

/// Every pid listed in `pids` is gone (or a zombie on its way out) soon.
#[track_caller]
pub fn expect_gone(pids: &Path) {
    let listed = std::fs::read_to_string(pids).expect("the hung program recorded its pids");
    for pid in listed.split_whitespace() {
        let alive = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !alive(),
            "process {pid} outlived what should have stopped it (ecr-login's deadline or signal)"
        );
    }
}

/// Held by tests that load the machine or measure time, so they never overlap.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn logs_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("server-logs");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Start a fresh moto_server. `env` adds settings such as `INITIAL_NO_AUTH_ACTION_COUNT`.
/// A missing moto_server fails the test: it never passes without the real server.
pub fn start_moto(env: &str) -> Server {
    let which = Command::new("sh")
        .args(["-c", "command -v moto_server"])
        .output()
        .unwrap();
    assert!(
        which.status.success(),
        "moto_server is not installed: run scripts/test (pip install 'moto[server]')"
    );
    let port = free_port();
    let log = logs_dir().join(format!("moto-{port}.log"));
    Server::spawn(
        &format!("{env} exec moto_server -H 127.0.0.1 -p {port}"),
        port,
        &log,
    )
}

/// One moto shared by every test in a test binary (tokens are stateless).
pub fn moto() -> &'static Server {
    static MOTO: OnceLock<Server> = OnceLock::new();
    MOTO.get_or_init(|| start_moto(""))
}

/// The password moto hands out, fetched straight from moto with a hand-made request, so
/// the expectation does not come from the code under test.
pub fn moto_password(endpoint: &str, region: &str) -> String {
    let body = "{}";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/{region}/ecr/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
        host = endpoint.trim_start_matches("http://"),
        len = body.len()
    );
    let mut stream = TcpStream::connect(endpoint.trim_start_matches("http://")).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let json = response.split("\r\n\r\n").nth(1).expect("an HTTP body");
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let token = value["authorizationData"][0]["authorizationToken"]
        .as_str()
        .unwrap();
    let decoded = String::from_utf8(b64_decode(token)).unwrap();
    decoded.strip_prefix("AWS:").expect("user AWS").to_string()
}

/// The `auth` value docker stores for `AWS:password`: what must never leak.
pub fn token_of(password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("AWS:{password}"))
}

pub fn b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// A hermetic run of the binary: no inherited environment, so a developer's own AWS setup,
/// DOCKER_CONFIG or ECR_LOGIN_* cannot leak in.
pub struct Run {
    pub home: Arc<tempfile::TempDir>,
    cmd: Command,
    /// Stdout was given somewhere else (`stdout_closed`): not captured.
    stdout_given: bool,
}

impl Run {
    pub fn new(endpoint: &str) -> Run {
        Run::in_home(Arc::new(tempfile::tempdir().unwrap()), endpoint)
    }

    /// Another run in the same home (same docker config and state directory).
    pub fn again(&self, endpoint: &str) -> Run {
        Run::in_home(self.home.clone(), endpoint)
    }

    /// A run started through a wrapper script: `sh -c SCRIPT` gets the binary as `$ECR_LOGIN`
    /// (e.g. to run it inside `unshare --mount` with a small tmpfs).
    pub fn via_sh(endpoint: &str, script: &str) -> Run {
        let mut run = Run::in_home_with(
            Arc::new(tempfile::tempdir().unwrap()),
            endpoint,
            Command::new("sh"),
        );
        run.cmd.args(["-c", script]).env("ECR_LOGIN", bin()).env(
            "PATH",
            format!(
                "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                run.home.path().join("bin").display()
            ),
        );
        run
    }

    fn in_home(home: Arc<tempfile::TempDir>, endpoint: &str) -> Run {
        Run::in_home_with(home, endpoint, Command::new(bin()))
    }

    fn in_home_with(home: Arc<tempfile::TempDir>, endpoint: &str, mut cmd: Command) -> Run {
        // No tools on PATH: docker's default credential store (pass) must not be detected
        // unless a test asks for it.
        cmd.env_clear()
            .env("PATH", home.path().join("bin"))
            .env("HOME", home.path())
            .env("DOCKER_CONFIG", home.path().join(".docker"))
            // Tests run as root, whose default is /var/lib/ecr-login: keep state in the home.
            .env("XDG_STATE_HOME", home.path().join(".local/state"))
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .env("AWS_ENDPOINT_URL", endpoint)
            .stdin(Stdio::null());
        Run {
            home,
            cmd,
            stdout_given: false,
        }
    }

    /// The PATH of the machine, for tests that need real tools.
    pub fn real_path(self) -> Run {
        self.env("PATH", std::env::var_os("PATH").unwrap_or_default())
    }

    pub fn docker_dir(&self) -> PathBuf {
        self.home.path().join(".docker")
    }

    pub fn config_json(&self) -> PathBuf {
        self.docker_dir().join("config.json")
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.cmd.env_remove(key);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Every file sink at once: config, podman's `DIR/auth.json`, `DIR/docker.tar.gz` and the
    /// Secret `ci/ecr` in `DIR/secret.json`.
    pub fn every_file_sink(self, dir: &Path) -> Run {
        self.args([
            "--method",
            "config,podman,archive,kube-secret",
            "--kube-secret",
            "ci/ecr",
        ])
        .args(["--authfile".as_ref(), dir.join("auth.json").as_os_str()])
        .args(["--archive".as_ref(), dir.join("docker.tar.gz").as_os_str()])
        .args([
            "--kube-output".as_ref(),
            dir.join("secret.json").as_os_str(),
        ])
    }

    /// `--config FILE` with `text` written to FILE in the home directory.
    pub fn with_config(self, text: &str) -> Run {
        let file = self.home.path().join("config.toml");
        std::fs::write(&file, text).unwrap();
        self.args(["--config".as_ref(), file.as_os_str()])
    }

    /// Stdout is a pipe whose reader is already gone (`ecr-login status | head -0`).
    pub fn stdout_closed(mut self) -> Run {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        self.cmd.stdout(writer);
        self.stdout_given = true;
        self
    }

    pub fn command(&mut self) -> &mut Command {
        &mut self.cmd
    }

    /// Run to the end: a run still going after two minutes is a hang, killed and failed.
    #[track_caller]
    pub fn run(&mut self) -> Done {
        const HUNG: Duration = Duration::from_secs(120);
        let started = Instant::now();
        if !self.stdout_given {
            self.cmd.stdout(Stdio::piped());
        }
        let mut child = self
            .cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("running ecr-login");
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = read(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = read(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > HUNG {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ecr-login hung: still running after {HUNG:?}; stderr:\n{}",
                    String::from_utf8_lossy(&stderr.join().unwrap_or_default())
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        Done {
            output: Output {
                status,
                stdout: stdout.join().unwrap_or_default(),
                stderr: stderr.join().unwrap_or_default(),
            },
            elapsed: started.elapsed(),
        }
    }
}

pub struct Done {
    pub output: Output,
    pub elapsed: Duration,
}

impl Done {
    pub fn code(&self) -> i32 {
        self.output.status.code().expect("exited, not killed")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    #[track_caller]
    pub fn expect_stderr_contains(&self, text: &str) -> &Done {
        assert!(
            self.stderr().contains(text),
            "expected {text:?} in stderr:\n{}",
            self.stderr()
        );
        self
    }

    #[track_caller]
    pub fn expect_stdout_contains(&self, text: &str) -> &Done {
        assert!(
            self.stdout().contains(text),
            "expected {text:?} on stdout:\n{}",
            self.stdout()
        );
        self
    }

    /// None of `secrets` on stdout or stderr.
    #[track_caller]
    pub fn expect_no_secret(&self, secrets: &[String]) -> &Done {
        for secret in secrets {
            assert!(
                !self.stdout().contains(secret.as_str())
                    && !self.stderr().contains(secret.as_str()),
                "a secret was printed:\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
        }
        self
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Done {
        assert_eq!(
            self.code(),
            code,
            "stderr:\n{}\nstdout:\n{}",
            self.stderr(),
            self.stdout()
        );
        self
    }
}

/// Read `config.json` and decode `auths[host].auth`.
pub fn auth_of(config: &Path, host: &str) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let auth = value["auths"][host]["auth"].as_str()?;
    Some(String::from_utf8(b64_decode(auth)).unwrap())
}

/// A reverse proxy on loopback that forwards every request to `upstream` and counts the
/// GetAuthorizationToken calls per region (read from the SigV4 credential scope).
pub struct CountingProxy {
    pub port: u16,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    pub requests: Arc<AtomicUsize>,
    /// Every API call seen.
    pub log: Arc<Mutex<Vec<Call>>>,
}

/// One API call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// X-Amz-Target (lowercase) or the STS query `Action`.
    pub target: String,
    pub region: String,
    /// The access key ID the request was signed with.
    pub key: String,
    pub body: String,
}

/// How the proxy bends the traffic it forwards.
#[derive(Clone, Copy, Default)]
pub struct ProxyOptions {
    /// Hold each request this long before forwarding it.
    pub delay: Duration,
    /// Rewrite GetAuthorizationToken's `expiresAt` to now + this (moto's is in 2015).
    pub expires_in: Option<Duration>,
    /// Answer the first `times` GetAuthorizationToken calls with (status, body) instead of
    /// forwarding them: a fault ECR could produce but moto does not.
    pub fault: Option<(u16, &'static str, usize)>,
    /// Send `fault` to this call (an X-Amz-Target, lowercase, or an STS `Action`) instead.
    pub fault_on: Option<&'static str>,
    /// Remove `expiresAt` from GetAuthorizationToken's answers.
    pub drop_expiry: bool,
}

impl CountingProxy {
    pub fn start(upstream: &str, delay: Duration) -> CountingProxy {
        CountingProxy::start_with(
            upstream,
            ProxyOptions {
                delay,
                ..Default::default()
            },
        )
    }

    pub fn start_with(upstream: &str, options: ProxyOptions) -> CountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let (c, r, l) = (calls.clone(), requests.clone(), log.clone());
        let injected = Arc::new(AtomicUsize::new(0));
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (c, r, l, upstream) = (c.clone(), r.clone(), l.clone(), upstream.clone());
                let injected = injected.clone();
                thread::spawn(move || {
                    let _ = proxy_one(client, &upstream, &c, &r, &l, &injected, options);
                });
            }
        });
        CountingProxy {
            port,
            calls,
            requests,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GetAuthorizationToken calls per region.
    pub fn calls(&self) -> HashMap<String, usize> {
        self.calls.lock().unwrap().clone()
    }

    pub fn total_calls(&self) -> usize {
        self.calls().values().sum()
    }

    pub fn log(&self) -> Vec<Call> {
        self.log.lock().unwrap().clone()
    }
}

/// Serve one request of a client connection over a fresh upstream connection.
fn proxy_one(
    client: TcpStream,
    upstream: &str,
    calls: &Mutex<HashMap<String, usize>>,
    requests: &AtomicUsize,
    log: &Mutex<Vec<Call>>,
    injected: &AtomicUsize,
    options: ProxyOptions,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let Some((head, body)) = read_request(&mut reader)? else {
        return Ok(());
    };
    requests.fetch_add(1, Ordering::SeqCst);
    let lower = head.to_ascii_lowercase();
    let credential = lower.split("credential=").nth(1).unwrap_or_default();
    let mut scope = credential.split('/');
    let key = head
        .find("Credential=")
        .map(|i| {
            head[i + 11..]
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    let region = scope.nth(2).unwrap_or("?").to_string();
    let target = lower
        .lines()
        .find_map(|l| l.strip_prefix("x-amz-target: "))
        .map(|t| t.trim().to_string())
        .or_else(|| {
            String::from_utf8_lossy(&body)
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
        })
        .unwrap_or_default();
    log.lock().unwrap().push(Call {
        target: target.clone(),
        region: region.clone(),
        key,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let is_token_call = target == "amazonec2containerregistry_v20150921.getauthorizationtoken";
    if is_token_call {
        *calls.lock().unwrap().entry(region).or_default() += 1;
    }
    thread::sleep(options.delay);
    let faulted = match options.fault_on {
        Some(call) => target == call,
        None => is_token_call,
    };
    if let (true, Some((status, body, times))) = (faulted, options.fault)
        && injected.fetch_add(1, Ordering::SeqCst) < times
    {
        // STS speaks XML; ECR speaks JSON.
        let kind = if body.starts_with('<') {
            "text/xml"
        } else {
            "application/x-amz-json-1.1"
        };
        let response = format!(
            "HTTP/1.1 {status} Fault\r\nContent-Type: {kind}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut out = &client;
        out.write_all(response.as_bytes())?;
        return out.flush();
    }
    // Ask upstream to close after its answer, so "until EOF" is the whole response; then
    // close ours too (the client reconnects for its next request).
    let head: String = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let mut up = TcpStream::connect(upstream)?;
    up.write_all(head.trim_end().as_bytes())?;
    up.write_all(b"\r\nConnection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    if is_token_call && (options.expires_in.is_some() || options.drop_expiry) {
        response = rewrite_expiry(&response, options.expires_in);
    }
    let mut out = &client;
    out.write_all(&response)?;
    out.flush()
}

/// Set every `"expiresAt"` in a JSON response to now + `expires_in` (or remove it), fixing
/// Content-Length.
fn rewrite_expiry(response: &[u8], expires_in: Option<Duration>) -> Vec<u8> {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return response.to_vec();
    };
    let mut value: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return response.to_vec(),
    };
    if let Some(list) = value["authorizationData"].as_array_mut() {
        for data in list {
            match expires_in {
                Some(expires_in) => {
                    let when = (std::time::SystemTime::now() + expires_in)
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    data["expiresAt"] = serde_json::json!(when);
                }
                None => drop(data.as_object_mut().unwrap().remove("expiresAt")),
            }
        }
    }
    let body = value.to_string();
    let head: Vec<String> = head
        .split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {}", body.len())
            } else {
                l.to_string()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// One HTTP/1.1 request: the head (request line and headers) and the body.
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

/// A token-bearing body, and the secrets in it that must never be printed.
pub fn token_body(extra: &str) -> (String, Vec<String>) {
    let password = "s3cret-from-a-broken-answer";
    let token = token_of(password);
    (
        format!(r#"{{"authorizationData":[{{"authorizationToken":"{token}"{extra}}}]}}"#),
        vec![password.to_string(), token],
    )
}

/// A server of the tests' own that answers every request with `status` and `body`: for
/// responses moto cannot produce (malformed tokens, throttling).
pub fn canned_server(status: u16, body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                while let Ok(Some(_)) = read_request(&mut reader) {
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/x-amz-json-1.1\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let mut out = &client;
                    if out.write_all(response.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Accepts connections and never answers: a blackholed endpoint or metadata service.
pub fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for client in listener.incoming().flatten() {
            held.push(client);
        }
    });
    port
}
