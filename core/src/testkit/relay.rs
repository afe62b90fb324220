//! A lossy UDP relay on loopback: drops, duplicates and reorders packets in both directions,
//! from a seed, and counts what it did. QUIC's tests and the benchmark's `loss` scenario put it
//! between a client and a server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// What the relay did to the packets it saw.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Packets passed on as they came.
    pub forwarded: AtomicU64,
    /// Packets dropped.
    pub dropped: AtomicU64,
    /// Packets sent twice.
    pub duplicated: AtomicU64,
    /// Packets held back behind the next one.
    pub reordered: AtomicU64,
}

/// A running relay between one client and a server.
pub struct Relay {
    /// Where clients send to reach the server through the relay.
    pub addr: SocketAddr,
    /// What the relay did so far.
    pub stats: Arc<RelayStats>,
    task: JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// xorshift64*: deterministic for a seed, good enough to pick packets.
struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Starts a relay to `server` that loses `loss` of the packets each way (0.0 to 1.0), and
/// duplicates and reorders half as many each.
pub async fn start(server: SocketAddr, loss: f64, seed: u64) -> Relay {
    let front = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a loopback UDP port");
    let back = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a loopback UDP port");
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    let stats = Arc::new(RelayStats::default());
    let counters = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        let mut rng = Rng(seed | 1);
        let mut client = None;
        let (mut up, mut down) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        let (mut held_up, mut held_down): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
        loop {
            tokio::select! {
                Ok((n, from)) = front.recv_from(&mut up) => {
                    client = Some(from);
                    let packet = up[..n].to_vec();
                    let fate = fate(&mut rng, loss, &counters);
                    for p in deliver(fate, packet, &mut held_up) {
                        let _ = back.send(&p).await;
                    }
                }
                Ok(n) = back.recv(&mut down) => {
                    let Some(client) = client else { continue };
                    let packet = down[..n].to_vec();
                    let fate = fate(&mut rng, loss, &counters);
                    for p in deliver(fate, packet, &mut held_down) {
                        let _ = front.send_to(&p, client).await;
                    }
                }
            }
        }
    });
    Relay { addr, stats, task }
}

#[derive(Clone, Copy)]
enum Fate {
    Drop,
    Duplicate,
    Reorder,
    Forward,
}

fn fate(rng: &mut Rng, loss: f64, stats: &RelayStats) -> Fate {
    let roll = rng.unit();
    let fate = if roll < loss {
        Fate::Drop
    } else if roll < loss * 1.5 {
        Fate::Duplicate
    } else if roll < loss * 2.0 {
        Fate::Reorder
    } else {
        Fate::Forward
    };
    let counter = match fate {
        Fate::Drop => &stats.dropped,
        Fate::Duplicate => &stats.duplicated,
        Fate::Reorder => &stats.reordered,
        Fate::Forward => &stats.forwarded,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    fate
}

/// The packets to send now for a packet of this fate; a reordered packet waits for the next.
fn deliver(fate: Fate, packet: Vec<u8>, held: &mut Option<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out = match fate {
        Fate::Drop => return Vec::new(),
        Fate::Duplicate => vec![packet.clone(), packet],
        Fate::Reorder => return held.replace(packet).into_iter().collect(),
        Fate::Forward => vec![packet],
    };
    out.extend(held.take());
    out
}
