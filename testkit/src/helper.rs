//! A forked helper process driven over two pipes: the other side of a timed
//! exchange between processes (a lock hand-off, a signal sent on command).

use std::fs::File;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::unix::fs::FileExt;

use crate::child::{Child, fork};

/// A forked helper and this process's ends of its two pipes: commands go
/// to it, answers come back. Dropping it closes the command pipe, then
/// kills and reaps the helper (which only happens when a bench or case
/// panics; [`finish`](Self::finish) is the normal end).
#[derive(Debug)]
pub struct Helper {
    // Declared before `child`, so dropped first: the helper sees EOF.
    commands: Option<PipeWriter>,
    answers: PipeReader,
    /// `/proc/<pid>/stat`, opened at once so that no timed loop pays for it.
    stat: File,
    child: Child,
}

impl Helper {
    /// Forks a helper that runs `body` with its ends of the two pipes (the
    /// commands to read, the answers to write); it fails, and so does
    /// [`finish`](Self::finish), if `body` returns `Err` or panics.
    ///
    /// # Panics
    ///
    /// As [`fork`], or if a pipe or the helper's stat file cannot be opened.
    pub fn spawn(body: impl FnOnce(PipeReader, PipeWriter) -> io::Result<()>) -> Self {
        let (command_reader, command_writer) = io::pipe().expect("pipe");
        let (answer_reader, answer_writer) = io::pipe().expect("pipe");
        // The closure runs only in the child; in this process it is dropped
        // unrun, closing the child's ends, while ours stay in `ours`.
        let mut ours = Some((command_writer, answer_reader));
        let child = fork(|| {
            drop(ours.take());
            body(command_reader, answer_writer).expect("the helper failed");
        });
        let (commands, answers) = ours.expect("kept by this process");
        let stat =
            File::open(format!("/proc/{}/stat", child.pid())).expect("open /proc/<helper>/stat");
        Self {
            commands: Some(commands),
            answers,
            stat,
            child,
        }
    }

    /// The helper's pid.
    pub fn pid(&self) -> i32 {
        self.child.pid()
    }

    /// Writes one command byte.
    ///
    /// # Panics
    ///
    /// If the write fails (the helper died).
    pub fn send(&mut self, byte: u8) {
        let pipe = self.commands.as_mut().expect("the pipe is open");
        pipe.write_all(&[byte]).expect("write to the helper");
    }

    /// Reads an answer of exactly `N` bytes.
    ///
    /// # Panics
    ///
    /// If the read fails or the pipe closes first (the helper died).
    pub fn receive<const N: usize>(&mut self) -> [u8; N] {
        let mut buffer = [0; N];
        self.answers
            .read_exact(&mut buffer)
            .expect("read from the helper (did it die?)");
        buffer
    }

    /// Spins, yielding the CPU, until the helper's state in
    /// `/proc/<pid>/stat` is `S`: asleep, which right after it announced a
    /// blocking call can only be inside that call.
    ///
    /// # Panics
    ///
    /// If the helper died, or its stat file cannot be read.
    pub fn wait_until_asleep(&self) {
        let mut buffer = [0; 1024];
        loop {
            let len = self
                .stat
                .read_at(&mut buffer, 0)
                .expect("read /proc/<helper>/stat");
            let line = &buffer[..len];
            // "pid (comm) S ...": the state follows the last ')'.
            let close = line.iter().rposition(|&b| b == b')').expect("a stat line");
            match line.get(close + 2) {
                Some(b'S') => return,
                Some(b'Z' | b'X') => panic!("the helper died"),
                // Let the helper run (it may share this CPU).
                _ => std::thread::yield_now(),
            }
        }
    }

    /// Closes the command pipe, so that the helper leaves, and waits for it.
    ///
    /// # Panics
    ///
    /// If the helper failed: the message names its pid, status and output.
    #[track_caller]
    pub fn finish(mut self) {
        self.commands = None;
        self.child.join();
    }
}
