//! `sealroom join --chat` as people and programs run it: three native clients chat through a
//! real server, end to end encrypted, while a tap between them and the server keeps every
//! signalling message the server was given or sent.

mod support;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use serde_json::Value;
use support::{JoinProcess, TestServer, room_link};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Alice to everyone: markup, quotes and scripts that must come out as typed.
const GROUP_TEXT: &str = "<b>\"Hi\" & 'all'</b> <script>x()</script> ünïcødé 🎉 مرحبا group-hello";
/// Alice to Bob alone.
const PRIVATE_TEXT: &str = "secret-for-bob 🤫";
/// Alice to everyone, after the private message: once Carol has it, she would have had that.
const AFTER_TEXT: &str = "after-private";
/// Bob to Alice alone.
const REPLY_TEXT: &str = "hi alice, from bob";
/// Bob to everyone, after his private reply.
const BOB_DONE_TEXT: &str = "bob-done";

/// `sealroom join --chat` printing the chat as JSON lines or (`json` false) for people.
fn start_chatter(link: &str, name: &str, json: bool) -> JoinProcess {
    let args: &[&str] = if json {
        &["--chat", "--report", "json"]
    } else {
        &["--chat"]
    };
    JoinProcess::start(link, name, args)
}

/// The next JSON chat message `member` prints with this text.
async fn expect_chat(member: &mut JoinProcess, text: &str) -> Value {
    let line = member.expect(text, |line| json(line)["text"] == text).await;
    json(&line)
}

/// Waits until `member` says the encrypted group has exactly `names`.
async fn expect_members(member: &mut JoinProcess, names: &[&str]) {
    let mut names = names.to_vec();
    names.sort_unstable();
    member
        .expect(&format!("the members {names:?}"), |line| {
            members_in(line) == names
        })
        .await;
}

/// The members a line of the chat lists (for people or as JSON), sorted; none if it is not such
/// a line.
fn members_in(line: &str) -> Vec<String> {
    let mut members: Vec<String> = match line.strip_prefix("* in the encrypted meeting: ") {
        Some(listed) => listed.split(", ").map(str::to_owned).collect(),
        None if line.starts_with('{') => json(line)["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
            .collect(),
        None => Vec::new(),
    };
    members.sort_unstable();
    members
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
}

/// A WebSocket relay in front of the server that keeps every signalling message it passes on,
/// either way: all the server was given to read, and all it sent.
struct Tap {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Tap {
    async fn start(server: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(relay(tcp, server, kept.clone()));
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

async fn relay(tcp: tokio::net::TcpStream, server: SocketAddr, seen: Arc<Mutex<Vec<String>>>) {
    let Ok(client) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let Ok((upstream, _)) = tokio_tungstenite::connect_async(format!("ws://{server}/ws")).await
    else {
        return;
    };
    let (to_client, from_client) = client.split();
    let (to_server, from_server) = upstream.split();
    tokio::select! {
        () = pass(from_client, to_server, &seen) => {}
        () = pass(from_server, to_client, &seen) => {}
    }
}

async fn pass(
    mut from: impl Stream<Item = Result<Message, WsError>> + Unpin,
    mut to: impl Sink<Message> + Unpin,
    seen: &Mutex<Vec<String>>,
) {
    while let Some(Ok(message)) = from.next().await {
        if let Message::Text(text) = &message {
            seen.lock().unwrap().push(text.to_string());
        }
        if to.send(message).await.is_err() {
            return;
        }
    }
}

/// Bob and Carol are in the room; Alice joins and types at once (her lines wait until she is
/// in the encrypted group): a message to everyone, a private one to Bob, one to a name nobody
/// has, one too long, and one more to everyone. Bob and Carol print what is theirs exactly as
/// typed, Carol nothing of Bob's; Alice is told what did not go out; Bob's private answer
/// reaches Alice alone, printed for people; and the server never had a word of it in the clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_native_clients_chat_end_to_end_encrypted() {
    let server = TestServer::start().await;
    let tap = Tap::start(server.server.http_addr).await;
    let link = format!("http://{}/chat-room#k={}", tap.addr, room_link("chat-room"));
    let mut bob = start_chatter(&link, "bob", true);
    let mut carol = start_chatter(&link, "carol", true);
    expect_members(&mut bob, &["bob", "carol"]).await;
    expect_members(&mut carol, &["bob", "carol"]).await;

    let mut alice = start_chatter(&link, "alice", false);
    alice.say(GROUP_TEXT);
    alice.say(&format!("/msg bob {PRIVATE_TEXT}"));
    alice.say("/msg nobody hello?");
    alice.say(&"x".repeat(4001));
    alice.say("");
    alice.say(AFTER_TEXT);
    expect_members(&mut alice, &["alice", "bob", "carol"]).await;

    for member in [&mut bob, &mut carol] {
        let group = expect_chat(member, GROUP_TEXT).await;
        assert_eq!(group["from"], "alice");
        assert_eq!(group["private"], false);
        assert!(group["seq"].as_u64().unwrap() > 0, "{group}");
    }
    let private = expect_chat(&mut bob, PRIVATE_TEXT).await;
    assert_eq!(private["from"], "alice");
    assert_eq!(private["private"], true);
    expect_chat(&mut bob, AFTER_TEXT).await;
    expect_chat(&mut carol, AFTER_TEXT).await;
    alice
        .expect_error("no other member is named \"nobody\"")
        .await;
    let too_long = alice.expect_error("4000 characters").await;
    assert!(too_long.starts_with("not sent (\"xxxx"), "{too_long}");

    bob.say(&format!("/msg alice {REPLY_TEXT}"));
    bob.say(BOB_DONE_TEXT);
    alice
        .expect(REPLY_TEXT, |line| {
            line.starts_with('[') && line.ends_with(&format!("] bob (private): {REPLY_TEXT}"))
        })
        .await;
    alice
        .expect(BOB_DONE_TEXT, |line| {
            line.ends_with(&format!("] bob: {BOB_DONE_TEXT}"))
        })
        .await;
    expect_chat(&mut carol, BOB_DONE_TEXT).await;
    for line in &carol.seen {
        let printed = json(line);
        assert_ne!(printed["private"], true, "carol: {line}");
        assert!(
            !line.contains("secret-for-bob") && !line.contains(REPLY_TEXT),
            "{line}"
        );
    }
    for line in bob.seen.iter().chain(&carol.seen) {
        assert!(
            !line.contains("xxxxxxxxxx"),
            "the long one went out: {line}"
        );
    }

    let relayed = tap.seen();
    assert!(
        relayed
            .iter()
            .any(|m| m.contains(r#""type":"application""#)),
        "the tap saw the chat go by: {relayed:#?}"
    );
    for text in [
        "group-hello",
        "secret-for-bob",
        AFTER_TEXT,
        REPLY_TEXT,
        BOB_DONE_TEXT,
    ] {
        assert!(
            !relayed.iter().any(|m| m.contains(text)),
            "the server saw {text:?} in the clear"
        );
    }

    let rest = bob.interrupt().await;
    let report = json(rest.last().expect("bob's report"));
    let texts: Vec<&str> = report["chat"]
        .as_array()
        .expect("the report lists the chat")
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [GROUP_TEXT, PRIVATE_TEXT, AFTER_TEXT], "{report}");
}
