//! Capturing workers' stdout and stderr through pipes, cut into lines.
//!
//! The master keeps the read ends, non-blocking, and reads whatever is there
//! each time it waits, so a worker never blocks on a full pipe for long. A
//! line is delivered without its `\n`; a line longer than [`MAX_LINE`]
//! is delivered in pieces of that size, so a worker that never writes a
//! newline cannot make the master's memory grow.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use crate::sys;
use crate::worker::WorkerId;

/// The longest piece of a line delivered at once, in bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// How much the master reads from one pipe before turning to the others.
const READ_BUDGET: usize = 4 * MAX_LINE;

/// Which of a worker's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (descriptor 1).
    Stdout,
    /// Standard error (descriptor 2).
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        })
    }
}

/// One line a worker wrote, as delivered to an
/// [`output_lines`](crate::ForkManagerBuilder::output_lines) callback.
#[derive(Clone, Copy, Debug)]
pub struct OutputLine<'a> {
    /// The worker.
    pub id: WorkerId,
    /// Its index in its group.
    pub index: usize,
    /// The pid of the process that wrote it.
    pub pid: i32,
    /// The stream it came from.
    pub stream: Stream,
    /// The line, without its `\n` (at most [`MAX_LINE`] bytes).
    pub bytes: &'a [u8],
}

impl OutputLine<'_> {
    /// The line as text; bytes that are not UTF-8 become U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.bytes)
    }
}

