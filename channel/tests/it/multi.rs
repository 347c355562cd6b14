//! `MultiStreamChannel` with forked clients.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_channel::{ClientId, Error, Event, MultiStreamChannel};
use forkwise_testkit::{Child, Notify, SharedCounters, fork};

use crate::support::raise_fd_limit;

const CLIENTS: usize = 64;
const MESSAGES: u32 = 1000;
/// Messages each client queues before the master reads: few enough to fit
/// in a socket's send buffer (each small frame costs about 1 KiB of it).
const QUEUED: u32 = 100;

/// 64 clients send 1,000 messages each: every message arrives exactly once
/// and in order per client; each departure is reported once; then the master
/// reports that no client is left.
///
/// Fairness: each client queues its first [`QUEUED`] messages before the
/// master starts to receive (so that how the OS schedules 64 processes on
/// few cores cannot pass for the master's fairness). Served in turn, every
/// client's last queued message arrives in the last stretch of the first
/// 64 x `QUEUED` messages; a master that drained one client after another
/// would get the first client's after only `QUEUED` messages.
pub(crate) fn sixty_four_clients_every_message_once_fairly() {
    let mut master = MultiStreamChannel::new().unwrap();
    let (go, queued) = (Notify::new(), Notify::new());
    let mut children: Vec<Child> = Vec::new();
    for _ in 0..CLIENTS {
        let (id, client) = master.create_client().unwrap();
        children.push(fork(|| {
            master.close_in_child();
            let mut client = client;
            go.wait();
            for seq in 0..MESSAGES {
                client.send(&(id.get(), seq)).unwrap();
                if seq == QUEUED - 1 {
                    queued.notify();
                }
            }
        }));
    }
    for _ in 0..CLIENTS {
        go.notify();
    }
    for _ in 0..CLIENTS {
        queued.wait();
    }

    let total = CLIENTS * MESSAGES as usize;
    let mut next_seq: BTreeMap<ClientId, u32> = BTreeMap::new();
    let mut last_queued_at: BTreeMap<ClientId, usize> = BTreeMap::new();
    let mut departed: BTreeMap<ClientId, usize> = BTreeMap::new();
    let mut received = 0;
    loop {
        match master.receive::<(u64, u32)>() {
            Ok(Event::Message(id, (claimed, seq))) => {
                assert_eq!(claimed, id.get(), "a message came from its own client");
                let expected = next_seq.entry(id).or_insert(0);
                assert_eq!(
                    seq, *expected,
                    "client {id}: in order, none lost or doubled"
                );
                *expected += 1;
                if seq == QUEUED - 1 {
                    last_queued_at.insert(id, received);
                }
                received += 1;
            }
            Ok(Event::Disconnected(id)) => *departed.entry(id).or_default() += 1,
            Ok(Event::Error(id, err)) => panic!("client {id}: {err}"),
            Err(Error::Disconnected) => break,
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!(received, total);
    assert!(next_seq.values().all(|&n| n == MESSAGES));
    assert_eq!(departed.len(), CLIENTS);
    assert!(
        departed.values().all(|&n| n == 1),
        "each departure reported once"
    );
    children.into_iter().for_each(Child::join);
    let queued_total = CLIENTS * QUEUED as usize;
    let first_to_finish = last_queued_at.values().min().copied().unwrap();
    let margin = queued_total / 10;
    assert!(
        first_to_finish >= queued_total - margin,
        "a client's queued messages were done at message {first_to_finish} of \
         {queued_total}: not served in turn (last queued messages at {last_queued_at:?})"
    );
    println!("first client's queued messages done at message {first_to_finish} of {queued_total}");
}

/// A thousand clients (their ends all held by one child) each send one
/// message; the master gets every message and every departure.
pub(crate) fn a_thousand_clients() {
    const MANY: usize = 1000;
    assert!(
        raise_fd_limit() >= 2 * MANY as u64 + 64,
        "the fd limit allows 1,000 clients"
    );
    let mut master = MultiStreamChannel::new().unwrap();
    let clients: Vec<_> = (0..MANY).map(|_| master.create_client().unwrap()).collect();
    let child = fork(|| {
        master.close_in_child();
        let mut clients = clients;
        for (id, client) in &mut clients {
            client.send(&id.get()).unwrap();
        }
    });
    // The closure, and the parent's copies of the client ends with it, is gone.
    let (mut messages, mut departures) = (0, 0);
    loop {
        match master.receive::<u64>() {
            Ok(Event::Message(id, n)) => {
                assert_eq!(n, id.get());
                messages += 1;
            }
            Ok(Event::Disconnected(_)) => departures += 1,
            Ok(Event::Error(id, err)) => panic!("client {id}: {err}"),
            Err(Error::Disconnected) => break,
            Err(err) => panic!("{err}"),
        }
    }
    assert_eq!((messages, departures), (MANY, MANY));
    child.join();
}

/// One of three workers is killed: its departure is reported once, the
/// other two go on talking, and their departures come when they leave.
pub(crate) fn dead_client_is_reported_once_and_others_carry_on() {
    let mut master = MultiStreamChannel::new().unwrap();
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (id, client) = master.create_client().unwrap();
        let child = fork(|| {
            master.close_in_child();
            let mut client = client;
            // Echo until the master says stop (or goes away).
            while let Ok(n) = client.receive::<u32>() {
                if n == 0 {
                    break;
                }
                client.send(&(n + 1)).unwrap();
            }
        });
        workers.push((id, child));
    }
    let (victim, victim_child) = workers.remove(1);
    victim_child.kill(libc::SIGKILL);
    victim_child.join_killed_by(libc::SIGKILL);
    assert!(matches!(master.receive::<u32>().unwrap(), Event::Disconnected(id) if id == victim));
    assert_eq!(master.len(), 2);
    assert!(matches!(master.send_to(victim, &1u32), Err(Error::UnknownClient(id)) if id == victim));
    for (id, _) in &workers {
        master.send_to(*id, &41u32).unwrap();
    }
    let mut answers = Vec::new();
    for _ in 0..2 {
        match master.receive::<u32>().unwrap() {
            Event::Message(id, n) => answers.push((id, n)),
            other => panic!("{other:?}"),
        }
    }
    answers.sort();
    let expected: Vec<_> = workers.iter().map(|(id, _)| (*id, 42)).collect();
    assert_eq!(answers, expected);
    assert!(master.broadcast(&0u32).unwrap().is_empty());
    let mut departed = Vec::new();
    loop {
        match master.receive::<u32>() {
            Ok(Event::Disconnected(id)) => departed.push(id),
            Ok(other) => panic!("{other:?}"),
            Err(Error::Disconnected) => break,
            Err(err) => panic!("{err}"),
        }
    }
    departed.sort();
    assert_eq!(
        departed,
        workers.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    for (_, child) in workers {
        child.join();
    }
}

/// A worker that closed the master's descriptors it inherited sees the
/// master leave as `Disconnected` (without `close_in_child` it would hold
/// the master's end of its own pair and wait forever).
pub(crate) fn worker_sees_the_master_leave() {
    let mut master = MultiStreamChannel::new().unwrap();
    let (_id, client) = master.create_client().unwrap();
    let ready = Notify::new();
    let child = fork(|| {
        master.close_in_child();
        let mut client = client;
        ready.notify();
        let outcome = client.receive_timeout::<u32>(Duration::from_secs(10));
        assert!(matches!(outcome, Err(Error::Disconnected)), "{outcome:?}");
    });
    ready.wait();
    drop(master);
    child.join();
}

/// A broadcast to four clients, one of which has gone: the failure is
/// reported for that client alone, and the three others get the message.
pub(crate) fn broadcast_reports_a_broken_client_and_reaches_the_rest() {
    let mut master = MultiStreamChannel::new().unwrap();
    let got_it = SharedCounters::new(1);
    let mut children = Vec::new();
    let mut gone = None;
    for n in 0..4 {
        let (id, client) = master.create_client().unwrap();
        let child = fork(|| {
            master.close_in_child();
            let mut client = client;
            if n == 2 {
                return; // leaves at once
            }
            assert_eq!(client.receive::<String>().unwrap(), "hello all");
            got_it[0].fetch_add(1, SeqCst);
        });
        if n == 2 {
            child.join();
            gone = Some(id);
        } else {
            children.push(child);
        }
    }
    let failed = master.broadcast(&"hello all").unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(Some(failed[0].0), gone);
    assert!(matches!(failed[0].1, Error::Disconnected));
    children.into_iter().for_each(Child::join);
    assert_eq!(got_it[0].load(SeqCst), 3);
}

/// A client's frame that does not decode is an `Event::Error` for that
/// client, which stays connected; its next message arrives.
pub(crate) fn bad_frame_from_a_client_is_an_event_and_the_client_stays() {
    let mut master = MultiStreamChannel::new().unwrap();
    let (id, client) = master.create_client().unwrap();
    let child = fork(|| {
        master.close_in_child();
        let mut client = client;
        client.send(&"not a number").unwrap();
        client.send(&7u64).unwrap();
    });
    assert!(matches!(
        master.receive::<u64>().unwrap(),
        Event::Error(from, Error::Decode(_)) if from == id
    ));
    assert!(matches!(master.receive::<u64>().unwrap(), Event::Message(from, 7) if from == id));
    assert!(matches!(master.receive::<u64>().unwrap(), Event::Disconnected(from) if from == id));
    assert!(matches!(master.receive::<u64>(), Err(Error::Disconnected)));
    child.join();
}

/// `try_receive` never waits and `receive_timeout` waits its time, also
/// when a client has sent half a message.
pub(crate) fn timeouts_and_try_receive() {
    let mut master = MultiStreamChannel::new().unwrap();
    let (_id, client) = master.create_client().unwrap();
    let (half, rest) = (Notify::new(), Notify::new());
    let child = fork(|| {
        master.close_in_child();
        let mut stream = client.into_inner();
        let mut frame = crate::support::raw_header(1, 0).to_vec();
        frame.push(9);
        std::io::Write::write_all(&mut stream, &frame[..4]).unwrap();
        half.notify();
        rest.wait();
        std::io::Write::write_all(&mut stream, &frame[4..]).unwrap();
    });
    half.wait();
    assert!(matches!(master.try_receive::<u8>(), Err(Error::WouldBlock)));
    let started = Instant::now();
    assert!(matches!(
        master.receive_timeout::<u8>(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(50));
    rest.notify();
    assert!(matches!(
        master.receive::<u8>().unwrap(),
        Event::Message(_, 9)
    ));
    child.join();
}
