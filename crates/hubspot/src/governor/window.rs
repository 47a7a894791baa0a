//! A rolling-window request budget: at most `max` requests in any `interval`.
//!
//! Why not the `governor` crate: it implements GCRA, a smoothed token bucket. A bucket
//! that allows a burst of B and refills at r per second lets B + r·T requests through in
//! a window of T, which breaks HubSpot's rule of "at most 110 in *any* 10 seconds"
//! unless the burst is cut to a few requests, and it has no way to take in what the
//! server reports (`X-HubSpot-RateLimit-Remaining`, a 429). A log of the last window is
//! exact, holds at most `max` instants, and adapts by editing it.
//!
//! A request in flight holds its slot without a time; when its response is in, the slot
//! is stamped with that moment and kept for one window. HubSpot counted the request on
//! arrival, before it answered, so our window always closes after HubSpot's: a fixed
//! margin on the send time would instead fail whenever the request took longer to
//! arrive than the margin (a slow network, a busy CPU, a new TLS connection).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::RatePermit;

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
    /// Wakes the callers that wait on a window filled by requests still in flight.
    settled: Notify,
}

#[derive(Debug)]
struct WindowState {
    /// The budget configured for this process; the server can only lower it.
    configured_max: u32,
    /// The budget in force: the configured one, or less when HubSpot says so.
    max: u32,
    interval: Duration,
    /// Requests sent and not yet answered: they count until they settle.
    in_flight: usize,
    /// When each settled request of the last window settled, oldest first (and the
    /// requests HubSpot reported that we did not send, stamped when we learned of them).
    settled: VecDeque<Instant>,
    /// No request before this instant (a `Retry-After`).
    blocked_until: Option<Instant>,
}

/// Why a request cannot go yet.
enum Wait {
    /// A slot frees, or a block ends, after this long.
    For(Duration),
    /// Every slot is held by a request in flight: its answer starts the clock.
    ForSettlement,
}

impl SlidingWindow {
    pub(crate) fn new(max: u32, interval: Duration) -> Self {
        let max = max.max(1);
        Self {
            state: Mutex::new(WindowState {
                configured_max: max,
                max,
                interval,
                in_flight: 0,
                settled: VecDeque::with_capacity(max as usize),
                blocked_until: None,
            }),
            settled: Notify::new(),
        }
    }

    /// Waits until one more request fits the window, and counts it as in flight until
    /// the permit is dropped.
    pub(crate) async fn acquire(window: &Arc<Self>) -> RatePermit {
        loop {
            // Registered before the check, so a settlement between the check and the
            // wait still wakes this caller.
            let settlement = window.settled.notified();
            let wait = match window.lock().try_take(Instant::now()) {
                Ok(()) => {
                    let window = Arc::clone(window);
                    return RatePermit::new(move || window.settle());
                }
                Err(wait) => wait,
            };
            match wait {
                Wait::For(duration) => tokio::time::sleep(duration).await,
                Wait::ForSettlement => settlement.await,
            }
        }
    }

