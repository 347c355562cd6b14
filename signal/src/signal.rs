//! [`Signal`]: a signal number that is known to exist, with its name, and sending.

use std::fmt;
use std::str::FromStr;

use libc::c_int;

use crate::error::{Error, Operation, Refusal, Result};
use crate::sys;

/// A signal of this system: one of the standard ones (`Signal::SIGTERM`) or,
/// on Linux, a realtime one ([`Signal::realtime`]).
///
/// It displays as its name and parses from one, with or without the `SIG`
/// prefix, in any case, or from its number:
///
/// ```
/// use forkwise_signal::Signal;
///
/// assert_eq!(Signal::SIGUSR1.to_string(), "SIGUSR1");
/// assert_eq!("usr1".parse::<Signal>()?, Signal::SIGUSR1);
/// assert_eq!("15".parse::<Signal>()?, Signal::SIGTERM);
/// # #[cfg(target_os = "linux")] {
/// let rt = Signal::realtime(3)?;
/// assert_eq!(rt.to_string(), "SIGRTMIN+3");
/// assert_eq!("SIGRTMIN+3".parse::<Signal>()?, rt);
/// # }
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(c_int);

/// Defines the standard signals: the associated constants and the name table.
macro_rules! standard_signals {
    ($($(#[cfg($cfg:meta)])? $name:ident: $doc:literal,)*) => {
        impl Signal {
            $(
                $(#[cfg($cfg)])?
                #[doc = $doc]
                #[doc = ""]
                #[doc = "See [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html)."]
                pub const $name: Signal = Signal(libc::$name);
            )*
        }

        /// The name of a standard signal number.
        fn standard_name(number: c_int) -> Option<&'static str> {
            match number {
                $(
                    $(#[cfg($cfg)])?
                    libc::$name => Some(stringify!($name)),
                )*
                _ => None,
            }
        }

        /// The number of a standard signal's upper-case name, `SIG` included.
        fn standard_number(name: &str) -> Option<c_int> {
            $(
                $(#[cfg($cfg)])?
                {
                    if name == stringify!($name) {
                        return Some(libc::$name);
                    }
                }
            )*
            None
        }
    };
}

standard_signals! {
    SIGHUP: "Hangup: the controlling terminal closed; daemons read it as \"reload\".",
    SIGINT: "Interrupt: Ctrl-C at the terminal.",
    SIGQUIT: "Quit: Ctrl-\\ at the terminal; terminates with a core dump by default.",
    SIGILL: "Illegal instruction (a synchronous fault: no handler may be installed).",
    SIGTRAP: "Trace or breakpoint trap.",
    SIGABRT: "Abort, as sent by `abort(3)`.",
    SIGBUS: "Bus error (a synchronous fault: no handler may be installed).",
    SIGFPE: "Arithmetic fault (a synchronous fault: no handler may be installed).",
    SIGKILL: "Kill: cannot be caught, blocked or ignored.",
    SIGUSR1: "User-defined signal 1.",
    SIGSEGV: "Invalid memory access (a synchronous fault: no handler may be installed).",
    SIGUSR2: "User-defined signal 2.",
    SIGPIPE: "Write to a pipe or socket with no reader.",
    SIGALRM: "Timer expired, as set by `alarm(2)`.",
    SIGTERM: "Termination request: what `kill` sends by default.",
    #[cfg(any(target_os = "linux", target_os = "android"))]
    SIGSTKFLT: "Coprocessor stack fault (unused on Linux).",
    SIGCHLD: "A child process stopped or terminated.",
    SIGCONT: "Continue after a stop.",
    SIGSTOP: "Stop: cannot be caught, blocked or ignored.",
    SIGTSTP: "Stop from the terminal: Ctrl-Z.",
    SIGTTIN: "A background process read from its terminal.",
    SIGTTOU: "A background process wrote to its terminal.",
    SIGURG: "Urgent data on a socket.",
    SIGXCPU: "CPU time limit exceeded.",
    SIGXFSZ: "File size limit exceeded.",
    SIGVTALRM: "Virtual timer expired.",
    SIGPROF: "Profiling timer expired.",
    SIGWINCH: "The terminal's window size changed.",
    SIGIO: "I/O is possible on a descriptor (`SIGPOLL` on Linux).",
    #[cfg(any(target_os = "linux", target_os = "android"))]
    SIGPWR: "Power failure.",
    SIGSYS: "Bad system call.",
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    SIGEMT: "Emulator trap.",
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    SIGINFO: "Status request from the terminal: Ctrl-T.",
}

/// Other names of standard signals, accepted when parsing.
const ALIASES: &[(&str, c_int)] = &[
    ("SIGIOT", libc::SIGABRT),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("SIGCLD", libc::SIGCHLD),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    ("SIGPOLL", libc::SIGIO),
];

/// The highest standard (non-realtime) signal number.
const LAST_STANDARD: c_int = 31;

impl Signal {
    /// The signal with number `number`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNumber`] if no signal has that number, or the C
    /// library keeps it for itself (glibc's 32 and 33).
    ///
    /// ```
    /// use forkwise_signal::Signal;
    ///
    /// assert_eq!(Signal::from_raw(libc::SIGTERM)?, Signal::SIGTERM);
    /// assert!(Signal::from_raw(0).is_err());
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn from_raw(number: i32) -> Result<Self> {
        let realtime =
            sys::realtime_range().is_some_and(|(min, max)| (min..=max).contains(&number));
        if (1..=LAST_STANDARD).contains(&number) || realtime {
            Ok(Self(number))
        } else {
            Err(Error::InvalidNumber { number })
        }
    }

    /// The signal's number, as the C functions take it.
    ///
    /// ```
    /// assert_eq!(forkwise_signal::Signal::SIGKILL.as_raw(), 9);
    /// ```
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The realtime signal `SIGRTMIN + offset` (Linux).
    ///
    /// Realtime signals queue: each one sent is delivered, up to the
    /// `RLIMIT_SIGPENDING` limit, where a standard signal sent twice before
    /// delivery arrives once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidNumber`] if `SIGRTMIN + offset` is past `SIGRTMAX`,
    /// or on a system without realtime signals.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// use forkwise_signal::Signal;
    ///
    /// let first = Signal::realtime(0)?;
    /// assert_eq!(first.to_string(), "SIGRTMIN");
    /// assert_eq!(Signal::realtime(2)?.realtime_offset(), Some(2));
    /// assert!(Signal::realtime(1000).is_err());
    /// # }
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    #[doc(alias = "SIGRTMIN")]
    pub fn realtime(offset: u32) -> Result<Self> {
        let Some((min, _)) = sys::realtime_range() else {
            return Err(Error::InvalidNumber {
                number: i32::try_from(offset).unwrap_or(i32::MAX),
            });
        };
        let number = i32::try_from(offset)
            .ok()
            .and_then(|offset| min.checked_add(offset))
            .unwrap_or(i32::MAX);
        Self::from_raw(number)
    }

    /// How far past `SIGRTMIN` this signal is; `None` for a standard signal.
    ///
    /// ```
    /// assert_eq!(forkwise_signal::Signal::SIGUSR1.realtime_offset(), None);
    /// ```
    pub fn realtime_offset(self) -> Option<u32> {
        let (min, _) = sys::realtime_range()?;
        u32::try_from(self.0.checked_sub(min)?).ok()
    }

    /// Why this signal cannot have a handler, if it cannot.
    pub(crate) fn refusal(self) -> Option<Refusal> {
        match self.0 {
            libc::SIGKILL | libc::SIGSTOP => Some(Refusal::Uncatchable),
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE => {
                Some(Refusal::SynchronousFault)
            }
            _ => None,
        }
    }

    /// A signal number taken from the crate's own records, known to be valid.
    pub(crate) const fn from_recorded(number: c_int) -> Self {
        Self(number)
    }

    /// Sends this signal to process `pid`.
    ///
    /// Only a positive pid is accepted: `kill(2)` reads 0 and negative pids as
    /// process groups, and -1 as "every process I may signal", which a typo
    /// should never reach. Use [`send_group`](Self::send_group) for groups.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPid`] for a pid below 1; [`Error::Os`] when the process
    /// does not exist (`ESRCH`) or may not be signalled (`EPERM`).
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGUSR2)?;
    /// handler.add(|info| {
    ///     assert_eq!(info.sender.map(|s| s.pid), Some(std::process::id() as i32));
    ///     Propagation::Stop
    /// })?;
    /// Signal::SIGUSR2.send(std::process::id() as i32)?;
    /// forkwise_signal::wait(Some(std::time::Duration::from_secs(5)))?;
    /// assert!(Signal::SIGURG.send(0).is_err(), "refused: 0 is a process group");
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    #[doc(alias = "kill")]
    pub fn send(self, pid: i32) -> Result<()> {
        if pid < 1 {
            return Err(Error::InvalidPid { signal: self, pid });
        }
        sys::kill(pid, self.0).map_err(|e| Error::os(Operation::Send { pid }, Some(self), e))
    }

    /// Sends this signal to every process in process group `pgid`; 0 means
    /// the caller's own group, as for `killpg(3)`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPid`] for a negative group and for group 1, which
    /// `kill(2)` would read as "every process"; [`Error::Os`] when the group
    /// has no process (`ESRCH`) or none may be signalled (`EPERM`).
    ///
    /// ```
    /// use forkwise_signal::Signal;
    ///
    /// assert!(Signal::SIGURG.send_group(1).is_err(), "refused: it would reach every process");
    /// ```
    #[doc(alias = "killpg")]
    pub fn send_group(self, pgid: i32) -> Result<()> {
        if pgid < 0 || pgid == 1 {
            return Err(Error::InvalidPid {
                signal: self,
                pid: pgid,
            });
        }
        sys::kill(-pgid, self.0)
            .map_err(|e| Error::os(Operation::SendGroup { pgid }, Some(self), e))
    }

    /// Sends this signal to the calling thread. When the signal has an OS
    /// handler, the handler has run by the time this returns, so a
    /// [`dispatch`](crate::dispatch) right after runs its listeners.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `raise(3)` fails, which it does not for a valid signal.
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGUSR1)?;
    /// handler.add(|_| Propagation::Continue)?;
    /// Signal::SIGUSR1.raise()?;
    /// assert_eq!(forkwise_signal::dispatch(), 1);
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn raise(self) -> Result<()> {
        sys::raise(self.0).map_err(|e| Error::os(Operation::Raise, Some(self), e))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = standard_name(self.0) {
            return f.write_str(name);
        }
        match self.realtime_offset() {
            Some(0) => f.write_str("SIGRTMIN"),
            Some(offset) => write!(f, "SIGRTMIN+{offset}"),
            None => write!(f, "signal {}", self.0),
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Signal {
    type Err = Error;

    /// Parses `SIGTERM`, `TERM`, `sigterm`, `15`, and on Linux `SIGRTMIN+3`
    /// and `SIGRTMAX-1`.
    fn from_str(text: &str) -> Result<Self> {
        let unknown = || Error::UnknownName {
            name: text.to_owned(),
        };
        if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
            return text.parse().map_err(|_| unknown()).and_then(Self::from_raw);
        }
        let upper = text.to_ascii_uppercase();
        let name = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        if let Some(number) = standard_number(&name).or_else(|| {
            ALIASES
                .iter()
                .find(|(alias, _)| *alias == name)
                .map(|a| a.1)
        }) {
            return Ok(Self(number));
        }
        parse_realtime(&name).ok_or_else(unknown)
    }
}

/// `SIGRTMIN`, `SIGRTMIN+n`, `SIGRTMAX`, `SIGRTMAX-n`.
fn parse_realtime(name: &str) -> Option<Signal> {
    let (min, max) = sys::realtime_range()?;
    let number = if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        min.checked_add(offset(rest, '+')?)?
    } else if let Some(rest) = name.strip_prefix("SIGRTMAX") {
        max.checked_sub(offset(rest, '-')?)?
    } else {
        return None;
    };
    Signal::from_raw(number).ok()
}

/// "" is 0; otherwise `sign` followed by decimal digits.
fn offset(text: &str, sign: char) -> Option<c_int> {
    if text.is_empty() {
        return Some(0);
    }
    let digits = text.strip_prefix(sign)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl TryFrom<i32> for Signal {
    type Error = Error;

    fn try_from(number: i32) -> Result<Self> {
        Self::from_raw(number)
    }
}

impl From<Signal> for i32 {
    fn from(signal: Signal) -> Self {
        signal.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_signals() -> Vec<Signal> {
        let (min, max) = sys::realtime_range().unwrap_or((1, 0));
        (1..=LAST_STANDARD)
            .chain(min..=max)
            .map(|n| Signal::from_raw(n).unwrap())
            .collect()
    }

    #[test]
    fn every_signal_displays_and_parses_back() {
        for signal in all_signals() {
            let name = signal.to_string();
            assert_eq!(name.parse::<Signal>().unwrap(), signal, "{name}");
            assert_eq!(format!("{signal:?}"), name);
        }
    }

    #[test]
    fn standard_names_match_the_c_constants() {
        assert_eq!(Signal::SIGHUP.to_string(), "SIGHUP");
        assert_eq!(Signal::SIGUSR1.as_raw(), libc::SIGUSR1);
        assert_eq!(Signal::SIGTERM.to_string(), "SIGTERM");
        assert_eq!(Signal::SIGCHLD.to_string(), "SIGCHLD");
        assert_eq!(Signal::SIGKILL.to_string(), "SIGKILL");
        assert!(
            (1..=LAST_STANDARD).all(|n| standard_name(n).is_some()),
            "every standard number has a name"
        );
    }

    #[test]
    fn names_parse_with_or_without_prefix_in_any_case() {
        for text in ["SIGUSR1", "USR1", "sigusr1", "usr1", "SigUsr1", "10"] {
            assert_eq!(text.parse::<Signal>().unwrap(), Signal::SIGUSR1, "{text}");
        }
        assert_eq!("SIGIOT".parse::<Signal>().unwrap(), Signal::SIGABRT);
    }

    #[test]
    fn unknown_names_and_numbers_are_refused() {
        for text in [
            "",
            "SIG",
            "SIGFOO",
            "USR3",
            "SIGUSR1 ",
            "-1",
            "0",
            "65",
            "+10",
            "SIGRTMIN+",
            "SIGRTMIN-1",
            "SIGRTMAX+1",
            "SIGRTMIN+x",
            "SIGRTMIN+99",
            "SIGRTMAX-99",
        ] {
            let err = text.parse::<Signal>().unwrap_err();
            assert!(
                matches!(err, Error::UnknownName { .. } | Error::InvalidNumber { .. }),
                "{text}: {err:?}"
            );
        }
        assert!(matches!(
            "SIGFOO".parse::<Signal>(),
            Err(Error::UnknownName { name }) if name == "SIGFOO"
        ));
    }

    #[test]
    fn raw_numbers_are_checked() {
        assert!(Signal::from_raw(0).is_err());
        assert!(Signal::from_raw(-9).is_err());
        assert!(Signal::from_raw(1000).is_err());
        assert_eq!(Signal::try_from(9).unwrap(), Signal::SIGKILL);
        assert_eq!(i32::from(Signal::SIGINT), libc::SIGINT);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn realtime_signals_are_named_from_sigrtmin() {
        let (min, max) = sys::realtime_range().unwrap();
        assert!(min > LAST_STANDARD && max >= min, "{min}..={max}");
        assert!(
            Signal::from_raw(32).is_err() || min == 32,
            "the C library's own realtime signals are not ours"
        );
        let rt3 = Signal::realtime(3).unwrap();
        assert_eq!(rt3.as_raw(), min + 3);
        assert_eq!(rt3.to_string(), "SIGRTMIN+3");
        assert_eq!(rt3.realtime_offset(), Some(3));
        assert_eq!(Signal::realtime(0).unwrap().to_string(), "SIGRTMIN");
        assert_eq!("SIGRTMAX".parse::<Signal>().unwrap().as_raw(), max);
        assert_eq!("rtmax-2".parse::<Signal>().unwrap().as_raw(), max - 2);
        assert_eq!("SIGRTMIN+3".parse::<Signal>().unwrap(), rt3);
        let past = u32::try_from(max - min + 1).unwrap();
        assert!(Signal::realtime(past).is_err());
        assert!(Signal::realtime(past - 1).is_ok());
    }

    #[test]
    fn refusals() {
        for signal in [Signal::SIGKILL, Signal::SIGSTOP] {
            assert_eq!(signal.refusal(), Some(Refusal::Uncatchable));
        }
        for signal in [
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGILL,
            Signal::SIGFPE,
        ] {
            assert_eq!(signal.refusal(), Some(Refusal::SynchronousFault));
        }
        for signal in [
            Signal::SIGTERM,
            Signal::SIGUSR1,
            Signal::SIGCHLD,
            Signal::SIGABRT,
        ] {
            assert_eq!(signal.refusal(), None);
        }
    }

    #[test]
    fn bad_pids_are_refused_before_any_system_call() {
        // SIGURG is ignored by default: harmless even if a check were missing.
        for pid in [0, -1, -1234] {
            assert!(matches!(
                Signal::SIGURG.send(pid),
                Err(Error::InvalidPid { pid: p, .. }) if p == pid
            ));
        }
        for pgid in [1, -1, -5] {
            assert!(matches!(
                Signal::SIGURG.send_group(pgid),
                Err(Error::InvalidPid { .. })
            ));
        }
    }
}
