//! Frames on the wire, and the receive buffer that cuts them out of the byte
//! stream without doing any I/O itself (so it can be tested on any bytes).
//!
//! A frame is an 8-byte header and the payload:
//!
//! | bytes | what |
//! | --- | --- |
//! | 0..4 | payload length, `u32` little-endian |
//! | 4..6 | number of file descriptors sent with the frame, `u16` little-endian |
//! | 6..8 | `b"fw"`, so that a peer speaking something else is caught at once |
//!
//! Descriptors travel as `SCM_RIGHTS` ancillary data of the `sendmsg(2)`
//! that carries the frame's first byte. The kernel hands them over with the
//! read that returns that byte, so by the time a header is parsed its
//! descriptors have arrived, in order with every other frame's.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;

use crate::error::{Error, Result};

/// Bytes before every payload.
pub(crate) const HEADER_LEN: usize = 8;
const MAGIC: [u8; 2] = *b"fw";
/// The longest payload the header can describe.
pub(crate) const MAX_LEN: usize = u32::MAX as usize;
/// Large typed payloads keep their buffer for the next one up to this size.
const KEEP_LARGE: usize = 16 << 20;
/// A large frame's buffer starts at most this big and doubles as bytes
/// arrive, so a peer that announces a long frame and sends little makes us
/// allocate little.
const FIRST_LARGE_RESERVE: usize = 4 << 20;
/// The alignment of the payload of a frame read into an empty buffer.
const PAYLOAD_ALIGN: usize = 64;
/// Successive frames read into an empty buffer start at successive aligned
/// places across this span (see [`Inbox::read_target`]).
const LEAD_SPAN: usize = 4096;
/// The room a buffer keeps for the padding before its first frame.
const LEAD_ROOM: usize = LEAD_SPAN + PAYLOAD_ALIGN;

/// The header of a frame of `len` payload bytes carrying `fds` descriptors.
///
/// # Panics
///
/// If `len` or `fds` exceed what the header holds; callers check first.
pub(crate) fn header(len: usize, fds: usize) -> [u8; HEADER_LEN] {
    let len = u32::try_from(len).expect("checked against the maximum");
    let fds = u16::try_from(fds).expect("checked against SCM_MAX_FD");
    let mut bytes = [0; HEADER_LEN];
    bytes[..4].copy_from_slice(&len.to_le_bytes());
    bytes[4..6].copy_from_slice(&fds.to_le_bytes());
    bytes[6..].copy_from_slice(&MAGIC);
    bytes
}

#[derive(Clone, Copy, Debug)]
struct Header {
    len: usize,
    fds: usize,
}

impl Header {
    /// `None` if the bytes are not a header.
    fn parse(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        if bytes[6..] != MAGIC {
            return None;
        }
        let len = u32::from_le_bytes(bytes[..4].try_into().ok()?);
        let fds = u16::from_le_bytes(bytes[4..6].try_into().ok()?);
        Some(Self {
            len: usize::try_from(len).ok()?,
            fds: usize::from(fds),
        })
    }
}

/// The descriptors one read brought, and where in the stream that read ended.
#[derive(Debug)]
struct Batch {
    fds: Vec<OwnedFd>,
    truncated: bool,
    /// Stream offset just past the read's last byte.
    end: u64,
}

#[derive(Debug)]
enum State {
    /// Between frames, or inside a frame that fits the buffer.
    Frames,
    /// A frame larger than the buffer: its payload is read straight into a
    /// buffer of its own, of exactly its length.
    Large {
        header: Header,
        /// Stream offset of the frame's header.
        offset: u64,
        payload: Vec<u8>,
    },
    /// Discarding the payload of a refused frame as it arrives.
    Skip { remaining: usize },
    /// The stream lost its framing.
    Corrupt,
}

