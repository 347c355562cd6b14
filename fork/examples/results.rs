//! A parallel map: each worker returns a serde value to the master.
//!
//! `cargo run -p forkwise-fork --example results`

use forkwise_fork::{Error, ForkManager};

fn main() -> Result<(), Error> {
    let texts = ["the quick brown fox", "jumps over", "the lazy dog"];
    let mut manager = ForkManager::new()?;
    let handles = texts
        .iter()
        .map(|text| {
            manager.fork_with_result(move |worker| (worker.pid(), text.split_whitespace().count()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut total = 0;
    for (text, handle) in texts.iter().zip(handles) {
        let (pid, words) = handle.join(&mut manager)?;
        println!("worker {pid}: {words} words in {text:?}");
        total += words;
    }
    assert_eq!(total, 9);

    // A worker that dies before sending gives an error, never a hang.
    let doomed = manager.fork_with_result(|_| -> String { panic!("no result") })?;
    match doomed.join(&mut manager) {
        Err(err @ Error::NoResult { .. }) => println!("as expected: {err}"),
        other => panic!("{other:?}"),
    }
    Ok(())
}
