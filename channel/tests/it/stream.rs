//! `StreamChannel` across processes.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use forkwise_channel::{Error, StreamChannel};
use forkwise_testkit::{Notify, TempDir, fork, storm};
use serde::{Deserialize, Serialize};

use crate::support::{
    count_sigusr1_without_restart, is_cloexec, limit_address_space, my_pid, raw_header,
    sigusr1_count,
};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Request {
    Add(i64, i64),
    Echo(String),
    Quit,
}

/// The parent asks, the child answers, in both directions over one pair;
/// the child's exit is then seen as `Disconnected`.
pub(crate) fn pair_works_both_ways_across_fork() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let child = fork(move || {
        let mut channel = child_end;
        loop {
            match channel.receive::<Request>().unwrap() {
                Request::Add(a, b) => channel.send(&(a + b)).unwrap(),
                Request::Echo(text) => channel.send(&text).unwrap(),
                Request::Quit => break,
            }
        }
    });
    parent.send(&Request::Add(40, 2)).unwrap();
    assert_eq!(parent.receive::<i64>().unwrap(), 42);
    parent.send(&Request::Echo("über".into())).unwrap();
    assert_eq!(parent.receive::<String>().unwrap(), "über");
    parent.send(&Request::Quit).unwrap();
    child.join();
    assert!(matches!(parent.receive::<i64>(), Err(Error::Disconnected)));
    assert!(
        matches!(parent.send(&Request::Quit), Err(Error::Disconnected)),
        "writing to a closed peer is Disconnected, not SIGPIPE"
    );
}

/// A child that dies by SIGKILL in the middle of a frame: the blocked
/// receiver gets `Disconnected` instead of waiting for the rest.
pub(crate) fn child_killed_mid_frame_gives_disconnected() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let child = fork(move || {
        let mut stream = child_end.into_inner();
        stream.write_all(&raw_header(1000, 0)).unwrap();
        stream.write_all(&[7; 100]).unwrap();
        // SAFETY: raise only sends a signal to this process.
        unsafe { libc::raise(libc::SIGKILL) };
    });
    let started = Instant::now();
    assert!(matches!(parent.receive_bytes(), Err(Error::Disconnected)));
    assert!(started.elapsed() < Duration::from_secs(5));
    child.join_killed_by(libc::SIGKILL);
}

/// A header claiming almost 4 GiB is refused as soon as it arrives, before
/// the child sends a byte of payload, in a process whose address space
/// could not hold the claim.
pub(crate) fn oversized_length_is_refused_before_any_allocation() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let payload_may_come = Notify::new();
    let child = fork(|| {
        let mut stream = child_end.into_inner();
        stream.write_all(&raw_header(u32::MAX - 1, 0)).unwrap();
        payload_may_come.wait();
    });
    limit_address_space(64 << 20);
    let err = parent.receive_bytes().unwrap_err();
    assert!(
        matches!(err, Error::FrameTooLarge { len, max } if len == u64::from(u32::MAX - 1) && max == 64 << 20),
        "{err:?}"
    );
    // The same with the maximum raised to the claim: memory follows what
    // arrives, so the empty payload costs (almost) nothing either.
    payload_may_come.notify();
    child.join();
    assert!(matches!(parent.receive_bytes(), Err(Error::Disconnected)));

    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    parent.set_max_frame_len(usize::MAX);
    let child = fork(|| {
        let mut stream = child_end.into_inner();
        stream.write_all(&raw_header(u32::MAX - 1, 0)).unwrap();
        stream.write_all(&[0; 4096]).unwrap();
    });
    assert!(matches!(parent.receive_bytes(), Err(Error::Disconnected)));
    child.join();
}

/// A frame that does not decode as the expected type is an error, and the
/// frames after it arrive normally.
pub(crate) fn garbage_payload_is_a_decode_error_and_the_next_frame_arrives() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let child = fork(move || {
        let mut channel = child_end;
        channel.send_bytes(&[0xff; 9]).unwrap(); // not a postcard String
        channel.send(&1u8).unwrap(); // a string length with no bytes after it
        channel.send(&"valid").unwrap();
        channel.send(&(1u32, 2u32)).unwrap(); // a byte left over for a u32
        channel.send(&3u32).unwrap();
    });
    for _ in 0..2 {
        let err = parent.receive::<String>().unwrap_err();
        assert!(matches!(err, Error::Decode(_)), "{err:?}");
        assert!(!err.is_fatal());
    }
    assert_eq!(parent.receive::<String>().unwrap(), "valid");
    assert!(matches!(parent.receive::<u32>(), Err(Error::Decode(_))));
    assert_eq!(parent.receive::<u32>().unwrap(), 3);
    child.join();
    assert!(matches!(
        parent.receive::<String>(),
        Err(Error::Disconnected)
    ));
}

