//! Starting a server and native clients on 127.0.0.1 for end-to-end tests.

#![allow(dead_code)] // each test binary uses a different part

mod data;
pub use data::TestData;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use sealroom_client::{
    media::SyntheticMedia,
    session::{ChatEntry, ChatEvent, JoinOptions, RoomClient, SessionError, Status},
};
use sealroom_e2ee::LinkSecret;
use sealroom_protocol::{
    BreakoutTicket, Bytes, ClientMessage, ErrorCode, GroupAction, ParticipantId, ServerMessage,
    decode, encode,
};
use sealroom_server::{
    RunningServer,
    accounts::create_account,
    config::{AccessSettings, AccountSettings, Config, MediaSettings, MetricsSettings},
    org_roles::OrgRole,
};
use tokio_tungstenite::tungstenite::Message;

/// Long enough for a 2-core machine running several clients; tests measure, not race.
pub const SETTLE: Duration = Duration::from_secs(30);

/// The bearer token the test servers' `/metrics` takes.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

/// The password of the accounts [`TestServer::add_accounts`] makes.
pub const ACCOUNT_PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub server: RunningServer,
    pub data: TestData,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with_web(None).await
    }

    /// With a web client directory served at `/`.
    pub async fn start_with_web(web_dir: Option<std::path::PathBuf>) -> Self {
        Self::start_configured(|config| config.web_dir = web_dir).await
    }

    /// With other admission settings (rate limits, password policy).
    pub async fn start_with_access(access: AccessSettings) -> Self {
        Self::start_configured(|config| config.access = access).await
    }

    /// On loopback ports the OS picks, with fresh data (directory and database), configured
    /// by `adjust`.
    pub async fn start_configured(adjust: impl FnOnce(&mut Config)) -> Self {
        let data = TestData::new();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            media: MediaSettings {
                udp_listen: "127.0.0.1:0".parse().unwrap(),
                ..MediaSettings::default()
            },
            metrics: MetricsSettings {
                token: Some(METRICS_TOKEN.into()),
            },
            ..Config::default()
        };
        data.configure(&mut config);
        adjust(&mut config);
        let server = sealroom_server::start(config).await.expect("server starts");
        Self { server, data }
    }

    /// A bare HTTP/1.1 GET, so the tests need no HTTP client crate: (status line and
    /// headers, body).
    pub async fn get(&self, path: &str) -> (String, String) {
        self.request("GET", path, &[], "").await
    }

    /// A bare HTTP/1.1 request with extra header lines and a body: (status line and headers,
    /// body).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &str,
    ) -> (String, String) {
        let reply = self.http(method, path, headers, body.as_bytes()).await;
        (reply.head, String::from_utf8(reply.body).unwrap())
    }

    /// Makes these accounts (no second factor), each with [`ACCOUNT_PASSWORD`].
    pub async fn add_accounts(&self, people: &[(&str, OrgRole)]) {
        for (name, role) in people {
            let settings = AccountSettings::default();
            create_account(
                &self.server.storage,
                &settings,
                name,
                ACCOUNT_PASSWORD,
                false,
                *role,
            )
            .await
            .unwrap();
        }
    }

    /// Signs `name` in with [`ACCOUNT_PASSWORD`], as a native client does: its session token.
    pub async fn session_token(&self, name: &str) -> String {
        let body = serde_json::json!({ "username": name, "password": ACCOUNT_PASSWORD });
        let reply = self
            .api(None, "POST", "/api/session", &body.to_string())
            .await;
        assert_eq!(reply.status, 200, "{name} signs in: {reply:?}");
        reply.json()["token"].as_str().unwrap().to_owned()
    }

    /// `method path` with a JSON `body`, as the holder of the session or API `token` (none: a
    /// guest).
    pub async fn api(&self, token: Option<&str>, method: &str, path: &str, body: &str) -> Reply {
        let bearer = token.map(|t| format!("Authorization: Bearer {t}"));
        let mut headers = vec!["Content-Type: application/json"];
        headers.extend(bearer.as_deref());
        self.http(method, path, &headers, body.as_bytes()).await
    }

    /// A bare HTTP/1.1 request with extra header lines and a body of any bytes (its length
    /// declared), answered.
    pub async fn http(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Reply {
        let length = format!("Content-Length: {}", body.len());
        let mut request = head(method, path, &[&[length.as_str()], headers].concat());
        request.extend_from_slice(body);
        Reply::parse(&self.exchange(&request, false).await)
    }

    /// Sends `request`'s bytes as they are on a fresh connection and reads until the server
    /// closes it; with `hang_up`, stops sending first (a body cut short). Whatever came before
    /// a reset.
    pub async fn exchange(&self, request: &[u8], hang_up: bool) -> Vec<u8> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.server.http_addr)
            .await
            .unwrap();
        stream.write_all(request).await.unwrap();
        if hang_up {
            stream.shutdown().await.unwrap();
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        response
    }

    /// `/metrics`, read with the token.
    pub async fn metrics(&self) -> String {
        let bearer = format!("Authorization: Bearer {METRICS_TOKEN}");
        let (head, body) = self.request("GET", "/metrics", &[&bearer], "").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body
    }

    /// The value of the server's gauge `name`.
    pub async fn gauge(&self, name: &str) -> u64 {
        let metrics = self.metrics().await;
        let prefix = format!("{name} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no gauge {name}: {metrics}"))
            .parse()
            .unwrap()
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub async fn join(&self, room: &str, name: &str) -> RoomClient {
        self.try_join(room, name, None).await.expect("join")
    }

    /// A join that may be refused.
    pub async fn try_join(
        &self,
        room: &str,
        name: &str,
        password: Option<&str>,
    ) -> Result<RoomClient, SessionError> {
        RoomClient::join(JoinOptions {
            password: password.map(str::to_owned),
            ..self.join_options(room, name)
        })
        .await
    }

    /// How the tests' clients join this server.
    pub fn join_options(&self, room: &str, name: &str) -> JoinOptions {
        client_options(&self.url(), room, name)
    }
}

