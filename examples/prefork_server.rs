//! A pre-fork TCP echo server: one master, a pool of supervised workers
//! that accept on one shared listener, one `SignalTrap` driving the main
//! loop of the master and of every worker, and a clean stop on SIGTERM.
//!
//! `cargo run --example prefork_server` runs a demo: the
//! server on 127.0.0.1 (a free port), a client worker that sends 20 echo
//! requests and then SIGTERMs the master, and the shutdown.
//! `cargo run --example prefork_server -- serve 127.0.0.1:7878`
//! serves until SIGTERM or Ctrl-C (try `nc 127.0.0.1 7878`).
//!
//! The pattern:
//!
//! - the master binds the listener and creates the trap *before* forking,
//!   so every worker inherits both: connections queue in the kernel and
//!   whichever worker is free accepts the next one; a SIGTERM that reaches
//!   a worker is caught from its first instant;
//! - each worker polls the listener and the trap's wake-up descriptor, so
//!   SIGTERM ends its loop between two connections, never in the middle
//!   of one, and it exits 0;
//! - the master's loop is `while !trap.is_trapped()`, waiting on its
//!   workers meanwhile (which restarts a worker that failed); on SIGTERM
//!   the manager forwards SIGTERM to the workers, waits the grace period,
//!   and kills and reaps any that did not leave.

use std::cell::Cell;
use std::error::Error;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use forkwise::fork::{
    ForkManager, RestartPolicy, Signal, Target, Worker, WorkerState, set_process_title,
};
use forkwise::signal::SignalTrap;

/// Workers in the pool.
pub(crate) const WORKERS: usize = 4;

/// What the server did, once stopped.
#[derive(Debug)]
pub(crate) struct Report {
    /// Connections served, summed over the workers' reports.
    pub(crate) served: u64,
    /// How each worker of the pool ended.
    pub(crate) states: Vec<WorkerState>,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let addr = args.get(1).map_or("127.0.0.1:7878", String::as_str);
        let listener = TcpListener::bind(addr)?;
        println!(
            "listening on {} (SIGTERM or Ctrl-C stops)",
            listener.local_addr()?
        );
        let report = serve(listener, WORKERS, |_| Ok(()))?;
        println!("{}", summary(&report));
        return Ok(());
    }
    demo()
}

/// The CI demo: serve, let a client worker talk to the server, stop.
fn demo() -> Result<(), Box<dyn Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("serving on {addr} with {WORKERS} workers");
    let master = i32::try_from(std::process::id())?;
    let report = serve(listener, WORKERS, |manager| {
        manager.fork(
            |_| -> io::Result<()> {
                for n in 0..20 {
                    let message = format!("hello {n}\n");
                    assert_eq!(echo_request(addr, &message)?, message);
                }
                // Stop the server as an operator would.
                Signal::SIGTERM.send(master).map_err(io::Error::from)
            },
            1,
        )?;
        Ok(())
    })?;
    println!("{}", summary(&report));
    assert_eq!(report.served, 20);
    Ok(())
}

/// One line for a report.
pub(crate) fn summary(report: &Report) -> String {
    let clean = report.states.iter().filter(|s| s.success()).count();
    format!(
        "stopped: served {} connections; {clean} of {} workers exited cleanly",
        report.served,
        report.states.len()
    )
}

/// One client: connects, sends `message`, closes its side, reads the echo.
///
/// # Errors
///
/// Any I/O error of the exchange.
pub(crate) fn echo_request(addr: SocketAddr, message: &str) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(message.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut echoed = String::new();
    stream.read_to_string(&mut echoed)?;
    Ok(echoed)
}

/// Runs the server until SIGTERM or SIGINT: `workers` supervised workers
/// accepting on `listener`. `before_loop` may start more (the demo's
/// client). Returns once every worker has been reaped.
///
/// # Errors
///
/// Whatever creating the trap, the manager or the workers, or waiting, returned.
pub(crate) fn serve(
    listener: TcpListener,
    workers: usize,
    before_loop: impl FnOnce(&mut ForkManager) -> Result<(), Box<dyn Error>>,
) -> Result<Report, Box<dyn Error>> {
    // Shared by all workers: whoever polls first accepts; the others see
    // WouldBlock and go back to polling.
    listener.set_nonblocking(true)?;
    let trap = Rc::new(SignalTrap::new(&[Signal::SIGTERM, Signal::SIGINT])?);
    let served = Rc::new(Cell::new(0));
    let total = Rc::clone(&served);
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_secs(5))
        .output_lines(move |line| {
            match line.text().strip_prefix("served ").map(str::parse::<u64>) {
                Some(Ok(n)) => total.set(total.get() + n),
                _ => println!("[worker {} pid {}] {}", line.index, line.pid, line.text()),
            }
        })
        .build()?;
    let _ = set_process_title("prefork_server: master");
    let worker_trap = Rc::clone(&trap);
    let pool = manager.spawn_group(
        move |worker| serve_connections(&listener, &worker_trap, worker),
        workers,
        RestartPolicy::on_failure(),
    )?;
    before_loop(&mut manager)?;
    while !trap.is_trapped() {
        // Reaps, restarts failed workers, delivers output, dispatches signals.
        manager.wait_timeout(Target::All, Duration::from_secs(1))?;
    }
    manager.shutdown()?;
    let states = manager.wait(&pool)?;
    manager.wait_all()?;
    Ok(Report {
        served: served.get(),
        states,
    })
}

/// A worker's loop: accept and echo until the trap springs.
fn serve_connections(listener: &TcpListener, trap: &SignalTrap, worker: &Worker) -> io::Result<()> {
    let _ = set_process_title(&format!("prefork_server: worker {}", worker.index()));
    let mut served = 0u64;
    while !trap.is_trapped() {
        if !readable(listener, trap)? {
            continue;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                // One client's failure is its own: log it, serve the next.
                if let Err(err) = echo(&stream) {
                    eprintln!("client error: {err}");
                }
                served += 1;
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(err) => return Err(err),
        }
    }
    println!("served {served}");
    Ok(())
}

/// Echoes what the client sends until it closes its side.
fn echo(stream: &TcpStream) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        writer.write_all(chunk)?;
        let len = chunk.len();
        reader.consume(len);
    }
}

/// Waits up to a second for a connection or a signal; true if the
/// listener is readable.
fn readable(listener: &TcpListener, trap: &SignalTrap) -> io::Result<bool> {
    let mut fds = [
        libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: trap.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid array of two pollfds for the call; both
    // descriptors stay open while borrowed.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) };
    if ready < 0 {
        let err = io::Error::last_os_error();
        // A signal interrupted the wait: the loop checks the trap next.
        return if err.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(err)
        };
    }
    Ok(fds[0].revents != 0)
}
