//! Passing an open file descriptor to another process: a forked child opens
//! a pipe, hands its read end to the parent over a `StreamChannel`, and
//! writes into the other end; the parent reads what the child wrote.
//!
//! Run with `cargo run -p forkwise-channel --example pass_fd`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use forkwise_channel::StreamChannel;

fn main() -> io::Result<()> {
    let (mut parent, child) = StreamChannel::pair()?;
    // Only the child learns who the sender is: the kernel stamps each frame.
    parent.set_pass_credentials(true)?;
    // A channel accepts no descriptors until its receiver asks for some.
    parent.set_max_fds(1);
    // SAFETY: this example is single-threaded, so the child may run
    // ordinary Rust code; it leaves with `_exit`.
    let pid = match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {
            drop(parent);
            let code = i32::from(child_side(child).is_err());
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => pid,
    };
    drop(child);

    let (label, mut fds) = parent.receive_with_fds::<String>()?;
    let sender = parent.sender_credentials().expect("credentials are on");
    assert_eq!(sender.pid, pid, "the kernel says who sent it");
    let mut text = String::new();
    File::from(fds.remove(0)).read_to_string(&mut text)?;
    println!("got {label:?} from pid {}: it says {text:?}", sender.pid);

    let mut status = 0;
    // SAFETY: `status` is writable; `pid` is our child, not yet reaped.
    unsafe { libc::waitpid(pid, &raw mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    Ok(())
}

fn child_side(mut channel: StreamChannel) -> io::Result<()> {
    let (reader, mut writer) = io::pipe()?;
    channel.send_with_fds(&"the read end of a pipe", &[reader.as_fd()])?;
    drop(reader); // the parent has its own copy now
    writer.write_all(b"hello through a passed descriptor")?;
    Ok(())
}
