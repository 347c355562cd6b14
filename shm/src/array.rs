//! [`SharedArray`]: a fixed-length array of plain data shared between
//! processes, each element read and written whole.
//!
//! # Layout
//!
//! After the header, the elements follow one another. How an element is
//! stored depends only on `size_of::<T>()`:
//!
//! - **direct** (1, 2, 4 or 8 bytes): the element is one naturally aligned
//!   atomic integer of that width; `get` is one atomic load, `set` one
//!   atomic store, and integer types get `fetch_add` and friends.
//! - **buffered** (any other size): a sequence word and two buffers of
//!   `ceil(size / 8)` words. The sequence word holds the number of commits
//!   (high 32 bits; the current value is in buffer `commits & 1`), and,
//!   while a write is under way, the writer's pid and a writing bit (low 32
//!   bits). A writer takes the writing bit with a compare-and-swap, fills
//!   the *other* buffer, then publishes it by bumping the commits with a
//!   release store. A reader copies the current buffer and checks that the
//!   commits did not change meanwhile (a seqlock), so it never sees a torn
//!   value and never waits for a writer.
//!
//! # A writer that dies
//!
//! A direct element cannot be torn: one store. A buffered one keeps its
//! current buffer untouched while a write is under way, so a writer killed
//! in the middle leaves the old value readable. Its writing bit stays set;
//! the next writer that finds it set for long checks whether the pid in
//! the sequence word still exists (`kill(pid, 0)`), and if not takes the
//! element over. (A pid reused by a new process before that check makes
//! the writer wait until that process exits.)

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering, fence};
use std::time::Duration;

use bytemuck::Pod;
use crossbeam_utils::Backoff;

use crate::error::{Error, Result};
use crate::header::{self, RegionKind};
use crate::hooks::{self, Point};
use crate::mapping::{Mapping, Spec};
use crate::memory::Memory;
use crate::sys;

mod integer;

pub use integer::SharedInteger;

/// A fixed-length array of `T` in shared memory, shared by name or with
/// forked children: a progress table a master reads, per-worker counters,
/// a ring of samples.
///
/// `T` is plain old data ([`bytemuck::Pod`]: integers, floats, arrays and
/// `#[repr(C)]` structs of them, with no padding and no pointers): its bytes
/// are all there is to it, so another process can write them.
///
/// Each element is read and written whole: [`get`](Self::get) never returns
/// a value half-written by another process, whatever the size of `T` (see
/// [how elements are stored](Self#how-elements-are-stored)). Integer elements also have atomic
/// [`fetch_add`](Self::fetch_add), [`fetch_sub`](Self::fetch_sub),
/// [`swap`](Self::swap) and [`compare_exchange`](Self::compare_exchange).
/// An index out of range is an [`Error::OutOfRange`], never a panic.
///
/// ```
/// use forkwise_shm::SharedArray;
///
/// let progress = SharedArray::<u64>::anonymous(4)?; // one slot per worker
/// progress.set(2, 50)?;
/// progress.fetch_add(2, 25)?;
/// assert_eq!(progress.get(2)?, 75);
/// assert!(progress.get(4).is_err(), "out of range");
///
/// // Larger elements are never torn either.
/// let points = SharedArray::<[f64; 3]>::anonymous(2)?;
/// points.set(1, [1.0, 2.0, 3.0])?;
/// assert_eq!(points.get(1)?, [1.0, 2.0, 3.0]);
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
///
/// Orderings: `get` acquires, `set` releases, the read-modify-write
/// operations do both, so a value written before a `set` in one process is
/// seen by a process whose `get` sees that `set`.
///
/// # How elements are stored
///
/// An element of 1, 2, 4 or 8 bytes is one atomic integer: one load, one
/// store. A larger (or odd-sized) element has a sequence word and two
/// buffers: a writer fills the spare buffer and then publishes it with one
/// store to the sequence word, and a reader copies the current buffer and
/// checks that the sequence did not move meanwhile. So a reader never
/// waits and never sees a torn value, and a writer killed half-way leaves
/// the current buffer intact. Writers of one element take turns through a
/// bit in the sequence word that also names the writer's pid; a writer
/// that finds the bit held by a process that no longer exists takes over.
#[derive(Debug)]
pub struct SharedArray<T> {
    mapping: Mapping,
    len: usize,
    _element: PhantomData<fn(T) -> T>,
}

