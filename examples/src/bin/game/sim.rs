//! The authoritative simulation: the matches, their players, and one step of the world.

use std::collections::HashMap;

use quicket::SocketId;
use quicket_examples::game::{
    Input, Joined, MATCH_CAPACITY, MATCHES, MatchView, PlayerView, SPEED, Snapshot, TICK_HZ, WORLD,
};

/// Colours players get in turn, chosen to stand out on a dark field.
const PALETTE: [&str; 12] = [
    "#ff6b6b", "#ffd93d", "#6bcB77", "#4d96ff", "#c77dff", "#ff9f1c", "#2ec4b6", "#f15bb5",
    "#9ef01a", "#00bbf9", "#fee440", "#e76f51",
];

/// Every match on the server.
pub(crate) struct World {
    matches: Vec<Match>,
    next_id: u16,
}

struct Match {
    name: &'static str,
    seq: u64,
    players: HashMap<SocketId, Player>,
}

struct Player {
    id: u16,
    name: String,
    bot: bool,
    x: i16,
    y: i16,
    dx: i8,
    dy: i8,
    input_seq: u32,
    sent: u64,
}

/// Why a player could not join.
#[derive(Debug)]
pub(crate) enum JoinRefused {
    /// No match has that name.
    UnknownMatch,
    /// The match holds [`MATCH_CAPACITY`] players already.
    Full,
}

impl std::fmt::Display for JoinRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownMatch => write!(f, "no such match; there are {}", MATCHES.join(", ")),
            Self::Full => write!(f, "that match is full ({MATCH_CAPACITY} players)"),
        }
    }
}

impl World {
    /// The matches of [`MATCHES`], empty.
    pub(crate) fn new() -> Self {
        Self {
            matches: MATCHES
                .iter()
                .map(|&name| Match {
                    name,
                    seq: 0,
                    players: HashMap::new(),
                })
                .collect(),
            next_id: 1,
        }
    }

    /// Puts `sid` into match `game` (out of any other), at a spot of its own.
    pub(crate) fn join(
        &mut self,
        sid: SocketId,
        game: &str,
        name: &str,
        bot: bool,
    ) -> Result<(Joined, &'static str), JoinRefused> {
        let at = self
            .matches
            .iter()
            .position(|m| m.name == game)
            .ok_or(JoinRefused::UnknownMatch)?;
        let rejoin = self.matches[at].players.contains_key(&sid);
        if !rejoin && self.matches[at].players.len() >= MATCH_CAPACITY {
            return Err(JoinRefused::Full);
        }
        self.leave(sid);
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        let spot = u32::from(id).wrapping_mul(2_654_435_761);
        let player = Player {
            id,
            name: name.to_owned(),
            bot,
            x: clamp_to(spot % 1000, WORLD.0),
            y: clamp_to((spot >> 10) % 1000, WORLD.1),
            dx: 0,
            dy: 0,
            input_seq: 0,
            sent: 0,
        };
        let found = &mut self.matches[at];
        found.players.insert(sid, player);
        let joined = Joined {
            id,
            game: found.name.to_owned(),
            color: color_of(id).to_owned(),
            width: WORLD.0,
            height: WORLD.1,
            tick_hz: TICK_HZ,
        };
        Ok((joined, found.name))
    }

    /// Takes `sid` out of its match; the match it was in.
    pub(crate) fn leave(&mut self, sid: SocketId) -> Option<&'static str> {
        self.matches
            .iter_mut()
            .find_map(|m| m.players.remove(&sid).map(|_| m.name))
    }

    /// Applies `input` unless a newer one was applied already; whether it was. Inputs are
    /// sequenced, so the transport drops older ones; a client without the delivery classes
    /// sends them volatile, and those may arrive out of order.
    pub(crate) fn input(&mut self, sid: SocketId, input: Input) -> bool {
        let Some(player) = self
            .matches
            .iter_mut()
            .find_map(|m| m.players.get_mut(&sid))
        else {
            return false;
        };
        if input.seq <= player.input_seq {
            return false;
        }
        player.input_seq = input.seq;
        player.dx = input.dx.clamp(-1, 1);
        player.dy = input.dy.clamp(-1, 1);
        true
    }

    /// Moves every player one tick; each match with players and its snapshot.
    pub(crate) fn step(&mut self) -> Vec<(&'static str, Snapshot)> {
        let mut out = Vec::new();
        for game in &mut self.matches {
            if game.players.is_empty() {
                continue;
            }
            game.seq += 1;
            let mut players: Vec<(u16, i16, i16)> = game
                .players
                .values_mut()
                .map(|p| {
                    p.x = (p.x + i16::from(p.dx) * SPEED).clamp(0, WORLD.0);
                    p.y = (p.y + i16::from(p.dy) * SPEED).clamp(0, WORLD.1);
                    p.sent += 1;
                    (p.id, p.x, p.y)
                })
                .collect();
            players.sort_unstable_by_key(|&(id, ..)| id);
            let snapshot = Snapshot {
                seq: game.seq,
                players,
            };
            out.push((game.name, snapshot));
        }
        out
    }

    /// Every match and its players, for `GET /api/matches`.
    pub(crate) fn view(&self) -> Vec<MatchView> {
        self.matches
            .iter()
            .map(|m| {
                let mut players: Vec<PlayerView> = m
                    .players
                    .values()
                    .map(|p| PlayerView {
                        id: p.id,
                        name: p.name.clone(),
                        x: p.x,
                        y: p.y,
                        bot: p.bot,
                        sent: p.sent,
                        input_seq: p.input_seq,
                    })
                    .collect();
                players.sort_unstable_by_key(|p| p.id);
                MatchView {
                    name: m.name.to_owned(),
                    seq: m.seq,
                    players,
                }
            })
            .collect()
    }
}

/// The colour of player `id`.
pub(crate) fn color_of(id: u16) -> &'static str {
    PALETTE[usize::from(id) % PALETTE.len()]
}

/// `value` scaled from `0..1000` onto `0..=max`, away from the walls.
fn clamp_to(value: u32, max: i16) -> i16 {
    let margin = 40;
    let span = u32::try_from(max - 2 * margin).unwrap_or(1).max(1);
    margin + i16::try_from(value * span / 1000).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_input_does_not_undo_a_newer_one() {
        let mut world = World::new();
        let sid = SocketId::from_bytes([1; 16]);
        world
            .join(sid, "arena", "ada", false)
            .expect("arena exists");
        world.input(
            sid,
            Input {
                seq: 2,
                dx: 1,
                dy: 0,
            },
        );
        world.input(
            sid,
            Input {
                seq: 1,
                dx: -1,
                dy: 0,
            },
        );
        let before = world.view()[0].players[0].x;
        world.step();
        assert_eq!(world.view()[0].players[0].x, before + SPEED);
    }
}
