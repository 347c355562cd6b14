//! The master's wait loop: one round dispatches signals, reaps what ended,
//! reads captured output, restarts supervised workers and moves a shutdown
//! along; between rounds the master sleeps in `poll(2)` on the signal
//! wake-up descriptor, the output pipes and the workers' pidfds.
//!
//! A worker's end wakes the loop through its pidfd, which the loop polls
//! with the rest and reaps when it turns readable. Where no pidfd could be
//! opened, `SIGCHLD` (forkwise-signal's wake pipe) wakes it instead. Every
//! running worker without a pidfd is also checked at the start of each wait
//! and every [`SCAN_INTERVAL`], so an end that no signal reported (a
//! `SIGCHLD` that some other code blocked or swallowed) delays the reaping,
//! never loses it.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Operation, Result};
use crate::manager::{ForkManager, Slot, pipe_error};
use crate::output::{Captured, MAX_LINE, OutputLine, Sink, Stream};
use crate::signals::Signals;
use crate::supervise::{Body, RestartPolicy, Supervision};
use crate::sys::{self, Pid};
use crate::worker::{Next, Worker, WorkerEnd, WorkerGroup, WorkerId, WorkerState};
use crate::{builder::DropPolicy, logger};

/// How often every running worker is checked even without a `SIGCHLD`.
pub(crate) const SCAN_INTERVAL: Duration = Duration::from_millis(100);

/// How a [`ForkManager::wait_until`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The condition holds.
    Done,
    /// The deadline passed first.
    TimedOut,
    /// The extra descriptor became readable first.
    ExtraReady,
}

impl ForkManager {
    /// Runs rounds until `done` holds, `deadline` passes, or `extra`
    /// becomes readable. A deadline in the past runs one round.
    pub(crate) fn wait_until(
        &mut self,
        deadline: Option<Instant>,
        extra: Option<RawFd>,
        done: impl Fn(&Self) -> bool,
    ) -> Result<Waited> {
        let mut scan = true;
        loop {
            self.round(scan)?;
            scan = false;
            if done(self) {
                return Ok(Waited::Done);
            }
            let now = Instant::now();
            let mut wake = self.last_scan + SCAN_INTERVAL;
            for due in [deadline, self.next_timer()].into_iter().flatten() {
                wake = wake.min(due);
            }
            let ready = self.poll_once(Some(wake.saturating_duration_since(now)), extra)?;
            if ready {
                return Ok(Waited::ExtraReady);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                self.round(false)?;
                return Ok(if done(self) {
                    Waited::Done
                } else {
                    Waited::TimedOut
                });
            }
        }
    }

    /// One round; never blocks (beyond the callbacks it runs).
    fn round(&mut self, scan: bool) -> Result<()> {
        // Skipped when there is nothing to run: a dispatch takes locks, and
        // every page the master writes while a worker shares it is copied.
        // A readable wake-up descriptor may hold a byte only a dispatch reads.
        if forkwise_signal::is_pending() || std::mem::take(&mut self.wake_ready) {
            forkwise_signal::dispatch();
        }
        self.handle_shutdown_requests();
        let child_ended = self.signals.as_ref().is_some_and(Signals::take_child_ended);
        if scan || child_ended || self.scan_due || self.last_scan.elapsed() >= SCAN_INTERVAL {
            self.last_scan = Instant::now();
            self.scan_due = false;
            self.reap_ended()?;
        }
        self.kill_after_grace();
        self.restart_due();
        Ok(())
    }

    /// The next restart or shutdown deadline.
    fn next_timer(&self) -> Option<Instant> {
        let restarts = self
            .slots
            .iter()
            .filter_map(|slot| slot.supervision.as_ref()?.restart_at);
        restarts.chain(self.shutdown.kill_at).min()
    }

