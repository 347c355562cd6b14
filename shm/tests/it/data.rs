//! `SharedData`: the original library's store scenarios, capacity, versions
//! and transactions, across processes.

use std::sync::atomic::Ordering::SeqCst;

use forkwise_shm::{Capacity, Error, OwnedKey, SharedData};
use forkwise_testkit::{Child, Notify, SharedCounters, fork};

use crate::support::unique;

fn store() -> SharedData {
    SharedData::create(&unique("data"), Capacity::new(64, 128)).unwrap()
}

/// The original's scenarios: a missing key is `None`; set then get; remove;
/// `len` goes 1 then 0.
pub(crate) fn original_store_scenarios() {
    let data = store();
    assert_eq!(data.get::<String>("key").unwrap(), None);
    assert!(!data.contains("key").unwrap());
    assert_eq!(data.len().unwrap(), 0);

    data.set("key", &"value").unwrap();
    assert_eq!(data.get::<String>("key").unwrap().as_deref(), Some("value"));
    assert!(data.contains("key").unwrap());
    assert_eq!(data.len().unwrap(), 1);

    assert!(data.remove("key").unwrap());
    assert_eq!(data.get::<String>("key").unwrap(), None);
    assert_eq!(data.len().unwrap(), 0);
    assert!(!data.remove("key").unwrap(), "removing twice");
}

/// `clear` removes every key at once, for every process.
pub(crate) fn clear_empties_the_store_for_everyone() {
    let data = store();
    for key in 0..10 {
        data.set(key, &key).unwrap();
    }
    fork(|| data.clear().unwrap()).join();
    assert_eq!(data.len().unwrap(), 0);
    assert!(data.keys().unwrap().is_empty());
    assert_eq!(data.get::<i32>(3).unwrap(), None);
    for key in 0..64 {
        data.set(key, &key).unwrap(); // every entry is free again
    }
    assert!(data.set(64, &0).unwrap_err().is_full());
}

