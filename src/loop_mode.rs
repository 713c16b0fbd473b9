//! `--every DURATION`: keep credentials fresh without systemd (a container, Nomad, Marathon).
//! Runs, sleeps with jitter, repeats; failures retry with capped exponential backoff so a
//! token never lapses for a passing outage; SIGTERM/SIGINT stop it cleanly (exit 0).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};

use crate::exit::{Code, ResultExt};
use crate::logging::notify;
use crate::login;
use crate::settings::Settings;
use crate::status::short_duration;

/// First retry after a failure; doubles per consecutive failure up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
/// Well inside a 12 h token: even a long outage is retried every few minutes.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub async fn run(settings: &Settings, every: Duration) -> Code {
    let signals = signal(SignalKind::terminate())
        .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
        .code(Code::Software, "installing signal handlers");
    let (mut term, mut int) = match signals {
        Ok(s) => s,
        Err(err) => return login::fail_early(&err),
    };
    // Pinged from its own task, so a run blocked past WatchdogSec= gets the unit restarted.
    if let Some(interval) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                notify(NotifyState::Watchdog);
            }
        });
    }
    let mut jitter = Jitter::seeded();
    let mut failures: u32 = 0;
    let mut ready = false;
    loop {
        let code = tokio::select! {
            code = login::run(settings) => code,
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        if !ready {
            notify(NotifyState::Ready);
            ready = true;
        }
        let wait = if code == Code::Ok {
            failures = 0;
            // Only ever earlier than asked: a late run could let a token lapse.
            every.mul_f64(1.0 - 0.1 * jitter.next())
        } else {
            failures = failures.saturating_add(1);
            backoff(failures, every, jitter.next())
        };
        log::info!("next run in {}", short_duration(wait));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    notify(NotifyState::Stopping);
    // Whatever the interrupted run had started (docker, a helper, credential_process) stops
    // with us.
    crate::child::kill_all();
    log::info!("stopping on signal");
    Code::Ok
}

/// Delay before retry number `failures` (1-based): exponential, capped by `MAX_BACKOFF` and
/// by `every`, with the upper half jittered so a fleet does not retry in step.
fn backoff(failures: u32, every: Duration, random: f64) -> Duration {
    let exp = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(16));
    let cap = exp.min(MAX_BACKOFF).min(every);
    cap.mul_f64(0.5 + 0.5 * random)
}

/// xorshift64*: jitter needs spread, not secrecy, and a crate for it would be overkill.
struct Jitter(u64);

impl Jitter {
    fn seeded() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Jitter(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    /// Uniform in [0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let every = Duration::from_secs(6 * 3600);
        let top = |n| backoff(n, every, 0.999_999);
        assert!(top(1) <= Duration::from_secs(5));
        assert!(top(2) <= Duration::from_secs(10) && top(2) > Duration::from_secs(9));
        assert!(top(7) <= MAX_BACKOFF && top(7) > Duration::from_secs(299));
        assert!(top(1000) <= MAX_BACKOFF);
        // Never less than half the step, never more than --every.
        assert_eq!(backoff(3, every, 0.0), Duration::from_secs(10));
        assert!(backoff(10, Duration::from_secs(2), 0.999) <= Duration::from_secs(2));
    }

    #[test]
    fn jitter_is_spread_in_unit_interval() {
        let mut j = Jitter::seeded();
        let samples: Vec<f64> = (0..10_000).map(|_| j.next()).collect();
        assert!(samples.iter().all(|x| (0.0..1.0).contains(x)));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((0.45..0.55).contains(&mean), "{mean}");
    }
}
