//! `SharedArray` across processes.

use std::sync::atomic::Ordering::SeqCst;

use bytemuck::{Pod, Zeroable};
use forkwise_shm::{Error, SharedArray};
use forkwise_testkit::{Child, Notify, SharedCounters, fork};

use crate::support::unique;

/// Four processes `fetch_add` the same element and their own at once:
/// no increment is lost.
pub(crate) fn concurrent_fetch_add_across_fork() {
    let array = SharedArray::<u64>::anonymous(5).unwrap();
    let go = Notify::new();
    let workers: Vec<Child> = (1..=4)
        .map(|own| {
            let (array, go) = (&array, &go);
            fork(move || {
                go.wait();
                for _ in 0..20_000 {
                    array.fetch_add(0, 1).unwrap();
                    array.fetch_add(own, 2).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..4 {
        go.notify();
    }
    workers.into_iter().for_each(Child::join);
    assert_eq!(array.to_vec(), [80_000, 40_000, 40_000, 40_000, 40_000]);
}

/// `compare_exchange` lets exactly one process claim each element.
pub(crate) fn compare_exchange_claims_once() {
    let owners = SharedArray::<i32>::anonymous(100).unwrap();
    let claimed = SharedCounters::new(1);
    let workers: Vec<Child> = (1..=4)
        .map(|me| {
            let (owners, claimed) = (&owners, &claimed);
            fork(move || {
                for i in 0..100 {
                    if owners.compare_exchange(i, 0, me).unwrap() == Ok(0) {
                        claimed[0].fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    workers.into_iter().for_each(Child::join);
    assert_eq!(claimed[0].load(SeqCst), 100);
    assert!(owners.to_vec().iter().all(|owner| (1..=4).contains(owner)));
}

/// A record larger than a word: every write is a whole record, and
/// readers in other processes never see one half-written.
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Record {
    a: u64,
    b: u64,
    c: u32,
    d: u32,
    e: u64,
}

impl Record {
    fn of(n: u64) -> Self {
        let small = u32::try_from(n % 1000).unwrap();
        Self {
            a: n,
            b: n,
            c: small,
            d: small,
            e: n,
        }
    }

    fn whole(&self) -> bool {
        self.a == self.b
            && self.b == self.e
            && self.c == self.d
            && u64::from(self.c) == self.a % 1000
    }
}

pub(crate) fn large_elements_are_never_torn() {
    let array = SharedArray::<Record>::anonymous(2).unwrap();
    let torn = SharedCounters::new(2); // [0] torn reads, [1] reads
    let stop = SharedCounters::new(1);
    let writers: Vec<Child> = (0..2u64)
        .map(|w| {
            let array = &array;
            fork(move || {
                for n in 1..=30_000u64 {
                    let index = usize::from(n % 2 == 1);
                    array.set(index, Record::of(n * 2 + w)).unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<Child> = (0..2)
        .map(|_| {
            let (array, torn, stop) = (&array, &torn, &stop);
            fork(move || {
                while stop[0].load(SeqCst) == 0 {
                    for i in 0..2 {
                        if !array.get(i).unwrap().whole() {
                            torn[0].fetch_add(1, SeqCst);
                        }
                        torn[1].fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    writers.into_iter().for_each(Child::join);
    stop[0].store(1, SeqCst);
    readers.into_iter().for_each(Child::join);
    assert_eq!(
        torn[0].load(SeqCst),
        0,
        "torn reads out of {}",
        torn[1].load(SeqCst)
    );
    assert!(array.get(0).unwrap().whole() && array.get(1).unwrap().whole());
}

/// Named arrays: another process opens by name and must agree on the type.
pub(crate) fn named_array_shared_by_name() {
    let name = unique("array");
    let array = SharedArray::<[u16; 3]>::create(&name, 4).unwrap();
    fork(|| {
        let opened = SharedArray::<[u16; 3]>::open(&name).unwrap();
        assert_eq!(opened.len(), 4);
        opened.set(3, [1, 2, 3]).unwrap();
        assert!(matches!(
            SharedArray::<[u16; 4]>::open(&name),
            Err(Error::Mismatch { .. })
        ));
    })
    .join();
    assert_eq!(array.get(3).unwrap(), [1, 2, 3]);
    let err = array.get(4).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfRange {
                index: 4,
                len: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    assert!(array.set(usize::MAX, [0; 3]).is_err());
}
