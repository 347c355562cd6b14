//! The process-global part: the OS-level handler, what it records, the wake
//! pipe, and the table of dispositions it replaced.
//!
//! Kept small and apart on purpose (signal-hook keeps the same part in its
//! `signal-hook-registry` crate): everything here is shared by every handler,
//! trap and dispatcher of the process, and everything that runs inside the
//! OS signal handler lives here.
//!
//! # What the OS handler does
//!
//! [`on_signal`] runs in signal context, so it only touches atomics and makes
//! one `write(2)`: it adds one to the signal's arrival counter, stores the
//! sender's pid and uid packed into one `AtomicU64`, sets the signal's bit in
//! [`PENDING`] and, when that bit set was the first since the last dispatch,
//! writes one byte to the wake pipe (unless the pipe is still the parent's,
//! see below). It saves and restores `errno`, and then calls the handler that
//! was installed before it, if that was a function.
//!
//! # Invariants
//!
//! - While any bit of [`PENDING`] is set, the wake pipe holds a byte, or a
//!   dispatcher has drained the pipe and is about to take the bits. Dispatchers
//!   therefore drain first and take the bits second.
//! - The wake pipe is open while it has users: a [`WakeLease`] each, and one
//!   per installed signal. The last user closes it, after waiting for any OS
//!   handler that is between reading the descriptor number and writing to it.
//! - After `fork(2)`, the child forgets the parent's arrivals and marks the
//!   inherited pipe [`STALE`] before any signal can reach it (a `pthread_atfork`
//!   handler blocks signals around the fork). Nothing writes to or reads from
//!   a stale pipe: the OS handler skips its write, and the first use of the
//!   pipe in the child ([`WakeLease::fd`], a dispatch) points the descriptor
//!   numbers at a fresh pipe, then writes the byte the handler skipped if a
//!   signal is pending. A child that never uses the pipe (a worker that runs
//!   a closure and exits) never pays for a new one.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use libc::{c_int, c_void, siginfo_t};

use crate::Signal;
use crate::listener::Sender;
use crate::stack::Stacks;
use crate::sys::{self, Action, MAX_SIGNAL, SignalMask};

/// One slot per signal number, 0 unused.
const SLOTS: usize = MAX_SIGNAL as usize + 1;

/// What the OS handler recorded for one signal since the last dispatch.
struct Record {
    /// OS handler runs not yet dispatched.
    arrivals: AtomicU64,
    /// The last sender, [packed](pack_sender); 0 when unknown.
    sender: AtomicU64,
}

/// The handler that was installed before ours, for the OS handler to call.
struct Chain {
    /// Its address, or 0 when it was `SIG_DFL` or `SIG_IGN`.
    address: AtomicUsize,
    /// Whether it takes `SA_SIGINFO` arguments.
    siginfo: AtomicBool,
}

static RECORDS: [Record; SLOTS] = [const {
    Record {
        arrivals: AtomicU64::new(0),
        sender: AtomicU64::new(0),
    }
}; SLOTS];

static CHAINS: [Chain; SLOTS] = [const {
    Chain {
        address: AtomicUsize::new(0),
        siginfo: AtomicBool::new(false),
    }
}; SLOTS];

/// Bit `n - 1` is set while signal `n` has arrivals not yet dispatched.
static PENDING: AtomicU64 = AtomicU64::new(0);

/// OS handlers between loading the write end and finishing their write.
static WRITING: AtomicUsize = AtomicUsize::new(0);

/// [`ChildPage::pipe_owner`] in a forked child whose descriptors still refer
/// to the parent's pipe: renewed at first use ([`renew_if_stale`]).
const STALE: i32 = -1;

/// Everything a forked worker writes here when it abandons its parent's
/// listeners (and its fork hook, when it marks the pipe stale), in one
/// page: each page a child writes is a page the kernel copies for it
/// (about 2 µs on a VM), and apart these take three.
#[repr(C, align(4096))]
pub(crate) struct ChildPage {
    /// The process whose pipe the descriptors refer to, or [`STALE`]; see
    /// [`after_fork_in_child`].
    pipe_owner: AtomicI32,
    /// The wake pipe's ends as the OS handler and the fork hook see them;
    /// -1 when closed.
    wake_read: AtomicI32,
    wake_write: AtomicI32,
    /// What is changed only in ordinary context, under a lock.
    state: Mutex<State>,
    /// The listener stacks ([`crate::stack`]).
    pub(crate) stacks: Mutex<Stacks>,
}

