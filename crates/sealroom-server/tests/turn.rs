//! TURN through Debian's coturn, started by the test with the shipped configuration
//! (`deploy/coturn/turnserver.conf`, only its addresses and secret overridden): Sealroom hands a
//! participant TURN REST API credentials that coturn accepts; coturn refuses them once
//! tampered with, and refuses to relay to loopback (the SSRF the shipped config closes) while
//! it relays to a public address. coturn's own client, `turnutils_uclient`, plays the
//! participant. (`scripts/setup` installs coturn.)

mod support;

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures_util::{SinkExt, StreamExt};
use sealroom_protocol::{ClientMessage, IceServer, ServerMessage, decode, encode};
use sealroom_server::config::TurnSettings;
use support::{SETTLE, Socket, TestServer, connect, link_join};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "a-secret-shared-with-coturn";

struct Coturn(Child);

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn coturn(port: u16) -> Coturn {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/coturn/turnserver.conf");
    let relay_ports = free_port();
    let child = Command::new("turnserver")
        .arg("-c")
        .arg(config)
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
        .args(["--listening-port", &port.to_string()])
        .args(["--min-port", &relay_ports.to_string()])
        .args(["--max-port", &(relay_ports + 20).to_string()])
        .args(["--static-auth-secret", SECRET])
        .args(["--no-tls", "--no-dtls"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("turnserver runs (scripts/setup installs Debian's coturn)");
    Coturn(child)
}

/// Waits until coturn answers a STUN Binding request on `port` (it needs no credentials), so
/// that the first allocation does not race its start on a busy machine.
fn wait_until_answering(port: u16) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Type 0x0001 (Binding request), length 0, the magic cookie, a transaction id.
    let mut request = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    request.extend_from_slice(b"sealroom-rdy");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut answer = [0u8; 512];
    while Instant::now() < deadline {
        socket.send_to(&request, ("127.0.0.1", port)).unwrap();
        if socket.recv(&mut answer).is_ok() {
            return;
        }
    }
    panic!("coturn did not answer on port {port}");
}

/// `turnutils_uclient` against the relay: allocate with these credentials and send one
/// message to `peer` with a Send indication (`-s`: no channel, whose number uclient picks at
/// random and coturn sometimes refuses as already bound). uclient then waits for answers the
/// peer never sends, reporting its counters every second: its output is read until a line has
/// `until`, it exits, or [`UCLIENT_PATIENCE`] passes (a busy machine is slow to allocate).
fn uclient(port: u16, username: &str, password: &str, peer: &str, until: &str) -> String {
    let mut child = Command::new("turnutils_uclient")
        .args(["-u", username, "-w", password])
        .args(["-p", &port.to_string(), "-e", peer, "-n", "1", "-c", "-s"])
        .arg("127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("turnutils_uclient runs");
    let (lines, received) = std::sync::mpsc::channel();
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    for reader in readers.into_iter().flatten() {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
    }
    drop(lines);
    let deadline = Instant::now() + UCLIENT_PATIENCE;
    let mut output = String::new();
    while let Ok(line) = received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        output.push_str(&line);
        output.push('\n');
        if line.contains(until) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    output
}

const UCLIENT_PATIENCE: Duration = Duration::from_secs(30);

/// The relays the server hands a joiner as it enters the meeting.
async fn ice_servers_for_a_participant(server: &TestServer) -> Vec<IceServer> {
    let mut socket = connect(server).await;
    let join = ClientMessage::Join {
        room: "relayed".into(),
        display_name: "alice".into(),
        password: None,
        moderator_key: None,
        holds_link: true,
        breakout_of: None,
    };
    socket
        .send(Message::Text(encode(&join).into()))
        .await
        .unwrap();
    loop {
        if let ServerMessage::IceServers { servers } = receive(&mut socket).await {
            return servers;
        }
    }
}

#[tokio::test]
async fn without_turn_the_joiner_is_told_there_are_no_relays() {
    let server = TestServer::start().await;
    // A browser makes its PeerConnection once it knows its relays: it must not wait for a
    // list that would never come.
    assert!(ice_servers_for_a_participant(&server).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coturn_accepts_sealroom_credentials_and_refuses_to_relay_to_loopback() {
    let port = free_port();
    let _coturn = coturn(port);
    let server = TestServer::start_configured(|config| {
        config.turn = TurnSettings {
            urls: vec![format!("turn:127.0.0.1:{port}")],
            shared_secret: Some(SECRET.into()),
            credential_ttl_secs: Some(600),
        }
    })
    .await;
    let ice = ice_servers_for_a_participant(&server).await.remove(0);
    assert_eq!(ice.urls, [format!("turn:127.0.0.1:{port}")]);
    wait_until_answering(port);

    let sent = "tot_send_msgs=1";
    let public = uclient(port, &ice.username, &ice.credential, "198.51.100.7", sent);
    assert!(
        public.contains(sent),
        "relays to a public address with Sealroom's credentials:\n{public}"
    );
    let loopback = uclient(port, &ice.username, &ice.credential, "127.0.0.1", "403");
    assert!(
        loopback.contains("403 (Forbidden IP)"),
        "refuses to relay to loopback:\n{loopback}"
    );
    let refused = "Cannot complete Allocation";
    let forged = uclient(
        port,
        &ice.username,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "198.51.100.7",
        refused,
    );
    assert!(
        forged.contains(refused),
        "refuses a forged password:\n{forged}"
    );
    let (expiry, participant) = ice.username.split_once(':').unwrap();
    let stretched = format!("{}:{participant}", expiry.parse::<u64>().unwrap() + 86_400);
    let stretched = uclient(port, &stretched, &ice.credential, "198.51.100.7", refused);
    assert!(
        stretched.contains(refused),
        "refuses a username whose expiry was pushed out:\n{stretched}"
    );
}

fn join(room: &str, name: &str) -> ClientMessage {
    link_join(room, name, None)
}

async fn send(socket: &mut Socket, message: &ClientMessage) {
    socket
        .send(Message::Text(encode(message).into()))
        .await
        .unwrap();
}

/// The next message, keepalives aside.
async fn receive(socket: &mut Socket) -> ServerMessage {
    loop {
        let frame = tokio::time::timeout(SETTLE, socket.next())
            .await
            .expect("a message in time");
        match frame {
            Some(Ok(Message::Text(text))) => return decode(&text).unwrap(),
            Some(Ok(_)) => {}
            other => panic!("the connection closed: {other:?}"),
        }
    }
}

/// TURN credentials are for those in the meeting: a knocker in a lobby room gets none while it
/// waits. Admitted, it gets them, made then and expiring within the configured lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_knocker_gets_relays_only_once_admitted_and_they_expire_soon() {
    let ttl_secs = 300;
    let server = TestServer::start_configured(|config| {
        config.turn = TurnSettings {
            urls: vec!["turn:turn.example:3478".into()],
            shared_secret: Some(SECRET.into()),
            credential_ttl_secs: Some(ttl_secs),
        }
    })
    .await;
    let mut host = connect(&server).await;
    send(&mut host, &join("door", "alice")).await;
    send(&mut host, &ClientMessage::SetLobby { enabled: true }).await;
    while !matches!(
        receive(&mut host).await,
        ServerMessage::RoomSettings { lobby: true, .. }
    ) {}

    let mut knocker = connect(&server).await;
    send(&mut knocker, &join("door", "bob")).await;
    loop {
        match receive(&mut knocker).await {
            ServerMessage::ResumeToken { .. } => break,
            ServerMessage::IceServers { servers } => panic!("a knocker got relays: {servers:?}"),
            _ => {}
        }
    }
    let waiting = tokio::time::timeout(Duration::from_secs(2), receive(&mut knocker)).await;
    assert!(waiting.is_err(), "a knocker was sent {waiting:?}");
    let knocker_id = loop {
        if let ServerMessage::Lobby { waiting } = receive(&mut host).await
            && let [knock] = &waiting[..]
        {
            break knock.id.clone();
        }
    };
    let admitted_at = unix_secs();
    send(
        &mut host,
        &ClientMessage::Admit {
            participant_id: knocker_id.clone(),
        },
    )
    .await;
    let relays = loop {
        if let ServerMessage::IceServers { servers } = receive(&mut knocker).await {
            break servers;
        }
    };
    let [relay] = &relays[..] else {
        panic!("one relay: {relays:?}")
    };
    let (expiry, participant) = relay.username.split_once(':').unwrap();
    assert_eq!(participant, knocker_id);
    let expiry: u64 = expiry.parse().unwrap();
    let now = unix_secs();
    assert!(
        (admitted_at + ttl_secs..=now + ttl_secs).contains(&expiry),
        "expires at {expiry}: admitted at {admitted_at}, now {now}, lifetime {ttl_secs} s"
    );
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