/// The room link every test client of `room` comes with (one per room name, made on first
/// use), as people do who were sent it. A test of someone who only typed the name clears
/// `JoinOptions::link`.
pub fn room_link(room: &str) -> String {
    static LINKS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let mut links = LINKS.get_or_init(Default::default).lock().unwrap();
    links
        .entry(room.to_owned())
        .or_insert_with(|| LinkSecret::generate().unwrap().to_text())
        .clone()
}

/// How the tests' clients join: with the room's link, publishing synthetic audio and video
/// from 127.0.0.1.
pub fn client_options(server: &str, room: &str, name: &str) -> JoinOptions {
    JoinOptions {
        server: server.to_owned(),
        room: room.into(),
        display_name: name.into(),
        publish: Some(SyntheticMedia {
            audio: true,
            video: true,
            simulcast: false,
        }),
        bind_ip: "127.0.0.1".parse().unwrap(),
        password: None,
        moderator_key: None,
        ca_file: None,
        reconnect: false,
        session_token: None,
        link: Some(room_link(room)),
        device_key: None,
    }
}

/// Waits until every client's roster has exactly `names` at one shared epoch.
pub async fn converge(clients: &[&RoomClient], names: &[&str]) -> Vec<Status> {
    let mut statuses = Vec::new();
    for client in clients {
        let status = client
            .wait_until(SETTLE, |s| {
                let mut roster: Vec<&str> = s.roster.iter().map(|m| m.name.as_str()).collect();
                roster.sort_unstable();
                let mut want = names.to_vec();
                want.sort_unstable();
                roster == want
            })
            .await
            .unwrap_or_else(|s| panic!("roster never became {names:?}: {s:#?}"));
        statuses.push(status);
    }
    // Rosters match; the epoch must too, once in-flight commits land.
    let epoch = statuses.iter().filter_map(|s| s.epoch).max();
    for (i, client) in clients.iter().enumerate() {
        statuses[i] = client
            .wait_until(SETTLE, |s| s.epoch >= epoch)
            .await
            .unwrap_or_else(|s| panic!("epoch never reached {epoch:?}: {s:#?}"));
    }
    statuses
}

/// The next `count` chat messages a client's chat brings (other events skipped), or a panic
/// naming what came instead.
pub async fn next_chat_messages(
    chat: &mut tokio::sync::mpsc::UnboundedReceiver<ChatEvent>,
    count: usize,
) -> Vec<ChatEntry> {
    let mut messages = Vec::new();
    while messages.len() < count {
        match tokio::time::timeout(SETTLE, chat.recv()).await {
            Ok(Some(ChatEvent::Message(entry))) => messages.push(entry),
            Ok(Some(_)) => {}
            waited => panic!("{count} chat messages expected, got {messages:#?}, then {waited:?}"),
        }
    }
    messages
}

