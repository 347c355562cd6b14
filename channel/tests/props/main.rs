//! Property tests of forkwise-channel across processes: random sequences of
//! messages, 0 bytes to 1 MiB, sent by a forked child as typed messages and
//! raw frames, arrive whole and in order. 4 runs of 25,000 messages make the
//! 100,000; sizes are mostly small so the whole takes a few seconds.

use std::time::Duration;

use forkwise_channel::StreamChannel;
use forkwise_testkit::fork;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        random_messages_arrive_whole_and_in_order => Duration::from_secs(300),
    ]);
}

const MESSAGES_PER_RUN: usize = 25_000;
const RUNS: u32 = 4;
const MIB: usize = 1 << 20;

/// A typed message: its index and a byte buffer encoded in one piece.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Message {
    index: u32,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// Payload sizes: mostly small, some medium, a few up to 1 MiB.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        90 => 0usize..256,
        9 => 256usize..16 << 10,
        1 => (16usize << 10)..=MIB,
    ]
}

/// The bytes of message `index` with `len` bytes, so the receiver can check
/// them without being told: the index at both ends, a fill byte between
/// (cheap to make and compare, also in a debug build).
fn pattern(index: u32, len: usize) -> Vec<u8> {
    let fill = u8::try_from(index % 251).expect("below 251");
    let mut bytes = vec![fill; len];
    let tag = index.to_le_bytes();
    let head = len.min(4);
    bytes[..head].copy_from_slice(&tag[..head]);
    let tail = len.saturating_sub(4).max(head);
    let tail_len = len - tail;
    bytes[tail..].copy_from_slice(&tag[..tail_len]);
    bytes
}

fn random_messages_arrive_whole_and_in_order() {
    let mut runner = TestRunner::new(Config {
        cases: RUNS,
        failure_persistence: None,
        ..Config::default()
    });
    let sizes = proptest::collection::vec(size(), MESSAGES_PER_RUN);
    runner
        .run(&sizes, |sizes| {
            let (mut parent, child_end) = StreamChannel::pair().unwrap();
            let child = fork(|| {
                let mut channel = child_end;
                for (index, &len) in (0u32..).zip(&sizes) {
                    let data = pattern(index, len);
                    if index % 2 == 0 {
                        channel.send(&Message { index, data }).unwrap();
                    } else {
                        channel.send_bytes(&data).unwrap();
                    }
                }
            });
            for (index, &len) in (0u32..).zip(&sizes) {
                let expected = pattern(index, len);
                if index % 2 == 0 {
                    let message: Message = parent.receive().unwrap();
                    prop_assert_eq!(message.index, index);
                    prop_assert!(message.data == expected, "message {} differs", index);
                } else {
                    let data = parent.receive_bytes().unwrap();
                    prop_assert!(data == expected, "frame {} differs", index);
                }
            }
            prop_assert!(matches!(
                parent.receive_bytes(),
                Err(forkwise_channel::Error::Disconnected)
            ));
            child.join();
            Ok(())
        })
        .unwrap();
}