    /// Sleeps until a signal, output, a worker's end, `extra` or the
    /// timeout; reads the output that is ready and reaps the workers that
    /// ended. True if `extra` is readable.
    fn poll_once(&mut self, timeout: Option<Duration>, extra: Option<RawFd>) -> Result<bool> {
        // Reused: no allocation per round, and one buffer for the master to
        // write while a freshly forked worker shares its pages.
        let mut fds = std::mem::take(&mut self.pollfds);
        fds.clear();
        if let Some(signals) = &self.signals {
            fds.push(sys::readable(signals.wake_fd().as_raw_fd()));
        }
        let first_output = fds.len() + usize::from(extra.is_some());
        fds.extend(extra.map(sys::readable));
        for slot in &self.slots {
            if let Some(captured) = &slot.captured {
                fds.extend(captured.fds().map(sys::readable));
            }
        }
        let first_end = fds.len();
        for slot in &self.slots {
            fds.extend(slot.ended.as_ref().map(|fd| sys::readable(fd.as_raw_fd())));
        }
        sys::poll(&mut fds, timeout).map_err(|e| Error::os(Operation::Poll, None, e))?;
        self.wake_ready |= self.signals.is_some() && fds[0].revents != 0;
        let extra_ready = extra.is_some() && fds[first_output - 1].revents != 0;
        // Output first: a worker's last lines come before the news of its end.
        for pollfd in &fds[first_output..first_end] {
            if pollfd.revents != 0 {
                self.read_output(pollfd.fd)?;
            }
        }
        for pollfd in &fds[first_end..] {
            if pollfd.revents != 0 {
                self.reap_ended_by_fd(pollfd.fd)?;
            }
        }
        self.pollfds = fds;
        Ok(extra_ready)
    }

    /// Reaps the worker whose pidfd `fd` turned readable.
    fn reap_ended_by_fd(&mut self, fd: RawFd) -> Result<()> {
        let watched = |slot: &Slot| slot.ended.as_ref().is_some_and(|e| e.as_raw_fd() == fd);
        match self.slots.iter().position(watched) {
            Some(at) => self.reap_slot(at, Instant::now()),
            None => Ok(()),
        }
    }

    /// Reads what the pipe `fd` holds and delivers its lines.
    fn read_output(&mut self, fd: RawFd) -> Result<()> {
        let Self {
            slots,
            sink,
            logger,
            buffer,
            ..
        } = self;
        let Some(slot) = slots.iter_mut().find(|slot| {
            slot.captured
                .as_ref()
                .is_some_and(|c| c.fds().any(|f| f == fd))
        }) else {
            return Ok(());
        };
        let pid = slot.pid;
        let mut deliver = line_delivery(sink, logger, slot);
        if let Some(captured) = &mut slot.captured {
            captured
                .read_ready(fd, line_buffer(buffer), &mut deliver)
                .map_err(|e| Error::os(Operation::ReadOutput, Some(pid), e))?;
            if captured.is_closed() {
                slot.captured = None;
            }
        }
        Ok(())
    }

    /// Reaps every worker that has ended and has no pidfd (the poll reaps
    /// those as their pidfds turn readable).
    fn reap_ended(&mut self) -> Result<()> {
        let now = Instant::now();
        for at in 0..self.slots.len() {
            if self.slots[at].ended.is_none() {
                self.reap_slot(at, now)?;
            }
        }
        Ok(())
    }

    /// Reaps slot `at`'s process if it runs and has ended.
    fn reap_slot(&mut self, at: usize, now: Instant) -> Result<()> {
        let slot = &self.slots[at];
        if slot.state != WorkerState::Running {
            return Ok(());
        }
        let state = match sys::try_wait(slot.pid) {
            Ok(None) => return Ok(()),
            Ok(Some(status)) => WorkerState::from_status(status),
            Err(err) if err.raw_os_error() == Some(libc::ECHILD) => WorkerState::Lost,
            Err(err) => return Err(Error::os(Operation::Wait, Some(slot.pid), err)),
        };
        self.record_end(at, state, now);
        Ok(())
    }

