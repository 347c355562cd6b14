//! `Queue` across processes.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_sysv::{Error, Key, Queue, Selector};
use forkwise_testkit::{Child, Notify, SharedCounters, TempDir, fork, storm};
use serde::{Deserialize, Serialize};

use crate::support::{
    count_sigusr1_without_restart, eventually_asleep, file_key, my_pid, sigusr1_count,
};

fn private_queue() -> Queue {
    Queue::options()
        .remove_on_drop(true)
        .open(Key::private())
        .unwrap()
}

/// The three selector kinds pick as msgrcv's `msgtyp` does: 0 the first
/// message, n > 0 the first of type n, n < 0 the first of the lowest type
/// up to |n|.
pub(crate) fn selectors_pick_by_type() {
    let queue = private_queue();
    fork(|| {
        for (mtype, text) in [
            (5, "five"),
            (3, "three"),
            (7, "seven"),
            (1, "one"),
            (3, "three again"),
        ] {
            queue.send(mtype, text).unwrap();
        }
    })
    .join();
    let take = |selector| queue.receive::<String>(selector).unwrap();
    assert_eq!(take(Selector::Exact(3)), (3, "three".into()));
    assert_eq!(take(Selector::LowestUpTo(4)), (1, "one".into()));
    assert_eq!(take(Selector::LowestUpTo(4)), (3, "three again".into()));
    assert_eq!(take(Selector::Any), (5, "five".into()));
    assert!(
        queue
            .try_receive::<String>(Selector::LowestUpTo(6))
            .unwrap()
            .is_none()
    );
    assert!(
        queue
            .try_receive::<String>(Selector::Exact(5))
            .unwrap()
            .is_none()
    );
    assert_eq!(take(Selector::Any), (7, "seven".into()));
    assert!(
        queue
            .try_receive::<String>(Selector::Any)
            .unwrap()
            .is_none()
    );

    for bad in [
        Selector::Exact(0),
        Selector::Exact(-2),
        Selector::LowestUpTo(0),
    ] {
        assert!(matches!(
            queue.try_receive_bytes(bad),
            Err(Error::InvalidMessageType { .. })
        ));
    }
    for bad in [0, -1] {
        assert!(matches!(
            queue.send(bad, &1u8),
            Err(Error::InvalidMessageType { mtype, .. }) if mtype == bad
        ));
    }
}

/// A message as the producers send it.
#[derive(Serialize, Deserialize, Debug)]
enum Message {
    Item { producer: u32, seq: u32 },
    Stop,
}

