//! A rolling-window request budget: at most `max` requests in any `interval`.
//!
//! Why not the `governor` crate: it implements GCRA, a smoothed token bucket. A bucket
//! that allows a burst of B and refills at r per second lets B + r·T requests through in
//! a window of T, which breaks HubSpot's rule of "at most 110 in *any* 10 seconds"
//! unless the burst is cut to a few requests, and it has no way to take in what the
//! server reports (`X-HubSpot-RateLimit-Remaining`, a 429). A log of the send times of
//! the last window is exact, holds at most `max` instants, and adapts by editing it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Send times are kept a little longer than the window: HubSpot starts its clock when
/// the request arrives, a moment after we stamped it, and an entry dropped too early
/// would let one request too many through at the edge of the window.
const EDGE_SLACK_RATIO: f64 = 0.02;

/// The longest window a header may set. HubSpot's is 10 s; a far longer one is a
/// broken header, and adopting it would hold every request of the portal that long.
const MAX_INTERVAL: Duration = Duration::from_secs(60);

/// The longest a rejection may block the window (the client already cuts hints to its
/// in-process retry bound; this keeps any other caller of the trait bounded too).
const MAX_BLOCK: Duration = Duration::from_secs(3_600);

#[derive(Debug)]
pub(crate) struct SlidingWindow {
    // A std mutex: every critical section is a few comparisons, never held across an
    // await (the waiting happens outside, in `acquire`).
    state: Mutex<WindowState>,
}

#[derive(Debug)]
struct WindowState {
    /// The budget configured for this process; the server can only lower it.
    configured_max: u32,
    /// The budget in force: the configured one, or less when HubSpot says so.
    max: u32,
    interval: Duration,
    sent: VecDeque<Instant>,
    /// No request before this instant (a `Retry-After`).
    blocked_until: Option<Instant>,
}

impl SlidingWindow {
    pub(crate) fn new(max: u32, interval: Duration) -> Self {
        let max = max.max(1);
        Self {
            state: Mutex::new(WindowState {
                configured_max: max,
                max,
                interval,
                sent: VecDeque::with_capacity(max as usize),
                blocked_until: None,
            }),
        }
    }

    /// Waits until one more request fits the window, and counts it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait = match self.lock().try_take(Instant::now()) {
                Ok(()) => return,
                Err(wait) => wait,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes in HubSpot's view of the window: its size and what is left of it.
    pub(crate) fn observe_headers(
        &self,
        server_max: Option<u32>,
        remaining: Option<u32>,
        interval: Option<Duration>,
    ) {
        let mut state = self.lock();
        let now = Instant::now();
        if let Some(interval) = interval.filter(|i| !i.is_zero() && *i <= MAX_INTERVAL) {
            state.interval = interval;
        }
        if let Some(server_max) = server_max.filter(|m| *m > 0) {
            // Keep ~10 % of the server's budget free for other processes and for the
            // requests already on the wire when the header was written.
            let headroom = (server_max / 10).max(1);
            state.max = state
                .configured_max
                .min(server_max.saturating_sub(headroom))
                .max(1);
        }
        if let (Some(server_max), Some(remaining)) = (server_max, remaining) {
            // Requests the server counted that we did not send (another process, another
            // pod): remember them as sent now, which over-estimates how long they last.
            let used_by_server = server_max.saturating_sub(remaining) as usize;
            state.prune(now);
            let target = used_by_server.min(state.max as usize);
            while state.sent.len() < target {
                state.sent.push_back(now);
            }
        }
    }

