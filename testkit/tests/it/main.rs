//! Self-test of the harness: it must catch what it promises to catch. This binary runs its
//! own misbehaving cases through `forkwise_testkit::run` in a child process
//! (itself, started again with `SELFTEST_INNER=1`) and checks that each one
//! fails with a report naming what went wrong.

use std::process::Command;
use std::time::Duration;

use forkwise_testkit::{Case, fork, leaks};

const INNER: &str = "SELFTEST_INNER";

fn main() {
    if std::env::var_os(INNER).is_some() {
        forkwise_testkit::run(&[
            Case::new("passes", || {}),
            Case::new("leaks_a_process", leaks_a_process),
            Case::new("leaks_a_zombie", leaks_a_zombie),
            Case::new("leaks_an_fd", leaks_an_fd),
            Case::new("leaks_a_sysv_object", leaks_a_sysv_object),
            Case::new("leaks_a_dev_shm_file", leaks_a_dev_shm_file),
            Case::new("hangs", hangs).timeout(Duration::from_secs(1)),
            Case::new("child_fails", child_fails),
            Case::new("storm_waits_out_a_sleep", || {
                // std's sleep resumes after EINTR: it takes its whole time.
                forkwise_testkit::through_storm(Duration::from_millis(50), || {
                    std::thread::sleep(Duration::from_millis(60));
                });
            }),
            Case::new("storm_catches_an_early_return", || {
                forkwise_testkit::through_storm(Duration::from_millis(50), || ());
            }),
        ]);
    }
    let expectations: &[(&str, bool, &[&str])] = &[
        ("passes", true, &["case passes ... ok"]),
        (
            "leaks_a_process",
            false,
            &["left behind process", "(sleep)"],
        ),
        ("leaks_a_zombie", false, &["left behind zombie"]),
        (
            "leaks_an_fd",
            false,
            &["left file descriptors open", "selftest-fd"],
        ),
        (
            "leaks_a_sysv_object",
            false,
            &["left behind SysV semaphore set"],
        ),
        (
            "leaks_a_dev_shm_file",
            false,
            &["left behind /dev/shm/forkwise-selftest-"],
        ),
        ("hangs", false, &["hung: the watchdog killed it after 1s"]),
        (
            "child_fails",
            false,
            &[
                "exited with code 101",
                "boom from the child",
                "case process",
            ],
        ),
        (
            "storm_waits_out_a_sleep",
            true,
            &["case storm_waits_out_a_sleep ... ok"],
        ),
        (
            "storm_catches_an_early_return",
            false,
            &["returned early, after"],
        ),
    ];
    let mut failed = 0;
    for (name, passes, needles) in expectations {
        let before = leaks::Snapshot::take();
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name])
            .env(INNER, "1")
            .output()
            .expect("run the inner harness");
        clean_up(&leaks::Snapshot::take().leaked_since(&before));
        let text = String::from_utf8_lossy(&output.stdout);
        let missing: Vec<&&str> = needles.iter().filter(|n| !text.contains(**n)).collect();
        if output.status.success() == *passes && missing.is_empty() {
            println!("selftest {name} ... ok");
        } else {
            failed += 1;
            println!(
                "selftest {name} ... FAILED: status {}, missing {missing:?}; output:\n{text}",
                output.status
            );
        }
    }
    std::process::exit(i32::from(failed > 0));
}

/// Removes what the leaking cases left, so that this test itself leaks nothing.
fn clean_up(leaked: &[String]) {
    for object in leaked {
        if let Some(path) = object
            .split_whitespace()
            .find(|w| w.starts_with("/dev/shm/"))
        {
            let _ = std::fs::remove_file(path);
        }
        if let Some(id) = object
            .split("ipcrm -s ")
            .nth(1)
            .and_then(|rest| rest.split('`').next())
        {
            let _ = Command::new("ipcrm").args(["-s", id]).status();
        }
    }
}

fn leaks_a_process() {
    let child = Command::new("sleep").arg("30").spawn().unwrap();
    std::mem::forget(child);
}

fn leaks_a_zombie() {
    let child = fork(|| {});
    std::thread::sleep(Duration::from_millis(100)); // let it exit unreaped
    std::mem::forget(child);
}

fn leaks_an_fd() {
    let path = std::env::temp_dir().join(format!("selftest-fd-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::mem::forget(file);
}

fn leaks_a_sysv_object() {
    let made = Command::new("ipcmk")
        .args(["-S", "1"])
        .output()
        .expect("run ipcmk");
    assert!(made.status.success(), "ipcmk failed: {made:?}");
}

fn leaks_a_dev_shm_file() {
    std::fs::write(
        format!("/dev/shm/forkwise-selftest-{}", std::process::id()),
        b"x",
    )
    .unwrap();
}

fn hangs() {
    std::thread::sleep(Duration::from_secs(30));
}

fn child_fails() {
    fork(|| panic!("boom from the child")).join();
}
