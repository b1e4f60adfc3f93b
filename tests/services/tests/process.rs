//! Server processes: their whole group stops on drop, and a failed start shows the server's log.

use std::path::Path;
use std::time::Duration;

use test_services::{ServerProcess, live_members};

#[test]
fn drop_kills_the_server_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(
        "sleepers",
        Path::new("/bin/sh"),
        ["-c", "sleep 300 & sleep 300 & echo started; wait"],
        dir.path(),
        &[],
        &dir.path().join("log"),
    );
    server.wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(dir.path().join("log")).is_ok_and(|log| log.contains("started"))
    });
    let group = server.process_group();
    // The watchdog shell, its `cat`, the server shell and two sleeps.
    assert!(live_members(group) >= 4, "{} live", live_members(group));
    drop(server);
    assert_eq!(live_members(group), 0, "nothing of the group survives drop");
}

#[test]
fn a_server_that_exits_during_start_fails_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(
        "broken",
        Path::new("/bin/sh"),
        ["-c", "echo 'config error: no storage' >&2; exit 3"],
        dir.path(),
        &[],
        &dir.path().join("log"),
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.wait_until(Duration::from_secs(10), || false)
    }))
    .expect_err("start must fail");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("broken exited during start-up"),
        "{message}"
    );
    assert!(message.contains("config error: no storage"), "{message}");
}

#[test]
fn a_server_that_never_answers_times_out_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(
        "silent",
        Path::new("/bin/sh"),
        ["-c", "echo 'still loading'; exec sleep 300"],
        dir.path(),
        &[],
        &dir.path().join("log"),
    );
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.wait_until(Duration::from_millis(300), || false)
    }))
    .expect_err("start must time out");
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("silent did not answer within"),
        "{message}"
    );
    assert!(message.contains("still loading"), "{message}");
}