    /// Records the end of slot `at`'s process: reads the rest of its output,
    /// decides about a restart, logs, and runs the callbacks.
    pub(crate) fn record_end(&mut self, at: usize, state: WorkerState, now: Instant) {
        let shutting_down = self.shutdown.active;
        let Self {
            slots,
            sink,
            logger,
            buffer,
            hooks,
            ..
        } = self;
        let slot = &mut slots[at];
        slot.state = state;
        slot.ended = None;
        if let Some(mut captured) = slot.captured.take() {
            let finished =
                captured.finish(line_buffer(buffer), &mut line_delivery(sink, logger, slot));
            if let Err(err) = finished {
                logger.event(
                    log::Level::Warn,
                    format_args!(
                        "cannot read the rest of worker {}'s output: {err}",
                        slot.index
                    ),
                );
            }
        }
        let stopping = shutting_down || slot.stopping;
        let next = match &mut slot.supervision {
            Some(supervision) => supervision.after_end(state, now, stopping),
            None => Next::Done,
        };
        let end = WorkerEnd {
            id: slot.id,
            index: slot.index,
            pid: slot.pid,
            state,
            restarts: slot.restarts,
            next,
        };
        let level = match (state.success(), next) {
            (_, Next::GaveUp) => log::Level::Error,
            (true, _) => log::Level::Debug,
            (false, _) if stopping => log::Level::Info,
            (false, _) => log::Level::Warn,
        };
        logger.event(level, format_args!("{end}"));
        let specific = if state.success() {
            &mut hooks.success
        } else {
            &mut hooks.error
        };
        for hook in specific.iter_mut().chain(hooks.exit.iter_mut()) {
            hook(&end);
        }
    }

    /// Forks the replacements whose backoff is over.
    fn restart_due(&mut self) {
        if self.shutdown.active {
            return;
        }
        let now = Instant::now();
        for at in 0..self.slots.len() {
            let slot = &mut self.slots[at];
            let Some(supervision) = &mut slot.supervision else {
                continue;
            };
            if slot.stopping || supervision.restart_at.is_none_or(|due| due > now) {
                continue;
            }
            supervision.restart_at = None;
            let body = Body::clone(&supervision.body);
            let (id, index, restarts) = (slot.id, slot.index, slot.restarts + 1);
            match self.fork_process(id, index, restarts, &mut |worker| {
                (body.borrow_mut())(worker)
            }) {
                Ok((pid, captured)) => {
                    let ended = self.watch_end(pid);
                    let slot = &mut self.slots[at];
                    slot.pid = pid;
                    slot.ended = ended;
                    slot.state = WorkerState::Running;
                    slot.restarts = restarts;
                    slot.captured = captured;
                    self.logger.event(
                        log::Level::Info,
                        format_args!("worker {index} restarted as pid {pid} (restart {restarts})"),
                    );
                }
                Err(err) => {
                    let slot = &mut self.slots[at];
                    let state = slot.state;
                    let next = slot
                        .supervision
                        .as_mut()
                        .map_or(Next::GaveUp, |s| s.after_end(state, now, false));
                    self.logger.event(
                        log::Level::Error,
                        format_args!("cannot restart worker {index}: {err}; next: {next:?}"),
                    );
                }
            }
        }
    }

    /// Starts a shutdown on the first shutdown signal, escalates on the next.
    fn handle_shutdown_requests(&mut self) {
        let Some((count, last)) = self.signals.as_ref().map(Signals::shutdown_requests) else {
            return;
        };
        if count <= self.shutdown.requests_seen {
            return;
        }
        self.shutdown.requests_seen = count;
        if self.shutdown.active {
            let signal = last.map_or_else(|| "a signal".to_owned(), |s| s.to_string());
            self.logger.event(
                log::Level::Error,
                format_args!("{signal} during shutdown: killing the workers now"),
            );
            self.kill_all_running(libc::SIGKILL);
            self.shutdown.kill_at = None;
        } else {
            self.begin_shutdown(last);
        }
    }

    /// Runs the shutdown callbacks and sends `SIGTERM` to every worker.
    pub(crate) fn begin_shutdown(&mut self, signal: Option<forkwise_signal::Signal>) {
        if self.shutdown.active {
            return;
        }
        self.shutdown.active = true;
        self.shutdown.kill_at = Instant::now().checked_add(self.grace);
        for slot in &mut self.slots {
            if let Some(supervision) = &mut slot.supervision {
                supervision.restart_at = None;
            }
        }
        let cause = signal.map_or_else(|| "asked".to_owned(), |s| format!("got {s}"));
        self.logger.event(
            log::Level::Info,
            format_args!(
                "shutting down ({cause}): SIGTERM to {} workers, {:?} grace",
                self.running(),
                self.grace
            ),
        );
        for hook in &mut self.hooks.shutdown {
            hook(signal);
        }
        self.kill_all_running(libc::SIGTERM);
    }

