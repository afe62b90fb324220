//! Native bots: Rust clients over WebTransport that join a match and wander, steering by the
//! server's snapshots the way a player steers by the screen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use quicket::{Client, ConnectError, Data, FallbackConnector, FallbackOptions, ReconnectEvent};
use quicket_examples::game::{Input, JoinMatch, Joined, Snapshot, WORLD};
use quicket_examples::web::Rng;
use tokio::sync::Notify;

/// How often a bot sends its input.
const INPUT_EVERY: Duration = Duration::from_millis(100);
/// A bot keeps a heading this many inputs before it picks another.
const HEADING_INPUTS: u64 = 10;

/// Connects `count` bots to the server at `base` and starts them playing in `game`; returns
/// once every bot has joined.
pub(crate) async fn spawn(
    base: &str,
    count: usize,
    game: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let discovery = quicket::discover(base).await?;
    let connector = FallbackConnector::new(&discovery, &FallbackOptions::default())?;
    for n in 0..count {
        let bot = Bot::connect(&connector, n, game).await?;
        tokio::spawn(bot.play());
    }
    Ok(())
}

struct Bot {
    client: Client,
    join: JoinMatch,
    /// The bot's id in snapshots; `u32::MAX` until it has one.
    id: Arc<AtomicU32>,
    /// The bot's position in the newest snapshot, `x << 16 | y`.
    position: Arc<AtomicU32>,
    /// Signalled when a reconnection got a new session, which must join again.
    rejoin: Arc<Notify>,
    rng: Rng,
}

impl Bot {
    async fn connect(
        connector: &FallbackConnector,
        n: usize,
        game: &str,
    ) -> Result<Self, ConnectError> {
        let id = Arc::new(AtomicU32::new(u32::MAX));
        let position = Arc::new(AtomicU32::new(0));
        let rejoin = Arc::new(Notify::new());
        let (seen_id, seen_at) = (id.clone(), position.clone());
        let new_session = rejoin.clone();
        let client = Client::builder()
            .on("snap", move |Data(snap): Data<Snapshot>| {
                let me = seen_id.load(Ordering::Relaxed);
                if let Some(&(_, x, y)) = snap.players.iter().find(|p| u32::from(p.0) == me) {
                    seen_at.store(pack(x, y), Ordering::Relaxed);
                }
                async {}
            })
            .on_reconnect(move |event| {
                if matches!(
                    event,
                    ReconnectEvent::Reconnected {
                        recovered: false,
                        ..
                    }
                ) {
                    new_session.notify_one();
                }
            })
            .connect(connector)
            .await?;
        Ok(Self {
            client,
            join: JoinMatch {
                game: game.to_owned(),
                name: format!("bot-{n:02}"),
                bot: true,
            },
            id,
            position,
            rejoin,
            rng: Rng::new(n as u64 + 1),
        })
    }

    /// Joins, then steers until the client closes for good.
    async fn play(mut self) {
        if !self.enter().await {
            return;
        }
        let mut ticker = tokio::time::interval(INPUT_EVERY);
        let (mut seq, mut heading) = (0u32, (0i8, 0i8));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = self.rejoin.notified() => {
                    if !self.enter().await {
                        return;
                    }
                }
                _ = self.client.closed() => return,
            }
            if u64::from(seq) % HEADING_INPUTS == 0 {
                heading = self.pick_heading();
            }
            seq += 1;
            let input = Input {
                seq,
                dx: heading.0,
                dy: heading.1,
            };
            let _ = self.client.sequenced().emit("input", input);
        }
    }

    async fn enter(&mut self) -> bool {
        match self
            .client
            .emit_with_ack::<Joined>("join", &self.join)
            .await
        {
            Ok(joined) => {
                self.id.store(u32::from(joined.id), Ordering::Relaxed);
                true
            }
            Err(err) => {
                eprintln!("game: {} could not join: {err}", self.join.name);
                false
            }
        }
    }

    /// A random heading, turned away from a wall the bot is close to.
    fn pick_heading(&mut self) -> (i8, i8) {
        let (x, y) = unpack(self.position.load(Ordering::Relaxed));
        let axis = |at: i16, max: i16, rng: &mut Rng| -> i8 {
            if at < max / 8 {
                1
            } else if at > max - max / 8 {
                -1
            } else {
                [-1, 0, 1][usize::try_from(rng.below(3)).unwrap_or(0)]
            }
        };
        let dx = axis(x, WORLD.0, &mut self.rng);
        let dy = axis(y, WORLD.1, &mut self.rng);
        (dx, dy)
    }
}

fn pack(x: i16, y: i16) -> u32 {
    (u32::from(x.cast_unsigned()) << 16) | u32::from(y.cast_unsigned())
}

fn unpack(packed: u32) -> (i16, i16) {
    let x = u16::try_from(packed >> 16).unwrap_or(0).cast_signed();
    let y = u16::try_from(packed & 0xffff).unwrap_or(0).cast_signed();
    (x, y)
}
