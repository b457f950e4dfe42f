//! Breakout rooms, as every member's core sees them (see `sealroom_protocol::BreakoutMessage`).
//! Only a moderator the room policy names opens them, broadcasts to them and closes them: a
//! plan from anyone else is refused, whatever the server relayed. Each room's link secret comes
//! inside the plan, so joining a breakout room is joining its own encrypted group with its
//! link; members stay in the main group meanwhile, which is how broadcasts, the timer, the call
//! back and the requests for help reach them.

use sealroom_e2ee::{EpochChange, GroupSession, LinkSecret};
use sealroom_protocol::{
    ApplicationKind, Assignment, BreakoutMessage, BreakoutPlan, BreakoutRoom, ClientMessage,
    Interaction, encode,
};

use crate::{CommandError, Output, Participant, ReceivedApplication, read_message};

/// The breakout rooms open, as we show them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BreakoutView {
    /// The plan's number.
    pub id: u64,
    /// The moderator who opened them, from its MLS credential.
    pub opened_by: String,
    /// The rooms, in the plan's order (label, server room, link secret).
    pub rooms: Vec<BreakoutRoom>,
    /// The room we are sent to, if the plan assigns us one.
    pub own_room: Option<u8>,
    /// Members without an assignment choose a room.
    pub choose: bool,
    /// When everyone is to be called back (ms since the Unix epoch), if set.
    pub ends_at: Option<u64>,
    /// Who is sent where, by name from our roster.
    pub assigned: Vec<(String, u8)>,
}

/// What else the breakout rooms bring.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BreakoutNotice {
    /// A moderator's broadcast to every room.
    Broadcast {
        /// The moderator, from its MLS credential.
        from: String,
        /// Plain text.
        text: String,
    },
    /// A member asks for help in a room (shown to moderators).
    HelpWanted {
        /// The member, from its MLS credential.
        from: String,
        /// The room's label.
        room: String,
    },
}

/// The open plan and the leaf of the moderator who opened it.
#[derive(Debug, Default)]
pub(crate) struct BreakoutState {
    open: Option<(u32, BreakoutPlan)>,
}

impl Participant {
    /// Our user, a moderator, opens breakout rooms: `rooms` as (label, server room name), who
    /// goes where by leaf, whether the others choose, and when they are to come back. Each
    /// room gets a fresh link secret, sent to the members inside MLS.
    pub fn open_breakouts(
        &mut self,
        rooms: Vec<(String, String)>,
        assignments: Vec<Assignment>,
        choose: bool,
        ends_at: Option<u64>,
    ) -> Result<(), CommandError> {
        self.ensure_moderator()?;
        let rooms = rooms
            .into_iter()
            .map(|(label, room)| {
                let link = LinkSecret::generate()?.to_text();
                Ok(BreakoutRoom { label, room, link })
            })
            .collect::<Result<Vec<_>, CommandError>>()?;
        let id = self
            .breakout
            .open
            .as_ref()
            .map_or(1, |(_, plan)| plan.id + 1);
        let plan = BreakoutPlan {
            id,
            rooms,
            assignments,
            choose,
            ends_at,
        };
        let names = plan.rooms.iter().map(|r| r.room.clone()).collect();
        self.send(ClientMessage::OpenBreakouts { rooms: names });
        self.send_breakout(&BreakoutMessage::Open(plan.clone()))?;
        let own = self.own_leaf().ok_or(CommandError::NoGroup)?;
        self.breakout.open = Some((own, plan));
        self.show_breakouts();
        Ok(())
    }

    /// Our user, a moderator, says `text` to every breakout room.
    pub fn broadcast_to_breakouts(&mut self, text: &str) -> Result<(), CommandError> {
        self.ensure_moderator()?;
        self.open_plan()?;
        self.send_breakout(&BreakoutMessage::Broadcast {
            text: text.to_owned(),
        })
    }

    /// Our user, a moderator, closes the breakout rooms: everyone comes back, to a new epoch
    /// of the main room (our self-update), whose new security code they compare again.
    pub fn close_breakouts(&mut self) -> Result<(), CommandError> {
        self.ensure_moderator()?;
        let id = self.open_plan()?.id;
        self.send_breakout(&BreakoutMessage::Close { id })?;
        self.send(ClientMessage::CloseBreakouts);
        self.breakout.open = None;
        self.show_breakouts();
        self.self_update();
        Ok(())
    }

