//! What the server sends a joined participant goes through its mailbox, which outlives the
//! connection: each message gets a sequence number and the last [`KEPT_MESSAGES`] are kept, so
//! a client whose WebSocket dropped (a network change, a proxy restart, a half-open TCP
//! connection) can resume from a new connection within the resume window — same participant,
//! same MLS leaf, its media untouched — and get exactly the messages it missed.
//!
//! A message that states the whole of something (the participant list, the room's settings,
//! the lobby) replaces the kept one of its kind: a resumed client needs only the latest. Kept
//! in full, the participant lists alone made the mailboxes of a room grow with the cube of its
//! size (each join sends everyone a list as long as the room): 4 MiB per participant in a
//! room of 150.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{Duration, Instant},
};

use sealroom_protocol::{RoomName, ServerMessage};
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, mpsc};

/// Messages kept for a resume. A session that missed more than this cannot resume (it joins
/// afresh instead): at the pace of a busy room that is minutes of signalling.
pub const KEPT_MESSAGES: usize = 256;

/// A message for a connection's writer: numbered (part of the session) or not (a direct
/// answer on this connection, e.g. an error to a message it sent).
pub(crate) struct Outbound {
    pub seq: Option<u64>,
    pub message: ServerMessage,
}

impl Outbound {
    pub fn plain(message: ServerMessage) -> Self {
        Self { seq: None, message }
    }
}

/// A live connection of a participant.
pub(crate) struct Connection {
    pub outbox: mpsc::Sender<Outbound>,
    /// Closes the connection (too slow to keep up, a moderator removed it, or a newer
    /// connection resumed the session).
    pub kick: Arc<Notify>,
    /// Which connection of the session this is (a resumed session's old connection must not
    /// park or end what the new one holds).
    pub generation: u64,
}

/// What became of a posted message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Posted {
    /// Queued on the live connection.
    Sent,
    /// Kept for a resume: no live connection.
    Kept,
    /// The live connection's queue is full: it cannot keep up and should be closed (the
    /// message is kept, so a resume still gets it).
    QueueFull,
}

/// Why a resume was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResumeRefused {
    /// Not this session's token.
    WrongToken,
    /// The session missed messages that are no longer kept: it cannot be resumed by anyone,
    /// and its participant should leave at once rather than wait out the window.
    TooFarBehind(RoomName),
}

/// One participant's session.
pub(crate) struct Mailbox {
    pub room: RoomName,
    token: String,
    next_seq: u64,
    kept: VecDeque<(u64, ServerMessage)>,
    /// The highest number of the participant's own messages taken so far (see
    /// [`Mailbox::take_client_seq`]).
    last_client_seq: u64,
    /// Messages numbered below this may have been dropped for room: a session that last saw
    /// an earlier one cannot resume. (Replaced messages do not count: their successor is kept.)
    complete_from: u64,
    live: Option<Connection>,
    parked_since: Option<Instant>,
    /// The server ended the session: when the connection closes, the participant leaves.
    ending: bool,
}

impl Mailbox {
    pub fn new(room: RoomName, connection: Connection) -> Self {
        Self {
            room,
            token: rand::random::<[u8; 16]>()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            next_seq: 1,
            kept: VecDeque::new(),
            complete_from: 1,
            last_client_seq: 0,
            live: Some(connection),
            parked_since: None,
            ending: false,
        }
    }

    /// The secret a new connection resumes this session with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Numbers a message, keeps it, and queues it on the live connection if there is one.
    pub fn post(&mut self, message: ServerMessage) -> Posted {
        let seq = self.next_seq;
        self.next_seq += 1;
        if replaces_earlier(&message) {
            let kind = std::mem::discriminant(&message);
            self.kept
                .retain(|(_, kept)| std::mem::discriminant(kept) != kind);
        }
        if self.kept.len() == KEPT_MESSAGES
            && let Some((dropped, _)) = self.kept.pop_front()
        {
            self.complete_from = dropped + 1;
        }
        self.kept.push_back((seq, message.clone()));
        let Some(live) = &self.live else {
            return Posted::Kept;
        };
        match live.outbox.try_send(Outbound {
            seq: Some(seq),
            message,
        }) {
            Ok(()) => Posted::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Posted::QueueFull,
            // The writer is gone: the connection is ending and will park the session.
            Err(mpsc::error::TrySendError::Closed(_)) => Posted::Kept,
        }
    }