/// Lock-free readers in two processes never see a value half-written by
/// the two processes writing it meanwhile.
pub(crate) fn concurrent_readers_never_see_torn_values() {
    let data = SharedData::create(&unique("torn"), Capacity::new(4, 1024)).unwrap();
    data.set("k", &vec![0u64; 100]).unwrap();
    let seen = SharedCounters::new(3); // [0] reads, [1] torn, [2] writers done
    let writers: Vec<Child> = (1..=2u64)
        .map(|w| {
            let (data, seen) = (&data, &seen);
            fork(move || {
                for n in 0..3000 {
                    data.set("k", &vec![n * 2 + w; 100]).unwrap();
                }
                seen[2].fetch_add(1, SeqCst);
            })
        })
        .collect();
    let readers: Vec<Child> = (0..2)
        .map(|_| {
            fork(|| {
                while seen[2].load(SeqCst) < 2 {
                    let value: Vec<u64> = data.get("k").unwrap().unwrap();
                    if value.len() != 100 || value.iter().any(|x| *x != value[0]) {
                        seen[1].fetch_add(1, SeqCst);
                    }
                    seen[0].fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    writers.into_iter().for_each(Child::join);
    readers.into_iter().for_each(Child::join);
    let (reads, torn) = (seen[0].load(SeqCst), seen[1].load(SeqCst));
    assert_eq!(torn, 0, "{torn} of {reads} lock-free reads were torn");
    assert!(reads > 100, "only {reads} reads overlapped the writes");
}

/// Keys come back in the order they were first set; a removed key's
/// neighbours keep theirs; a key set again after removal goes last;
/// overwriting keeps a key's place.
pub(crate) fn key_order_after_removal() {
    let data = store();
    for key in ["one", "two", "three", "four"] {
        data.set(key, &key).unwrap();
    }
    data.set(5, &"five").unwrap();
    data.remove("two").unwrap();
    data.set("one", &"uno").unwrap();
    let keys = |data: &SharedData| data.keys().unwrap();
    assert_eq!(
        keys(&data),
        ["one", "three", "four"]
            .map(OwnedKey::from)
            .into_iter()
            .chain([OwnedKey::Int(5)])
            .collect::<Vec<_>>()
    );
    data.set("two", &"again").unwrap();
    assert_eq!(keys(&data).last(), Some(&OwnedKey::from("two")));
    // Another process sees the same order.
    let name = data.name().unwrap().to_owned();
    fork(|| {
        let other = SharedData::open(&name).unwrap();
        assert_eq!(other.keys().unwrap(), keys(&data));
    })
    .join();
}

/// Several keys changed in one transaction: another process sees all the
/// changes or none, never a mix, and the totals always balance.
pub(crate) fn multi_key_update_inside_transaction() {
    let data = store();
    data.set("alice", &1000i64).unwrap();
    data.set("bob", &0i64).unwrap();
    let checks = SharedCounters::new(2); // [0] reads checked, [1] unbalanced seen
    let stop = SharedCounters::new(1);
    let auditor = fork(|| {
        while stop[0].load(SeqCst) == 0 || checks[0].load(SeqCst) < 100 {
            let (alice, bob) = data
                .transaction(|tx| {
                    let alice: i64 = tx.get("alice")?.unwrap();
                    let bob: i64 = tx.get("bob")?.unwrap();
                    Ok::<_, Error>((alice, bob))
                })
                .unwrap();
            let lock_free = data.get::<i64>("alice").unwrap().unwrap();
            assert!((0..=1000).contains(&lock_free));
            if alice + bob != 1000 {
                checks[1].fetch_add(1, SeqCst);
            }
            checks[0].fetch_add(1, SeqCst);
        }
    });
    for _ in 0..500 {
        data.transaction(|tx| {
            let alice: i64 = tx.get("alice")?.unwrap();
            tx.set("alice", &(alice - 1))?;
            let bob: i64 = tx.get("bob")?.unwrap();
            tx.set("bob", &(bob + 1))?;
            Ok::<_, Error>(())
        })
        .unwrap();
    }
    stop[0].store(1, SeqCst);
    auditor.join();
    assert_eq!(checks[1].load(SeqCst), 0, "a reader saw half a transaction");
    assert_eq!(data.get::<i64>("alice").unwrap(), Some(500));
    assert_eq!(data.get::<i64>("bob").unwrap(), Some(500));
}

/// A transaction whose closure fails or panics leaves nothing behind.
pub(crate) fn failed_or_panicking_transaction_rolls_back() {
    let data = store();
    data.set("a", &1).unwrap();
    let mut handed_out = None;
    let result = data.transaction(|tx| {
        handed_out = Some(tx.set("a", &2)?);
        tx.set("new", &3)?;
        tx.remove("a")?;
        Err::<(), _>(Error::InvalidCapacity {
            reason: "the caller's own error".into(),
        })
    });
    assert!(result.is_err());
    assert_eq!(data.get::<i32>("a").unwrap(), Some(1));
    assert_eq!(data.get::<i32>("new").unwrap(), None);
    assert_eq!(data.keys().unwrap(), [OwnedKey::from("a")]);
    let after = data.set("z", &0).unwrap();
    assert!(
        after > handed_out.unwrap(),
        "a rolled-back version is never reused"
    );
    data.remove("z").unwrap();

    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        data.transaction(|tx| {
            tx.clear();
            tx.set("b", &4)?;
            panic!("in the middle of a transaction");
            #[allow(unreachable_code, reason = "the closure's type")]
            Ok::<(), Error>(())
        })
    }));
    assert!(panicked.is_err());
    assert_eq!(data.keys().unwrap(), [OwnedKey::from("a")]);
    assert_eq!(data.len().unwrap(), 1);
    // The lock was released: another process writes at once.
    fork(|| {
        data.set("c", &5).unwrap();
    })
    .join();
    assert_eq!(data.len().unwrap(), 2);
}

/// A write through the store inside its own transaction is refused
/// instead of deadlocking; a read sees the transaction's writes.
pub(crate) fn reentrant_write_is_refused() {
    let data = store();
    data.transaction(|tx| {
        tx.set("k", &1)?;
        assert!(matches!(data.set("k", &2), Err(Error::Reentrant { .. })));
        assert_eq!(data.get::<i32>("k")?, Some(1), "reads see the transaction");
        Ok::<_, Error>(())
    })
    .unwrap();
    assert_eq!(data.get::<i32>("k").unwrap(), Some(1));
}

/// Full capacity is `Full`: nothing overwritten or evicted, by any process.
pub(crate) fn full_store_is_an_error() {
    let data = SharedData::create(&unique("full"), Capacity::new(3, 8)).unwrap();
    fork(|| {
        for key in 0..3 {
            data.set(key, &key).unwrap();
        }
        let err = data.set(3, &3).unwrap_err();
        assert!(err.is_full(), "{err:?}");
        assert!(err.to_string().contains("all 3 entries"), "{err}");
    })
    .join();
    assert!(data.set("another", &0).unwrap_err().is_full());
    assert_eq!(data.len().unwrap(), 3);
    for key in 0..3 {
        assert_eq!(data.get::<i32>(key).unwrap(), Some(key));
    }
    data.set(1, &10).unwrap(); // an existing key still takes a new value
    assert!(matches!(
        data.set(1, &"more than eight bytes"),
        Err(Error::ValueTooLarge {
            len: 22,
            max: 8,
            ..
        })
    ));
    assert!(matches!(
        data.set("k".repeat(65).as_str(), &1),
        Err(Error::KeyTooLong {
            len: 65,
            max: 64,
            ..
        })
    ));
    assert!(data.remove(0).unwrap());
    data.set(3, &3).unwrap();
    assert_eq!(data.get::<i32>(1).unwrap(), Some(10));
}

/// 8 processes each add 1 ten thousand times with `update`: exactly 80,000.
pub(crate) fn eight_processes_update_to_exactly_80000() {
    let data = store();
    let go = Notify::new();
    let workers: Vec<Child> = (0..8)
        .map(|_| {
            fork(|| {
                go.wait();
                for _ in 0..10_000 {
                    data.update("counter", |n: Option<u64>| n.unwrap_or(0) + 1)
                        .unwrap();
                }
            })
        })
        .collect();
    for _ in 0..8 {
        go.notify();
    }
    workers.into_iter().for_each(Child::join);
    assert_eq!(data.get::<u64>("counter").unwrap(), Some(80_000));
}

/// A compare-and-set with a stale version fails (another process wrote
/// meanwhile) and one with the fresh version succeeds.
pub(crate) fn stale_cas_fails_fresh_cas_succeeds() {
    let data = store();
    data.set("k", &1u32).unwrap();
    let (value, stale) = data.get_versioned::<u32>("k").unwrap().unwrap();
    fork(|| {
        data.set("k", &value).unwrap(); // the same value, a new version
    })
    .join();
    let err = data
        .compare_and_set("k", Some(stale), &(value + 1))
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    let (value, fresh) = data.get_versioned::<u32>("k").unwrap().unwrap();
    assert!(fresh > stale);
    let written = data
        .compare_and_set("k", Some(fresh), &(value + 1))
        .unwrap();
    assert_eq!(data.get_versioned::<u32>("k").unwrap(), Some((2, written)));
    // Absent means absent: insert-if-absent, and a removed key conflicts.
    assert!(
        data.compare_and_set("k", None, &0u32)
            .unwrap_err()
            .is_conflict()
    );
    fork(|| assert!(data.remove("k").unwrap())).join();
    assert!(
        data.compare_and_set("k", Some(written), &0u32)
            .unwrap_err()
            .is_conflict()
    );
    data.compare_and_set("k", None, &7u32).unwrap();
    assert_eq!(data.get::<u32>("k").unwrap(), Some(7));
}

/// A value of the wrong type is a decode error naming the key.
pub(crate) fn wrong_type_is_a_decode_error() {
    let data = store();
    data.set("k", &(1u8, 2u8, 3u8)).unwrap();
    let err = data.get::<String>("k").unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("\"k\""), "{err}");
}