/// A complete frame's payload.
#[derive(Debug)]
pub(crate) enum Payload<'a> {
    /// Inside the receive buffer, until the next receive.
    Buffered(&'a [u8]),
    /// In a buffer of its own, which the caller may take.
    Large(&'a mut Vec<u8>),
}

impl<'a> Payload<'a> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Self::Buffered(bytes) => bytes,
            Self::Large(bytes) => bytes,
        }
    }

    /// The payload's bytes, for as long as the inbox is lent.
    pub(crate) fn into_bytes(self) -> &'a [u8] {
        match self {
            Self::Buffered(bytes) => bytes,
            Self::Large(bytes) => bytes,
        }
    }

    /// The payload as an owned `Vec`: moved out if large, else copied.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        match self {
            Self::Buffered(bytes) => {
                let mut owned = Vec::with_capacity(bytes.len());
                forkwise_codec::append_bytes(&mut owned, bytes);
                owned
            }
            Self::Large(bytes) => std::mem::take(bytes),
        }
    }
}

/// A complete frame: its payload and the descriptors that came with it.
#[derive(Debug)]
pub(crate) struct Frame<'a> {
    pub(crate) payload: Payload<'a>,
    pub(crate) fds: Vec<OwnedFd>,
}

/// A complete frame consumed from the inbox, not yet lent out.
#[derive(Debug)]
pub(crate) struct Ready {
    /// Where the payload lies in the buffer; `None`: in the large buffer.
    payload: Option<std::ops::Range<usize>>,
    fds: Vec<OwnedFd>,
}

/// The receive side of a channel: bytes read but not yet delivered, the
/// descriptors that came with them, and where the current frame stands.
///
/// Use: [`next_ready`](Self::next_ready) until it gives `None`, then read
/// from the socket into [`read_target`](Self::read_target) and report the
/// read with [`received`](Self::received); [`frame`](Self::frame) lends a
/// frame that `next_ready` consumed.
#[derive(Debug)]
pub(crate) struct Inbox {
    /// Received, not yet consumed: `buffer[start..]`.
    buffer: Vec<u8>,
    /// Padding before the first byte received into `buffer` since it was
    /// last empty (see [`read_target`](Self::read_target)).
    lead: usize,
    /// How many times the buffer was found empty before a read.
    resets: usize,
    start: usize,
    /// The buffer's size; a frame that does not fit is read as `Large`.
    capacity: usize,
    state: State,
    batches: VecDeque<Batch>,
    /// Total bytes received: the stream offset of `buffer.len()`.
    received: u64,
    /// The last large payload's buffer, kept for the next large frame.
    large: Vec<u8>,
    max_len: usize,
    max_fds: usize,
}

impl Inbox {
    /// An empty inbox whose buffer, allocated at the first read, holds
    /// `capacity` bytes; frames up to `max_len` bytes with up to `max_fds`
    /// descriptors are accepted.
    pub(crate) fn new(capacity: usize, max_len: usize, max_fds: usize) -> Self {
        Self {
            buffer: Vec::new(),
            lead: 0,
            resets: 0,
            start: 0,
            capacity: capacity.max(4 * HEADER_LEN),
            state: State::Frames,
            batches: VecDeque::new(),
            received: 0,
            large: Vec::new(),
            max_len: max_len.min(MAX_LEN),
            max_fds,
        }
    }

    pub(crate) fn set_max_len(&mut self, max_len: usize) {
        self.max_len = max_len.min(MAX_LEN);
    }

    pub(crate) fn set_max_fds(&mut self, max_fds: usize) {
        self.max_fds = max_fds;
    }

    pub(crate) fn max_fds(&self) -> usize {
        self.max_fds
    }

    /// True if some received bytes have not been delivered yet.
    pub(crate) fn has_buffered(&self) -> bool {
        self.start < self.buffer.len() || matches!(self.state, State::Large { .. })
    }