/// Waits until `client` decrypted audio and video from every leaf in `from`.
pub async fn wait_for_media(client: &RoomClient, from: &[u32]) {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        if let Some(stats) = client.media_stats().await
            && from.iter().all(|leaf| {
                stats
                    .per_sender
                    .get(leaf)
                    .is_some_and(|s| s.audio_frames > 0 && s.video_frames > 0)
            })
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no media from {from:?}: {:#?} {:#?}",
            client.media_stats().await,
            client.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A raw signalling connection, for tests that play a misbehaving client.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a raw WebSocket to the server's `/ws`.
pub async fn connect(server: &TestServer) -> Socket {
    let url = format!("ws://{}/ws", server.server.http_addr);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

/// The head of a bare HTTP/1.1 request with these header lines (and the tests' usual ones),
/// for a test that sends the body its own way (chunked, cut short, never).
pub fn head(method: &str, path: &str, headers: &[impl AsRef<str>]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for header in headers {
        head.push_str(header.as_ref());
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    /// The answer in `bytes`, as the server sent them.
    pub fn parse(bytes: &[u8]) -> Self {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8(bytes[..end].to_vec()).unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Self {
            status,
            head,
            body: bytes[end + 4..].to_vec(),
        }
    }

    /// A header's value (the first, if several).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error` code of a refusal.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }

    /// The id of what a `201` made (a blob, a recording).
    pub fn id(&self) -> String {
        assert_eq!(self.status, 201, "{self:?}");
        self.json()["id"].as_str().unwrap().to_owned()
    }
}

/// A participant joined over a raw signalling connection, which it keeps open to stay, with
/// the blob token that the HTTP stores (files, recordings) take from it.
pub struct Member {
    pub socket: Socket,
    pub id: ParticipantId,
    pub token: String,
    /// The secret its session resumes with (and a breakout room's ticket carries).
    pub resume_token: String,
    /// What the server told it to do about the group.
    pub group: GroupAction,
    /// The server's external-sender key, for a group it creates.
    pub external_sender: Bytes,
    /// What came between `joined` and the resume token: its settings, its moderator key if it
    /// moderates, the participant list.
    pub seen: Vec<ServerMessage>,
}

impl Member {
    /// Joins `room` with its link (a guest; the room's first moderates it).
    pub async fn join(server: &TestServer, room: &str, name: &str) -> Self {
        let join = link_join(room, name, None);
        Self::try_join(server, &join)
            .await
            .unwrap_or_else(|code| panic!("{name} refused: {code:?}"))
    }

    /// Sends `join` on a new connection: the member, or the code of the refusal.
    pub async fn try_join(server: &TestServer, join: &ClientMessage) -> Result<Self, ErrorCode> {
        let mut socket = connect(server).await;
        send(&mut socket, join).await;
        let mut joined = None;
        let mut seen = Vec::new();
        loop {
            match next_message(&mut socket).await {
                ServerMessage::Error { code, .. } if joined.is_none() => return Err(code),
                ServerMessage::Joined {
                    participant_id,
                    external_sender,
                    group,
                } => joined = Some((participant_id, group, external_sender)),
                ServerMessage::ResumeToken { token, blob_token } => {
                    let (id, group, external_sender) = joined.expect("joined comes first");
                    return Ok(Self {
                        socket,
                        id,
                        token: blob_token,
                        resume_token: token,
                        group,
                        external_sender,
                        seen,
                    });
                }
                other => seen.push(other),
            }
        }
    }

    /// Its blob token, as an `Authorization` header line.
    pub fn bearer(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }
}

/// Sends a signalling message on a raw connection.
pub async fn send(socket: &mut Socket, message: &ClientMessage) {
    socket
        .send(Message::Text(encode(message).into()))
        .await
        .unwrap();
}

/// The next signalling message on a raw connection (pings and the like skipped), or a panic if
/// none comes within [`SETTLE`].
pub async fn next_message(socket: &mut Socket) -> ServerMessage {
    loop {
        match tokio::time::timeout(SETTLE, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return decode(&text).unwrap(),
            Ok(Some(Ok(_))) => {}
            other => panic!("the connection ended: {other:?}"),
        }
    }
}

/// Reads until a message `wanted` picks.
pub async fn wait_for<T>(socket: &mut Socket, wanted: impl Fn(ServerMessage) -> Option<T>) -> T {
    loop {
        if let Some(found) = wanted(next_message(socket).await) {
            return found;
        }
    }
}

/// `sender` protects a frame now: `member` decrypts it, and the keys an outsider kept from
/// before it left (or was removed) cannot.
pub fn assert_only_members_decrypt(
    sender: &RoomClient,
    member: &RoomClient,
    outsider_keys: &std::sync::Mutex<sealroom_e2ee::sframe::MediaKeyring>,
    text: &[u8],
) {
    let frame = sender
        .media_keys()
        .lock()
        .unwrap()
        .protect(0, text)
        .unwrap();
    let now = sender.started().elapsed();
    assert!(
        outsider_keys
            .lock()
            .unwrap()
            .unprotect(now, &frame)
            .is_err()
    );
    let opened = member
        .media_keys()
        .lock()
        .unwrap()
        .unprotect(member.started().elapsed(), &frame)
        .unwrap();
    assert_eq!(opened.payload, text);
}

/// A TCP proxy to the server whose connections the test can cut.
pub struct Proxy {
    pub addr: SocketAddr,
    cuts: tokio::sync::watch::Sender<u64>,
    blocked: Arc<AtomicBool>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = tokio::sync::watch::channel(0);
        let blocked = Arc::new(AtomicBool::new(false));
        let (cuts_rx, blocked_in) = (cuts.subscribe(), blocked.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if blocked_in.load(Ordering::SeqCst) {
                    continue; // dropped: the network is down
                }
                let mut cut = cuts_rx.clone();
                cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            cuts,
            blocked,
        }
    }

    /// Drops every connection through the proxy and refuses new ones for `outage`.
    pub fn cut_for(&self, outage: Duration) {
        self.blocked.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
        let blocked = self.blocked.clone();
        tokio::spawn(async move {
            tokio::time::sleep(outage).await;
            blocked.store(false, Ordering::SeqCst);
        });
    }
}

/// A running `sealroom join` process: what we type, and its output's lines as they come.
pub struct JoinProcess {
    name: String,
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: tokio::sync::mpsc::UnboundedReceiver<String>,
    stderr: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Every line of standard output read so far.
    pub seen: Vec<String>,
}

impl JoinProcess {
    /// `sealroom join --name NAME` with the room link `link` and further `args`.
    pub fn start(link: &str, name: &str, args: &[&str]) -> Self {
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_sealroom"))
            .args(["join", "--name", name, "--duration", "300"])
            .args(args)
            .env("SEALROOM_ROOM_LINK", link)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sealroom join starts");
        Self {
            name: name.to_owned(),
            stdin: child.stdin.take().unwrap(),
            stdout: lines_of(child.stdout.take().unwrap()),
            stderr: lines_of(child.stderr.take().unwrap()),
            child,
            seen: Vec::new(),
        }
    }

    /// Types a line.
    pub fn say(&mut self, line: &str) {
        use std::io::Write;
        writeln!(self.stdin, "{line}").expect("the client reads its input");
    }

    /// The next line of standard output that `wanted` accepts, waiting for it.
    pub async fn expect(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            match tokio::time::timeout(SETTLE, self.stdout.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                _ => panic!(
                    "{} never printed {what}; it printed {:#?}",
                    self.name, self.seen
                ),
            }
        }
    }

    /// The next line on standard error that has `part` in it, waiting for it.
    pub async fn expect_error(&mut self, part: &str) -> String {
        let mut errors = Vec::new();
        loop {
            match tokio::time::timeout(SETTLE, self.stderr.recv()).await {
                Ok(Some(line)) if line.contains(part) => return line,
                Ok(Some(line)) => errors.push(line),
                _ => panic!("{} never said {part:?}; it said {errors:#?}", self.name),
            }
        }
    }

    /// Ctrl-C: the client leaves and prints its report; the rest of its output.
    pub async fn interrupt(mut self) -> Vec<String> {
        let interrupt = format!("kill -INT {}", self.child.id());
        let signalled = std::process::Command::new("sh")
            .args(["-c", &interrupt])
            .status()
            .unwrap();
        assert!(signalled.success());
        let mut rest = Vec::new();
        while let Ok(Some(line)) = tokio::time::timeout(SETTLE, self.stdout.recv()).await {
            rest.push(line);
        }
        rest
    }
}

impl Drop for JoinProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A pipe's lines as they come, read on a thread to the end.
pub fn lines_of(
    pipe: impl std::io::Read + Send + 'static,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use std::io::BufRead;
    let (lines, received) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    received
}

/// A join of `room` as `name` with the room link, carrying a breakout `ticket` if any.
pub fn link_join(room: &str, name: &str, ticket: Option<BreakoutTicket>) -> ClientMessage {
    ClientMessage::Join {
        room: room.into(),
        display_name: name.into(),
        password: None,
        moderator_key: None,
        holds_link: true,
        breakout_of: ticket,
    }
}