/// Where captured lines go.
pub(crate) enum Sink {
    /// A callback.
    Lines(Box<dyn FnMut(&OutputLine<'_>)>),
    /// The manager's logger: stdout at `Info`, stderr at `Warn`.
    Log,
}

/// The write ends a worker installs as its stdout and stderr.
pub(crate) struct ChildEnds {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

impl ChildEnds {
    /// Makes the pipes this process's descriptors 1 and 2 (in the child).
    pub(crate) fn install(self) -> io::Result<()> {
        sys::dup2(self.stdout.as_fd(), libc::STDOUT_FILENO)?;
        sys::dup2(self.stderr.as_fd(), libc::STDERR_FILENO)
        // `self` drops here, closing the originals: only 1 and 2 remain.
    }
}

/// A worker's captured streams, in the master.
#[derive(Debug)]
pub(crate) struct Captured {
    pipes: Vec<Pipe>,
}

/// The read end of one stream and the start of a line not yet complete.
#[derive(Debug)]
struct Pipe {
    stream: Stream,
    file: File,
    partial: Vec<u8>,
}

impl Captured {
    /// Two pipes: the master's read ends, and the worker's write ends.
    pub(crate) fn new() -> io::Result<(Self, ChildEnds)> {
        let (out_read, stdout) = sys::pipe()?;
        let (err_read, stderr) = sys::pipe()?;
        sys::set_nonblocking(out_read.as_fd())?;
        sys::set_nonblocking(err_read.as_fd())?;
        let pipe = |stream, read: OwnedFd| Pipe {
            stream,
            file: File::from(read),
            partial: Vec::new(),
        };
        Ok((
            Self {
                pipes: vec![
                    pipe(Stream::Stdout, out_read),
                    pipe(Stream::Stderr, err_read),
                ],
            },
            ChildEnds { stdout, stderr },
        ))
    }

    /// The descriptors still open, to poll.
    pub(crate) fn fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.pipes.iter().map(|pipe| pipe.file.as_raw_fd())
    }

    /// True once every stream reached end of file.
    pub(crate) fn is_closed(&self) -> bool {
        self.pipes.is_empty()
    }

    /// Reads what `fd` holds now (up to a budget), delivering whole lines;
    /// at end of file, delivers the partial line and closes the pipe.
    pub(crate) fn read_ready(
        &mut self,
        fd: RawFd,
        buffer: &mut [u8],
        deliver: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<()> {
        if let Some(at) = self.pipes.iter().position(|p| p.file.as_raw_fd() == fd) {
            let open = self.pipes[at].read_some(buffer, READ_BUDGET, deliver)?;
            if !open {
                self.pipes.swap_remove(at);
            }
        }
        Ok(())
    }

    /// After the worker ended: reads what its pipes still hold, delivers
    /// every partial line, and closes them.
    ///
    /// Reading stops at end of file or when the pipe is empty: a process
    /// the worker started may hold the pipe open, and its later output is
    /// not the worker's.
    pub(crate) fn finish(
        &mut self,
        buffer: &mut [u8],
        deliver: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<()> {
        for mut pipe in self.pipes.drain(..) {
            // The pipe holds at most its capacity (1 MiB at most by default);
            // the bound keeps a writer that goes on from holding us here.
            pipe.read_some(buffer, 16 * READ_BUDGET, deliver)?;
            pipe.flush_partial(deliver);
        }
        Ok(())
    }

    /// Closes the pipes without reading (in a worker: they are the master's).
    pub(crate) fn close(&mut self) {
        self.pipes.clear();
    }
}

impl Pipe {
    /// Reads until the pipe is empty or `budget` bytes were read; false at
    /// end of file (after delivering the partial line).
    fn read_some(
        &mut self,
        buffer: &mut [u8],
        budget: usize,
        deliver: &mut dyn FnMut(Stream, &[u8]),
    ) -> io::Result<bool> {
        let mut read = 0;
        while read < budget {
            match sys::retry_eintr(|| self.file.read(buffer)) {
                Ok(0) => {
                    self.flush_partial(deliver);
                    return Ok(false);
                }
                Ok(n) => {
                    read += n;
                    self.split(&buffer[..n], deliver);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) => return Err(err),
            }
        }
        Ok(true)
    }

    /// Delivers the complete lines of `partial + chunk`; keeps the rest.
    fn split(&mut self, mut chunk: &[u8], deliver: &mut dyn FnMut(Stream, &[u8])) {
        while !chunk.is_empty() {
            let room = MAX_LINE - self.partial.len();
            // A newline right after `room` bytes still ends a line that fits.
            let window = chunk.len().min(room + 1);
            let (piece, rest) = match chunk[..window].iter().position(|&b| b == b'\n') {
                Some(end) => (&chunk[..end], &chunk[end + 1..]),
                None if chunk.len() <= room => {
                    self.partial.extend_from_slice(chunk);
                    return;
                }
                // A line longer than MAX_LINE: deliver this piece of it.
                None => (&chunk[..room], &chunk[room..]),
            };
            if self.partial.is_empty() {
                deliver(self.stream, piece);
            } else {
                self.partial.extend_from_slice(piece);
                deliver(self.stream, &self.partial);
                self.partial.clear();
            }
            chunk = rest;
        }
    }

    fn flush_partial(&mut self, deliver: &mut dyn FnMut(Stream, &[u8])) {
        if !self.partial.is_empty() {
            deliver(self.stream, &self.partial);
            self.partial.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `chunks` as the master would and returns the lines delivered.
    fn lines_of(chunks: &[&[u8]], eof: bool) -> Vec<Vec<u8>> {
        let (read, _write) = sys::pipe().unwrap();
        let mut pipe = Pipe {
            stream: Stream::Stdout,
            file: File::from(read),
            partial: Vec::new(),
        };
        let mut lines = Vec::new();
        let mut deliver = |_: Stream, line: &[u8]| lines.push(line.to_vec());
        for chunk in chunks {
            pipe.split(chunk, &mut deliver);
        }
        if eof {
            pipe.flush_partial(&mut deliver);
        }
        lines
    }

    #[test]
    fn lines_are_cut_at_newlines_across_chunks() {
        let lines = lines_of(&[b"one\ntw", b"o\n\nthree"], false);
        assert_eq!(lines, [b"one".to_vec(), b"two".to_vec(), b"".to_vec()]);
    }

    #[test]
    fn the_last_partial_line_comes_at_end_of_file() {
        let lines = lines_of(&[b"a\nb"], true);
        assert_eq!(lines, [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn long_lines_come_in_pieces_of_max_line() {
        let long = vec![b'x'; 2 * MAX_LINE + 10];
        let mut input = long.clone();
        input.push(b'\n');
        let lines = lines_of(&[&input[..100], &input[100..]], false);
        let lengths: Vec<usize> = lines.iter().map(Vec::len).collect();
        assert_eq!(lengths, [MAX_LINE, MAX_LINE, 10]);
        assert_eq!(lines.concat(), long);
    }

    #[test]
    fn a_line_of_exactly_max_line_is_one_line() {
        let mut input = vec![b'y'; MAX_LINE];
        input.push(b'\n');
        assert_eq!(lines_of(&[&input], false), [vec![b'y'; MAX_LINE]]);
        // Also when its newline comes in the next chunk.
        let lines = lines_of(&[&input[..MAX_LINE], b"\nz\n"], false);
        assert_eq!(lines, [vec![b'y'; MAX_LINE], b"z".to_vec()]);
    }
}