    /// A 429 for this window: wait as told, or assume the window is full right now.
    pub(crate) fn observe_rejection(&self, retry_after: Option<Duration>) {
        let mut state = self.lock();
        let now = Instant::now();
        match retry_after {
            Some(wait) => {
                // A wait past what an `Instant` can hold is no wait we could honour
                // anyway; callers bound hints well before that.
                let until = now.checked_add(wait.min(MAX_BLOCK)).unwrap_or(now);
                state.blocked_until = Some(state.blocked_until.map_or(until, |b| b.max(until)));
            }
            None => {
                // The server says the window is full; our oldest sends leave it first.
                state.prune(now);
                let max = state.max as usize;
                while state.sent.len() < max {
                    state.sent.push_back(now);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowState> {
        // A poisoned lock only means a panic elsewhere mid-update of plain counters;
        // the state is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn current_max(&self) -> u32 {
        self.lock().max
    }
}

impl WindowState {
    fn retention(&self) -> Duration {
        self.interval + self.interval.mul_f64(EDGE_SLACK_RATIO)
    }

    fn prune(&mut self, now: Instant) {
        let retention = self.retention();
        while let Some(front) = self.sent.front() {
            if now.duration_since(*front) >= retention {
                self.sent.pop_front();
            } else {
                break;
            }
        }
    }

    /// Counts a request sent now, or says how long to wait before trying again.
    fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(until - now);
            }
            self.blocked_until = None;
        }
        self.prune(now);
        if self.sent.len() < self.max as usize {
            self.sent.push_back(now);
            return Ok(());
        }
        // Full: the slot frees when the oldest send leaves the window. After a
        // lowering of `max` several entries may have to leave; the loop in `acquire`
        // simply tries again.
        let oldest = self.sent.front().copied().unwrap_or(now);
        let frees_at = oldest + self.retention();
        Err(frees_at
            .saturating_duration_since(now)
            .max(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Acquires `n` permits and returns the instants they were granted at.
    async fn grant_times(window: &SlidingWindow, n: usize) -> Vec<Instant> {
        let mut times = Vec::new();
        for _ in 0..n {
            window.acquire().await;
            times.push(Instant::now());
        }
        times
    }

    fn max_in_any_window(times: &[Instant], interval: Duration) -> usize {
        times
            .iter()
            .map(|start| {
                times
                    .iter()
                    .filter(|t| **t >= *start && **t < *start + interval)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_max_in_any_window() {
        let interval = Duration::from_secs(10);
        let window = SlidingWindow::new(5, interval);
        let times = grant_times(&window, 23).await;
        assert!(max_in_any_window(&times, interval) <= 5);
        // The first five go at once, the rest one window later each.
        assert_eq!(times[4], times[0]);
        assert!(times[5] - times[0] >= interval);
    }

    #[tokio::test(start_paused = true)]
    async fn server_headers_lower_the_budget_with_headroom() {
        let window = SlidingWindow::new(100, Duration::from_secs(10));
        window.observe_headers(Some(20), Some(20), Some(Duration::from_secs(1)));
        assert_eq!(window.current_max(), 18);
        let times = grant_times(&window, 40).await;
        assert!(max_in_any_window(&times, Duration::from_secs(1)) <= 18);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_counted_elsewhere_take_our_budget() {
        let window = SlidingWindow::new(100, Duration::from_secs(10));
        // The server has seen 95 of 110 from someone else: 99 allowed minus 95 used.
        window.observe_headers(Some(110), Some(15), None);
        let start = Instant::now();
        let times = grant_times(&window, 5).await;
        assert_eq!(times[3], start);
        assert!(times[4] - start >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_every_caller() {
        let window = SlidingWindow::new(100, Duration::from_secs(10));
        window.observe_rejection(Some(Duration::from_secs(3)));
        let start = Instant::now();
        window.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_hints_and_intervals_neither_panic_nor_stall() {
        let window = SlidingWindow::new(2, Duration::from_secs(10));
        // An interval no HubSpot window has is ignored.
        window.observe_headers(None, None, Some(Duration::from_millis(u64::MAX)));
        // A wait past what an Instant holds is bounded, not an overflow.
        window.observe_rejection(Some(Duration::from_secs(u64::MAX)));
        let start = Instant::now();
        for _ in 0..3 {
            window.acquire().await;
        }
        assert!(Instant::now() - start <= MAX_BLOCK + Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn rejection_without_hint_waits_for_the_window() {
        let window = SlidingWindow::new(4, Duration::from_secs(1));
        let start = Instant::now();
        window.acquire().await;
        window.observe_rejection(None);
        window.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }
}
