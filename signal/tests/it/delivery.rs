//! What arrives: the sender, the counts, realtime queueing, sending errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkwise_signal::{Error, Operation, Propagation, Sender, Signal, SignalHandler};
use forkwise_testkit::{Notify, SharedCounters, fork};

use crate::support::{dispatch_until, my_pid};

/// The uid of `nobody`, which a child run as root takes as its real uid.
const NOBODY: libc::uid_t = 65_534;

/// The sender in `SignalInfo` is the child that sent the signal, with its
/// real uid. Run as root, the child first takes another real uid (keeping
/// root as its effective uid, so that it may still signal its parent), so
/// that the uid checked is not 0.
pub(crate) fn sender_is_the_child() {
    let handler = SignalHandler::new(Signal::SIGUSR2).unwrap();
    let senders = Arc::new(Mutex::new(Vec::<Option<Sender>>::new()));
    let record = Arc::clone(&senders);
    handler
        .add(move |info| {
            record.lock().unwrap().push(info.sender);
            Propagation::Continue
        })
        .unwrap();
    // SAFETY: getuid takes no arguments and cannot fail.
    let uid = unsafe { libc::getuid() };
    let expected_uid = if uid == 0 { NOBODY } else { uid };
    let parent = my_pid();
    let child = fork(|| {
        if uid == 0 {
            // SAFETY: changes only this child's ids; -1 leaves one unchanged.
            let ret = unsafe { libc::setresuid(NOBODY, libc::uid_t::MAX, libc::uid_t::MAX) };
            assert_eq!(ret, 0, "setresuid");
        }
        Signal::SIGUSR2.send(parent).unwrap();
    });
    let child_pid = child.pid();
    child.join();
    dispatch_until("the child's signal is dispatched", || {
        !senders.lock().unwrap().is_empty()
    });
    let sender = senders.lock().unwrap()[0].expect("kill(2) names its sender");
    assert_eq!(sender.pid, child_pid);
    assert_eq!(sender.uid, expected_uid);
}

/// 10,000 realtime signals from a child are all counted: realtime signals
/// queue, and the parent dispatches while they come.
pub(crate) fn ten_thousand_realtime_signals_are_all_counted() {
    const SENT: i64 = 10_000;
    let signal = Signal::realtime(1).unwrap();
    let handler = SignalHandler::new(signal).unwrap();
    let counted = Arc::new(AtomicU64::new(0));
    let sum = Arc::clone(&counted);
    handler
        .add(move |info| {
            sum.fetch_add(info.count, Ordering::Relaxed);
            Propagation::Continue
        })
        .unwrap();

    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid out-pointer for the call.
    let ret = unsafe { libc::getrlimit(libc::RLIMIT_SIGPENDING, &raw mut limit) };
    assert_eq!(ret, 0, "getrlimit");
    println!("RLIMIT_SIGPENDING is {}", limit.rlim_cur);

    // [0] signals sent, [1] times the queue was full (EAGAIN) and the child paced
    let sent = SharedCounters::new(2);
    let go = Notify::new();
    let parent = my_pid();
    let sender = fork(|| {
        go.wait();
        for _ in 0..SENT {
            loop {
                match signal.send(parent) {
                    Ok(()) => break,
                    Err(Error::Os { source, .. })
                        if source.raw_os_error() == Some(libc::EAGAIN) =>
                    {
                        sent[1].fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    Err(err) => panic!("{err}"),
                }
            }
            sent[0].fetch_add(1, Ordering::SeqCst);
        }
    });
    go.notify();
    let expected = u64::try_from(SENT).unwrap();
    dispatch_until("every realtime signal is counted", || {
        counted.load(Ordering::Relaxed) >= expected
    });
    sender.join();
    forkwise_signal::dispatch();
    assert_eq!(sent[0].load(Ordering::SeqCst), SENT);
    assert_eq!(
        counted.load(Ordering::Relaxed),
        expected,
        "none lost, none doubled"
    );
    println!("the child paced {} times", sent[1].load(Ordering::SeqCst));
}

/// Sending to a process that does not exist names the signal, the pid and
/// the OS error.
pub(crate) fn sending_to_a_dead_process_is_a_clear_error() {
    let child = fork(|| {});
    let pid = child.pid();
    child.join(); // reaped: the pid is free
    let err = Signal::SIGUSR1.send(pid).unwrap_err();
    match &err {
        Error::Os {
            operation: Operation::Send { pid: p },
            signal: Some(Signal::SIGUSR1),
            source,
        } => {
            assert_eq!(*p, pid);
            assert_eq!(source.raw_os_error(), Some(libc::ESRCH));
        }
        other => panic!("expected a send error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot send SIGUSR1 to process {pid}: ")),
        "{message}"
    );
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::NotFound
    );
}

/// `send_group` reaches every process of a group.
pub(crate) fn send_group_reaches_the_group() {
    let ready = Notify::new();
    // [0] children that trapped SIGUSR1
    let trapped = SharedCounters::new(1);
    let leader_ready = Notify::new();
    let group = SharedCounters::new(1);
    let children: Vec<_> = (0..2)
        .map(|i| {
            fork(|| {
                if i == 0 {
                    // SAFETY: setpgid with (0, 0) makes this process a group leader.
                    assert_eq!(unsafe { libc::setpgid(0, 0) }, 0);
                    group[0].store(i64::from(my_pid()), Ordering::SeqCst);
                    leader_ready.notify();
                } else {
                    leader_ready.wait();
                    let pgid = i32::try_from(group[0].load(Ordering::SeqCst)).unwrap();
                    // SAFETY: joins an existing group of this session.
                    assert_eq!(unsafe { libc::setpgid(0, pgid) }, 0);
                }
                let trap = forkwise_signal::SignalTrap::new(&[Signal::SIGUSR1]).unwrap();
                ready.notify();
                assert_eq!(
                    trap.wait(Some(Duration::from_secs(10))).unwrap(),
                    Some(Signal::SIGUSR1)
                );
                trapped[0].fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    ready.wait();
    ready.wait();
    let pgid = i32::try_from(group[0].load(Ordering::SeqCst)).unwrap();
    Signal::SIGUSR1.send_group(pgid).unwrap();
    children.into_iter().for_each(forkwise_testkit::Child::join);
    assert_eq!(trapped[0].load(Ordering::SeqCst), 2);
}