pub(crate) static PAGE: ChildPage = ChildPage {
    pipe_owner: AtomicI32::new(0),
    wake_read: AtomicI32::new(-1),
    wake_write: AtomicI32::new(-1),
    state: Mutex::new(State {
        pipe: None,
        users: 0,
        dispositions: [Disposition::Untouched; SLOTS],
        replaced: None,
    }),
    stacks: Mutex::new(Stacks::new()),
};

const _: () = assert!(size_of::<ChildPage>() == 4096, "ChildPage fits one page");

/// Kept small on purpose: a forked child that gives dispositions back
/// writes this, and every page a child writes is a page the kernel copies.
/// The replaced actions (about 10 KB) sit apart, written only at install.
struct State {
    /// The wake pipe: (read, write).
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// Leases plus installed signals; the pipe closes when this drops to 0.
    users: usize,
    dispositions: [Disposition; SLOTS],
    /// Per signal, the action ours replaced and gives back; meaningful
    /// while the signal's disposition is `Ours` or `Covered`.
    replaced: Option<Box<[Action; SLOTS]>>,
}

impl State {
    /// The action ours replaced for slot `index`. A reference: copied, the
    /// 152-byte action would go through `memcpy`, a code page more for a
    /// forked child (which sheds the parent's handlers) to fault in.
    fn previous(&self, index: usize) -> &Action {
        self.replaced
            .as_ref()
            .map_or(&Action::DEFAULT, |r| &r[index])
    }

    fn set_previous(&mut self, index: usize, action: Action) {
        self.replaced
            .get_or_insert_with(|| Box::new([Action::DEFAULT; SLOTS]))[index] = action;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Disposition {
    /// Not installed by us; the kernel's action is someone else's business.
    Untouched,
    /// Our handler is installed; the action it replaced is saved, to give back.
    Ours,
    /// We tried to give the saved action back, but someone had installed a
    /// handler over ours, so we left theirs in place; ours may still run
    /// through their chain, and keeps chaining to the saved action.
    Covered,
}

fn lock() -> MutexGuard<'static, State> {
    // The state stays consistent across a panic: nothing inside can panic
    // between two related updates.
    PAGE.state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn slot(signal: Signal) -> usize {
    usize::try_from(signal.as_raw()).expect("a Signal is a valid signal number")
}

fn bit(signal: c_int) -> u64 {
    1 << (signal - 1)
}

/// Packs a sender into one word: the pid in the low half, the uid in the high one.
fn pack_sender(sender: Option<(libc::pid_t, libc::uid_t)>) -> u64 {
    match sender {
        Some((pid, uid)) if pid > 0 => u64::from(uid) << 32 | u64::from(pid.cast_unsigned()),
        // pid 0: the sender lives outside this process's pid namespace.
        _ => 0,
    }
}

fn unpack_sender(packed: u64) -> Option<Sender> {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "taking the two 32-bit halves apart"
    )]
    let (pid, uid) = ((packed as u32).cast_signed(), (packed >> 32) as u32);
    (pid > 0).then_some(Sender { pid, uid })
}

/// The OS-level handler. Async-signal-safe: atomics, one `write(2)`, and the
/// previous handler, which was already the kernel's to call.
extern "C" fn on_signal(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
    let saved_errno = sys::errno();
    if let Some(index) = usize::try_from(signal).ok().filter(|&i| 0 < i && i < SLOTS) {
        let record = &RECORDS[index];
        // SAFETY: the kernel passes its siginfo to a handler installed with SA_SIGINFO.
        let sender = unsafe { sys::sender(info) };
        record.sender.store(pack_sender(sender), Ordering::Relaxed);
        record.arrivals.fetch_add(1, Ordering::Relaxed);
        // Release: a dispatcher that takes the bit sees the counter's new value.
        if PENDING.fetch_or(bit(signal), Ordering::AcqRel) == 0 {
            wake();
        }
        let chain = &CHAINS[index];
        let address = chain.address.load(Ordering::Acquire);
        if address != 0 {
            // SAFETY: `address` and the flag were stored together from the
            // action we replaced for this signal (see `take_over`), before our
            // handler was installed; `info` and `context` are the kernel's.
            unsafe {
                sys::call_handler(
                    address,
                    chain.siginfo.load(Ordering::Relaxed),
                    signal,
                    info,
                    context,
                );
            }
        }
    }
    sys::set_errno(saved_errno);
}

