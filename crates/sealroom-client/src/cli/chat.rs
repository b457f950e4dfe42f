//! `sealroom join --chat`: what the user types goes out as chat, and what comes is printed as it
//! comes, for people or, one JSON object per line, for programs.

use std::{io::Write, time::Duration};

use serde::Serialize;
use tokio::sync::mpsc;

use super::{ReportFormat, files::Receiver};
use crate::session::{ChatEntry, ChatEvent, RoomClient, RosterEntry, Status};

/// A chat message received, as `sealroom join` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct ChatReceived {
    /// Its number in the room.
    pub seq: u64,
    /// The sender's name, from its MLS credential.
    pub from: String,
    /// The sender's MLS leaf (two members may have the same name).
    pub leaf: u32,
    /// Sent to us alone.
    pub private: bool,
    /// The words.
    pub text: String,
    /// When the sender sent it, by its clock: milliseconds since the Unix epoch.
    pub sent_at: u64,
}

impl From<ChatEntry> for ChatReceived {
    fn from(entry: ChatEntry) -> Self {
        Self {
            seq: entry.seq,
            from: entry.sender_name,
            leaf: entry.sender,
            private: entry.private,
            text: entry.text,
            sent_at: entry.sent_at,
        }
    }
}

/// One line of the chat's output.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    /// Who is in the encrypted group now.
    Members { members: Vec<RosterEntry> },
    /// A message.
    Chat(ChatReceived),
    /// Messages of the room's history this device cannot decrypt.
    Unreadable { count: u64 },
}

impl Line {
    /// For people: whatever a member wrote is printed so it cannot steer the terminal.
    fn text(&self) -> String {
        match self {
            Line::Members { members } => {
                let names: Vec<String> = members.iter().map(|m| printable(&m.name)).collect();
                format!("* in the encrypted meeting: {}", names.join(", "))
            }
            Line::Chat(message) => format!(
                "[{}] {}{}: {}",
                clock(message.sent_at),
                printable(&message.from),
                if message.private { " (private)" } else { "" },
                printable(&message.text)
            ),
            Line::Unreadable { count } => format!(
                "* {count} earlier messages cannot be decrypted: sent before this device joined"
            ),
        }
    }
}

/// Shows the chat as it comes (as `format` says; `None`: not at all), keeps the messages
/// received in `kept`, and hands the files members share to `files`, if given. Returns when
/// the session has ended.
pub(super) async fn show(
    mut events: mpsc::UnboundedReceiver<ChatEvent>,
    format: Option<ReportFormat>,
    kept: &mut Vec<ChatReceived>,
    files: Option<&Receiver>,
) {
    while let Some(event) = events.recv().await {
        let line = match event {
            ChatEvent::File(entry) => {
                if let Some(files) = files {
                    files.start(entry);
                }
                continue;
            }
            ChatEvent::NotSent { text, error } => {
                eprintln!("not sent ({}): {error}", preview(&text));
                continue;
            }
            ChatEvent::Members(members) => Line::Members { members },
            ChatEvent::Message(entry) => {
                let message = ChatReceived::from(entry);
                kept.push(message.clone());
                Line::Chat(message)
            }
            ChatEvent::Unreadable(count) => Line::Unreadable { count },
        };
        match format {
            Some(ReportFormat::Json) => {
                emit(&serde_json::to_string(&line).expect("a chat line serializes"))
            }
            Some(ReportFormat::Text) => emit(&line.text()),
            None => {}
        }
    }
}

/// Prints a line at once, so a program reading the output sees each message as it comes.
pub(super) fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    // A reader that went away leaves nobody to tell.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Sends each line typed on standard input, in order, once we are in the encrypted group
/// (lines typed before wait for it). At the end of the input, carries on without: never
/// returns.
pub(super) async fn send_typed_lines(client: &RoomClient) {
    let mut lines = typed_lines();
    while let Some(line) = lines.recv().await {
        if let Err(error) = send_line(client, &line).await {
            eprintln!("not sent: {error}");
        }
    }
    std::future::pending().await
}

/// Standard input's lines.
fn typed_lines() -> mpsc::UnboundedReceiver<String> {
    let (lines, typed) = mpsc::unbounded_channel();
    // A thread of its own, not the runtime's: a read that blocks on a terminal must not hold up
    // the runtime's shutdown.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let line = match line {
                Ok(line) => line,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    eprintln!("not sent: the line is not UTF-8");
                    continue;
                }
                Err(_) => return,
            };
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    typed
}

async fn send_line(client: &RoomClient, line: &str) -> Result<(), String> {
    let Some(typed) = parse(line)? else {
        return Ok(());
    };
    let status = in_group(client).await;
    match typed {
        Typed::All(text) => client.send_chat(text, None),
        Typed::Private { name, text } => client.send_chat(text, Some(recipient(&status, name)?)),
    }
    Ok(())
}

/// What the client knows once it is in the encrypted group (at once if it is).
pub(super) async fn in_group(client: &RoomClient) -> Status {
    loop {
        let member = |s: &Status| s.epoch.is_some();
        if let Ok(status) = client.wait_until(Duration::from_secs(60), member).await {
            return status;
        }
    }
}

/// What a typed line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Typed<'a> {
    /// A message to everyone.
    All(&'a str),
    /// `/msg NAME TEXT`: to the member named NAME alone.
    Private { name: &'a str, text: &'a str },
}