/// Four producers and four consumers pass 100,000 typed messages through
/// one queue (which holds a few thousand, so producers also block on a full
/// queue); each message is received exactly once.
pub(crate) fn many_producers_many_consumers_exactly_once() {
    const PRODUCERS: u32 = 4;
    const PER_PRODUCER: u32 = 25_000;
    const CONSUMERS: u32 = 4;
    let dir = TempDir::new("sysv-queue-mpmc");
    let key = file_key(&dir, "key");
    let queue = Queue::options().remove_on_drop(true).open(&key).unwrap();
    let total = usize::try_from(PRODUCERS * PER_PRODUCER).unwrap();
    // One counter per message, then the number of messages received.
    let seen = SharedCounters::new(total + 1);
    let consumers: Vec<Child> = (0..CONSUMERS)
        .map(|_| {
            fork(|| {
                let queue = Queue::open(&key).unwrap();
                while let (_, Message::Item { producer, seq }) =
                    queue.receive::<Message>(Selector::Any).unwrap()
                {
                    let index = usize::try_from(producer * PER_PRODUCER + seq).unwrap();
                    seen[index].fetch_add(1, SeqCst);
                    seen[total].fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    let key = &key;
    let producers: Vec<Child> = (0..PRODUCERS)
        .map(|producer| {
            fork(move || {
                let queue = Queue::open(key).unwrap();
                for seq in 0..PER_PRODUCER {
                    queue.send(1, &Message::Item { producer, seq }).unwrap();
                }
            })
        })
        .collect();
    producers.into_iter().for_each(Child::join);
    // Every item is queued before the first stop, so a consumer that takes
    // a stop has nothing left to miss.
    for _ in 0..CONSUMERS {
        queue.send(2, &Message::Stop).unwrap();
    }
    consumers.into_iter().for_each(Child::join);
    assert_eq!(seen[total].load(SeqCst), i64::try_from(total).unwrap());
    let wrong: Vec<(usize, i64)> = (0..total)
        .map(|i| (i, seen[i].load(SeqCst)))
        .filter(|&(_, n)| n != 1)
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "(message, times received): {wrong:?}");
    assert_eq!(queue.stats().unwrap().messages, 0);
}

/// Removing the queue wakes a process blocked in `receive` with `Removed`
/// (EIDRM).
pub(crate) fn removed_queue_wakes_blocked_receiver() {
    let queue = Queue::open(Key::private()).unwrap();
    let about_to_block = Notify::new();
    let receiver = fork(|| {
        about_to_block.notify();
        match queue.receive::<u32>(Selector::Any) {
            Err(Error::Removed { source, .. }) => {
                assert_eq!(
                    source.raw_os_error(),
                    Some(libc::EIDRM),
                    "woken, not refused"
                );
            }
            other => panic!("expected Removed, got {other:?}"),
        }
    });
    about_to_block.wait();
    eventually_asleep(receiver.pid());
    queue.remove().unwrap();
    receiver.join();
    assert!(queue.send(1, &1u8).unwrap_err().is_removed());
    assert!(queue.stats().unwrap_err().is_removed());
}

/// A SIGUSR1 storm (handler without `SA_RESTART`) neither fails a blocking
/// receive nor ends it early, and neither does it a send blocked on a full
/// queue.
pub(crate) fn signal_storm_during_blocking_receive_and_send() {
    count_sigusr1_without_restart();
    let queue = private_queue();
    let sender = fork(|| {
        std::thread::sleep(Duration::from_millis(300));
        queue.send(4, "late").unwrap();
    });
    let signals = storm(my_pid(), libc::SIGUSR1, Duration::from_micros(100));
    let started = Instant::now();
    let received = queue
        .receive::<String>(Selector::Any)
        .expect("the storm must not fail the receive");
    let waited = started.elapsed();
    assert_eq!(received, (4, "late".into()));
    sender.join();
    assert!(
        waited >= Duration::from_millis(250),
        "returned early, after {waited:?}"
    );

    let chunk = vec![7; queue.max_message_size()];
    while queue.try_send_bytes(1, &chunk).unwrap() {}
    let drainer = fork(|| {
        std::thread::sleep(Duration::from_millis(300));
        queue.receive_bytes(Selector::Any).unwrap();
    });
    let started = Instant::now();
    queue
        .send_bytes(2, &chunk)
        .expect("the storm must not fail the send");
    let waited = started.elapsed();
    drop(signals);
    drainer.join();
    assert!(
        waited >= Duration::from_millis(250),
        "returned early, after {waited:?}"
    );
    assert!(sigusr1_count() > 50, "only {} signals", sigusr1_count());
}

/// A message over the limit is refused before anything is sent, with an
/// error naming the limit; one at the limit goes through.
pub(crate) fn oversized_message_is_refused() {
    let msgmax: usize = std::fs::read_to_string("/proc/sys/kernel/msgmax")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let queue = private_queue();
    assert_eq!(queue.max_message_size(), msgmax.min(16384));
    let limit = queue.max_message_size();
    let err = queue.send_bytes(1, &vec![0; limit + 1]).unwrap_err();
    match &err {
        Error::MessageTooLarge {
            size: Some(size),
            limit: l,
            ..
        } => assert_eq!((*size, *l), (limit + 1, limit)),
        other => panic!("expected MessageTooLarge, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&limit.to_string()),
        "names the limit: {message}"
    );
    assert!(
        queue.try_send(1, &vec![0u8; limit + 10]).is_err(),
        "typed too"
    );
    assert_eq!(queue.stats().unwrap().messages, 0, "nothing was sent");

    let at_limit = vec![9; limit];
    queue.send_bytes(3, &at_limit).unwrap();
    fork(|| {
        assert_eq!(
            queue.receive_bytes(Selector::Any).unwrap(),
            (3, at_limit.clone())
        );
    })
    .join();
}

/// The try forms never block: on an empty queue, on a full one.
pub(crate) fn try_forms_never_block() {
    let queue = private_queue();
    let started = Instant::now();
    assert!(queue.try_receive::<u8>(Selector::Any).unwrap().is_none());
    assert!(
        queue
            .try_receive_bytes(Selector::Exact(9))
            .unwrap()
            .is_none()
    );
    let mut sent = 0;
    while queue.try_send_bytes(1, &[0; 1000]).unwrap() {
        sent += 1;
    }
    assert!(!queue.try_send(1, &vec![0u8; 1000]).unwrap(), "full");
    assert!(started.elapsed() < Duration::from_millis(100));
    let stats = queue.stats().unwrap();
    assert_eq!(stats.messages, sent);
    assert_eq!(stats.bytes, sent * 1000);
    assert!(stats.bytes + 1000 > stats.limit, "{stats:?}");
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Job {
    id: u32,
    name: String,
    weight: i16,
}

/// A typed message's text is exactly the postcard encoding of the value,
/// readable as raw bytes by another program; a message that is not the
/// type asked for is refused with its bytes kept.
pub(crate) fn typed_messages_are_postcard_text() {
    let queue = private_queue();
    let job = Job {
        id: 300,
        name: "thumb".into(),
        weight: -2,
    };
    queue.send(6, &job).unwrap();
    let (mtype, text) = queue.receive_bytes(Selector::Any).unwrap();
    assert_eq!(mtype, 6);
    assert_eq!(text, postcard::to_allocvec(&job).unwrap());
    // varint 300, length 5, "thumb", zigzag(-2) = 3
    assert_eq!(text, [0xac, 0x02, 5, b't', b'h', b'u', b'm', b'b', 3]);

    // Another program sends those bytes: they decode as the struct.
    fork(|| queue.send_bytes(8, &text).unwrap()).join();
    assert_eq!(
        queue.receive::<Job>(Selector::Exact(8)).unwrap(),
        (8, job.clone())
    );

    queue.send_bytes(2, b"not postcard for a Job").unwrap();
    match queue.receive::<Job>(Selector::Any) {
        Err(Error::Decode {
            mtype: 2, bytes, ..
        }) => {
            assert_eq!(bytes, b"not postcard for a Job");
        }
        other => panic!("expected Decode, got {other:?}"),
    }
    queue.send(1, &(1u8, 2u8)).unwrap();
    assert!(
        matches!(
            queue.receive::<u8>(Selector::Any),
            Err(Error::Decode { .. })
        ),
        "left-over bytes are refused"
    );
}