/// Writes a byte to the wake pipe, if it is open. Async-signal-safe.
fn wake() {
    // SeqCst pairs with `close_pipe`: either this load sees -1, or the closer
    // sees this handler in WRITING and waits for it to finish.
    WRITING.fetch_add(1, Ordering::SeqCst);
    let fd = PAGE.wake_write.load(Ordering::SeqCst);
    // SeqCst pairs with `renew_if_stale`, which stores the owner and then
    // loads PENDING: either this load sees the renewed pipe, or the renewer
    // sees the bit its caller set and writes the byte itself.
    if fd >= 0 && PAGE.pipe_owner.load(Ordering::SeqCst) != STALE {
        sys::write_wake_byte(fd);
    }
    WRITING.fetch_sub(1, Ordering::SeqCst);
}

/// Adds a user of the wake pipe, opening it if it is closed.
fn open_pipe(state: &mut State) -> io::Result<()> {
    static AT_FORK: Once = Once::new();
    if state.pipe.is_none() {
        let (read, write) = sys::wake_pipe()?;
        PAGE.pipe_owner.store(sys::getpid(), Ordering::Release);
        PAGE.wake_read
            .store(std::os::fd::AsRawFd::as_raw_fd(&read), Ordering::SeqCst);
        PAGE.wake_write
            .store(std::os::fd::AsRawFd::as_raw_fd(&write), Ordering::SeqCst);
        state.pipe = Some((read, write));
        AT_FORK.call_once(|| sys::at_fork(before_fork, after_fork_in_parent, after_fork_child));
    } else {
        let owner = PAGE.pipe_owner.load(Ordering::Acquire);
        if owner != STALE && owner != sys::getpid() {
            // Forked by a path that ran no fork handler (a raw clone(2), say).
            after_fork_in_child();
        }
    }
    state.users += 1;
    Ok(())
}

/// Removes a user of the wake pipe; the last one closes it.
fn release_pipe(state: &mut State) {
    state.users -= 1;
    if state.users > 0 {
        return;
    }
    if let Some(pipe) = state.pipe.take() {
        PAGE.wake_write.store(-1, Ordering::SeqCst);
        PAGE.wake_read.store(-1, Ordering::SeqCst);
        // A handler that loaded the old number is still writing: wait for it,
        // so that the number is never reused under its feet. It takes a few
        // hundred nanoseconds at most. (A stale pipe's copies are closed the
        // same way; the parent's pipe stays open in the parent.)
        while WRITING.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        drop(pipe);
    }
}

/// A claim on the wake pipe: while it lives, the pipe stays open.
#[derive(Debug)]
pub(crate) struct WakeLease(());

impl WakeLease {
    /// Claims the wake pipe, opening it if no one else holds it.
    pub(crate) fn acquire() -> io::Result<Self> {
        open_pipe(&mut lock())?;
        Ok(Self(()))
    }

    /// The read end: readable while a signal waits for dispatch.
    #[allow(
        clippy::unused_self,
        reason = "the borrow of `self` is what keeps the descriptor open"
    )]
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        if PAGE.pipe_owner.load(Ordering::Acquire) == STALE {
            renew_if_stale(&lock());
        }
        let fd = PAGE.wake_read.load(Ordering::SeqCst);
        // SAFETY: this lease keeps the pipe open, so `fd` is a live descriptor
        // for as long as `self` is borrowed; a stale one was renewed just
        // above, in place, keeping its number.
        unsafe { BorrowedFd::borrow_raw(fd) }
    }
}

impl Drop for WakeLease {
    fn drop(&mut self) {
        release_pipe(&mut lock());
    }
}

/// Reads the wake pipe empty, if it is open.
pub(crate) fn drain_wake_pipe() {
    let state = lock();
    renew_if_stale(&state);
    if let Some((read, _)) = &state.pipe {
        sys::drain(read.as_fd());
    }
}

/// In a forked child whose descriptors still refer to the parent's pipe,
/// points them at a fresh pipe of its own; then writes the wake byte that
/// the OS handler skipped meanwhile, if a signal is pending. Under the
/// state lock, so that only one thread renews.
fn renew_if_stale(state: &State) {
    if PAGE.pipe_owner.load(Ordering::SeqCst) != STALE {
        return;
    }
    if let Some((read, write)) = &state.pipe {
        use std::os::fd::AsRawFd;
        sys::renew_pipe_in_place(read.as_raw_fd(), write.as_raw_fd());
    }
    PAGE.pipe_owner.store(sys::getpid(), Ordering::SeqCst);
    if PENDING.load(Ordering::SeqCst) != 0 {
        wake();
    }
}

