//! Benchmarks of forkwise-channel, run by `cargo xtask bench channel` or
//! `cargo bench -p forkwise-channel`.
//!
//! Every operation is a criterion group named after the operation; its
//! functions are `forkwise` (this crate), `floor` (the same work with raw
//! `read`/`write` on a socketpair, here in this file) and `peer:ipc-channel`
//! (servo's ipc-channel, what a user would otherwise pick). The operations:
//!
//! - round trip of a 64-byte and of a 4 KiB message between two processes
//!   (a forked echo child, one per `iter_custom` call, reaped before it
//!   returns); the floor sends each message behind a 4-byte length (see
//!   [`round_trip_floor`]), and a second 4 KiB group receives with
//!   `receive_borrowed`, decoding in place. Both processes run on one CPU:
//!   across two CPUs the time is mostly the wake-up of the other CPU, which
//!   on a virtual machine varies by an order of magnitude with the load (see
//!   `forkwise_testkit::PinnedToOneCpu`);
//! - one-way throughput of 1 MiB messages, raw frames (`send_bytes`) and
//!   typed (a struct holding a 1 MiB `serde_bytes` buffer);
//! - fan-in: messages received per second by a [`MultiStreamChannel`] from
//!   8 and from 64 forked clients.
//!
//! Forking is only sound in a process with one thread: criterion without its
//! `rayon` feature starts none, and `forkwise_testkit::fork` checks
//! `/proc/self/task` before every fork.

use std::hint::black_box;
use std::io::{IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use forkwise_channel::{Event, MultiStreamChannel, StreamChannel};
use forkwise_testkit::{Child, PinnedToOneCpu, fork};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    round_trip(&mut c, 64);
    round_trip(&mut c, 4096);
    round_trip_borrowed(&mut c, 4096);
    throughput_bytes(&mut c);
    throughput_typed(&mut c);
    fan_in(&mut c, 8);
    fan_in(&mut c, 64);
    c.final_summary();
}

const MIB: usize = 1 << 20;

/// A typed message holding a byte buffer, encoded in one piece.
#[derive(Serialize, Deserialize)]
struct Blob {
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// [`Blob`] decoded in place, its bytes borrowed from the receive buffer.
#[derive(Serialize, Deserialize)]
struct BlobRef<'a> {
    #[serde(borrow, with = "serde_bytes")]
    data: &'a [u8],
}

/// Forks a child that runs `body` with `theirs`; returns `mine` and the
/// child. Each process closes the other's end, so that each sees the
/// other leave.
fn fork_with<A, B>(mine: A, theirs: B, body: impl FnOnce(B)) -> (A, Child) {
    let (mut mine, mut theirs) = (Some(mine), Some(theirs));
    let child = fork(|| {
        drop(mine.take());
        body(theirs.take().expect("given"));
    });
    drop(theirs);
    (mine.expect("kept"), child)
}

/// The round trip's group name: "channel: round trip 64 B", say.
fn round_trip_name(size: usize) -> String {
    if size < 1024 {
        format!("channel: round trip {size} B")
    } else {
        format!("channel: round trip {} KiB", size / 1024)
    }
}

/// The round trip on raw `read`/`write`: each message goes as a 4-byte
/// length and the payload in one `writev`, and is read into a buffer used
/// again and again, of the size known in advance. The length is what any
/// message channel must send; without it the floor would carry fewer bytes
/// than a message needs, and the kernel's cost per byte of a stream socket
/// is not linear: past about 3.7 KiB it moves the bytes into a page of
/// their own, so raw 4,104-byte round trips here take about 0.3 µs longer
/// than 4,096-byte ones.
fn round_trip_floor(b: &mut criterion::Bencher<'_>, message: &[u8]) {
    b.iter_custom(|iters| {
        let _pinned = PinnedToOneCpu::new();
        let (mine, theirs) = UnixStream::pair().expect("socketpair");
        let framed = 4 + message.len();
        let (mut mine, child) = fork_with(mine, theirs, |mut theirs| {
            let mut buffer = vec![0; framed];
            while theirs.read_exact(&mut buffer).is_ok() {
                theirs.write_all(&buffer).expect("echo");
            }
        });
        let prefix = u32::try_from(message.len()).expect("small").to_le_bytes();
        let mut buffer = vec![0; framed];
        let started = Instant::now();
        for _ in 0..iters {
            let parts = [IoSlice::new(&prefix), IoSlice::new(black_box(message))];
            let sent = mine.write_vectored(&parts).expect("write");
            assert_eq!(sent, framed, "a blocking socket takes a small frame whole");
            mine.read_exact(&mut buffer).expect("read");
            assert_eq!(buffer[..4], prefix, "the echo's length");
            black_box(&buffer);
        }
        let took = started.elapsed();
        drop(mine);
        child.join();
        took
    });
}