    /// Our side of breakout room `room` of the open plan: our device, that room's link, and,
    /// should we found its group, a policy naming our group's moderators, not us — the
    /// breakout room keeps the main room's moderators whoever arrives first.
    pub fn breakout_participant(&self, room: u8) -> Result<Participant, CommandError> {
        let plan = self.open_plan()?;
        let room = plan
            .rooms
            .get(usize::from(room))
            .ok_or(CommandError::Breakout("no such breakout room"))?;
        let link = LinkSecret::parse(&room.link)?;
        let policy = self.group.as_ref().and_then(GroupSession::policy);
        let moderators = policy.ok_or(CommandError::NoGroup)?.moderators;
        let mut participant = Participant::new(self.device.identity().clone(), Some(link));
        participant.founding_moderators = Some(moderators);
        self.carry_org_identity(&mut participant)?;
        Ok(participant)
    }

    /// Our user, in breakout room `room`, asks the moderators for help.
    pub fn ask_for_help(&mut self, room: u8) -> Result<(), CommandError> {
        if usize::from(room) >= self.open_plan()?.rooms.len() {
            return Err(CommandError::Breakout("no such breakout room"));
        }
        let help = Interaction::Help { room };
        self.send_application(ApplicationKind::Interaction, encode(&help).as_bytes())
    }

    /// A moderator's plan, broadcast or close; from anyone else, refused.
    pub(crate) fn on_breakout_message(&mut self, received: &ReceivedApplication) {
        let sender = received.sender;
        let message = read_message::<BreakoutMessage>(&received.data)
            .and_then(|m| m.check().map(|()| m).map_err(str::to_owned));
        let message = match message {
            Ok(message) if self.moderator_leaves().contains(&sender) => message,
            Ok(_) => return self.warning(format!(
                "{} is not a moderator of the encrypted group, and may not run breakout rooms: refused.",
                self.leaf_name(sender)
            )),
            Err(e) => return self.error(format!("breakout: {e}")),
        };
        match message {
            BreakoutMessage::Open(plan) => {
                self.breakout.open = Some((sender, plan));
                self.show_breakouts();
            }
            BreakoutMessage::Broadcast { text } => {
                let from = self.leaf_name(sender);
                self.outputs
                    .push_back(Output::Breakout(BreakoutNotice::Broadcast { from, text }));
            }
            BreakoutMessage::Close { id } => self.on_breakouts_closed(id),
        }
    }

    /// A member's request for help: shown to the moderators.
    pub(crate) fn on_help(&mut self, sender: u32, room: u8) {
        let own = self.own_leaf();
        let we_moderate = own.is_some_and(|leaf| self.moderator_leaves().contains(&leaf));
        let label = self
            .breakout
            .open
            .as_ref()
            .and_then(|(_, plan)| plan.rooms.get(usize::from(room)));
        if let (true, Some(room)) = (we_moderate, label) {
            let notice = BreakoutNotice::HelpWanted {
                from: self.leaf_name(sender),
                room: room.label.clone(),
            };
            self.outputs.push_back(Output::Breakout(notice));
        }
    }

    /// Newcomers hear of the breakout rooms we opened.
    pub(crate) fn breakouts_on_membership_change(&mut self, change: &EpochChange) {
        let own = self.own_leaf();
        let ours = self
            .breakout
            .open
            .as_ref()
            .filter(|(by, _)| Some(*by) == own);
        if let (Some((_, plan)), false) = (ours, change.added.is_empty()) {
            let open = BreakoutMessage::Open(plan.clone());
            if let Err(e) = self.send_breakout(&open) {
                self.error(format!("breakout: {e}"));
            }
        }
    }

    fn on_breakouts_closed(&mut self, id: u64) {
        if self
            .breakout
            .open
            .as_ref()
            .is_some_and(|(_, plan)| plan.id == id)
        {
            self.breakout.open = None;
            self.show_breakouts();
        }
    }

    fn open_plan(&self) -> Result<&BreakoutPlan, CommandError> {
        let open = self.breakout.open.as_ref();
        open.map(|(_, plan)| plan).ok_or(CommandError::NoBreakouts)
    }

    fn show_breakouts(&mut self) {
        let own = self.own_leaf();
        let view = self.breakout.open.as_ref().map(|(by, plan)| BreakoutView {
            id: plan.id,
            opened_by: self.leaf_name(*by),
            rooms: plan.rooms.clone(),
            own_room: plan
                .assignments
                .iter()
                .find(|a| Some(a.leaf) == own)
                .map(|a| a.room),
            choose: plan.choose,
            ends_at: plan.ends_at,
            assigned: plan
                .assignments
                .iter()
                .map(|a| (self.leaf_name(a.leaf), a.room))
                .collect(),
        });
        self.outputs
            .push_back(Output::Breakouts(view.map(Box::new)));
    }

    fn send_breakout(&mut self, message: &BreakoutMessage) -> Result<(), CommandError> {
        message.check().map_err(CommandError::Breakout)?;
        self.send_application(ApplicationKind::Breakout, encode(message).as_bytes())
    }
}