/// Installs the OS handler for `signal` (the caller counts listeners: this
/// runs for the first). Refuses nothing: the caller checked the signal.
pub(crate) fn install(signal: Signal) -> io::Result<()> {
    let mut state = lock();
    let index = slot(signal);
    if state.dispositions[index] == Disposition::Ours {
        return Ok(()); // already ours: nothing to install, no new pipe user
    }
    // The pipe first: a signal may arrive the moment our handler is in place.
    open_pipe(&mut state)?;
    if state.dispositions[index] == Disposition::Covered {
        // Ours still runs through the handler installed over it, and the
        // saved action is still the one to give back.
        forget_arrivals(signal);
        state.dispositions[index] = Disposition::Ours;
        return Ok(());
    }
    match take_over(signal) {
        Ok(previous) => {
            state.set_previous(index, previous);
            state.dispositions[index] = Disposition::Ours;
            Ok(())
        }
        Err(err) => {
            release_pipe(&mut state);
            Err(err)
        }
    }
}

/// Puts our handler in place of the current action; returns that action.
fn take_over(signal: Signal) -> io::Result<Action> {
    let raw = signal.as_raw();
    let current = sys::get_action(raw)?;
    let chain = &CHAINS[slot(signal)];
    // Never chain to ourselves: that would recurse until the stack ends.
    let address = current
        .function()
        .filter(|&address| address != on_signal as sys::SigactionHandler as usize);
    chain
        .siginfo
        .store(current.takes_siginfo(), Ordering::Relaxed);
    chain.address.store(address.unwrap_or(0), Ordering::Release);
    forget_arrivals(signal);
    sys::set_action(raw, &Action::catching(on_signal))?;
    Ok(current)
}

/// Clears what was recorded for `signal` before its listeners existed.
fn forget_arrivals(signal: Signal) {
    PENDING.fetch_and(!bit(signal.as_raw()), Ordering::AcqRel);
    RECORDS[slot(signal)].arrivals.store(0, Ordering::Relaxed);
}

/// Gives `signal` back the action ours replaced (the caller counts listeners:
/// this runs after the last). If a handler was installed over ours since, it
/// stays, and ours stays in its chain.
pub(crate) fn uninstall(signal: Signal) -> io::Result<()> {
    let mut state = lock();
    let index = slot(signal);
    if state.dispositions[index] != Disposition::Ours {
        return Ok(());
    }
    let previous = state.previous(index);
    let raw = signal.as_raw();
    let ours = on_signal as sys::SigactionHandler as usize;
    // Swapped in one call (a forked child sheds its parent's handlers on
    // every fork); put back in the rare case that the one replaced was not ours.
    let mut replaced = Action::DEFAULT;
    sys::swap_action(raw, previous, &mut replaced)?;
    state.dispositions[index] = if replaced.handler_address() == ours {
        Disposition::Untouched
    } else {
        sys::set_action(raw, &replaced)?;
        Disposition::Covered
    };
    release_pipe(&mut state);
    Ok(())
}

/// True if any signal waits for dispatch. One atomic load.
pub(crate) fn has_pending() -> bool {
    PENDING.load(Ordering::Acquire) != 0
}

/// Takes the set of signals that wait for dispatch: bit `n - 1` for signal `n`.
pub(crate) fn take_pending() -> u64 {
    // A load first: a dispatch that finds nothing leaves the page unwritten
    // (in a master whose children share it, a write costs a page copy).
    if PENDING.load(Ordering::Acquire) == 0 {
        return 0;
    }
    PENDING.swap(0, Ordering::AcqRel)
}

/// Puts back signals that were taken but not dispatched (a listener panicked).
pub(crate) fn requeue(bits: u64) {
    if bits != 0 && PENDING.fetch_or(bits, Ordering::AcqRel) == 0 {
        wake();
    }
}

/// Takes what was recorded for `signal`: how many arrived and the last sender.
pub(crate) fn take_arrivals(signal: c_int) -> (u64, Option<Sender>) {
    let Some(record) = usize::try_from(signal).ok().and_then(|i| RECORDS.get(i)) else {
        return (0, None);
    };
    let sender = unpack_sender(record.sender.load(Ordering::Relaxed));
    (record.arrivals.swap(0, Ordering::AcqRel), sender)
}

