//! HubSpot's per-portal request limits: a rolling 10-second window with its
//! `X-HubSpot-RateLimit-*` headers, a separate per-second search bucket (no headers) and an
//! optional daily limit.
//!
//! A sliding log rather than the `governor` crate: HubSpot reports "remaining in the rolling
//! window", which a GCRA limiter cannot answer, and the log is a few lines.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::RateLimitConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    TenSecondlyRolling,
    Secondly,
    Daily,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Self::TenSecondlyRolling => "TEN_SECONDLY_ROLLING",
            Self::Secondly => "SECONDLY",
            Self::Daily => "DAILY",
        }
    }

    /// The limit's spelling in a 429's `groupName` (`publicapi:oauth-app-{kind}:{hubId}`).
    pub fn group_kind(self) -> &'static str {
        match self {
            Self::TenSecondlyRolling => "ten-secondly",
            Self::Secondly => "secondly",
            Self::Daily => "daily",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::TenSecondlyRolling => "You have reached your ten_secondly_rolling limit.",
            Self::Secondly => "You have reached your secondly limit.",
            Self::Daily => "You have reached your daily limit.",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; `remaining` is what is left in the window (None for search).
    Allowed { remaining: Option<u32> },
    Limited {
        policy: Policy,
        retry_after: Duration,
    },
}

#[derive(Debug)]
pub struct RateLimiter {
    pub config: RateLimitConfig,
    window: VecDeque<Instant>,
    search: VecDeque<Instant>,
    daily: u64,
    day_started: Instant,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            window: VecDeque::new(),
            search: VecDeque::new(),
            daily: 0,
            day_started: Instant::now(),
        }
    }

    /// Decides a request now; an allowed request consumes a slot, a limited one does not.
    pub fn check(&mut self, search: bool, now: Instant) -> Decision {
        let interval = Duration::from_millis(self.config.interval_ms.max(1));
        let max = self.config.max_per_interval;
        if now.duration_since(self.day_started) >= Duration::from_secs(86_400) {
            self.day_started = now;
            self.daily = 0;
        }
        if !self.config.enabled {
            if !search {
                prune(&mut self.window, now, interval);
                self.window.push_back(now);
            }
            let remaining = (!search).then(|| max.saturating_sub(self.window.len() as u32));
            return Decision::Allowed { remaining };
        }
        if let Some(daily_max) = self.config.daily_max
            && self.daily >= daily_max
        {
            let left =
                Duration::from_secs(86_400).saturating_sub(now.duration_since(self.day_started));
            return Decision::Limited {
                policy: Policy::Daily,
                retry_after: left,
            };
        }
        let (log, limit, period, policy) = if search {
            (
                &mut self.search,
                self.config.search_per_second,
                Duration::from_secs(1),
                Policy::Secondly,
            )
        } else {
            (&mut self.window, max, interval, Policy::TenSecondlyRolling)
        };
        prune(log, now, period);
        if log.len() as u32 >= limit {
            let oldest = log.front().copied().unwrap_or(now);
            return Decision::Limited {
                policy,
                retry_after: period.saturating_sub(now.duration_since(oldest)),
            };
        }
        log.push_back(now);
        self.daily += 1;
        Decision::Allowed {
            remaining: (!search).then(|| limit.saturating_sub(log.len() as u32)),
        }
    }
}

fn prune(log: &mut VecDeque<Instant>, now: Instant, period: Duration) {
    while log
        .front()
        .is_some_and(|t| now.duration_since(*t) >= period)
    {
        log.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rolling_window_refuses_past_its_max_and_frees_slots_as_they_age() {
        let mut limiter = RateLimiter::new(RateLimitConfig {
            max_per_interval: 3,
            interval_ms: 1000,
            ..RateLimitConfig::default()
        });
        let t0 = Instant::now();
        for expected in [2, 1, 0] {
            assert_eq!(
                limiter.check(false, t0),
                Decision::Allowed {
                    remaining: Some(expected)
                }
            );
        }
        assert!(matches!(
            limiter.check(false, t0 + Duration::from_millis(500)),
            Decision::Limited {
                policy: Policy::TenSecondlyRolling,
                ..
            }
        ));
        assert!(matches!(
            limiter.check(false, t0 + Duration::from_millis(1000)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn the_window_rolls_rather_than_resetting_at_fixed_boundaries() {
        // max 3 per 1000 ms, requests at 0, 400 and 800 ms: a fixed window would start
        // afresh at 1000 and allow 1100; the rolling one still holds 400, 800 and 1000 then
        let mut limiter = RateLimiter::new(RateLimitConfig {
            max_per_interval: 3,
            interval_ms: 1000,
            ..RateLimitConfig::default()
        });
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        for (ms, left) in [(0, 2), (400, 1), (800, 0)] {
            assert_eq!(
                limiter.check(false, at(ms)),
                Decision::Allowed {
                    remaining: Some(left)
                },
                "at {ms} ms"
            );
        }
        // the request of 0 ms has aged out: one slot, taken
        assert_eq!(
            limiter.check(false, at(1000)),
            Decision::Allowed { remaining: Some(0) }
        );
        // 400 ms is still inside the window: refused until it ages out at 1400
        assert_eq!(
            limiter.check(false, at(1100)),
            Decision::Limited {
                policy: Policy::TenSecondlyRolling,
                retry_after: Duration::from_millis(300),
            }
        );
        assert_eq!(
            limiter.check(false, at(1400)),
            Decision::Allowed { remaining: Some(0) }
        );
    }

    #[test]
    fn search_has_its_own_secondly_bucket() {
        let mut limiter = RateLimiter::new(RateLimitConfig {
            search_per_second: 2,
            ..RateLimitConfig::default()
        });
        let t0 = Instant::now();
        assert_eq!(
            limiter.check(true, t0),
            Decision::Allowed { remaining: None }
        );
        assert_eq!(
            limiter.check(true, t0),
            Decision::Allowed { remaining: None }
        );
        assert!(matches!(
            limiter.check(true, t0),
            Decision::Limited {
                policy: Policy::Secondly,
                ..
            }
        ));
        assert!(matches!(
            limiter.check(false, t0),
            Decision::Allowed {
                remaining: Some(109)
            }
        ));
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let mut limiter = RateLimiter::new(RateLimitConfig {
            enabled: false,
            max_per_interval: 1,
            ..RateLimitConfig::default()
        });
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(matches!(limiter.check(true, t0), Decision::Allowed { .. }));
            assert!(matches!(limiter.check(false, t0), Decision::Allowed { .. }));
        }
    }
}
