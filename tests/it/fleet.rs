//! Fleet simulation: the shipped timer and service settings, read from `systemd/`, driving
//! 10,000 nodes booted in one burst for 7 days of simulated time (deterministic: a seeded
//! generator, no sleeping). Each run calls GetAuthorizationToken once per region, so the
//! rates below are per region. `cargo test --test fleet -- --nocapture` prints the figures;
//! `scripts/bench` shows them too.
//!
//! The timer model follows systemd's timer.c: the first run at `OnBootSec` plus a random
//! delay, each next one `OnUnitActiveSec` after the last activation plus a fresh random
//! delay in [0, `RandomizedDelaySec`); a failed run is restarted `RestartSec` later
//! (`Restart=on-failure`) without moving the timer's base.

use std::collections::HashMap;
use std::path::Path;

const NODES: u64 = 10_000;
const HORIZON: u64 = 7 * 86_400;
const TOKEN_LIFETIME: u64 = 12 * 3_600;
const FIRST_HOUR: u64 = 3_600;
/// AWS's quota for GetAuthorizationToken per account and region: 20/s sustained, burst 200.
const QUOTA_RATE: u32 = 20;
const QUOTA_BURST: u32 = 200;

/// The settings of the shipped units that decide when ecr-login runs, in seconds.
#[derive(Debug, PartialEq, Clone, Copy)]
struct Schedule {
    on_boot: u64,
    on_active: u64,
    random_delay: u64,
    restart_sec: Option<u64>,
    /// `--min-valid` on the command line: a run with more left than this makes no call.
    min_valid: Option<u64>,
}

fn unit(name: &str) -> HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A systemd time span ("2min", "11h", "1h 30min"); a bare number is seconds.
fn span(value: &str) -> u64 {
    if let Ok(seconds) = value.parse() {
        return seconds;
    }
    humantime::parse_duration(value)
        .unwrap_or_else(|e| panic!("time span {value:?}: {e}"))
        .as_secs()
}

fn schedule(timer: &str, service: &str) -> Schedule {
    let timer = unit(timer);
    let service = unit(service);
    let get = |key: &str| timer.get(key).map(|v| span(v));
    let exec = service.get("ExecStart").expect("ExecStart=");
    let min_valid = exec
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("--min-valid="))
        .map(span);
    Schedule {
        on_boot: get("OnBootSec").expect("OnBootSec="),
        on_active: get("OnUnitActiveSec").expect("OnUnitActiveSec="),
        random_delay: get("RandomizedDelaySec").unwrap_or(0),
        restart_sec: (service.get("Restart").map(String::as_str) == Some("on-failure"))
            .then(|| span(service.get("RestartSec").map_or("100ms", String::as_str)).max(1)),
        min_valid,
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OnBootSec={}s OnUnitActiveSec={}s RandomizedDelaySec={}s RestartSec={}, --min-valid={}",
            self.on_boot,
            self.on_active,
            self.random_delay,
            self.restart_sec.map_or("none".into(), |s| format!("{s}s")),
            self.min_valid.map_or("unset".into(), |s| format!("{s}s")),
        )
    }
}

/// splitmix64: small, seeded, good enough to spread random delays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

struct Outcome {
    /// Calls in each second of the 7 days, per region.
    calls: Vec<u32>,
    /// The longest time any node held an expired token.
    longest_expired: u64,
    /// The latest moment any node got back from an expired token.
    latest_recovery: u64,
    /// The longest wait from boot to a node's first login.
    first_login: u64,
}

/// Every node through the horizon; `healthy(t)` says whether a call at second t succeeds.
fn simulate(s: &Schedule, healthy: impl Fn(u64) -> bool) -> Outcome {
    let mut out = Outcome {
        calls: vec![0; HORIZON as usize],
        longest_expired: 0,
        latest_recovery: 0,
        first_login: 0,
    };
    let mut rng = Rng(0x00ec_2106_1a55_0001);
    for _ in 0..NODES {
        let mut expires: Option<u64> = None;
        let mut next = s.on_boot + rng.below(s.random_delay);
        while next < HORIZON {
            let start = next;
            let mut t = start;
            loop {
                if let (Some(min_valid), Some(e)) = (s.min_valid, expires)
                    && e > t + min_valid
                {
                    break;
                }
                out.calls[t as usize] += 1;
                if healthy(t) {
                    match expires {
                        None => out.first_login = out.first_login.max(t),
                        Some(e) if e < t => {
                            out.longest_expired = out.longest_expired.max(t - e);
                            out.latest_recovery = out.latest_recovery.max(t);
                        }
                        Some(_) => {}
                    }
                    expires = Some(t + TOKEN_LIFETIME);
                    break;
                }
                match s.restart_sec {
                    Some(delay) if t + delay < HORIZON => t += delay,
                    _ => break,
                }
            }
            // The timer counts from the activation; one that fell due while the run was still
            // restarting was absorbed by it.
            let mut base = start;
            loop {
                next = base + s.on_active + rng.below(s.random_delay);
                if next > t {
                    break;
                }
                base = next;
            }
        }
        if let Some(e) = expires
            && e < HORIZON
        {
            out.longest_expired = out.longest_expired.max(HORIZON - e);
        }
    }
    out
}