/// The round trip with messages decoded in place on both sides
/// (`receive_borrowed`); the echo child answers through a second channel on
/// its socket while it holds the message.
fn round_trip_borrowed(c: &mut Criterion, size: usize) {
    let mut group = c.benchmark_group(format!("{}, borrowed", round_trip_name(size)));
    let message = Blob {
        data: vec![7; size],
    };
    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            let _pinned = PinnedToOneCpu::new();
            let (mine, theirs) = StreamChannel::pair().expect("pair");
            let (mut mine, child) = fork_with(mine, theirs, |mut theirs| {
                let fd = theirs.as_fd().try_clone_to_owned().expect("dup");
                let mut replies = StreamChannel::from_fd(fd).expect("channel");
                while let Ok(blob) = theirs.receive_borrowed::<BlobRef<'_>>() {
                    replies.send(&blob).expect("echo");
                }
            });
            let started = Instant::now();
            for _ in 0..iters {
                mine.send(black_box(&message)).expect("send");
                black_box(mine.receive_borrowed::<BlobRef<'_>>().expect("receive"));
            }
            let took = started.elapsed();
            drop(mine);
            child.join();
            took
        });
    });
    group.bench_function("floor", |b| round_trip_floor(b, &message.data));
    group.finish();
}

fn round_trip(c: &mut Criterion, size: usize) {
    let mut group = c.benchmark_group(round_trip_name(size));
    let message = Blob {
        data: vec![7; size],
    };

    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            let _pinned = PinnedToOneCpu::new();
            let (mine, theirs) = StreamChannel::pair().expect("pair");
            let (mut mine, child) = fork_with(mine, theirs, |mut theirs| {
                while let Ok(blob) = theirs.receive::<Blob>() {
                    theirs.send(&blob).expect("echo");
                }
            });
            let started = Instant::now();
            for _ in 0..iters {
                mine.send(black_box(&message)).expect("send");
                black_box(mine.receive::<Blob>().expect("receive"));
            }
            let took = started.elapsed();
            drop(mine);
            child.join();
            took
        });
    });

    group.bench_function("floor", |b| round_trip_floor(b, &message.data));

    group.bench_function("peer:ipc-channel", |b| {
        b.iter_custom(|iters| {
            let _pinned = PinnedToOneCpu::new();
            let (request_tx, request_rx) = ipc_channel::ipc::channel::<ByteBuf>().expect("ipc");
            let (reply_tx, reply_rx) = ipc_channel::ipc::channel::<ByteBuf>().expect("ipc");
            let ((request_tx, reply_rx), child) = fork_with(
                (request_tx, reply_rx),
                (request_rx, reply_tx),
                |(request_rx, reply_tx)| {
                    while let Ok(blob) = request_rx.recv() {
                        reply_tx.send(blob).expect("echo");
                    }
                },
            );
            let started = Instant::now();
            for _ in 0..iters {
                request_tx
                    .send(ByteBuf::from(black_box(&message.data).clone()))
                    .expect("send");
                black_box(reply_rx.recv().expect("receive"));
            }
            let took = started.elapsed();
            drop(request_tx);
            child.join();
            took
        });
    });
    group.finish();
}

