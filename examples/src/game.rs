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

/// `input`, sequenced: the direction held. The server keeps the newest `seq` only, and answers
/// each newly applied one with `applied` (sequenced too), so a page can show its input lag.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Input {
    /// Increases with every input a client sends.
    pub seq: u32,
    /// -1, 0 or 1.
    pub dx: i8,
    /// -1, 0 or 1.
    pub dy: i8,
}

/// `snap`, a latest value per match: the match at one tick.
///
/// On WebTransport each snapshot takes a stream of its own, whatever its size, and the server
/// resets a snapshot's stream when the next tick's is out: a lost packet is never waited for.
/// A client never handles a snapshot older than one it drew.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The tick, increasing by one per tick of the match.
    pub seq: u64,
    /// `[id, x, y]` of each player.
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