impl Outcome {
    fn total(&self) -> u64 {
        self.calls.iter().map(|&c| u64::from(c)).sum()
    }

    fn peak_second(&self, from: u64, to: u64) -> u32 {
        self.calls[from as usize..to as usize]
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// The highest rate over any whole minute starting at or after `from`.
    fn peak_minute(&self, from: u64, to: u64) -> f64 {
        let window = &self.calls[from as usize..to as usize];
        window
            .windows(60)
            .map(|w| w.iter().sum::<u32>())
            .max()
            .map_or(0.0, |m| f64::from(m) / 60.0)
    }

    /// Calls AWS's token bucket (20/s, burst 200) would have throttled.
    fn throttled(&self) -> u64 {
        let mut tokens = QUOTA_BURST;
        let mut throttled = 0;
        for &calls in &self.calls {
            tokens = (tokens + QUOTA_RATE).min(QUOTA_BURST);
            let served = calls.min(tokens);
            throttled += u64::from(calls - served);
            tokens -= served;
        }
        throttled
    }
}

fn minutes(seconds: u64) -> String {
    format!("{}min {:02}s", seconds / 60, seconds % 60)
}

fn shipped() -> Schedule {
    schedule("ecr-login.timer", "ecr-login.service")
}

#[test]
fn template_units_keep_the_same_schedule() {
    assert_eq!(
        schedule("ecr-login@.timer", "ecr-login@.service"),
        shipped()
    );
}

#[test]
fn healthy_fleet_stays_under_the_quota_and_never_expires() {
    let s = shipped();
    let out = simulate(&s, |_| true);
    let runs_per_node = out.total() as f64 / NODES as f64;
    println!("\nfleet: {NODES} nodes booted at once, 7 days; shipped units: {s}");
    println!(
        "  healthy API: {} calls per region ({runs_per_node:.1} per node), mean {:.3}/s",
        out.total(),
        out.total() as f64 / HORIZON as f64
    );
    println!(
        "  first hour: peak {}/s in a second, {:.1}/s over a minute; last node's first login at {}",
        out.peak_second(0, FIRST_HOUR),
        out.peak_minute(0, FIRST_HOUR),
        minutes(out.first_login)
    );
    let (sustained, throttled) = (out.peak_minute(FIRST_HOUR, HORIZON), out.throttled());
    println!(
        "  after it:   peak {}/s in a second, {:.1}/s over a minute; throttled by the 20/s (burst 200) quota: {}",
        out.peak_second(FIRST_HOUR, HORIZON),
        sustained,
        throttled
    );
    println!(
        "  longest expired-token time: {}",
        minutes(out.longest_expired)
    );
    assert!(
        sustained <= f64::from(QUOTA_RATE),
        "sustained rate above the quota"
    );
    assert_eq!(throttled, 0, "calls the quota would throttle");
    assert_eq!(
        out.longest_expired, 0,
        "a node held an expired token with a healthy API"
    );
    // A node reads as up to date at least once per token lifetime.
    assert!(runs_per_node >= (HORIZON / TOKEN_LIFETIME) as f64);
}

#[test]
fn outage_heals_within_one_restart() {
    let s = shipped();
    let restart = s.restart_sec.expect("Restart=on-failure");
    // Three hours without the API, over the fifth wave of runs (about 44 h after boot)
    // and past the 12-hour lifetime of the tokens the fourth wave fetched.
    let (down, up) = (54 * 3_600, 57 * 3_600);
    let out = simulate(&s, |t| !(down..up).contains(&t));
    println!(
        "\n  API down {}h-{}h: peak {:.1}/s over a minute while down (restarts every {}), \
         longest expired-token time {}, last node back {} after the API",
        down / 3_600,
        up / 3_600,
        out.peak_minute(down, up),
        minutes(restart),
        minutes(out.longest_expired),
        minutes(out.latest_recovery.saturating_sub(up))
    );
    assert!(
        out.longest_expired > 0,
        "the outage must reach past some tokens' lifetime, or this tests nothing"
    );
    assert!(
        out.latest_recovery <= up + restart,
        "a node stayed expired longer than one restart after the API came back"
    );
}

#[test]
fn a_random_delay_too_short_for_the_fleet_is_caught() {
    // The same checks on settings that must fail them: no random delay at all.
    let s = Schedule {
        random_delay: 0,
        ..shipped()
    };
    let out = simulate(&s, |_| true);
    assert!(out.peak_minute(FIRST_HOUR, HORIZON) > f64::from(QUOTA_RATE));
    assert!(out.throttled() > 0);
    // And an interval longer than a token's lifetime leaves nodes expired.
    let s = Schedule {
        on_active: 12 * 3_600,
        ..shipped()
    };
    assert!(simulate(&s, |_| true).longest_expired > 0);
}
