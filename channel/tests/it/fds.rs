//! Passing file descriptors (`SCM_RIGHTS`) across processes.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use forkwise_channel::{Error, StreamChannel};
use forkwise_testkit::fork;

use crate::support::is_cloexec;

/// The child makes a pipe, passes its read end, writes into the write end;
/// the parent reads what the child wrote through the descriptor it got.
pub(crate) fn pipe_end_passes_and_the_receiver_reads_it() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    parent.set_max_fds(1);
    let child = fork(move || {
        let mut channel = child_end;
        let (reader, mut writer) = std::io::pipe().unwrap();
        channel
            .send_with_fds(&"read this", &[reader.as_fd()])
            .unwrap();
        drop(reader);
        writer.write_all(b"through the pipe").unwrap();
    });
    let (label, mut fds) = parent.receive_with_fds::<String>().unwrap();
    assert_eq!(label, "read this");
    assert_eq!(fds.len(), 1);
    let fd = fds.remove(0);
    assert!(
        is_cloexec(fd.as_fd()),
        "received descriptors are close-on-exec"
    );
    let mut text = String::new();
    File::from(fd).read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the pipe");
    child.join();
}

/// A frame with more descriptors than the receiver accepts: an error,
/// every descriptor that came is closed (the harness fails the case on a
/// leaked fd), and the next frame, with descriptors, arrives.
pub(crate) fn too_many_fds_are_closed_and_the_next_frame_arrives() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    parent.set_max_fds(2);
    let child = fork(move || {
        let mut channel = child_end;
        let null = File::open("/dev/null").unwrap();
        let five = [null.as_fd(); 5];
        channel.send_with_fds(&"five", &five).unwrap();
        channel.send_with_fds(&"two", &five[..2]).unwrap();
        channel.send_fds(&five[..3]).unwrap();
        channel.send(&"after").unwrap();
    });
    let err = parent.receive_with_fds::<String>().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Descriptors {
                announced: 5,
                accepted: 2
            }
        ),
        "{err:?}"
    );
    let (label, fds) = parent.receive_with_fds::<String>().unwrap();
    assert_eq!((label.as_str(), fds.len()), ("two", 2));
    drop(fds);
    assert!(matches!(
        parent.receive_fds(),
        Err(Error::Descriptors { announced: 3, .. })
    ));
    assert_eq!(parent.receive::<String>().unwrap(), "after");
    child.join();
}

/// A plain `receive` of a frame that carries descriptors closes them.
pub(crate) fn plain_receive_closes_unexpected_fds() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    parent.set_max_fds(2);
    let child = fork(move || {
        let mut channel = child_end;
        let null = File::open("/dev/null").unwrap();
        channel
            .send_with_fds(&1u8, &[null.as_fd(), null.as_fd()])
            .unwrap();
        channel.send(&2u8).unwrap();
    });
    assert!(matches!(
        parent.receive::<u8>(),
        Err(Error::UnexpectedDescriptors { count: 2 })
    ));
    assert_eq!(parent.receive::<u8>().unwrap(), 2);
    child.join();
}

/// By default a channel takes no descriptors: a frame that brings some is
/// refused with an error naming the remedy, the kernel discards them (the
/// harness fails the case on a leaked fd), and the next frame arrives.
pub(crate) fn default_channel_refuses_fds() {
    let (mut parent, child_end) = StreamChannel::pair().unwrap();
    let child = fork(move || {
        let mut channel = child_end;
        let null = File::open("/dev/null").unwrap();
        channel.send_with_fds(&1u8, &[null.as_fd()]).unwrap();
        channel.send(&2u8).unwrap();
    });
    let err = parent.receive_with_fds::<u8>().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Descriptors {
                announced: 1,
                accepted: 0
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("set_max_fds"), "{err}");
    assert_eq!(parent.receive::<u8>().unwrap(), 2);
    child.join();
}
