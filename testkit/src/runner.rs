//! [`run`]: one forked process per case, one case after another.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::child::{PANIC_EXIT, assert_single_threaded, capture_output_into, in_child};
use crate::leaks::{self, Snapshot};
use crate::sys::{self, WaitStatus};

/// One cross-process test case: a name and a function run in a process of its own.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    name: &'static str,
    test: fn(),
    timeout: Duration,
}

impl Case {
    /// The watchdog's default: a case still running after this is killed.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

    /// A case named `name` that runs `test`.
    pub const fn new(name: &'static str, test: fn()) -> Self {
        Self {
            name,
            test,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// The same case with another watchdog timeout (whole seconds, at least 1).
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn alarm_seconds(&self) -> u32 {
        u32::try_from(self.timeout.as_secs().max(1)).unwrap_or(u32::MAX)
    }
}

#[allow(clippy::struct_excessive_bools, reason = "one per command-line flag")]
struct Options<'a> {
    list: bool,
    nocapture: bool,
    exact: bool,
    ignored: bool,
    filters: Vec<&'a str>,
    skips: Vec<&'a str>,
}

impl<'a> Options<'a> {
    fn parse(args: &'a [String]) -> Self {
        let mut options = Self {
            list: false,
            nocapture: false,
            exact: false,
            ignored: false,
            filters: vec![],
            skips: vec![],
        };
        let mut args = args.iter().map(String::as_str);
        while let Some(arg) = args.next() {
            match arg {
                "--list" => options.list = true,
                "--nocapture" => options.nocapture = true,
                "--exact" => options.exact = true,
                "--ignored" => options.ignored = true,
                "--skip" => options.skips.extend(args.next()),
                // libtest options that take a value and do not matter here.
                "--format" | "--color" | "--test-threads" | "--logfile" => drop(args.next()),
                flag if flag.starts_with('-') => {}
                filter => options.filters.push(filter),
            }
        }
        options
    }

    fn selects(&self, name: &str) -> bool {
        let matches = |pattern: &str| {
            if self.exact {
                name == pattern
            } else {
                name.contains(pattern)
            }
        };
        !self.ignored
            && (self.filters.is_empty() || self.filters.iter().any(|f| matches(f)))
            && !self.skips.iter().any(|s| matches(s))
    }
}

/// Runs the selected `cases`, each in a forked process, and exits: 0 if all
/// passed, 1 otherwise. See the [crate docs](crate) for what is checked.
///
/// # Panics
///
/// If the process has more than one thread, or it cannot fork or make pipes.
pub fn run(cases: &[Case]) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = Options::parse(&args);
    let selected: Vec<&Case> = cases
        .iter()
        .filter(|case| options.selects(case.name))
        .collect();
    if options.list {
        for case in &selected {
            println!("{}: test", case.name);
        }
        std::process::exit(0);
    }
    assert_single_threaded();
    sys::become_subreaper().expect("prctl(PR_SET_CHILD_SUBREAPER)");

    println!("\nrunning {} cases", selected.len());
    let mut failures = Vec::new();
    let started = Instant::now();
    for case in &selected {
        print!("case {} ... ", case.name);
        let _ = std::io::stdout().flush();
        let began = Instant::now();
        let report = run_case(case, !options.nocapture);
        let took = began.elapsed();
        match report {
            None => println!("ok ({})", millis(took)),
            Some(report) => {
                println!("FAILED ({})", millis(took));
                failures.push((case.name, report));
            }
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:");
        for (name, report) in &failures {
            println!("\n---- {name} ----\n{report}");
        }
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ncase result: {verdict}. {} passed; {} failed; {} filtered out; finished in {:.2}s\n",
        selected.len() - failures.len(),
        failures.len(),
        cases.len() - selected.len(),
        started.elapsed().as_secs_f64(),
    );
    std::process::exit(i32::from(!failures.is_empty()))
}

fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// Runs one case in a child; `None` if it passed and left nothing behind,
/// else what went wrong.
fn run_case(case: &Case, capture: bool) -> Option<String> {
    let before = Snapshot::take();
    let (read, write) = sys::pipe().expect("pipe for a case's output");
    let pid = in_child(|| {
        if capture {
            capture_output_into(&write);
        }
        sys::alarm(case.alarm_seconds());
        let fds = leaks::open_fds();
        (case.test)();
        let leaked: Vec<String> = leaks::open_fds()
            .into_iter()
            .filter(|(fd, target)| fds.get(fd) != Some(target))
            .map(|(fd, target)| format!("fd {fd} -> {target}"))
            .collect();
        assert!(
            leaked.is_empty(),
            "the case left file descriptors open: {}",
            leaked.join(", ")
        );
    });
    drop(write);
    let (status, output) = collect(
        pid,
        File::from(read),
        case.timeout + Duration::from_secs(10),
    );

    let mut problems = Vec::new();
    match status {
        WaitStatus::Exited(0) => {}
        WaitStatus::Exited(PANIC_EXIT) => problems.push(format!("case process {pid} panicked")),
        WaitStatus::Exited(code) => {
            problems.push(format!("case process {pid} exited with code {code}"));
        }
        WaitStatus::Signaled(libc::SIGALRM) => problems.push(format!(
            "case process {pid} hung: the watchdog killed it after {:?}",
            case.timeout
        )),
        WaitStatus::Signaled(signal) => {
            problems.push(format!(
                "case process {pid} was killed by {}",
                sys::signal_name(signal)
            ));
        }
    }
    for process in leaks::children_of(std::process::id().cast_signed()) {
        let _ = sys::kill(process.pid, libc::SIGKILL);
        let _ = sys::waitpid(process.pid);
        problems.push(format!(
            "left behind {process} (killed and reaped by the harness)"
        ));
    }
    for object in Snapshot::take().leaked_since(&before) {
        problems.push(format!("left behind {object}"));
    }
    if problems.is_empty() {
        return None;
    }
    if !output.trim().is_empty() {
        problems.push(format!("output of the case:\n{}", output.trim_end()));
    }
    Some(problems.join("\n"))
}

/// Reads the case's output while waiting for it; kills it at `deadline`.
///
/// Grandchildren may hold the pipe open after the case ended, so reading stops
/// a moment after the case is reaped rather than at end of file.
fn collect(pid: libc::pid_t, mut pipe: File, limit: Duration) -> (WaitStatus, String) {
    let deadline = Instant::now() + limit;
    let mut output = Vec::new();
    let mut status = None;
    let mut quiet_since_exit = None::<Instant>;
    loop {
        if sys::poll_readable(pipe.as_fd(), Duration::from_millis(20))
            .expect("poll a case's output")
        {
            let mut chunk = [0u8; 8192];
            match sys::retry_eintr(|| pipe.read(&mut chunk)).expect("read a case's output") {
                0 if status.is_some() => break,
                0 => {}
                n => {
                    output.extend_from_slice(&chunk[..n]);
                    continue;
                }
            }
        }
        if status.is_none() {
            status = sys::try_waitpid(pid).expect("waitpid for a case");
            if status.is_none() && Instant::now() > deadline {
                let _ = sys::kill(pid, libc::SIGKILL);
                status = Some(sys::waitpid(pid).expect("waitpid for a killed case"));
            }
        }
        if status.is_some() {
            let since = *quiet_since_exit.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_millis(100) {
                break;
            }
        }
    }
    let status = status.unwrap_or_else(|| sys::waitpid(pid).expect("waitpid for a case"));
    (status, String::from_utf8_lossy(&output).into_owned())
}