    /// Bytes held by the inbox's buffers (for tests of its memory bound).
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        let large = match &self.state {
            State::Large { payload, .. } => payload.capacity(),
            _ => 0,
        };
        self.buffer.capacity() + self.large.capacity() + large
    }

    /// [`next_ready`](Self::next_ready) and [`frame`](Self::frame) in one.
    #[cfg(test)]
    pub(crate) fn next_frame(&mut self) -> Result<Option<Frame<'_>>> {
        Ok(self.next_ready()?.map(|ready| self.frame(ready)))
    }

    /// Lends a frame that [`next_ready`](Self::next_ready) consumed.
    pub(crate) fn frame(&mut self, ready: Ready) -> Frame<'_> {
        let payload = match ready.payload {
            Some(range) => Payload::Buffered(&self.buffer[range]),
            None => Payload::Large(&mut self.large),
        };
        Frame {
            payload,
            fds: ready.fds,
        }
    }

    /// Consumes the next complete frame from what has been received, `None`
    /// if more bytes are needed. It is lent by [`frame`](Self::frame): apart,
    /// so that a caller can read more in a loop and keep the frame past it.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] (for good), [`Error::FrameTooLarge`] and
    /// [`Error::Descriptors`] (the frame is skipped; call again).
    pub(crate) fn next_ready(&mut self) -> Result<Option<Ready>> {
        loop {
            match &mut self.state {
                State::Corrupt => return Err(Error::Corrupt),
                State::Skip { remaining } => {
                    let skipped = (*remaining).min(self.buffer.len() - self.start);
                    self.start += skipped;
                    *remaining -= skipped;
                    if *remaining > 0 {
                        return Ok(None);
                    }
                    self.state = State::Frames;
                }
                State::Large {
                    header, payload, ..
                } if payload.len() == header.len => {
                    let State::Large {
                        header,
                        offset,
                        payload,
                    } = std::mem::replace(&mut self.state, State::Frames)
                    else {
                        unreachable!("matched just above")
                    };
                    let fds = self.take_fds(header, offset)?;
                    self.large = payload;
                    return Ok(Some(Ready { payload: None, fds }));
                }
                State::Large { .. } => return Ok(None),
                State::Frames => {
                    let available = self.buffer.len() - self.start;
                    if available < HEADER_LEN {
                        return Ok(None);
                    }
                    let offset = self.received - available as u64;
                    let Some(header) = Header::parse(&self.buffer[self.start..]) else {
                        self.state = State::Corrupt;
                        self.discard_all();
                        return Err(Error::Corrupt);
                    };
                    self.drop_stale_batches(offset);
                    if header.fds > self.max_fds || header.len > self.max_len {
                        return Err(self.refuse(header, offset));
                    }
                    let total = HEADER_LEN + header.len;
                    if total <= available {
                        let payload = self.start + HEADER_LEN..self.start + total;
                        self.start += total;
                        let fds = self.take_fds(header, offset)?;
                        return Ok(Some(Ready {
                            payload: Some(payload),
                            fds,
                        }));
                    }
                    if total <= self.capacity {
                        return Ok(None);
                    }
                    self.start_large(header, offset);
                }
            }
        }
    }

    /// Refuses the frame whose header is at the buffer's start: consumes the
    /// header, closes its descriptors, and skips its payload as it comes.
    fn refuse(&mut self, header: Header, offset: u64) -> Error {
        self.start += HEADER_LEN;
        if header.fds > 0 {
            self.take_batch(offset);
        }
        self.state = State::Skip {
            remaining: header.len,
        };
        if header.len > self.max_len {
            Error::FrameTooLarge {
                len: header.len as u64,
                max: self.max_len,
            }
        } else {
            Error::Descriptors {
                announced: header.fds,
                accepted: self.max_fds,
            }
        }
    }

    /// Moves a frame too large for the buffer into a buffer of its own,
    /// allocated only now that its length is known to be acceptable.
    fn start_large(&mut self, header: Header, offset: u64) {
        self.start += HEADER_LEN;
        let mut payload = std::mem::take(&mut self.large);
        payload.clear();
        payload.reserve_exact(header.len.min(FIRST_LARGE_RESERVE));
        let buffered = (self.buffer.len() - self.start).min(header.len);
        forkwise_codec::append_bytes(
            &mut payload,
            &self.buffer[self.start..self.start + buffered],
        );
        self.start += buffered;
        self.state = State::Large {
            header,
            offset,
            payload,
        };
    }

    /// The descriptors of the frame whose header is at stream `offset`.
    fn take_fds(&mut self, header: Header, offset: u64) -> Result<Vec<OwnedFd>> {
        if header.fds == 0 {
            return Ok(Vec::new());
        }
        match self.take_batch(offset) {
            Some(batch) if !batch.truncated && batch.fds.len() == header.fds => Ok(batch.fds),
            _ => Err(Error::Descriptors {
                announced: header.fds,
                accepted: self.max_fds,
            }),
        }
    }

    /// The batch that came with the header at `offset`: the first whose read
    /// ended after it.
    fn take_batch(&mut self, offset: u64) -> Option<Batch> {
        self.drop_stale_batches(offset);
        self.batches.pop_front()
    }

    /// Closes descriptors that arrived with bytes before `offset`: no later
    /// frame can claim them (a peer sent them without announcing them).
    fn drop_stale_batches(&mut self, offset: u64) {
        while self
            .batches
            .front()
            .is_some_and(|batch| batch.end <= offset)
        {
            self.batches.pop_front();
        }
    }

    fn discard_all(&mut self) {
        self.buffer = Vec::new();
        self.lead = 0;
        self.start = 0;
        self.batches.clear();
        self.large = Vec::new();
    }

    /// Where the next read should append its bytes, and at most how many:
    /// the buffer, or a large frame's own buffer (exactly its remaining
    /// bytes, so a read never runs into the next frame there).
    pub(crate) fn read_target(&mut self) -> (&mut Vec<u8>, usize) {
        if let State::Large {
            header, payload, ..
        } = &mut self.state
        {
            let left = header.len - payload.len();
            if payload.capacity() == payload.len() {
                payload.reserve_exact(left.min(payload.len().max(FIRST_LARGE_RESERVE)));
            }
            let room = left.min(payload.capacity() - payload.len());
            return (payload, room);
        }
        if self.buffer.capacity() < self.capacity + LEAD_ROOM {
            self.buffer
                .reserve_exact(self.capacity + LEAD_ROOM - self.buffer.len());
        }
        if self.start == self.buffer.len() {
            // Empty: the next frame's payload starts on an aligned address,
            // one step further on each time. glibc's memcpy on some x86 CPUs
            // runs twenty times slower when the destination lies 1 to 31
            // bytes past the source modulo 4 KiB (see `forkwise_codec::copy`,
            // which our own copies go through); a copy we do not make, as a
            // serde visitor's out of a payload that always sat at the same
            // place into an allocation that malloc hands out at the same
            // place message after message, could hit that every time. Moving
            // the payload leaves it at most one message in
            // LEAD_SPAN / PAYLOAD_ALIGN.
            let misalignment = (self.buffer.as_ptr() as usize + HEADER_LEN) % PAYLOAD_ALIGN;
            let step = self.resets % (LEAD_SPAN / PAYLOAD_ALIGN);
            self.resets = self.resets.wrapping_add(1);
            self.lead = (PAYLOAD_ALIGN - misalignment) % PAYLOAD_ALIGN + step * PAYLOAD_ALIGN;
            // The padding is never read: what the last frames left there
            // stays, and only the part beyond them is zeroed.
            if self.buffer.len() >= self.lead {
                self.buffer.truncate(self.lead);
            } else {
                self.buffer.resize(self.lead, 0);
            }
            self.start = self.lead;
        } else if self.start > 0
            && self.buffer.len() - self.lead + self.capacity / 2 > self.capacity
        {
            // Less than half the buffer is free: move the partial frame to the front.
            self.buffer.drain(..self.start);
            self.start = 0;
            self.lead = 0;
        }
        let room = (self.lead + self.capacity).saturating_sub(self.buffer.len());
        (&mut self.buffer, room)
    }

    /// Records a read of `len` bytes (already appended to the read target)
    /// that brought `fds` (`truncated` if the kernel had to drop some).
    pub(crate) fn received(&mut self, len: usize, fds: Vec<OwnedFd>, truncated: bool) {
        self.received += len as u64;
        if !fds.is_empty() || truncated {
            self.batches.push_back(Batch {
                fds,
                truncated,
                end: self.received,
            });
        }
    }

    /// Gives back memory held for the last large typed message, if it is
    /// more than the inbox keeps.
    pub(crate) fn trim(&mut self) {
        if self.large.capacity() > KEEP_LARGE {
            self.large = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut bytes = header(payload.len(), 0).to_vec();
        bytes.extend_from_slice(payload);
        bytes
    }

    /// Feeds `bytes` in `chunk`-sized reads; collects frames and errors.
    fn feed(inbox: &mut Inbox, bytes: &[u8], chunk: usize) -> Vec<Result<Vec<u8>>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        loop {
            loop {
                match inbox.next_frame() {
                    Ok(Some(frame)) => out.push(Ok(frame.payload.into_vec())),
                    Ok(None) => break,
                    Err(Error::Corrupt) => {
                        out.push(Err(Error::Corrupt));
                        return out;
                    }
                    Err(err) => out.push(Err(err)),
                }
            }
            if rest.is_empty() {
                return out;
            }
            let (target, room) = inbox.read_target();
            assert!(room > 0, "a read target always has room");
            let n = room.min(chunk).min(rest.len());
            target.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            inbox.received(n, Vec::new(), false);
        }
    }

    #[test]
    fn small_and_large_frames_arrive_whole_and_in_order() {
        let payloads: Vec<Vec<u8>> = vec![vec![], vec![1; 10], vec![2; 100], vec![3; 5000], vec![]];
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        for chunk in [1, 7, 64, 4096] {
            let mut inbox = Inbox::new(256, 1 << 20, 0);
            let got: Vec<Vec<u8>> = feed(&mut inbox, &stream, chunk)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, payloads, "chunk {chunk}");
        }
    }

    #[test]
    fn oversized_frame_is_refused_skipped_and_the_next_arrives() {
        let mut stream = header(1000, 0).to_vec();
        stream.extend_from_slice(&[9; 1000]);
        stream.extend(frame(b"next"));
        let mut inbox = Inbox::new(64, 100, 0);
        let got = feed(&mut inbox, &stream, 50);
        assert!(
            matches!(
                got[0],
                Err(Error::FrameTooLarge {
                    len: 1000,
                    max: 100
                })
            ),
            "{got:?}"
        );
        assert_eq!(got[1].as_ref().unwrap(), b"next");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_bad_header_is_corrupt_for_good() {
        let mut inbox = Inbox::new(64, 100, 0);
        let got = feed(&mut inbox, b"GET / HTTP/1.1\r\n", 16);
        assert!(matches!(got[..], [Err(Error::Corrupt)]), "{got:?}");
        assert!(matches!(inbox.next_frame(), Err(Error::Corrupt)));
    }

    #[test]
    fn descriptors_announced_but_missing_are_an_error_and_the_next_frame_arrives() {
        let mut stream = header(2, 1).to_vec();
        stream.extend_from_slice(b"hi");
        stream.extend(frame(b"next"));
        let mut inbox = Inbox::new(64, 100, 4);
        let got = feed(&mut inbox, &stream, 64);
        assert!(
            matches!(got[0], Err(Error::Descriptors { announced: 1, .. })),
            "{got:?}"
        );
        assert_eq!(got[1].as_ref().unwrap(), b"next");
    }

    /// A frame read into an empty buffer has its payload on an aligned
    /// address, however the buffer is placed, and at another place modulo
    /// 4 KiB than the frame before.
    #[test]
    fn a_payload_read_into_an_empty_buffer_is_aligned() {
        let mut inbox = Inbox::new(4096, 4096, 0);
        let mut last = None;
        for size in [0, 1, 7, 100, 4000, 4000] {
            let bytes = frame(&vec![3; size]);
            let (target, room) = inbox.read_target();
            assert!(room >= bytes.len());
            target.extend_from_slice(&bytes);
            inbox.received(bytes.len(), Vec::new(), false);
            let frame = inbox.next_frame().unwrap().unwrap();
            let payload = frame.payload.bytes();
            assert_eq!(payload.len(), size);
            let at = payload.as_ptr() as usize;
            assert_eq!(at % PAYLOAD_ALIGN, 0, "size {size}");
            assert_ne!(
                Some(at % LEAD_SPAN),
                last,
                "size {size}: the same place again"
            );
            last = Some(at % LEAD_SPAN);
        }
    }

    #[test]
    fn memory_is_bounded_by_the_frame_not_the_claim() {
        let mut inbox = Inbox::new(64, 1 << 30, 0);
        // Claims 1 GiB, sends 10 bytes: within the maximum, the buffer for
        // it starts small and grows only with what arrives...
        let mut stream = header(1 << 30, 0).to_vec();
        stream.extend_from_slice(&[0; 10]);
        drop(feed(&mut inbox, &stream, 64));
        assert!(
            inbox.allocated() <= 64 + LEAD_ROOM + FIRST_LARGE_RESERVE,
            "{}",
            inbox.allocated()
        );
        // ...and a claim above the maximum reserves nothing.
        let mut inbox = Inbox::new(64, 1 << 20, 0);
        drop(feed(&mut inbox, &stream, 64));
        assert!(inbox.allocated() <= 64 + LEAD_ROOM, "{}", inbox.allocated());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Arbitrary bytes, in arbitrary reads: never a panic, never a frame
        /// above the maximum, never more memory than buffer + maximum.
        #[test]
        fn arbitrary_bytes_never_panic_or_overallocate(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            chunk in 1usize..300,
            capacity in 16usize..512,
            max_len in 0usize..2048,
            max_fds in 0usize..4,
        ) {
            let mut inbox = Inbox::new(capacity, max_len, max_fds);
            for result in feed(&mut inbox, &bytes, chunk) {
                if let Ok(payload) = result {
                    prop_assert!(payload.len() <= max_len);
                }
                prop_assert!(inbox.allocated() <= capacity.max(4 * HEADER_LEN) + LEAD_ROOM + max_len);
            }
            prop_assert!(inbox.allocated() <= capacity.max(4 * HEADER_LEN) + LEAD_ROOM + max_len);
        }

        /// Arbitrary headers (valid magic) followed by arbitrary bytes.
        #[test]
        fn arbitrary_headers_never_overallocate(
            len in any::<u32>(),
            fds in any::<u16>(),
            rest in proptest::collection::vec(any::<u8>(), 0..2048),
            chunk in 1usize..300,
        ) {
            let max_len = 1000;
            let mut bytes = header(len as usize, usize::from(fds)).to_vec();
            bytes.extend(rest);
            let mut inbox = Inbox::new(128, max_len, 8);
            for payload in feed(&mut inbox, &bytes, chunk).into_iter().flatten() {
                prop_assert!(payload.len() <= max_len);
            }
            prop_assert!(inbox.allocated() <= 128 + LEAD_ROOM + max_len);
        }

        /// Valid frames of random sizes, cut into random reads, come out whole.
        #[test]
        fn valid_frames_round_trip(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..20),
            chunk in 1usize..700,
            capacity in 16usize..1024,
        ) {
            let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
            let mut inbox = Inbox::new(capacity, 600, 0);
            let got: Vec<Vec<u8>> = feed(&mut inbox, &stream, chunk).into_iter().map(Result::unwrap).collect();
            prop_assert_eq!(got, payloads);
        }
    }
}