    /// A request of this window is over: its slot counts from now for one window.
    fn settle(&self) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.settled.push_back(Instant::now());
        }
        self.settled.notify_waiters();
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
            // pod): remember them as settled now, which over-estimates how long they last.
            let used_by_server = server_max.saturating_sub(remaining) as usize;
            state.prune(now);
            let target = used_by_server.min(state.max as usize);
            state.fill_to(target, now);
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
                // The server says the window is full; our oldest entries leave it first.
                state.prune(now);
                let max = state.max as usize;
                state.fill_to(max, now);
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
    fn counted(&self) -> usize {
        self.in_flight + self.settled.len()
    }

    /// Counts entries settled now until the window holds `target`.
    fn fill_to(&mut self, target: usize, now: Instant) {
        while self.counted() < target {
            self.settled.push_back(now);
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(front) = self.settled.front() {
            if now.duration_since(*front) >= self.interval {
                self.settled.pop_front();
            } else {
                break;
            }
        }
    }

    /// Counts a request sent now, or says what to wait for before trying again.
    fn try_take(&mut self, now: Instant) -> Result<(), Wait> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(Wait::For(until - now));
            }
            self.blocked_until = None;
        }
        self.prune(now);
        if self.counted() < self.max as usize {
            self.in_flight += 1;
            return Ok(());
        }
        // Full. A settled slot frees when it leaves the window; one in flight only
        // starts its window when it settles, so the oldest settled entry always leaves
        // first. After a lowering of `max` several may have to leave; the loop in
        // `acquire` simply tries again.
        match self.settled.front() {
            Some(oldest) => Err(Wait::For(
                (*oldest + self.interval)
                    .saturating_duration_since(now)
                    .max(Duration::from_millis(1)),
            )),
            None => Err(Wait::ForSettlement),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(max: u32, interval: Duration) -> Arc<SlidingWindow> {
        Arc::new(SlidingWindow::new(max, interval))
    }

    /// Sends `n` requests answered at once; returns the instants they were sent at.
    async fn grant_times(window: &Arc<SlidingWindow>, n: usize) -> Vec<Instant> {
        let mut times = Vec::new();
        for _ in 0..n {
            drop(SlidingWindow::acquire(window).await);
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
        let window = window(5, interval);
        let times = grant_times(&window, 23).await;
        assert!(max_in_any_window(&times, interval) <= 5);
        // The first five go at once, the rest one window later each.
        assert_eq!(times[4], times[0]);
        assert!(times[5] - times[0] >= interval);
    }

    #[tokio::test(start_paused = true)]
    async fn server_headers_lower_the_budget_with_headroom() {
        let window = window(100, Duration::from_secs(10));
        window.observe_headers(Some(20), Some(20), Some(Duration::from_secs(1)));
        assert_eq!(window.current_max(), 18);
        let times = grant_times(&window, 40).await;
        assert!(max_in_any_window(&times, Duration::from_secs(1)) <= 18);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_counted_elsewhere_take_our_budget() {
        let window = window(100, Duration::from_secs(10));
        // The server has seen 95 of 110 from someone else: 99 allowed minus 95 used.
        window.observe_headers(Some(110), Some(15), None);
        let start = Instant::now();
        let times = grant_times(&window, 5).await;
        assert_eq!(times[3], start);
        assert!(times[4] - start >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_blocks_every_caller() {
        let window = window(100, Duration::from_secs(10));
        window.observe_rejection(Some(Duration::from_secs(3)));
        let start = Instant::now();
        drop(SlidingWindow::acquire(&window).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_hints_and_intervals_neither_panic_nor_stall() {
        let window = window(2, Duration::from_secs(10));
        // An interval no HubSpot window has is ignored.
        window.observe_headers(None, None, Some(Duration::from_millis(u64::MAX)));
        // A wait past what an Instant holds is bounded, not an overflow.
        window.observe_rejection(Some(Duration::from_secs(u64::MAX)));
        let start = Instant::now();
        for _ in 0..3 {
            drop(SlidingWindow::acquire(&window).await);
        }
        assert!(Instant::now() - start <= MAX_BLOCK + Duration::from_secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn rejection_without_hint_waits_for_the_window() {
        let window = window(4, Duration::from_secs(1));
        let start = Instant::now();
        drop(SlidingWindow::acquire(&window).await);
        window.observe_rejection(None);
        drop(SlidingWindow::acquire(&window).await);
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_counts_for_a_whole_window_after_its_answer() {
        // HubSpot may have counted a request that took 3 s at any moment of those
        // 3 s: its slot is only free one window after the answer.
        let window = window(2, Duration::from_secs(1));
        let start = Instant::now();
        let slow = SlidingWindow::acquire(&window).await;
        let _still_in_flight = SlidingWindow::acquire(&window).await;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            drop(slow);
        });
        drop(SlidingWindow::acquire(&window).await);
        assert_eq!(Instant::now() - start, Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_waiting_on_requests_in_flight_wakes_when_one_is_answered() {
        let window = window(1, Duration::from_secs(1));
        let start = Instant::now();
        let in_flight = SlidingWindow::acquire(&window).await;
        let waiter = tokio::spawn({
            let window = Arc::clone(&window);
            async move {
                drop(SlidingWindow::acquire(&window).await);
                Instant::now()
            }
        });
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            !waiter.is_finished(),
            "no slot while the request is in flight"
        );
        drop(in_flight);
        let granted = waiter.await.unwrap();
        assert_eq!(granted - start, Duration::from_secs(3));
    }
}
