//! [`RestartPolicy`]: when a supervised worker is restarted, how often at
//! most, and how long the manager pauses first.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::worker::{Next, Worker, WorkerState};

/// Which ends of a supervised worker lead to a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Restart when the worker fails: exits with a code other than 0, is
    /// killed by a signal, or is lost. A clean exit (0) ends the
    /// supervision. OTP calls this a *transient* child.
    OnFailure,
    /// Restart whenever the worker ends, clean exits included: for a
    /// worker that should run for as long as the master does. OTP calls
    /// this a *permanent* child.
    Always,
}

/// How a supervised worker is kept alive: which ends restart it, at most
/// how many restarts within a window (past which the manager gives up, like
/// an OTP supervisor), and the backoff before each restart.
///
/// The backoff doubles with each restart still inside the window, from
/// `first` up to `max`: a worker that fails once a day restarts after
/// `first`, one that crashes in a loop slows down, then is given up.
/// Nothing is restarted while the manager shuts down.
///
/// ```
/// use forkwise_fork::{Restart, RestartPolicy};
/// use std::time::Duration;
///
/// let policy = RestartPolicy::on_failure()
///     .max_restarts(3, Duration::from_secs(10))
///     .backoff(Duration::from_millis(10), Duration::from_secs(1));
/// assert_eq!(policy.restart(), Restart::OnFailure);
/// assert_eq!(policy.restart_limit(), (3, Duration::from_secs(10)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    restart: Restart,
    max_restarts: u32,
    window: Duration,
    first_backoff: Duration,
    max_backoff: Duration,
}

impl RestartPolicy {
    /// Restart on failure only; at most 5 restarts within 60 s; backoff
    /// from 100 ms, doubling, up to 5 s.
    ///
    /// ```
    /// let policy = forkwise_fork::RestartPolicy::on_failure();
    /// assert_eq!(policy.restart(), forkwise_fork::Restart::OnFailure);
    /// ```
    pub fn on_failure() -> Self {
        Self {
            restart: Restart::OnFailure,
            max_restarts: 5,
            window: Duration::from_secs(60),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Restart whenever the worker ends; the limits of
    /// [`on_failure`](Self::on_failure).
    ///
    /// ```
    /// let policy = forkwise_fork::RestartPolicy::always();
    /// assert_eq!(policy.restart(), forkwise_fork::Restart::Always);
    /// ```
    pub fn always() -> Self {
        Self {
            restart: Restart::Always,
            ..Self::on_failure()
        }
    }

    /// At most `count` restarts within any `window`; the next end that
    /// would restart the worker makes the manager give up instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = forkwise_fork::RestartPolicy::always().max_restarts(0, Duration::ZERO);
    /// assert_eq!(policy.restart_limit().0, 0); // never restarted
    /// ```
    #[must_use]
    pub fn max_restarts(mut self, count: u32, window: Duration) -> Self {
        self.max_restarts = count;
        self.window = window;
        self
    }

    /// Pause `first` before the first restart within the window, then twice
    /// as long each time, never more than `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = forkwise_fork::RestartPolicy::on_failure()
    ///     .backoff(Duration::ZERO, Duration::ZERO); // restart at once
    /// assert_eq!(policy.backoff_range(), (Duration::ZERO, Duration::ZERO));
    /// ```
    #[must_use]
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.first_backoff = first;
        self.max_backoff = max.max(first);
        self
    }

    /// Which ends restart the worker.
    pub fn restart(&self) -> Restart {
        self.restart
    }

    /// The most restarts allowed, and the window they are counted in.
    pub fn restart_limit(&self) -> (u32, Duration) {
        (self.max_restarts, self.window)
    }

    /// The first and the longest backoff.
    pub fn backoff_range(&self) -> (Duration, Duration) {
        (self.first_backoff, self.max_backoff)
    }

    /// The pause before restart number `n` (1-based) within the window.
    fn backoff_for(&self, n: usize) -> Duration {
        let doublings = u32::try_from(n.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(32);
        self.first_backoff
            .saturating_mul(1 << doublings.min(31))
            .min(self.max_backoff)
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self::on_failure()
    }
}

/// A supervised worker's closure, shared by the slots of its group; each
/// process runs its own copy.
pub(crate) type Body = Rc<RefCell<dyn FnMut(&Worker) -> u8>>;

/// The supervision of one slot.
pub(crate) struct Supervision {
    pub(crate) policy: RestartPolicy,
    pub(crate) body: Body,
    /// When the restarts still inside the window happened.
    recent: VecDeque<Instant>,
    /// When the pending restart is due.
    pub(crate) restart_at: Option<Instant>,
}

impl Supervision {
    pub(crate) fn new(policy: RestartPolicy, body: Body) -> Self {
        Self {
            policy,
            body,
            recent: VecDeque::new(),
            restart_at: None,
        }
    }

    /// Decides what follows an end in `state` at `now`, and schedules the
    /// restart if there is one.
    pub(crate) fn after_end(
        &mut self,
        state: WorkerState,
        now: Instant,
        shutting_down: bool,
    ) -> Next {
        let next = decide(&self.policy, &mut self.recent, state, now, shutting_down);
        self.restart_at = match next {
            Next::Restart { after } => Some(now + after),
            _ => None,
        };
        next
    }
}

impl fmt::Debug for Supervision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervision")
            .field("policy", &self.policy)
            .field("recent", &self.recent.len())
            .field("restart_at", &self.restart_at)
            .finish_non_exhaustive()
    }
}

