//! [`SharedInteger`]: the element types with atomic read-modify-write
//! operations, and those operations on [`SharedArray`].

use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize, Ordering,
};

use bytemuck::Pod;

use super::{SharedArray, direct};
use crate::error::Result;
use crate::memory::SharedAtomic;

mod sealed {
    #[allow(
        unreachable_pub,
        reason = "the sealed-trait pattern: public in a private module, so no one else can name it"
    )]
    pub trait Sealed {}
}

/// The integer types whose [`SharedArray`]s have atomic `fetch_add`,
/// `fetch_sub`, `swap` and `compare_exchange`: `u8` to `u64`, `i8` to
/// `i64`, `usize` and `isize`. Sealed.
///
/// ```
/// use forkwise_shm::{SharedArray, SharedInteger};
///
/// fn bump<T: SharedInteger>(counters: &SharedArray<T>, worker: usize, by: T) -> forkwise_shm::Result<T> {
///     counters.fetch_add(worker, by)
/// }
/// let counters = SharedArray::<u16>::anonymous(2)?;
/// bump(&counters, 1, 3)?;
/// assert_eq!(counters.get(1)?, 3);
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
pub trait SharedInteger: Pod + sealed::Sealed {
    #[doc(hidden)]
    type Atomic: SharedAtomic;
    #[doc(hidden)]
    fn fetch_add(atomic: &Self::Atomic, value: Self) -> Self;
    #[doc(hidden)]
    fn fetch_sub(atomic: &Self::Atomic, value: Self) -> Self;
    #[doc(hidden)]
    fn swap(atomic: &Self::Atomic, value: Self) -> Self;
    #[doc(hidden)]
    fn compare_exchange(atomic: &Self::Atomic, current: Self, new: Self) -> Result<Self, Self>;
}

macro_rules! shared_integers {
    ($($int:ty => $atomic:ty),*) => {$(
        impl sealed::Sealed for $int {}
        impl SharedInteger for $int {
            type Atomic = $atomic;
            fn fetch_add(atomic: &$atomic, value: $int) -> $int {
                atomic.fetch_add(value, Ordering::AcqRel)
            }
            fn fetch_sub(atomic: &$atomic, value: $int) -> $int {
                atomic.fetch_sub(value, Ordering::AcqRel)
            }
            fn swap(atomic: &$atomic, value: $int) -> $int {
                atomic.swap(value, Ordering::AcqRel)
            }
            fn compare_exchange(atomic: &$atomic, current: $int, new: $int) -> Result<$int, $int> {
                atomic.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
            }
        }
    )*};
}
shared_integers!(
    u8 => AtomicU8, u16 => AtomicU16, u32 => AtomicU32, u64 => AtomicU64, usize => AtomicUsize,
    i8 => AtomicI8, i16 => AtomicI16, i32 => AtomicI32, i64 => AtomicI64, isize => AtomicIsize
);

impl<T: SharedInteger> SharedArray<T> {
    fn atomic(&self, index: usize) -> Result<&T::Atomic> {
        let offset = self.offset(index)?;
        Ok(direct(self.mapping.memory(), offset))
    }

    /// Adds `value` to the element at `index` (wrapping on overflow, as
    /// std's atomics do); returns the previous value.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`](crate::Error::OutOfRange) unless `index < len()`.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let hits = SharedArray::<u64>::anonymous(1)?;
    /// assert_eq!(hits.fetch_add(0, 2)?, 0);
    /// assert_eq!(hits.get(0)?, 2);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn fetch_add(&self, index: usize, value: T) -> Result<T> {
        Ok(T::fetch_add(self.atomic(index)?, value))
    }

    /// Subtracts `value` from the element at `index` (wrapping); returns the
    /// previous value.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`](crate::Error::OutOfRange) unless `index < len()`.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let busy = SharedArray::<i32>::anonymous(1)?;
    /// busy.fetch_sub(0, 1)?;
    /// assert_eq!(busy.get(0)?, -1);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn fetch_sub(&self, index: usize, value: T) -> Result<T> {
        Ok(T::fetch_sub(self.atomic(index)?, value))
    }

    /// Stores `value` at `index`; returns the previous value.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`](crate::Error::OutOfRange) unless `index < len()`.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let state = SharedArray::<u8>::anonymous(1)?;
    /// assert_eq!(state.swap(0, 3)?, 0);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn swap(&self, index: usize, value: T) -> Result<T> {
        Ok(T::swap(self.atomic(index)?, value))
    }

    /// Stores `new` at `index` if it holds `current`: `Ok(current)` then,
    /// `Err(actual)` otherwise, as std's `compare_exchange`.
    ///
    /// # Errors
    ///
    /// The outer error: [`Error::OutOfRange`](crate::Error::OutOfRange)
    /// unless `index < len()`.
    ///
    /// ```
    /// # use forkwise_shm::SharedArray;
    /// let owner = SharedArray::<u32>::anonymous(1)?;
    /// assert_eq!(owner.compare_exchange(0, 0, 42)?, Ok(0), "claimed");
    /// assert_eq!(owner.compare_exchange(0, 0, 7)?, Err(42), "taken");
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn compare_exchange(&self, index: usize, current: T, new: T) -> Result<Result<T, T>> {
        Ok(T::compare_exchange(self.atomic(index)?, current, new))
    }
}

// Every integer type is stored directly: 1, 2, 4 or 8 bytes.
const _: () = assert!(size_of::<usize>() == 8 || size_of::<usize>() == 4);