    /// Whether a numbered message from the participant is new: after a resume the client
    /// sends again what the old connection may have lost, and what the server already took
    /// must not be done twice.
    pub fn take_client_seq(&mut self, seq: u64) -> bool {
        let new = seq > self.last_client_seq;
        self.last_client_seq = self.last_client_seq.max(seq);
        new
    }

    /// Closes the live connection, if any.
    pub fn kick(&self) {
        if let Some(live) = &self.live {
            live.kick.notify_one();
        }
    }

    /// Closes the connection for good: the session will not be parked for a resume.
    pub fn end(&mut self) {
        self.ending = true;
        self.kick();
    }

    /// Whether `generation` is the session's live connection.
    pub fn is_live(&self, generation: u64) -> bool {
        self.live
            .as_ref()
            .is_some_and(|c| c.generation == generation)
    }

    /// The live connection `generation` went away: the session waits for a resume. Returns
    /// false if a newer connection already holds the session.
    pub fn park(&mut self, generation: u64, now: Instant) -> bool {
        if !self.is_live(generation) || self.ending {
            return false;
        }
        self.live = None;
        self.parked_since = Some(now);
        true
    }

    /// Whether the session has waited for a resume longer than `window`.
    pub fn expired(&self, now: Instant, window: Duration) -> bool {
        self.parked_since
            .is_some_and(|since| now.saturating_duration_since(since) >= window)
    }

    /// A new connection takes the session over: it gets `resumed` (made by `resumed` from the
    /// number of messages replayed and the last client message taken) and then every message
    /// numbered after `last_seq`. An old connection still open (its TCP has not noticed the
    /// network is gone) is closed. The token is compared in constant time.
    pub fn resume(
        &mut self,
        token: &str,
        last_seq: u64,
        connection: Connection,
        resumed: impl FnOnce(u64, u64) -> ServerMessage,
    ) -> Result<(), ResumeRefused> {
        if !bool::from(self.token.as_bytes().ct_eq(token.as_bytes())) {
            return Err(ResumeRefused::WrongToken);
        }
        // Saturating: a client may claim any number, u64::MAX included.
        if last_seq.saturating_add(1) < self.complete_from || last_seq >= self.next_seq {
            return Err(ResumeRefused::TooFarBehind(self.room.clone()));
        }
        self.kick();
        let missed: Vec<&(u64, ServerMessage)> = self
            .kept
            .iter()
            .filter(|(seq, _)| *seq > last_seq)
            .collect();
        let _ = connection.outbox.try_send(Outbound::plain(resumed(
            missed.len() as u64,
            self.last_client_seq,
        )));
        for (seq, message) in missed {
            let _ = connection.outbox.try_send(Outbound {
                seq: Some(*seq),
                message: message.clone(),
            });
        }
        self.live = Some(connection);
        self.parked_since = None;
        Ok(())
    }
}