/// A job whose text and bytes borrow from the frame they arrive in.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Job<'a> {
    name: &'a str,
    #[serde(borrow, with = "serde_bytes")]
    data: &'a [u8],
}

/// A forked worker decodes jobs in place, small ones out of the read buffer
/// and one larger than it out of its own, and answers each through a second
/// channel on the same socket while it holds the job; a frame that is no
/// job is a decode error and the next one still arrives. (The child holds
/// the master's end too, so it stops at a job named "done".)
pub(crate) fn borrowed_receive_decodes_in_place_across_fork() {
    let (mut master, worker_end) = StreamChannel::pair().unwrap();
    let large = vec![5u8; 3 * StreamChannel::BUFFER_SIZE];
    let child = fork(|| {
        let mut jobs = worker_end;
        let mut replies =
            StreamChannel::from_fd(jobs.as_fd().try_clone_to_owned().unwrap()).unwrap();
        loop {
            match jobs.receive_borrowed::<Job<'_>>() {
                Ok(Job { name: "done", .. }) => break,
                Ok(job) => {
                    let sum: u64 = job.data.iter().map(|&b| u64::from(b)).sum();
                    replies.send(&(job.name, job.data.len(), sum)).unwrap();
                }
                Err(Error::Decode(_)) => replies.send(&("undecodable", 0usize, 0u64)).unwrap(),
                Err(err) => panic!("worker: {err}"),
            }
        }
    });
    master
        .send(&Job {
            name: "small",
            data: &[1, 2, 3],
        })
        .unwrap();
    master
        .send(&Job {
            name: "large",
            data: &large,
        })
        .unwrap();
    master.send_bytes(&[0xff; 3]).unwrap();
    master
        .send(&Job {
            name: "empty",
            data: &[],
        })
        .unwrap();
    let large_sum = 5 * large.len() as u64;
    for expected in [
        ("small", 3, 6),
        ("large", large.len(), large_sum),
        ("undecodable", 0, 0),
        ("empty", 0, 0),
    ] {
        let (name, len, sum) = master.receive_borrowed::<(&str, usize, u64)>().unwrap();
        assert_eq!((name, len, sum), expected);
    }
    master
        .send(&Job {
            name: "done",
            data: &[],
        })
        .unwrap();
    child.join();
}

/// Bytes that are not a frame header: `Corrupt`, and it stays so.
pub(crate) fn bytes_that_are_no_header_are_corrupt() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let child = fork(move || {
        let mut stream = child_end.into_inner();
        stream.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    });
    child.join();
    assert!(matches!(parent.receive::<u8>(), Err(Error::Corrupt)));
    assert!(matches!(parent.receive::<u8>(), Err(Error::Corrupt)));
}

/// Half a frame: `try_receive` says `WouldBlock`, a timed receive times
/// out, and once the rest comes the whole frame arrives.
pub(crate) fn partial_frame_stays_buffered_across_try_and_timeout() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let (half_sent, send_rest) = (Notify::new(), Notify::new());
    let child = fork(|| {
        let mut stream = child_end.into_inner();
        let mut frame = raw_header(5, 0).to_vec();
        frame.extend_from_slice(b"hello");
        stream.write_all(&frame[..6]).unwrap();
        half_sent.notify();
        send_rest.wait();
        stream.write_all(&frame[6..]).unwrap();
    });
    half_sent.wait();
    assert!(matches!(parent.try_receive_bytes(), Err(Error::WouldBlock)));
    let started = Instant::now();
    assert!(matches!(
        parent.receive_timeout::<u8>(Duration::from_millis(50)),
        Err(Error::Timeout)
    ));
    assert!(started.elapsed() >= Duration::from_millis(50));
    parent.set_nonblocking(true).unwrap();
    assert!(matches!(parent.receive_bytes(), Err(Error::WouldBlock)));
    parent.set_nonblocking(false).unwrap();
    send_rest.notify();
    assert_eq!(parent.receive_bytes().unwrap(), b"hello");
    child.join();
}

/// SIGUSR1 every millisecond (handler without `SA_RESTART`, so the wait
/// really fails with EINTR) while blocked in a receive: it neither fails
/// nor returns before the message comes.
pub(crate) fn signal_storm_during_blocking_receive() {
    count_sigusr1_without_restart();
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let storm = storm(my_pid(), libc::SIGUSR1, Duration::from_millis(1));
    let child = fork(move || {
        let mut channel = child_end;
        std::thread::sleep(Duration::from_millis(300));
        channel.send(&"after the storm").unwrap();
    });
    let started = Instant::now();
    assert_eq!(parent.receive::<String>().unwrap(), "after the storm");
    assert!(started.elapsed() >= Duration::from_millis(250));
    drop(storm);
    child.join();
    assert!(
        sigusr1_count() > 10,
        "the handler ran {} times",
        sigusr1_count()
    );
}