/// A typed line: `None` if blank. Any other command than /msg is refused rather than sent to
/// everyone, so that a mistyped `/msg` never makes a private message public.
fn parse(line: &str) -> Result<Option<Typed<'_>>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    if line.starts_with("//") {
        return Ok(Some(Typed::All(&line[1..])));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Some(Typed::All(line)));
    };
    let (word, rest) = command
        .split_once(char::is_whitespace)
        .unwrap_or((command, ""));
    if word != "msg" {
        return Err(format!(
            "no command /{word}: /msg NAME TEXT sends to one member; start a line with // to \
             send one starting with /"
        ));
    }
    let (name, text) = split_name(rest.trim_start())
        .ok_or("/msg NAME TEXT (a NAME with spaces in double quotes)")?;
    Ok(Some(Typed::Private { name, text }))
}

/// `NAME TEXT`, or `"NAME WITH SPACES" TEXT`.
fn split_name(rest: &str) -> Option<(&str, &str)> {
    let (name, text) = match rest.strip_prefix('"') {
        Some(quoted) => quoted.split_once('"')?,
        None => rest.split_once(char::is_whitespace)?,
    };
    let text = text.trim_start();
    (!name.is_empty() && !text.trim().is_empty()).then_some((name, text))
}

/// The one member other than us whose MLS credential name is `name`.
fn recipient(status: &Status, name: &str) -> Result<RosterEntry, String> {
    let named: Vec<&RosterEntry> = status
        .roster
        .iter()
        .filter(|m| m.name == name && Some(m.leaf) != status.leaf_index)
        .collect();
    match named.as_slice() {
        [member] => Ok((*member).clone()),
        [] => Err(format!("no other member is named {name:?}")),
        several => {
            let which: Vec<String> = several
                .iter()
                .map(|m| format!("leaf {} (key {})", m.leaf, m.fingerprint))
                .collect();
            Err(format!(
                "{} members are named {name:?}: {}",
                several.len(),
                which.join(", ")
            ))
        }
    }
}

/// `text` as a terminal shows it harmlessly: control characters (escape sequences, or a line
/// break that starts a fake line from someone else) and bidirectional overrides escaped.
pub(super) fn printable(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The start of a message, to say which one did not go out.
fn preview(text: &str) -> String {
    const SHOWN: usize = 24;
    let start: String = text.chars().take(SHOWN).collect();
    let more = if text.chars().nth(SHOWN).is_some() {
        "…"
    } else {
        ""
    };
    format!("{:?}{more}", printable(&start))
}

/// `HH:MM:SS` (UTC) of a time in milliseconds since the Unix epoch.
pub(super) fn clock(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(leaf: u32, name: &str) -> RosterEntry {
        RosterEntry {
            leaf,
            name: name.into(),
            fingerprint: format!("key{leaf}"),
            account: None,
            org_binding: "none",
        }
    }

    #[test]
    fn typed_lines_are_group_messages_private_messages_or_refused() {
        assert_eq!(parse("   "), Ok(None));
        assert_eq!(parse("hello  "), Ok(Some(Typed::All("hello  "))));
        assert_eq!(parse("//shrug"), Ok(Some(Typed::All("/shrug"))));
        assert_eq!(
            parse("/msg bob   see you"),
            Ok(Some(Typed::Private {
                name: "bob",
                text: "see you"
            }))
        );
        assert_eq!(
            parse("/msg \"Bob Smith\" hi"),
            Ok(Some(Typed::Private {
                name: "Bob Smith",
                text: "hi"
            }))
        );
        for refused in [
            "/msg",
            "/msg bob",
            "/msg bob   ",
            "/msg \"bob hi",
            "/mgs bob hi",
        ] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_private_message_goes_to_the_one_other_member_of_that_name() {
        let status = Status {
            leaf_index: Some(0),
            roster: vec![
                member(0, "alice"),
                member(1, "bob"),
                member(2, "carol"),
                member(3, "carol"),
            ],
            ..Status::default()
        };
        assert_eq!(recipient(&status, "bob"), Ok(member(1, "bob")));
        let no_one = recipient(&status, "alice").unwrap_err();
        assert!(no_one.contains("no other member"), "{no_one}");
        let several = recipient(&status, "carol").unwrap_err();
        assert!(
            several.contains("leaf 2 (key key2), leaf 3 (key key3)"),
            "{several}"
        );
    }

    #[test]
    fn what_members_wrote_cannot_steer_the_terminal() {
        assert_eq!(printable("<b>\"é\"</b> 🎉"), "<b>\"é\"</b> 🎉");
        assert_eq!(
            printable("hi\n[12:00:00] bob: \u{1b}[2J\u{202e}"),
            "hi\\n[12:00:00] bob: \\u{1b}[2J\\u{202e}"
        );
        let line = Line::Chat(ChatReceived {
            seq: 7,
            from: "bob".into(),
            leaf: 1,
            private: true,
            text: "hi".into(),
            sent_at: 1_700_000_000_123,
        });
        assert_eq!(line.text(), "[22:13:20] bob (private): hi");
        assert_eq!(
            serde_json::to_value(&line).unwrap(),
            serde_json::json!({"type": "chat", "seq": 7, "from": "bob", "leaf": 1,
                "private": true, "text": "hi", "sent_at": 1_700_000_000_123u64})
        );
    }

    #[test]
    fn a_message_not_sent_is_named_by_its_start() {
        assert_eq!(preview("short"), "\"short\"");
        assert_eq!(preview(&"x".repeat(4001)), format!("{:?}…", "x".repeat(24)));
    }
}