/// How one element is stored (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    /// One atomic integer of `size_of::<T>()` bytes.
    Direct,
    /// A sequence word and two buffers of this many words.
    Buffered { words: usize },
}

impl Encoding {
    fn of<T>() -> Self {
        match size_of::<T>() {
            1 | 2 | 4 | 8 => Self::Direct,
            size => Self::Buffered {
                words: size.div_ceil(8),
            },
        }
    }

    /// Bytes from one element to the next.
    fn stride<T>(self) -> usize {
        match self {
            Self::Direct => size_of::<T>(),
            Self::Buffered { words } => 8 * (1 + 2 * words),
        }
    }

    fn code(self) -> u64 {
        match self {
            Self::Direct => 1,
            Self::Buffered { .. } => 2,
        }
    }
}

/// The sequence word of a buffered element: commits in the high half.
const COMMITS_SHIFT: u32 = 32;
/// The writing bit of a buffered element's sequence word.
const WRITING: u64 = 1;

impl<T: Pod> SharedArray<T> {
    /// Creates `/dev/shm/NAME` holding `len` elements, all zero bytes; fails
    /// if the name exists. The name is removed when this handle is dropped
    /// in this process (see [`Region`](crate::Region#lifetime-of-the-name)).
    ///
    /// # Errors
    ///
    /// As [`Region::create`](crate::Region::create), and
    /// [`Error::InvalidCapacity`] if `len` elements do not fit in memory.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let name = format!("fw-doc-array-{}", std::process::id());
    /// let array = SharedArray::<u32>::create(&name, 16)?;
    /// assert_eq!(array.get(15)?, 0);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn create(name: &str, len: usize) -> Result<Self> {
        let mapping = Mapping::create(name, Self::spec(len)?, |_, _| Ok(()))?;
        Ok(Self::with(mapping, len))
    }

    /// Opens the array another process created as `name`; it must hold
    /// elements of `T`'s size and alignment.
    ///
    /// # Errors
    ///
    /// As [`Region::open`](crate::Region::open), and [`Error::Mismatch`]
    /// naming the element size or alignment if they differ from `T`'s.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let name = format!("fw-doc-array-open-{}", std::process::id());
    /// let created = SharedArray::<u64>::create(&name, 3)?;
    /// created.set(0, 42)?;
    /// let opened = SharedArray::<u64>::open(&name)?;
    /// assert_eq!(opened.get(0)?, 42);
    /// assert!(SharedArray::<u32>::open(&name).is_err(), "another element size");
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let mapping = Mapping::open(name, RegionKind::Array)?;
        let [size, align, len, encoding, ..] = mapping.params();
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let expected = Self::spec(len).ok();
        let checks = [
            ("element size in bytes", size_of::<T>() as u64, size),
            ("element alignment in bytes", align_of::<T>() as u64, align),
            ("element encoding", Encoding::of::<T>().code(), encoding),
            (
                "mapping length for the array's length",
                expected.map_or(0, |spec| spec.len as u64),
                mapping.memory().len() as u64,
            ),
        ];
        for (what, expected, found) in checks {
            if expected != found {
                return Err(Error::Mismatch {
                    region: mapping.shown().to_owned(),
                    what,
                    expected,
                    found,
                });
            }
        }
        Ok(Self::with(mapping, len))
    }

    /// An array of `len` elements with no name, shared with every child
    /// forked afterwards.
    ///
    /// # Errors
    ///
    /// As [`Region::anonymous`](crate::Region::anonymous).
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let array = SharedArray::<i16>::anonymous(2)?;
    /// array.set(1, -7)?;
    /// assert_eq!(array.get(1)?, -7);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn anonymous(len: usize) -> Result<Self> {
        let mapping = Mapping::anonymous(Self::spec(len)?, |_, _| Ok(()))?;
        Ok(Self::with(mapping, len))
    }

    /// The array in a SysV shared memory segment, for programs that share
    /// SysV keys: the process that created the segment (see
    /// [`SharedSegment::created`](forkwise_sysv::SharedSegment::created))
    /// lays the array out; the others wait for it and check it. The
    /// segment must be [`region_len`](Self::region_len)`(len)` bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] if the segment has another size, and as
    /// [`open`](Self::open).
    ///
    /// ```
    /// use forkwise_shm::SharedArray;
    /// use forkwise_sysv::{Key, SharedSegment};
    ///
    /// let len = SharedArray::<u64>::region_len(8)?;
    /// let segment = SharedSegment::options().remove_on_drop(true).open(Key::private(), len)?;
    /// let array = SharedArray::<u64>::in_segment(segment, 8)?;
    /// array.fetch_add(0, 1)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "sysv")]
    pub fn in_segment(segment: forkwise_sysv::SharedSegment, len: usize) -> Result<Self> {
        let spec = Self::spec(len)?;
        let mapping = Mapping::in_segment(segment, spec, |_, _| Ok(()))?;
        let [size, align, found_len, encoding, ..] = mapping.params();
        let checks = [
            ("element size in bytes", size_of::<T>() as u64, size),
            ("element alignment in bytes", align_of::<T>() as u64, align),
            ("element encoding", Encoding::of::<T>().code(), encoding),
            ("array length", len as u64, found_len),
        ];
        for (what, expected, found) in checks {
            if expected != found {
                return Err(Error::Mismatch {
                    region: mapping.shown().to_owned(),
                    what,
                    expected,
                    found,
                });
            }
        }
        Ok(Self::with(mapping, len))
    }

    /// The bytes a region (or SysV segment) holding `len` elements of `T`
    /// takes, header included.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] if that does not fit in memory.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// assert!(SharedArray::<u8>::region_len(10)? >= 10);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn region_len(len: usize) -> Result<usize> {
        Self::spec(len).map(|spec| spec.len)
    }

    fn spec(len: usize) -> Result<Spec> {
        let encoding = Encoding::of::<T>();
        let bytes = encoding
            .stride::<T>()
            .checked_mul(len)
            .and_then(|bytes| bytes.checked_add(header::BYTES))
            .filter(|&bytes| isize::try_from(bytes).is_ok())
            .ok_or_else(|| Error::InvalidCapacity {
                reason: format!(
                    "{len} elements of {} bytes do not fit in memory",
                    size_of::<T>()
                ),
            })?;
        let mut params = [0; header::PARAMS];
        params[..4].copy_from_slice(&[
            size_of::<T>() as u64,
            align_of::<T>() as u64,
            len as u64,
            encoding.code(),
        ]);
        Ok(Spec {
            kind: RegionKind::Array,
            len: bytes,
            params,
        })
    }

    fn with(mapping: Mapping, len: usize) -> Self {
        Self {
            mapping,
            len,
            _element: PhantomData,
        }
    }

    /// The number of elements.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// assert_eq!(SharedArray::<u8>::anonymous(5)?.len(), 5);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the array has no elements.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// assert!(SharedArray::<u8>::anonymous(0)?.is_empty());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name under `/dev/shm`; `None` for an anonymous array.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// assert_eq!(SharedArray::<u8>::anonymous(1)?.name(), None);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.mapping.name()
    }

    /// Leaves the name in place when this handle is dropped (see
    /// [`Region::keep`](crate::Region::keep)).
    ///
    /// ```
    /// # use forkwise_shm::{Region, SharedArray};
    /// let name = format!("fw-doc-array-keep-{}", std::process::id());
    /// SharedArray::<u8>::create(&name, 1)?.keep();
    /// assert!(SharedArray::<u8>::open(&name).is_ok());
    /// Region::unlink(&name)?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn keep(&self) {
        self.mapping.keep();
    }

    /// The element at `index`, read whole.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] unless `index < len()`.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let array = SharedArray::<[u32; 2]>::anonymous(1)?;
    /// assert_eq!(array.get(0)?, [0, 0]);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn get(&self, index: usize) -> Result<T> {
        Ok(self.load(self.offset(index)?))
    }

    /// The element at byte `offset` (an element's start, from `offset`).
    fn load(&self, offset: usize) -> T {
        let memory = self.mapping.memory();
        match Encoding::of::<T>() {
            Encoding::Direct => load_direct(memory, offset),
            Encoding::Buffered { words } => load_buffered(memory, offset / 8, words),
        }
    }

    /// Stores `value` at `index`, whole.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] unless `index < len()`.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let array = SharedArray::<f32>::anonymous(2)?;
    /// array.set(1, 0.5)?;
    /// assert_eq!(array.get(1)?, 0.5);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<()> {
        let offset = self.offset(index)?;
        let memory = self.mapping.memory();
        match Encoding::of::<T>() {
            Encoding::Direct => store_direct(memory, offset, value),
            Encoding::Buffered { words } => store_buffered(memory, offset / 8, words, value),
        }
        Ok(())
    }

    /// Every element, each read whole (but not all at one instant: other
    /// processes may change some while others are read).
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let array = SharedArray::<u8>::anonymous(3)?;
    /// array.set(1, 9)?;
    /// assert_eq!(array.to_vec(), [0, 9, 0]);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        let stride = Encoding::of::<T>().stride::<T>();
        (0..self.len)
            .map(|i| self.load(header::BYTES + i * stride))
            .collect()
    }

    /// The byte offset of element `index` in the mapping.
    fn offset(&self, index: usize) -> Result<usize> {
        if index >= self.len {
            return Err(Error::OutOfRange {
                region: self.mapping.shown().to_owned(),
                index,
                len: self.len,
            });
        }
        // Cannot overflow: `spec` checked the whole array's size.
        Ok(header::BYTES + index * Encoding::of::<T>().stride::<T>())
    }
}