/// The same storm during a timed receive: the time-out is honoured, neither
/// cut short nor stretched.
pub(crate) fn signal_storm_during_timed_receive() {
    count_sigusr1_without_restart();
    let (mut parent, _child_end) = StreamChannel::pair().unwrap();
    let storm = storm(my_pid(), libc::SIGUSR1, Duration::from_millis(1));
    let started = Instant::now();
    assert!(matches!(
        parent.receive_timeout::<u8>(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    let took = started.elapsed();
    drop(storm);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        sigusr1_count() > 10,
        "the handler ran {} times",
        sigusr1_count()
    );
}

/// In non-blocking mode a frame the socket takes only in part is
/// committed: `send` returns `Ok`, the rest waits in the channel, the next
/// send is `WouldBlock` until it is out, and the peer gets whole frames.
pub(crate) fn nonblocking_send_commits_a_started_frame() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let big: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let start_reading = Notify::new();
    let child = fork(|| {
        let mut channel = child_end;
        start_reading.wait();
        assert_eq!(channel.receive_bytes().unwrap(), big);
        assert_eq!(channel.receive::<String>().unwrap(), "second");
    });
    parent.set_nonblocking(true).unwrap();
    parent.send_bytes(&big).unwrap();
    assert!(parent.has_unsent(), "4 MiB does not fit a socket buffer");
    assert!(matches!(parent.send(&"second"), Err(Error::WouldBlock)));
    start_reading.notify();
    loop {
        match parent.flush() {
            Ok(()) => break,
            Err(Error::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            Err(err) => panic!("{err}"),
        }
    }
    loop {
        match parent.send(&"second") {
            Ok(()) => break,
            Err(Error::WouldBlock) => std::thread::sleep(Duration::from_millis(1)),
            Err(err) => panic!("{err}"),
        }
    }
    while parent.has_unsent() {
        match parent.flush() {
            Ok(()) | Err(Error::WouldBlock) => {}
            Err(err) => panic!("{err}"),
        }
    }
    child.join();
}

/// With `SO_PASSCRED` on, the kernel names the child that sent a frame;
/// `SO_PEERCRED` of a pair names its creator.
pub(crate) fn sender_credentials_name_the_child() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    parent.set_pass_credentials(true).unwrap();
    let child = fork(move || {
        let mut channel = child_end;
        channel.send(&"who am I").unwrap();
    });
    assert_eq!(parent.receive::<String>().unwrap(), "who am I");
    let sender = parent.sender_credentials().expect("credentials came");
    assert_eq!(sender.pid, child.pid());
    // SAFETY: getuid/getgid only read the process's ids.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!((sender.uid, sender.gid), (uid, gid));
    assert_eq!(parent.peer_credentials().unwrap().pid, my_pid());
    child.join();
}

/// For a socket a child connected, `SO_PEERCRED` names the child.
pub(crate) fn peer_credentials_of_a_connected_socket_name_the_child() {
    let dir = TempDir::new("channel-peercred");
    let path = dir.join("socket");
    let listener = UnixListener::bind(&path).unwrap();
    let child = fork(|| {
        let mut channel = StreamChannel::from(UnixStream::connect(&path).unwrap());
        channel.send(&1u8).unwrap();
    });
    let (stream, _) = listener.accept().unwrap();
    let mut channel = StreamChannel::from(stream);
    assert_eq!(channel.receive::<u8>().unwrap(), 1);
    assert_eq!(channel.peer_credentials().unwrap().pid, child.pid());
    child.join();
}

/// Every descriptor the crate makes is close-on-exec.
pub(crate) fn sockets_are_close_on_exec() {
    let before = open_fds();
    let (a, b) = StreamChannel::pair().unwrap();
    let mut master = forkwise_channel::MultiStreamChannel::new().unwrap();
    let (_id, client) = master.create_client().unwrap();
    let made: Vec<i32> = open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    assert_eq!(
        made.len(),
        5,
        "two pair ends, the epoll fd, two client ends: {made:?}"
    );
    for fd in made {
        // SAFETY: the descriptor is open (listed just above) for the call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        assert!(is_cloexec(fd), "fd {fd:?} is not close-on-exec");
    }
    drop((a, b, client, master));
}

fn open_fds() -> Vec<i32> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|entry| {
            entry
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    // The directory's own descriptor is gone now.
    fds.into_iter()
        .filter(|&fd| std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists())
        .collect()
}
