//! A lossy UDP relay on loopback: drops, duplicates and reorders packets in both directions,
//! from a seed, and counts what it did. QUIC's tests and the benchmark's `loss` and
//! `migration` scenarios put it between a client and a server. It can also move its
//! server-facing side to a new port mid-session, as a NAT that rebinds does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What the relay did to the packets it saw.
#[derive(Debug, Default)]
pub struct UdpRelayStats {
    /// Packets passed on as they came.
    pub forwarded: AtomicU64,
    /// Packets dropped.
    pub dropped: AtomicU64,
    /// Packets sent twice.
    pub duplicated: AtomicU64,
    /// Packets held back behind the next one.
    pub reordered: AtomicU64,
    /// Times the server-facing side moved to a new port.
    pub rebinds: AtomicU64,
}

/// A running relay between one client and a server.
pub struct UdpRelay {
    /// Where clients send to reach the server through the relay.
    pub addr: SocketAddr,
    /// What the relay did so far.
    pub stats: Arc<UdpRelayStats>,
    /// Where the server sees the client's packets come from now.
    outbound: Mutex<SocketAddr>,
    /// New server-facing sockets for the relay's task, each confirmed once in use.
    rebind: mpsc::Sender<(UdpSocket, oneshot::Sender<()>)>,
    task: JoinHandle<()>,
    server: SocketAddr,
}

impl UdpRelay {
    /// The relay's server-facing address: where the server sees the client's packets come
    /// from.
    pub fn outbound(&self) -> SocketAddr {
        *self.outbound.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the server-facing side to a fresh local port, as a NAT that loses its mapping
    /// and makes a new one: from now on the server sees the client's packets come from the
    /// returned address, and what it still sends to the old one is lost. The client's side is
    /// untouched.
    pub async fn rebind(&self) -> SocketAddr {
        let server = self.server;
        let back = bind_towards(server).await;
        let addr = back.local_addr().expect("a bound socket has an address");
        let (done_tx, done) = oneshot::channel();
        self.rebind
            .send((back, done_tx))
            .await
            .expect("the relay is running");
        done.await.expect("the relay is running");
        *self.outbound.lock().unwrap_or_else(PoisonError::into_inner) = addr;
        addr
    }
}

impl Drop for UdpRelay {
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
pub async fn start(server: SocketAddr, loss: f64, seed: u64) -> UdpRelay {
    let front = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a loopback UDP port");
    let mut back = bind_towards(server).await;
    let addr = front.local_addr().unwrap();
    let outbound = Mutex::new(back.local_addr().unwrap());
    let stats = Arc::new(UdpRelayStats::default());
    let counters = Arc::clone(&stats);
    let (rebind, mut rebinds) = mpsc::channel::<(UdpSocket, oneshot::Sender<()>)>(1);
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
                Some((socket, done)) = rebinds.recv() => {
                    // The old socket closes here: the server's packets to it go nowhere.
                    back = socket;
                    counters.rebinds.fetch_add(1, Ordering::Relaxed);
                    let _ = done.send(());
                }
            }
        }
    });
    UdpRelay {
        addr,
        stats,
        outbound,
        rebind,
        task,
        server,
    }
}

/// A fresh loopback UDP socket that talks to `server` only.
async fn bind_towards(server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("a loopback UDP port");
    socket
        .connect(server)
        .await
        .expect("a loopback UDP socket connects");
    socket
}

#[derive(Clone, Copy)]
enum Fate {
    Drop,
    Duplicate,
    Reorder,
    Forward,
}

fn fate(rng: &mut Rng, loss: f64, stats: &UdpRelayStats) -> Fate {
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