/// The atomic of the element at `offset` (direct encoding).
fn direct<A: crate::SharedAtomic>(memory: &Memory, offset: usize) -> &A {
    memory
        .atomic(offset)
        .expect("elements are in bounds and naturally aligned by the layout")
}

fn load_direct<T: Pod>(memory: &Memory, offset: usize) -> T {
    let o = Ordering::Acquire;
    match size_of::<T>() {
        1 => {
            bytemuck::pod_read_unaligned(&direct::<AtomicU8>(memory, offset).load(o).to_ne_bytes())
        }
        2 => {
            bytemuck::pod_read_unaligned(&direct::<AtomicU16>(memory, offset).load(o).to_ne_bytes())
        }
        4 => {
            bytemuck::pod_read_unaligned(&direct::<AtomicU32>(memory, offset).load(o).to_ne_bytes())
        }
        _ => {
            bytemuck::pod_read_unaligned(&direct::<AtomicU64>(memory, offset).load(o).to_ne_bytes())
        }
    }
}

fn store_direct<T: Pod>(memory: &Memory, offset: usize, value: T) {
    let bytes = bytemuck::bytes_of(&value);
    let o = Ordering::Release;
    let sized = "the direct encoding matches the size";
    match bytes.len() {
        1 => direct::<AtomicU8>(memory, offset).store(bytes[0], o),
        2 => direct::<AtomicU16>(memory, offset)
            .store(u16::from_ne_bytes(bytes.try_into().expect(sized)), o),
        4 => direct::<AtomicU32>(memory, offset)
            .store(u32::from_ne_bytes(bytes.try_into().expect(sized)), o),
        _ => direct::<AtomicU64>(memory, offset)
            .store(u64::from_ne_bytes(bytes.try_into().expect(sized)), o),
    }
}

