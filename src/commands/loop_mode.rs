//! `--every DURATION`: keep credentials fresh without systemd (a container, Nomad, Marathon).
//! Runs, sleeps with jitter, repeats; failures retry with capped exponential backoff so a
//! token never lapses for a passing outage; SIGTERM/SIGINT stop it cleanly (exit 0).

use std::time::Duration;

use sd_notify::NotifyState;
use tokio::signal::unix::{SignalKind, signal};

use super::login;
use super::report::fail_early;
use crate::exit::{Code, ResultExt};
use crate::logging::notify;
use crate::settings::Settings;
use crate::timestamp::short_duration;

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
        Err(err) => return fail_early(&err),
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
    // Jitter needs spread, not secrecy.
    let mut jitter = fastrand::Rng::new();
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
            every.mul_f64(1.0 - 0.1 * jitter.f64())
        } else {
            failures = failures.saturating_add(1);
            backoff(failures, every, jitter.f64())
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
}