    /// Sends `SIGKILL` to what still runs once the grace period is over.
    fn kill_after_grace(&mut self) {
        if self.shutdown.kill_at.is_some_and(|at| Instant::now() >= at) {
            self.shutdown.kill_at = None;
            let left = self.running();
            if left > 0 {
                self.logger.event(
                    log::Level::Warn,
                    format_args!("grace period over: SIGKILL to {left} workers"),
                );
                self.kill_all_running(libc::SIGKILL);
            }
        }
    }

    fn kill_all_running(&mut self, signal: i32) {
        let ids: Vec<WorkerId> = self.workers().collect();
        for id in ids {
            // Best effort: an error here (EPERM) leaves the worker to the
            // next step (SIGKILL, or the drop's blocking reap).
            let _ = self.signal_slot(id, signal);
        }
    }

    /// Forks a group of `count`; on a failed fork, ends the ones started.
    pub(crate) fn start_group(
        &mut self,
        count: usize,
        supervised: Option<&(RestartPolicy, Body)>,
        body: &mut dyn FnMut(&Worker) -> u8,
    ) -> Result<WorkerGroup> {
        let mut ids = Vec::with_capacity(count);
        for index in 0..count {
            let id = WorkerId::next();
            match self.fork_process(id, index, 0, body) {
                Ok((pid, captured)) => {
                    let ended = self.watch_end(pid);
                    self.slots.push(Slot {
                        id,
                        index,
                        pid,
                        state: WorkerState::Running,
                        restarts: 0,
                        captured,
                        ended,
                        supervision: supervised
                            .map(|(policy, body)| Supervision::new(*policy, Body::clone(body))),
                        stopping: false,
                    });
                    ids.push(id);
                    self.logger.event(
                        log::Level::Debug,
                        format_args!("worker {index} of {count} started: pid {pid}"),
                    );
                }
                Err(err) => {
                    self.abandon(&ids);
                    return Err(err.into_error(index, count));
                }
            }
        }
        Ok(WorkerGroup::new(ids))
    }

    /// Terminates and reaps the workers of a group that could not be
    /// completed, then forgets them: the caller never saw their ids.
    fn abandon(&mut self, ids: &[WorkerId]) {
        for &id in ids {
            if let Some(slot) = self.slot_mut(id) {
                slot.stopping = true;
            }
        }
        self.terminate(ids);
        self.slots.retain(|slot| !ids.contains(&slot.id));
    }

    /// `SIGTERM`, up to the grace period, `SIGKILL`, reap: for `ids`.
    fn terminate(&mut self, ids: &[WorkerId]) {
        for &id in ids {
            let _ = self.signal_slot(id, libc::SIGTERM);
        }
        let deadline = Instant::now().checked_add(self.grace);
        let ended = self.wait_until(deadline, None, |m| m.all_finished(ids));
        if ended.ok() != Some(Waited::Done) {
            for &id in ids {
                let _ = self.signal_slot(id, libc::SIGKILL);
            }
            self.reap_blocking(ids);
        }
    }

    /// Reaps `ids` with blocking `waitpid`: the last resort, after SIGKILL.
    fn reap_blocking(&mut self, ids: &[WorkerId]) {
        if self.wait_until(None, None, |m| m.all_finished(ids)).is_ok() {
            return;
        }
        let now = Instant::now();
        for at in 0..self.slots.len() {
            let slot = &self.slots[at];
            if ids.contains(&slot.id) && slot.state == WorkerState::Running {
                let state = sys::wait(slot.pid).map_or(WorkerState::Lost, WorkerState::from_status);
                self.record_end(at, state, now);
            }
        }
    }