/// The element's sequence word and its two buffers (buffered encoding).
fn buffered(memory: &Memory, word: usize, words: usize) -> (&AtomicU64, [&[AtomicU64]; 2]) {
    let element = &memory.words()[word..word + 1 + 2 * words];
    let (seq, buffers) = element
        .split_first()
        .expect("an element has a sequence word");
    let (first, second) = buffers.split_at(words);
    (seq, [first, second])
}

fn load_buffered<T: Pod>(memory: &Memory, word: usize, words: usize) -> T {
    let (seq, buffers) = buffered(memory, word, words);
    let mut value = T::zeroed();
    loop {
        let before = seq.load(Ordering::Acquire) >> COMMITS_SHIFT;
        let current = buffers[usize::from(before & 1 == 1)];
        copy_out(current, bytemuck::bytes_of_mut(&mut value));
        fence(Ordering::Acquire);
        if seq.load(Ordering::Relaxed) >> COMMITS_SHIFT == before {
            return value;
        }
        std::hint::spin_loop();
    }
}

fn store_buffered<T: Pod>(memory: &Memory, word: usize, words: usize, value: T) {
    let (seq, buffers) = buffered(memory, word, words);
    let commits = take_writing(seq);
    let next = commits.wrapping_add(1) & 0xffff_ffff;
    copy_in(
        buffers[usize::from(next & 1 == 1)],
        bytemuck::bytes_of(&value),
    );
    // Publishes the buffer and clears the writing bit and pid in one store.
    seq.store(next << COMMITS_SHIFT, Ordering::Release);
}

