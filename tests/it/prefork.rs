//! The pre-fork server example under load: 50 real TCP clients, every echo
//! checked, then SIGTERM stops it cleanly.

use std::net::TcpListener;
use std::sync::atomic::Ordering::SeqCst;

use forkwise::fork::{Signal, WorkerState};
use forkwise_testkit::{SharedCounters, fork};

use forkwise_testkit::leaks::children_of;

#[path = "../../examples/prefork_server.rs"]
#[allow(dead_code, reason = "the example's main and demo are not used here")]
mod prefork_server;

/// Five client processes of ten clients each talk to a four-worker server;
/// SIGTERM to the master ends every worker cleanly and the master exits 0.
pub(crate) fn prefork_server_echoes_fifty_clients_and_stops_on_sigterm() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = fork(move || {
        let report = prefork_server::serve(listener, 4, |_| Ok(())).unwrap();
        println!("{}", prefork_server::summary(&report));
        assert_eq!(report.states, [WorkerState::Exited(0); 4]);
    });
    let echoed = SharedCounters::new(1);
    let clients: Vec<_> = (0..5)
        .map(|client| {
            let echoed = &echoed;
            fork(move || {
                for n in 0..10 {
                    let message = format!("client {client} message {n}\n").repeat(n + 1);
                    let reply = prefork_server::echo_request(addr, &message).unwrap();
                    assert_eq!(reply, message, "client {client} message {n}");
                    echoed[0].fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for client in clients {
        client.join();
    }
    assert_eq!(echoed[0].load(SeqCst), 50);
    Signal::SIGTERM.send(server.pid()).unwrap();
    let exit = server.wait();
    assert!(exit.success(), "{exit}");
    assert!(
        exit.output
            .contains("stopped: served 50 connections; 4 of 4 workers exited cleanly"),
        "{exit}"
    );
    let left = children_of(std::process::id().cast_signed());
    assert!(left.is_empty(), "children left behind: {left:?}");
}
