//! The server killed with SIGKILL mid-meeting and started again on the same ports and data
//! directory: the clients join again on their own, the room re-forms with a new MLS group and
//! media flows again (the time it took is printed), and the record of a lock announced just
//! before the kill is on disk.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sealroom_client::session::{JoinOptions, RoomClient};
use support::{SETTLE, TestData, client_options, converge, wait_for_media};

const SEALROOM: &str = env!("CARGO_BIN_EXE_sealroom");

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sealroom serve` on the given ports with `data`; returns once it listens.
fn serve(data: &TestData, http: u16, udp: u16) -> Serve {
    let mut child = Command::new(SEALROOM)
        .args(["serve", "--log", "warn"])
        .args(["--listen", &format!("127.0.0.1:{http}")])
        .args(["--media-udp", &format!("127.0.0.1:{udp}")])
        .arg("--config")
        .arg(data.config_file())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sealroom serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("sealroom listening on"), "{line:?}");
    Serve(child)
}

fn free_ports() -> (u16, u16) {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    )
}

async fn audit_actions(data: &TestData) -> Vec<String> {
    data.storage()
        .await
        .audit_log("phoenix")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_restarts_and_the_meeting_reforms_on_its_own() {
    let data = TestData::new();
    let (http, udp) = free_ports();
    let server = serve(&data, http, udp);
    let options = |name: &str| JoinOptions {
        reconnect: true,
        ..client_options(&format!("http://127.0.0.1:{http}"), "phoenix", name)
    };
    let alice = RoomClient::join(options("alice")).await.unwrap();
    let bob = RoomClient::join(options("bob")).await.unwrap();
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    wait_for_media(&alice, &[statuses[1].leaf_index.unwrap()]).await;
    alice.lock();
    // Killed the moment the lock is announced: its record must already be on disk.
    bob.wait_until(SETTLE, |s| s.room_locked)
        .await
        .unwrap_or_else(|s| panic!("never locked: {s:#?}"));
    drop(server); // SIGKILL: no goodbye to anyone, no flush.
    let killed_at = Instant::now();
    let _server = serve(&data, http, udp);
    for client in [&alice, &bob] {
        client
            .wait_until(Duration::from_secs(20), |s| !s.rejoined_at_ms.is_empty())
            .await
            .unwrap_or_else(|s| panic!("never rejoined: {s:#?}"));
    }
    let statuses = converge(&[&alice, &bob], &["alice", "bob"]).await;
    wait_for_media(&alice, &[statuses[1].leaf_index.unwrap()]).await;
    wait_for_media(&bob, &[statuses[0].leaf_index.unwrap()]).await;
    println!(
        "from SIGKILL to media flowing both ways again: {:?}",
        killed_at.elapsed()
    );
    assert!(
        !statuses[0].room_locked,
        "a new room: the lock was the old room's"
    );

    let after = audit_actions(&data).await;
    assert!(
        after.iter().any(|a| a == "room_locked"),
        "the announced lock's record survived the kill: {after:?}"
    );
    let joins = after.iter().filter(|a| *a == "participant_joined").count();
    assert!(
        joins >= 4,
        "the old room's joins and the new room's: {after:?}"
    );
}