/// Sets the writing bit (with this pid) of a buffered element; returns the
/// commits. Takes over from a writer that died with the bit set.
fn take_writing(seq: &AtomicU64) -> u64 {
    let me = u64::from(std::process::id() & 0x7fff_ffff);
    let backoff = Backoff::new();
    let mut current = seq.load(Ordering::Relaxed);
    loop {
        let commits = current >> COMMITS_SHIFT;
        let mine = commits << COMMITS_SHIFT | me << 1 | WRITING;
        let free = current & WRITING == 0;
        let writer_gone = || {
            let pid = u32::try_from((current >> 1) & 0x7fff_ffff).unwrap_or(0);
            !sys::process_alive(pid)
        };
        if free || (backoff.is_completed() && writer_gone()) {
            match seq.compare_exchange_weak(current, mine, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return commits,
                Err(now) => current = now,
            }
            continue;
        }
        if backoff.is_completed() {
            // A writer that is alive but not running (preempted, stopped).
            std::thread::sleep(Duration::from_micros(50));
        } else {
            backoff.snooze();
        }
        current = seq.load(Ordering::Relaxed);
    }
}

/// Copies words out into `bytes` (little end of each word first).
fn copy_out(words: &[AtomicU64], bytes: &mut [u8]) {
    for (chunk, word) in bytes.chunks_mut(8).zip(words) {
        let value = word.load(Ordering::Relaxed).to_le_bytes();
        chunk.copy_from_slice(&value[..chunk.len()]);
    }
}

/// Copies `bytes` into words (little end of each word first).
fn copy_in(words: &[AtomicU64], bytes: &[u8]) {
    let half = words.len() / 2;
    for (i, (chunk, word)) in bytes.chunks(8).zip(words).enumerate() {
        if i == half {
            // Tests pause or kill a writer here, half-way through an element.
            hooks::reached(Point::MidElement);
        }
        let mut value = [0; 8];
        value[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_le_bytes(value), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_the_size() {
        assert_eq!(Encoding::of::<u8>(), Encoding::Direct);
        assert_eq!(Encoding::of::<[u16; 2]>(), Encoding::Direct);
        assert_eq!(Encoding::of::<f64>(), Encoding::Direct);
        assert_eq!(Encoding::of::<[u8; 3]>(), Encoding::Buffered { words: 1 });
        assert_eq!(Encoding::of::<[u64; 2]>(), Encoding::Buffered { words: 2 });
        assert_eq!(Encoding::of::<[u8; 17]>(), Encoding::Buffered { words: 3 });
        assert_eq!(Encoding::Buffered { words: 2 }.stride::<[u64; 2]>(), 40);
    }

    #[test]
    fn buffered_values_round_trip_and_alternate_buffers() {
        let array = SharedArray::<[u8; 13]>::anonymous(3).unwrap();
        let value = *b"hello, world!";
        array.set(1, value).unwrap();
        assert_eq!(array.get(1).unwrap(), value);
        array.set(1, *b"second value!").unwrap();
        assert_eq!(&array.get(1).unwrap(), b"second value!");
        assert_eq!(array.get(0).unwrap(), [0; 13], "neighbours untouched");
        assert_eq!(array.get(2).unwrap(), [0; 13], "neighbours untouched");
    }

    #[test]
    fn a_dead_writers_bit_is_taken_over() {
        let array = SharedArray::<[u32; 3]>::anonymous(1).unwrap();
        array.set(0, [1, 2, 3]).unwrap();
        let (seq, _) = buffered(array.mapping.memory(), header::BYTES / 8, 2);
        // A writer with a pid that cannot exist (above the 2^22 pid limit)
        // died holding the writing bit: readers still see the old value...
        let commits = seq.load(Ordering::Relaxed) >> COMMITS_SHIFT;
        seq.store(
            commits << COMMITS_SHIFT | 0x7fff_fff0 << 1 | WRITING,
            Ordering::Relaxed,
        );
        assert_eq!(array.get(0).unwrap(), [1, 2, 3]);
        // ... and the next writer takes over.
        array.set(0, [4, 5, 6]).unwrap();
        assert_eq!(array.get(0).unwrap(), [4, 5, 6]);
    }
}