    /// Carries out the drop policy for the workers still running.
    pub(crate) fn end_all_on_drop(&mut self) {
        self.shutdown.active = true; // no restart from here on
        for slot in &mut self.slots {
            if let Some(supervision) = &mut slot.supervision {
                supervision.restart_at = None;
            }
        }
        let ids: Vec<WorkerId> = self.workers().collect();
        match self.drop_policy {
            DropPolicy::Terminate => self.terminate(&ids),
            DropPolicy::Kill => {
                for &id in &ids {
                    let _ = self.signal_slot(id, libc::SIGKILL);
                }
                self.reap_blocking(&ids);
            }
            DropPolicy::Wait => self.reap_blocking(&ids),
        }
    }

    /// Forks one process for slot `id`: in the child, becomes the worker
    /// and never returns; in the master, returns its pid and output pipes.
    pub(crate) fn fork_process(
        &mut self,
        id: WorkerId,
        index: usize,
        restarts: u32,
        body: &mut dyn FnMut(&Worker) -> u8,
    ) -> Result<(Pid, Option<Captured>), ForkFailure> {
        let (captured, child_ends) = if self.sink.is_some() {
            let (captured, ends) = Captured::new().map_err(ForkFailure::Pipe)?;
            (Some(captured), Some(ends))
        } else {
            (None, None)
        };
        // What the master buffered would otherwise be written again by the child.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        // A shutdown signal must not reach the child while it still has the
        // master's listeners: it stays pending until the child dropped them.
        let mut blocked = self
            .signals
            .as_ref()
            .map(|signals| sys::block_signals(signals.shutdown_numbers()));
        let permit = sys::fork_permit(self.allow_threads).map_err(ForkFailure::Threaded)?;
        match sys::fork(permit) {
            Ok(0) => {
                let worker = Worker {
                    id,
                    index,
                    pid: sys::getpid(),
                    master: self.master,
                    restarts,
                };
                self.become_worker(&worker, child_ends, &mut blocked, body)
            }
            Ok(pid) => {
                drop(blocked);
                drop(child_ends); // the child's copies keep the pipes open
                Ok((pid, captured))
            }
            Err(err) => Err(ForkFailure::Fork(err)),
        }
    }
}

/// Why [`ForkManager::fork_process`] failed.
#[derive(Debug)]
pub(crate) enum ForkFailure {
    Fork(std::io::Error),
    Pipe(std::io::Error),
    Threaded(usize),
}

impl ForkFailure {
    /// The error for worker `index` of a group of `count`.
    fn into_error(self, index: usize, count: usize) -> Error {
        match self {
            Self::Fork(source) => Error::Fork {
                index,
                count,
                source,
            },
            Self::Pipe(source) => pipe_error(source),
            Self::Threaded(threads) => Error::Threaded { threads },
        }
    }
}

impl std::fmt::Display for ForkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fork(err) => write!(f, "fork: {err}"),
            Self::Pipe(err) => write!(f, "pipe: {err}"),
            Self::Threaded(threads) => write!(f, "the process has {threads} threads"),
        }
    }
}

/// The manager's line buffer, grown to [`MAX_LINE`] at its first use.
fn line_buffer(buffer: &mut Vec<u8>) -> &mut [u8] {
    if buffer.is_empty() {
        buffer.resize(MAX_LINE, 0);
    }
    buffer
}

/// What hands `slot`'s output lines, one at a time, to the sink.
fn line_delivery<'a>(
    sink: &'a mut Option<Sink>,
    logger: &'a logger::Logger,
    slot: &Slot,
) -> impl FnMut(Stream, &[u8]) + 'a {
    let (id, index, pid) = (slot.id, slot.index, slot.pid);
    move |stream, bytes| {
        let line = OutputLine {
            id,
            index,
            pid,
            stream,
            bytes,
        };
        deliver_line(sink, logger, &line);
    }
}

/// Hands one captured line to the callback or the log.
fn deliver_line(sink: &mut Option<Sink>, logger: &logger::Logger, line: &OutputLine<'_>) {
    match sink {
        Some(Sink::Lines(callback)) => callback(line),
        Some(Sink::Log) => {
            let level = match line.stream {
                Stream::Stdout => log::Level::Info,
                Stream::Stderr => log::Level::Warn,
            };
            logger.log(
                level,
                logger::OUTPUT,
                format_args!("worker {} (pid {}): {}", line.index, line.pid, line.text()),
            );
        }
        None => {}
    }
}