/// The policy's verdict on an end; records the restart in `recent`.
fn decide(
    policy: &RestartPolicy,
    recent: &mut VecDeque<Instant>,
    state: WorkerState,
    now: Instant,
    shutting_down: bool,
) -> Next {
    if shutting_down || (policy.restart == Restart::OnFailure && state.success()) {
        return Next::Done;
    }
    while recent
        .front()
        .is_some_and(|&at| now.saturating_duration_since(at) >= policy.window)
    {
        recent.pop_front();
    }
    if recent.len() >= usize::try_from(policy.max_restarts).unwrap_or(usize::MAX) {
        return Next::GaveUp;
    }
    recent.push_back(now);
    Next::Restart {
        after: policy.backoff_for(recent.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use forkwise_signal::Signal;

    const FAILED: WorkerState = WorkerState::Exited(1);
    const MS: Duration = Duration::from_millis(1);

    fn policy() -> RestartPolicy {
        RestartPolicy::on_failure()
            .max_restarts(3, Duration::from_secs(10))
            .backoff(10 * MS, 35 * MS)
    }

    #[test]
    fn on_failure_does_not_restart_a_clean_exit() {
        let mut recent = VecDeque::new();
        let now = Instant::now();
        let ok = WorkerState::Exited(0);
        assert_eq!(decide(&policy(), &mut recent, ok, now, false), Next::Done);
        let killed = WorkerState::Killed {
            signal: Signal::SIGKILL,
            core_dumped: false,
        };
        assert!(matches!(
            decide(&policy(), &mut recent, killed, now, false),
            Next::Restart { .. }
        ));
    }

    #[test]
    fn always_restarts_a_clean_exit() {
        let always = RestartPolicy::always().backoff(MS, MS);
        let mut recent = VecDeque::new();
        let next = decide(
            &always,
            &mut recent,
            WorkerState::Exited(0),
            Instant::now(),
            false,
        );
        assert_eq!(next, Next::Restart { after: MS });
    }

    #[test]
    fn nothing_restarts_during_shutdown() {
        let mut recent = VecDeque::new();
        let next = decide(&policy(), &mut recent, FAILED, Instant::now(), true);
        assert_eq!(next, Next::Done);
        assert!(recent.is_empty());
    }

    #[test]
    fn backoff_doubles_to_its_maximum_then_the_manager_gives_up() {
        let mut recent = VecDeque::new();
        let now = Instant::now();
        let pauses: Vec<Next> = (0..4)
            .map(|_| decide(&policy(), &mut recent, FAILED, now, false))
            .collect();
        assert_eq!(
            pauses,
            [
                Next::Restart { after: 10 * MS },
                Next::Restart { after: 20 * MS },
                Next::Restart { after: 35 * MS },
                Next::GaveUp,
            ]
        );
    }

    #[test]
    fn restarts_older_than_the_window_are_forgotten() {
        let mut recent = VecDeque::new();
        let start = Instant::now();
        for _ in 0..3 {
            decide(&policy(), &mut recent, FAILED, start, false);
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(
            decide(&policy(), &mut recent, FAILED, later, false),
            Next::Restart { after: 10 * MS },
            "the window moved on: the first backoff again"
        );
    }

    #[test]
    fn zero_restarts_gives_up_at_the_first_failure() {
        let never = policy().max_restarts(0, Duration::from_secs(1));
        let mut recent = VecDeque::new();
        assert_eq!(
            decide(&never, &mut recent, FAILED, Instant::now(), false),
            Next::GaveUp
        );
    }
}