/// Whether a message states the whole of something, so that it makes the kept message of its
/// kind useless.
fn replaces_earlier(message: &ServerMessage) -> bool {
    matches!(
        message,
        ServerMessage::Participants { .. }
            | ServerMessage::RoomSettings { .. }
            | ServerMessage::Lobby { .. }
            | ServerMessage::Waiting { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(generation: u64) -> (Connection, mpsc::Receiver<Outbound>) {
        let (outbox, rx) = mpsc::channel(KEPT_MESSAGES * 2);
        (
            Connection {
                outbox,
                kick: Arc::new(Notify::new()),
                generation,
            },
            rx,
        )
    }

    fn note(n: u64) -> ServerMessage {
        ServerMessage::Resumed {
            replayed: n,
            last_client_seq: 0,
        }
    }

    fn resumed(replayed: u64, last_client_seq: u64) -> ServerMessage {
        ServerMessage::Resumed {
            replayed,
            last_client_seq,
        }
    }

    fn drain(rx: &mut mpsc::Receiver<Outbound>) -> Vec<(Option<u64>, ServerMessage)> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|o| (o.seq, o.message))
            .collect()
    }

    #[test]
    fn a_resumed_session_gets_exactly_what_it_missed() {
        let (first, mut first_rx) = connection(1);
        let mut mailbox = Mailbox::new(RoomName::parse("r").unwrap(), first);
        mailbox.post(note(100));
        mailbox.post(note(101));
        assert_eq!(drain(&mut first_rx).len(), 2);
        assert!(mailbox.park(1, Instant::now()));
        assert_eq!(mailbox.post(note(102)), Posted::Kept);

        let (second, mut second_rx) = connection(2);
        let token = mailbox.token().to_owned();
        mailbox.resume(&token, 1, second, resumed).unwrap();
        assert_eq!(
            drain(&mut second_rx),
            vec![(None, note(2)), (Some(2), note(101)), (Some(3), note(102))],
            "`resumed`, then messages 2 and 3 once each"
        );
        assert!(
            !mailbox.park(1, Instant::now()),
            "the old connection no longer holds it"
        );
        assert_eq!(mailbox.post(note(103)), Posted::Sent);
    }

    #[test]
    fn a_wrong_token_or_a_session_too_far_behind_is_refused() {
        let (first, _rx) = connection(1);
        let mut mailbox = Mailbox::new(RoomName::parse("r").unwrap(), first);
        for n in 0..KEPT_MESSAGES as u64 + 10 {
            mailbox.post(note(n));
        }
        let token = mailbox.token().to_owned();
        let (second, _rx2) = connection(2);
        assert_eq!(
            mailbox.resume("00", 0, second, resumed),
            Err(ResumeRefused::WrongToken)
        );
        let (third, _rx3) = connection(3);
        assert_eq!(
            mailbox.resume(&token, 3, third, resumed),
            Err(ResumeRefused::TooFarBehind(RoomName::parse("r").unwrap())),
            "messages 4 to 10 are no longer kept"
        );
    }

    #[test]
    fn a_resume_from_the_largest_number_is_refused_not_a_panic() {
        let (first, _rx) = connection(1);
        let mut mailbox = Mailbox::new(RoomName::parse("r").unwrap(), first);
        mailbox.post(note(1));
        let token = mailbox.token().to_owned();
        let (second, _rx2) = connection(2);
        assert_eq!(
            mailbox.resume(&token, u64::MAX, second, resumed),
            Err(ResumeRefused::TooFarBehind(RoomName::parse("r").unwrap())),
            "a number the server never sent"
        );
    }

    #[test]
    fn a_list_replaces_the_kept_list_and_a_resume_gets_the_latest() {
        let list = |n: usize| ServerMessage::Participants {
            participants: Vec::with_capacity(n),
        };
        let (first, _rx) = connection(1);
        let mut mailbox = Mailbox::new(RoomName::parse("r").unwrap(), first);
        mailbox.post(list(1));
        mailbox.post(note(2));
        for n in 3..KEPT_MESSAGES + 100 {
            mailbox.post(list(n));
        }
        assert_eq!(mailbox.kept.len(), 2, "one note, one list");

        // Message 1 was replaced, not lost: a session that saw nothing can still resume.
        let (second, mut second_rx) = connection(2);
        let token = mailbox.token().to_owned();
        mailbox.resume(&token, 0, second, resumed).unwrap();
        let resumed = drain(&mut second_rx);
        assert_eq!(resumed.len(), 3, "`resumed`, the note, the latest list");
        assert_eq!(resumed[1], (Some(2), note(2)));
        assert_eq!(resumed[2].0, Some((KEPT_MESSAGES + 99) as u64));
    }

    #[test]
    fn a_client_message_is_taken_once_and_the_resume_says_which() {
        let (first, _rx) = connection(1);
        let mut mailbox = Mailbox::new(RoomName::parse("r").unwrap(), first);
        assert!(mailbox.take_client_seq(1));
        assert!(mailbox.take_client_seq(2));
        assert!(
            !mailbox.take_client_seq(2),
            "sent again after a resume: ignored"
        );
        assert!(!mailbox.take_client_seq(1));
        let (second, mut second_rx) = connection(2);
        let token = mailbox.token().to_owned();
        mailbox.resume(&token, 0, second, resumed).unwrap();
        assert_eq!(drain(&mut second_rx), vec![(None, resumed(0, 2))]);
    }

    #[test]
    fn a_parked_session_expires_after_the_window() {
        let (first, _rx) = connection(1);
        let mut mailbox = Mailbox::new(RoomName::parse("r").unwrap(), first);
        let now = Instant::now();
        assert!(!mailbox.expired(now, Duration::from_secs(30)));
        mailbox.park(1, now);
        assert!(!mailbox.expired(now + Duration::from_secs(29), Duration::from_secs(30)));
        assert!(mailbox.expired(now + Duration::from_secs(30), Duration::from_secs(30)));
    }
}
