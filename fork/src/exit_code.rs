//! [`IntoExitCode`]: what a worker's closure returns becomes its exit status.

use std::fmt;
use std::io::Write;

/// A value a worker's closure may return; it becomes the worker's exit code.
///
/// - `()` is 0;
/// - an integer is clamped to `0..=255` (-1 gives 0, 300 gives 255), so a
///   value never wraps around into a different code;
/// - `bool` is 0 for `true` and 1 for `false`;
/// - `!` (a closure that never returns, such as a server's `loop`) has no
///   code to give;
/// - `Ok(v)` is `v`'s code; `Err(e)` is 1, and `Error: {e:?}` is written to
///   the worker's stderr, as `main` does with a `Result`.
///
/// A closure that panics exits with 101, as a Rust program does; the panic
/// hook (by default) prints the message on stderr.
///
/// ```
/// use forkwise_fork::IntoExitCode;
///
/// assert_eq!(().into_exit_code(), 0);
/// assert_eq!(7u8.into_exit_code(), 7);
/// assert_eq!((-5i32).into_exit_code(), 0);
/// assert_eq!(1000usize.into_exit_code(), 255);
/// assert_eq!(false.into_exit_code(), 1);
/// assert_eq!(Ok::<u8, String>(3).into_exit_code(), 3);
/// ```
pub trait IntoExitCode {
    /// The exit code, from 0 to 255.
    fn into_exit_code(self) -> u8;
}

impl IntoExitCode for () {
    fn into_exit_code(self) -> u8 {
        0
    }
}

impl IntoExitCode for bool {
    fn into_exit_code(self) -> u8 {
        u8::from(!self)
    }
}

/// Names the type of a function pointer's return value, so that the never
/// type `!` can be named on stable Rust as `<fn() -> ! as Returns>::Output`.
pub trait Returns {
    /// The return type.
    type Output;
}

impl<R> Returns for fn() -> R {
    type Output = R;
}

/// The never type `!`: what a closure that never returns (`|_| loop { .. }`)
/// returns, inferred as such since Rust 2024.
type Never = <fn() -> ! as Returns>::Output;

impl IntoExitCode for Never {
    fn into_exit_code(self) -> u8 {
        self
    }
}

impl IntoExitCode for u8 {
    fn into_exit_code(self) -> u8 {
        self
    }
}

/// Implements the clamp for the wider integer types.
macro_rules! clamp_integers {
    ($($int:ty),*) => {$(
        impl IntoExitCode for $int {
            fn into_exit_code(self) -> u8 {
                match u8::try_from(self) {
                    Ok(code) => code,
                    Err(_) if self > <$int>::default() => u8::MAX,
                    Err(_) => 0,
                }
            }
        }
    )*};
}

clamp_integers!(u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl<T: IntoExitCode, E: fmt::Debug> IntoExitCode for Result<T, E> {
    fn into_exit_code(self) -> u8 {
        match self {
            Ok(value) => value.into_exit_code(),
            Err(err) => {
                report_to_stderr(format_args!("Error: {err:?}\n"));
                1
            }
        }
    }
}

/// Writes a worker's own failure report to its stderr.
///
/// The one place where this library writes to a standard stream, and only
/// in a worker: an `Err` returned by the worker's closure is shown as `main`
/// shows it. Errors writing it have no one to go to.
pub(crate) fn report_to_stderr(message: fmt::Arguments<'_>) {
    let _ = std::io::stderr().write_fmt(message);
}
