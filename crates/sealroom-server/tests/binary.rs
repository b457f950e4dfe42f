//! The `sealroom` binary as a user runs it: `sealroom serve`, three `sealroom join
//! --synthetic --report json` clients meeting through it, and `sealroom load` against it.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use sealroom_e2ee::LinkSecret;
use serde_json::Value;
use support::TestData;

const SEALROOM: &str = env!("CARGO_BIN_EXE_sealroom");

/// `/metrics`' bearer token, which `sealroom serve` and `sealroom load` read from
/// `SEALROOM_METRICS_TOKEN`.
const METRICS_TOKEN: &str = "binary-test-metrics-token";

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sealroom serve` on free ports with `data` and returns it with its base URL.
fn serve(data: &TestData) -> (Serve, String) {
    let mut child = Command::new(SEALROOM)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--media-udp",
            "127.0.0.1:0",
            "--log",
            "warn",
        ])
        .arg("--config")
        .arg(data.config_file())
        .env("SEALROOM_METRICS_TOKEN", METRICS_TOKEN)
        .stdout(Stdio::piped())
        .spawn()
        .expect("sealroom serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("a line");
    let url = line
        .trim()
        .strip_prefix("sealroom listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (Serve(child), url)
}

/// `sealroom join` with the room link `link` made.
fn join(link: &str, name: &str, seconds: &str) -> Child {
    Command::new(SEALROOM)
        .args(["join", "--link", link, "--name", name])
        .args(["--synthetic", "--duration", seconds, "--report", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sealroom join starts")
}

fn report(child: Child) -> Value {
    let output = child.wait_with_output().expect("join exits");
    assert!(output.status.success(), "sealroom join failed: {output:?}");
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

#[test]
fn three_joins_through_the_binary_decrypt_each_other() {
    let data = TestData::new();
    let (_server, url) = serve(&data);
    let link = format!(
        "{url}/binary-room#k={}",
        LinkSecret::generate().unwrap().to_text()
    );
    let clients: Vec<Child> = ["alice", "bob", "carol"]
        .into_iter()
        .map(|name| {
            let child = join(&link, name, "8");
            std::thread::sleep(Duration::from_millis(300));
            child
        })
        .collect();
    let reports: Vec<Value> = clients.into_iter().map(report).collect();

    for report in &reports {
        let me = report["name"].as_str().unwrap();
        for other in ["alice", "bob", "carol"].into_iter().filter(|n| *n != me) {
            let from = &report["received"][other];
            assert!(
                from["audio_frames"].as_u64().unwrap_or(0) > 50,
                "{me} from {other}: {report:#}"
            );
            assert!(
                from["video_frames"].as_u64().unwrap_or(0) > 30,
                "{me} from {other}: {report:#}"
            );
        }
        assert!(report["frames_sent"]["video"].as_u64().unwrap() > 100);
        assert!(report["join_time_ms"].as_u64().is_some());
    }
    // At the epoch where all three were members, all three showed the same code.
    let code_at = |report: &Value, epoch: u64| {
        report["epoch_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|change| change["epoch"] == epoch)
            .map(|change| change["security_code"].clone())
    };
    let full_epoch = reports
        .iter()
        .map(|r| {
            r["epoch_changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["epoch"].as_u64().unwrap())
                .min()
                .unwrap()
        })
        .max()
        .unwrap();
    let codes: Vec<Value> = reports
        .iter()
        .map(|r| code_at(r, full_epoch).unwrap())
        .collect();
    assert!(codes[0].is_string());
    assert!(codes.iter().all(|c| *c == codes[0]), "{codes:?}");
}

/// Alice opens a room by typing its name: `sealroom join` prints the room link her client made
/// as it founded the group, and Bob, who joins with that link, meets her.
#[test]
fn a_typed_room_prints_its_link_and_the_link_lets_the_next_one_in() {
    let data = TestData::new();
    let (_server, url) = serve(&data);
    let mut alice = Command::new(SEALROOM)
        .args([
            "join",
            "--server",
            &url,
            "--room",
            "typed-room",
            "--name",
            "alice",
        ])
        .args(["--synthetic", "--duration", "8", "--report", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sealroom join starts");
    // Read on a thread to the end, so Alice's client never writes to a closed pipe.
    let stderr = BufReader::new(alice.stderr.take().expect("stderr"));
    let (links, link) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(made) = line.strip_prefix("room link: ") {
                let _ = links.send(made.to_owned());
            }
        }
    });
    let link = link
        .recv_timeout(Duration::from_secs(30))
        .expect("alice's client prints the link it made");
    assert!(link.starts_with(&format!("{url}/typed-room#k=")), "{link}");
    let bob = report(join(&link, "bob", "4"));
    let alice = report(alice);
    for (report, other) in [(&alice, "bob"), (&bob, "alice")] {
        let from = &report["received"][other];
        assert!(
            from["video_frames"].as_u64().unwrap_or(0) > 10,
            "{report:#}"
        );
    }
}

#[test]
fn load_through_the_binary_counts_what_arrives() {
    let data = TestData::new();
    let (server, url) = serve(&data);
    // Two rooms of three in which one participant publishes; the others only receive.
    let output = Command::new(SEALROOM)
        .args([
            "load",
            "--server",
            &url,
            "--participants",
            "6",
            "--room-size",
            "3",
        ])
        .args(["--publishers", "1", "--duration", "2", "--json"])
        .args(["--server-pid", &server.0.id().to_string()])
        .env("SEALROOM_METRICS_TOKEN", METRICS_TOKEN)
        .output()
        .expect("sealroom load runs");
    assert!(output.status.success(), "sealroom load failed: {output:?}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["rooms"], 2);
    assert_eq!(report["publishers"], 2);
    // Each video reaches the other two members of its room.
    assert_eq!(report["streams_expected"], 4, "{report}");
    assert_eq!(report["streams_received"], 4, "{report}");
    let received = report["rtp_packets_received"].as_u64().expect("packets");
    let expected = report["rtp_packets_expected"].as_u64().expect("packets");
    // Loose bounds: this checks the tool's counting, not the server's speed, on a machine
    // that may be busy with other tests.
    assert!(received > 0 && received * 100 >= expected * 80, "{report}");
    // What the clients counted is what the server says it forwarded, within the edges of
    // the window.
    let counted = report["server_counted_packets_per_s"]
        .as_f64()
        .expect("scraped");
    let arrived = report["forwarded_packets_per_s"].as_f64().expect("counted");
    assert!((counted - arrived).abs() <= arrived * 0.2, "{report}");
    assert!(report["server_cpu_seconds"].as_f64().expect("from /proc") > 0.0);
    assert!(
        report["rekey_p50_ms"].as_u64().is_some(),
        "one leave per room: {report}"
    );
}

#[test]
fn serve_help_explains_every_option() {
    let output = Command::new(SEALROOM)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for option in [
        "--listen",
        "--data",
        "--config",
        "--media-udp",
        "--media-public-ip",
        "--media-tcp",
        "--public-origin",
        "--insecure-http",
        "--metrics-token",
        "--log",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[test]
fn bad_config_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sealroom.toml");
    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let output = Command::new(SEALROOM)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("lisen"), "{stderr}");
}

/// Plain HTTP on an address others can reach is refused at start, saying what to do instead.
#[test]
fn plain_http_off_loopback_is_refused_at_start() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(SEALROOM)
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--media-udp",
            "127.0.0.1:0",
        ])
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("plain HTTP"), "{stderr}");
    assert!(stderr.contains("--insecure-http"), "{stderr}");
}

/// `sealroom <args> --config <data's>` with `stdin` as its input: (success, stdout, stderr).
fn run_with_input(args: &[&str], data: &TestData, stdin: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(SEALROOM)
        .args(args)
        .arg("--config")
        .arg(data.config_file())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An administrator makes accounts and a persistent room with the binary; a user joins that
/// room signed in with `sealroom join --account`, and a wrong password is refused plainly.
#[test]
fn accounts_and_persistent_rooms_from_the_command_line() {
    let data = TestData::new();
    let (ok, _, stderr) = run_with_input(&["account", "add", "alice"], &data, "password1\n");
    assert!(!ok);
    assert!(stderr.contains("at least 15 characters"), "{stderr}");
    let (ok, stdout, stderr) = run_with_input(
        &["account", "add", "alice"],
        &data,
        "correct horse battery staple\n",
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("account alice made"), "{stdout}");
    let (ok, stdout, _) = run_with_input(
        &["account", "add", "bob", "--totp", "--role", "auditor"],
        &data,
        "bob keeps a long passphrase\n",
    );
    assert!(ok);
    assert!(
        stdout.contains("otpauth://totp/Sealroom:bob?secret="),
        "{stdout}"
    );
    let (ok, _, stderr) = run_with_input(&["room", "add", "team-room", "--lobby"], &data, "");
    assert!(ok, "{stderr}");
    let (_, stdout, _) = run_with_input(&["room", "list"], &data, "");
    assert_eq!(stdout.trim(), "team-room");

    let (_, stdout, _) = run_with_input(&["account", "list"], &data, "");
    assert_eq!(stdout, "alice member\nbob auditor totp\n");
    let (ok, _, _) = run_with_input(&["account", "set-role", "alice", "admin"], &data, "");
    assert!(ok);
    let (ok, _, stderr) = run_with_input(&["account", "set-role", "alice", "root"], &data, "");
    assert!(!ok && stderr.contains("unknown role"), "{stderr}");
    let (_, stdout, _) = run_with_input(&["account", "list"], &data, "");
    assert!(stdout.starts_with("alice admin\n"), "{stdout}");
    // As the console's "Disable" does it: the list says so.
    let disable = |disabled: bool| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let storage = data.storage().await;
            assert!(
                storage
                    .set_account_disabled("alice", disabled)
                    .await
                    .unwrap()
            );
        });
    };
    disable(true);
    let (_, stdout, _) = run_with_input(&["account", "list"], &data, "");
    assert!(stdout.starts_with("alice admin disabled\n"), "{stdout}");
    disable(false);
    let (ok, _, _) = run_with_input(&["account", "remove", "bob"], &data, "");
    assert!(ok);
    let (ok, _, stderr) = run_with_input(&["account", "remove", "bob"], &data, "");
    assert!(!ok && stderr.contains("no account is named"), "{stderr}");

    let (_serve, url) = serve(&data);
    let sign_in_and_join = |password: &str| {
        Command::new(SEALROOM)
            .args([
                "join",
                "--server",
                &url,
                "--room",
                "team-room",
                "--name",
                "Alice",
            ])
            .args(["--account", "alice", "--duration", "1", "--report", "json"])
            .env("SEALROOM_ACCOUNT_PASSWORD", password)
            .output()
            .unwrap()
    };
    let refused = sign_in_and_join("not the password at all");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid_credentials"), "{stderr}");
    let joined = sign_in_and_join("correct horse battery staple");
    assert!(joined.status.success(), "{joined:?}");
    let report: Value = serde_json::from_slice(&joined.stdout).unwrap();
    assert!(report["epoch"].is_u64(), "{report}");
}
