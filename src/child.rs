//! Every program ecr-login runs (docker, credential helpers) goes through `run`: its input on
//! stdin, stdout and stderr read at the same time, all under the run's deadline. Each
//! program leads a process group of its own, so at the deadline the whole group is killed and
//! nothing it started keeps running. Programs the AWS SDK starts (`credential_process`) are
//! outside our control: `kill_descendants` ends those.

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::exit::{Code, fail};

/// What a program that ran to its end left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug)]
pub enum Failure {
    /// It could not be started (missing, not executable).
    Spawn(io::Error),
    /// Still running at the deadline: killed, with everything in its process group.
    Deadline,
}

/// Process groups of the programs running now, so a signal that stops ecr-login stops
/// them too.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

impl Failure {
    /// The error of a program that did not run to its end: missing or unstartable (69,
    /// `missing` says what to do), or killed at the deadline (75). `doing` names the run.
    pub fn into_error(self, doing: &str, missing: &str) -> anyhow::Error {
        match self {
            Failure::Spawn(e) if e.kind() == io::ErrorKind::NotFound => {
                fail(Code::Unavailable, missing)
            }
            Failure::Spawn(e) => fail(Code::Unavailable, format!("starting {doing}: {e}")),
            Failure::Deadline => fail(
                Code::TempFail,
                format!("{doing} did not finish before the deadline (killed)"),
            ),
        }
    }
}

enum Event {
    Exited(io::Result<ExitStatus>),
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Run `command` with `input` on stdin until it exits or `deadline` passes.
pub fn run(mut command: Command, input: &[u8], deadline: Instant) -> Result<Output, Failure> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn().map_err(Failure::Spawn)?;
    let group = child.id() as i32;
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(group);

    let (events, received) = mpsc::channel();
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.to_vec();
    // A program that exits without reading closes the pipe; its exit status tells the story.
    thread::spawn(move || drop(stdin.write_all(&input)));
    read_all(child.stdout.take(), events.clone(), Event::Stdout);
    read_all(child.stderr.take(), events.clone(), Event::Stderr);
    thread::spawn(move || drop(events.send(Event::Exited(child.wait()))));

    let (mut status, mut stdout, mut stderr) = (None, None, None);
    let mut killed = false;
    while status.is_none() || stdout.is_none() || stderr.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        // Once killed, the pipes close as the group dies; a member that escaped the group
        // could hold them open, so stop listening after a moment.
        let wait = if killed {
            Duration::from_millis(500)
        } else {
            left
        };
        match received.recv_timeout(wait) {
            Ok(Event::Exited(done)) => status = Some(done),
            Ok(Event::Stdout(bytes)) => stdout = Some(bytes),
            Ok(Event::Stderr(bytes)) => stderr = Some(bytes),
            Err(RecvTimeoutError::Timeout) if !killed => {
                kill_group(group);
                killed = true;
            }
            Err(_) => break,
        }
    }
    forget_group(group);
    if killed {
        return Err(Failure::Deadline);
    }
    let status = status
        .expect("loop ends only with a status or after the kill")
        .map_err(Failure::Spawn)?;
    Ok(Output {
        status,
        stdout: stdout.unwrap_or_default(),
        stderr: stderr.unwrap_or_default(),
    })
}

fn read_all(
    pipe: Option<impl Read + Send + 'static>,
    events: mpsc::Sender<Event>,
    wrap: fn(Vec<u8>) -> Event,
) {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = events.send(wrap(bytes));
    });
}

fn kill_group(group: i32) {
    // SAFETY: killpg only sends a signal; a group that is already gone gives ESRCH.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}

fn forget_group(group: i32) {
    GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|g| *g != group);
}

/// Kill every program still running on our behalf: the process groups of `run` and every
/// descendant of this process (what the SDK started, and what that started).
pub fn kill_all() {
    for group in GROUPS.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        kill_group(group);
    }
    kill_descendants();
}

/// SIGKILL every descendant of this process, found through /proc.
pub fn kill_descendants() {
    let me = std::process::id();
    let parents = parent_of_every_process();
    let mut found = vec![me];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    for pid in found.into_iter().filter(|pid| *pid != me) {
        // SAFETY: kill only sends a signal.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

/// (pid, parent pid) of every process we can see.
fn parent_of_every_process() -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            Some((pid, parent_in_stat(&stat)?))
        })
        .collect()
}

/// The parent pid in /proc/PID/stat: the second field after the command name, which is in
/// parentheses and may itself contain spaces and parentheses.
fn parent_in_stat(stat: &str) -> Option<u32> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_pid_from_stat_with_odd_names() {
        assert_eq!(parent_in_stat("42 (sh) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (a) b (c) R 9 1 1"), Some(9));
        assert_eq!(parent_in_stat("garbage"), None);
    }

    #[test]
    fn output_of_both_streams_and_the_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "cat; echo err >&2; exit 3"]);
        let out = run(cmd, b"in", Instant::now() + Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn large_output_on_both_streams_does_not_deadlock() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2",
        ]);
        let out = run(cmd, b"", Instant::now() + Duration::from_secs(10)).unwrap();
        assert_eq!((out.stdout.len(), out.stderr.len()), (300_000, 300_000));
    }

    #[test]
    fn the_deadline_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("sleep 60 & echo $! > {}; wait", pidfile.display()));
        let started = Instant::now();
        let result = run(cmd, b"", started + Duration::from_millis(500));
        assert!(matches!(result, Err(Failure::Deadline)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        // Killed and reaped by init (its parent, the shell, is gone): no /proc entry, or a
        // zombie on its way out.
        let gone = (0..50).any(|_| {
            let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
            let gone = state.is_err() || state.is_ok_and(|s| s.contains(") Z"));
            if !gone {
                thread::sleep(Duration::from_millis(20));
            }
            gone
        });
        assert!(gone, "the grandchild {pid} survived the deadline");
    }

    #[test]
    fn a_missing_program_is_a_spawn_failure() {
        let result = run(
            Command::new("/nonexistent/program"),
            b"",
            Instant::now() + Duration::from_secs(1),
        );
        assert!(matches!(result, Err(Failure::Spawn(e)) if e.kind() == io::ErrorKind::NotFound));
    }
}