/// Gives a child of `fork(2)` a wake pipe of its own and forgets what arrived
/// for the parent, so that a signal to either process never wakes the
/// other's dispatcher or runs its listeners.
///
/// This crate registers it with `pthread_atfork(3)` when it first opens its
/// wake pipe, so every `fork(2)` through the C library runs it; call it
/// yourself in a child made some other way (a raw `clone(2)`), as early as
/// you can. It does something only in a process other than the one that
/// opened the pipe, so calling it again, or in the parent, is harmless.
///
/// The new pipe is made when the child first uses it (a dispatch, a wait,
/// a handler's descriptor); until then the child's signals are recorded
/// and wake nobody, and a child that never dispatches never makes one.
///
/// Async-signal-safe: it touches atomics and may call `getpid(2)`, nothing
/// else, so it may run in the child of a multi-threaded parent.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler, after_fork_in_child};
///
/// let handler = SignalHandler::new(Signal::SIGUSR2)?;
/// handler.add(|_| Propagation::Continue)?;
/// after_fork_in_child(); // not a child: nothing happens
/// Signal::SIGUSR2.raise()?;
/// assert_eq!(forkwise_signal::dispatch(), 1);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
pub fn after_fork_in_child() {
    let owner = PAGE.pipe_owner.load(Ordering::Acquire);
    if owner == STALE {
        return; // the fork hook ran: this process forgot its parent's already
    }
    let pid = sys::getpid();
    // One winner, should several threads of a cloned process call it at once.
    if owner == pid
        || PAGE
            .pipe_owner
            .compare_exchange(owner, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return;
    }
    forget_parent();
}

/// In a new child: clears what the OS handler recorded for the parent
/// before the fork, and marks the inherited pipe (if one is open) stale, to
/// be renewed at first use. No system call.
fn forget_parent() {
    // Loads before stores: a page the child writes is a page the kernel
    // copies for it, so what is already right stays unwritten.
    if PENDING.load(Ordering::Acquire) != 0 {
        PENDING.store(0, Ordering::Release);
    }
    for record in &RECORDS {
        for word in [&record.arrivals, &record.sender] {
            if word.load(Ordering::Relaxed) != 0 {
                word.store(0, Ordering::Relaxed);
            }
        }
    }
    if PAGE.wake_read.load(Ordering::SeqCst) >= 0 {
        PAGE.pipe_owner.store(STALE, Ordering::SeqCst);
    }
}

thread_local! {
    /// The forking thread's signal mask, saved by [`before_fork`] when it
    /// blocked signals for this fork, `None` when it did not.
    static MASK_BEFORE_FORK: Cell<Option<SignalMask>> = const { Cell::new(None) };
}

/// Blocks signals in the forking thread, so that none reaches the child
/// before it has forgotten the parent's arrivals and marked the inherited
/// pipe stale; they stay pending and arrive afterwards.
extern "C" fn before_fork() {
    let mask = (PAGE.wake_write.load(Ordering::SeqCst) >= 0).then(sys::block_all_signals);
    // The mask is the same fork after fork. Stored only when it changed and
    // never taken back, it leaves its page unwritten after the fork, so the
    // kernel copies that page for neither process (see forget_parent).
    if MASK_BEFORE_FORK.get() != mask {
        MASK_BEFORE_FORK.set(mask);
    }
}

extern "C" fn after_fork_in_parent() {
    if let Some(mask) = MASK_BEFORE_FORK.get() {
        sys::restore_signal_mask(&mask);
    }
}

/// Forgets the parent while signals are still blocked, then unblocks them.
extern "C" fn after_fork_child() {
    forget_parent();
    if let Some(mask) = MASK_BEFORE_FORK.get() {
        sys::restore_signal_mask(&mask);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_packing_round_trips() {
        for (pid, uid) in [
            (1, 0),
            (4_194_304, 1000),
            (i32::MAX, u32::MAX),
            (77, 65_534),
        ] {
            assert_eq!(
                unpack_sender(pack_sender(Some((pid, uid)))),
                Some(Sender { pid, uid })
            );
        }
    }

    #[test]
    fn unknown_senders_unpack_to_none() {
        assert_eq!(unpack_sender(pack_sender(None)), None);
        assert_eq!(unpack_sender(pack_sender(Some((0, 1000)))), None);
        assert_eq!(unpack_sender(pack_sender(Some((-5, 1000)))), None);
    }

    #[test]
    fn every_signal_has_its_own_bit() {
        let all: u64 = (1..=MAX_SIGNAL).map(bit).fold(0, |acc, b| {
            assert_eq!(acc & b, 0);
            acc | b
        });
        assert_eq!(all.count_ones(), MAX_SIGNAL.cast_unsigned());
    }
}
