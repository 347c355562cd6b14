//! [`PinnedToOneCpu`]: for benchmarks of a hand-off between two processes.

use std::io;

/// Pins this process (and the children it forks meanwhile) to the CPU it
/// runs on, and restores the CPUs it may run on when dropped.
///
/// A hand-off between processes on two CPUs costs the wake-up of the CPU the
/// waiting process sleeps on: some 2 µs if that CPU is busy with something
/// else, 20 to 40 µs on a virtual machine whose idle virtual CPU must be
/// woken. Which of the two a benchmark round measured would depend on the
/// machine's load; on one CPU the time is the operation's own and one
/// context switch, every time. The lock hand-off and the channel round
/// trips run so.
///
/// ```
/// let pinned = forkwise_testkit::PinnedToOneCpu::new();
/// // ... fork a helper, hand things back and forth, reap it ...
/// drop(pinned); // the process may run anywhere again
/// ```
#[derive(Debug)]
pub struct PinnedToOneCpu {
    allowed: libc::cpu_set_t,
}

impl PinnedToOneCpu {
    /// Pins the process to the CPU it is running on now.
    ///
    /// # Panics
    ///
    /// If the affinity cannot be read or set.
    #[must_use]
    pub fn new() -> Self {
        // SAFETY: `cpu_set_t` is a plain bit set; all-zeroes is the empty set.
        let mut allowed: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `allowed` is a valid, writable set of `size` bytes.
        let ret = unsafe { libc::sched_getaffinity(0, size, &raw mut allowed) };
        assert!(
            ret == 0,
            "sched_getaffinity: {}",
            io::Error::last_os_error()
        );
        // SAFETY: sched_getcpu takes no argument.
        let cpu = unsafe { libc::sched_getcpu() };
        let cpu = usize::try_from(cpu).expect("sched_getcpu: a CPU number");
        assert!(
            cpu < libc::CPU_SETSIZE as usize,
            "CPU {cpu} fits a cpu_set_t"
        );
        // SAFETY: as above, all-zeroes is the empty set.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit is
        // inside `one`.
        unsafe { libc::CPU_SET(cpu, &mut one) };
        // SAFETY: `one` is a valid set of `size` bytes that outlives the call.
        let ret = unsafe { libc::sched_setaffinity(0, size, &raw const one) };
        assert!(
            ret == 0,
            "sched_setaffinity: {}",
            io::Error::last_os_error()
        );
        Self { allowed }
    }
}

impl Default for PinnedToOneCpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PinnedToOneCpu {
    fn drop(&mut self) {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        // SAFETY: `allowed` is the valid set read in `new`, alive for the call.
        unsafe { libc::sched_setaffinity(0, size, &raw const self.allowed) };
    }
}