/// Runs `iters` one-way 1 MiB transfers from a forked sender; returns the
/// receiver's time for them.
fn one_way(
    iters: u64,
    send: impl FnOnce(u64),
    mut receive: impl FnMut(),
    close: impl FnOnce(),
) -> Duration {
    let child = fork(|| send(iters));
    let started = Instant::now();
    for _ in 0..iters {
        receive();
    }
    let took = started.elapsed();
    close();
    child.join();
    took
}

fn throughput_bytes(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel: throughput 1 MiB");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.sample_size(20);
    let payload = vec![3u8; MIB];

    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            let (mut mine, theirs) = StreamChannel::pair().expect("pair");
            one_way(
                iters,
                |n| {
                    let mut theirs = theirs;
                    for _ in 0..n {
                        theirs.send_bytes(&payload).expect("send");
                    }
                },
                || drop(black_box(mine.receive_bytes().expect("receive"))),
                || (),
            )
        });
    });

    group.bench_function("floor", |b| throughput_floor(b, &payload));

    group.bench_function("peer:ipc-channel", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = ipc_channel::ipc::bytes_channel().expect("ipc");
            one_way(
                iters,
                |n| {
                    for _ in 0..n {
                        tx.send(&payload).expect("send");
                    }
                },
                || drop(black_box(rx.recv().expect("receive"))),
                || (),
            )
        });
    });
    group.finish();
}

/// One-way throughput on raw `write`/`read`: the child writes `payload`
/// whole, again and again; this process reads it into a buffer of the
/// size known in advance, used again and again.
fn throughput_floor(b: &mut criterion::Bencher<'_>, payload: &[u8]) {
    b.iter_custom(|iters| {
        let (mut mine, theirs) = UnixStream::pair().expect("socketpair");
        let mut buffer = vec![0; payload.len()];
        one_way(
            iters,
            |n| {
                let mut theirs = theirs;
                for _ in 0..n {
                    theirs.write_all(payload).expect("write");
                }
            },
            || mine.read_exact(black_box(&mut buffer)).expect("read"),
            || (),
        )
    });
}

fn throughput_typed(c: &mut Criterion) {
    let mut group = c.benchmark_group("channel: throughput 1 MiB typed");
    group.throughput(Throughput::Bytes(MIB as u64));
    group.sample_size(20);
    let blob = Blob {
        data: vec![5u8; MIB],
    };

    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            let (mut mine, theirs) = StreamChannel::pair().expect("pair");
            one_way(
                iters,
                |n| {
                    let mut theirs = theirs;
                    for _ in 0..n {
                        theirs.send(&blob).expect("send");
                    }
                },
                || drop(black_box(mine.receive::<Blob>().expect("receive"))),
                || (),
            )
        });
    });

    group.bench_function("floor", |b| throughput_floor(b, &blob.data));

    group.bench_function("peer:ipc-channel", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = ipc_channel::ipc::channel::<ByteBuf>().expect("ipc");
            one_way(
                iters,
                |n| {
                    for _ in 0..n {
                        tx.send(ByteBuf::from(blob.data.clone())).expect("send");
                    }
                },
                || drop(black_box(rx.recv().expect("receive"))),
                || (),
            )
        });
    });
    group.finish();
}

fn fan_in(c: &mut Criterion, clients: u64) {
    let mut group = c.benchmark_group(format!("channel: fan-in from {clients} clients"));
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            let per_client = iters.div_ceil(clients);
            let mut master = MultiStreamChannel::new().expect("master");
            let mut children = Vec::new();
            for _ in 0..clients {
                let (id, client) = master.create_client().expect("client");
                children.push(fork(|| {
                    master.close_in_child();
                    let mut client = client;
                    for seq in 0..per_client {
                        // The master stops reading after `iters` messages.
                        if client.send(&(id.get(), seq)).is_err() {
                            break;
                        }
                    }
                }));
            }
            let started = Instant::now();
            let mut received = 0;
            while received < iters {
                if let Event::Message(_, message) = master.receive::<(u64, u64)>().expect("receive")
                {
                    black_box(message);
                    received += 1;
                }
            }
            let took = started.elapsed();
            drop(master);
            children.into_iter().for_each(Child::join);
            took
        });
    });
    group.finish();
}
