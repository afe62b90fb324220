//! What the game server, its bots and its page exchange.
//!
//! Every socket joins [`LOBBY`]. A player in a match tracks presence there under its name,
//! with a [`PlayerMeta`] saying which match: the lobby list and the names drawn on the canvas
//! both come from that one presence room.

use serde::{Deserialize, Serialize};

/// The matches the server runs. Each is a room, [`match_room`].
pub const MATCHES: [&str; 3] = ["arena", "canyon", "harbor"];
/// The room every socket is in, and whose presence lists who plays where.
pub const LOBBY: &str = "lobby";
/// Simulation steps per second; one snapshot per step.
pub const TICK_HZ: u32 = 30;
/// The world's size in pixels.
pub const WORLD: (i16, i16) = (960, 540);
/// Pixels a player moves per tick with a key held.
pub const SPEED: i16 = 6;
/// Players a match holds.
pub const MATCH_CAPACITY: usize = 64;

/// The room of match `name`.
pub fn match_room(name: &str) -> String {
    format!("match:{name}")
}

/// `join`: enter a match under a name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinMatch {
    /// One of [`MATCHES`].
    #[serde(rename = "match")]
    pub game: String,
    /// The name shown over the player.
    pub name: String,
    /// A native bot rather than a person: drawn and listed as such.
    #[serde(default)]
    pub bot: bool,
}

/// The reply to `join`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    /// The player's id in snapshots.
    pub id: u16,
    /// The match joined.
    #[serde(rename = "match")]
    pub game: String,
    /// The player's colour, `#rrggbb`.
    pub color: String,
    /// The world's width.
    pub width: i16,
    /// The world's height.
    pub height: i16,
    /// Snapshots per second.
    pub tick_hz: u32,
}

/// `input`, volatile: the direction held. The server keeps the newest `seq` only.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Input {
    /// Increases with every input a client sends.
    pub seq: u32,
    /// -1, 0 or 1.
    pub dx: i8,
    /// -1, 0 or 1.
    pub dy: i8,
}

/// `snap`, volatile: the match at one tick, or one part of it.
///
/// A snapshot that would not fit one datagram is split by players into parts that do; each
/// part carries the tick's `seq`, so a client draws whatever parts of the newest tick arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tick, increasing by one per tick of the match.
    pub seq: u64,
    /// This part's index.
    pub part: u8,
    /// How many parts the tick has.
    pub parts: u8,
    /// `[id, x, y]` of each player in this part.
    pub players: Vec<(u16, i16, i16)>,
}

/// A player's presence meta in [`LOBBY`], under the player's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlayerMeta {
    /// The match played.
    #[serde(rename = "match")]
    pub game: String,
    /// The player's id in snapshots.
    pub id: u16,
    /// `#rrggbb`.
    pub color: String,
    /// A native bot rather than a person.
    pub bot: bool,
}

/// One player in `GET /api/matches`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlayerView {
    /// The player's id.
    pub id: u16,
    /// The player's name.
    pub name: String,
    /// The server's position of the player.
    pub x: i16,
    /// The server's position of the player.
    pub y: i16,
    /// A native bot.
    pub bot: bool,
    /// Snapshot ticks sent to the player since it joined.
    pub sent: u64,
    /// The newest input applied.
    pub input_seq: u32,
}

/// One match in `GET /api/matches`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MatchView {
    /// The match's name.
    pub name: String,
    /// The newest tick.
    pub seq: u64,
    /// Its players.
    pub players: Vec<PlayerView>,
}

/// Players per snapshot part. A part must fit one datagram a browser accepts
/// ([`quicket::BROWSER_DATAGRAM_LIMIT`], a whole frame) even in JSON with every number at its
/// widest, so a bigger match is split into parts rather than sent as a reliable keyframe: a
/// lost part costs one tick of some players, never a stall.
pub const PLAYERS_PER_PART: usize = 48;

/// Room for a frame's header and the event name around a part's payload.
pub const FRAME_OVERHEAD: usize = 48;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widest_part_fits_a_browser_datagram_in_json() {
        let widest = Snapshot {
            seq: u64::MAX,
            part: u8::MAX,
            parts: u8::MAX,
            players: vec![(u16::MAX, i16::MIN, i16::MIN); PLAYERS_PER_PART],
        };
        let json = serde_json::to_vec(&widest).expect("a snapshot serializes");
        assert!(
            json.len() + FRAME_OVERHEAD <= quicket::BROWSER_DATAGRAM_LIMIT,
            "{} bytes of JSON",
            json.len()
        );
    }
}
