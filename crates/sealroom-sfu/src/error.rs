use thiserror::Error;

/// What went wrong in a call into the [`Sfu`](crate::Sfu).
///
/// Every variant is caused by the caller or by a peer's SDP; none leaves the SFU in a broken
/// state. Packets are never answered with an error: bad ones are dropped and counted in
/// [`SfuStats::dropped_packets`](crate::SfuStats::dropped_packets).
#[derive(Debug, Error)]
pub enum SfuError {
    /// A candidate address in [`SfuConfig`](crate::SfuConfig) cannot be advertised (for
    /// example an unspecified or multicast IP).
    #[error("cannot advertise {addr} as an ICE candidate: {reason}")]
    InvalidCandidate {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why str0m refused it.
        reason: String,
    },
    /// The SDP text does not parse.
    #[error("malformed SDP: {0}")]
    InvalidSdp(String),
    /// The offer parses but cannot be accepted (no m-lines, no fingerprint, ICE-lite on both
    /// sides, …).
    #[error("SDP offer rejected: {0}")]
    OfferRejected(String),
    /// The answer parses but does not fit the offer it answers. The SFU sends a fresh offer.
    #[error("SDP answer rejected: {0}")]
    AnswerRejected(String),
    /// A participant with this name is already in the SFU, in another room.
    #[error("participant {0:?} is in another room")]
    ParticipantExists(String),
    /// No participant with this name is in the SFU.
    #[error("no participant {0:?}")]
    UnknownParticipant(String),
    /// An answer arrived while the SFU had no offer outstanding for this participant.
    #[error("no SDP offer is outstanding for participant {0:?}")]
    NoPendingOffer(String),
}
