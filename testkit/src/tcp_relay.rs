//! A TCP relay on loopback that can break every connection through it: with an RST, as a NAT
//! that forgets its mappings or a crashed middlebox would, or with a FIN and nothing before it,
//! as the kernel closes the sockets of a crashed process. WebSocket's recovery tests and the
//! benchmark's `migration` scenario put it between a client and a server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A running TCP relay to one server; it accepts any number of connections.
pub struct TcpRelay {
    /// Where clients connect to reach the server through the relay.
    pub addr: SocketAddr,
    /// Connections broken so far, by either kind of cut.
    pub broken: Arc<AtomicU64>,
    /// Bumped by each cut, with how it breaks every connection open before it.
    cuts: watch::Sender<(u64, Ending)>,
    task: JoinHandle<()>,
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a cut ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// An RST to both sides.
    Reset,
    /// A FIN to both sides, with no WebSocket close frame before it.
    Fin,
}

impl TcpRelay {
    /// Resets both sides of every connection open now; later connections go through.
    pub fn cut(&self) {
        self.cuts
            .send_modify(|(cuts, ending)| (*cuts, *ending) = (*cuts + 1, Ending::Reset));
    }

    /// Closes both sides of every connection open now with a FIN; later connections go through.
    pub fn end(&self) {
        self.cuts
            .send_modify(|(cuts, ending)| (*cuts, *ending) = (*cuts + 1, Ending::Fin));
    }
}

/// Starts a relay to `upstream`.
pub async fn start(upstream: SocketAddr) -> TcpRelay {
    let front = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback TCP port");
    let addr = front.local_addr().expect("a bound listener has an address");
    let (cuts, _) = watch::channel((0, Ending::Reset));
    let broken = Arc::new(AtomicU64::new(0));
    let (watcher, counter) = (cuts.clone(), Arc::clone(&broken));
    let task = tokio::spawn(async move {
        // Dropped with the task: aborting the relay aborts every connection.
        let mut connections = JoinSet::new();
        while let Ok((client, _)) = front.accept().await {
            while connections.try_join_next().is_some() {}
            let cut = watcher.subscribe();
            connections.spawn(pass(client, upstream, cut, Arc::clone(&counter)));
        }
    });
    TcpRelay {
        addr,
        broken,
        cuts,
        task,
    }
}

/// Copies both ways until either side closes or the relay cuts.
async fn pass(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<(u64, Ending)>,
    broken: Arc<AtomicU64>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    // Small frames go on at once, as they would without the relay: Nagle's wait for the
    // peer's delayed ACK would add tens of milliseconds to a resume.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let ending = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => None,
        changed = cut.changed() => changed.ok().map(|()| cut.borrow().1),
    };
    match ending {
        None => return,
        // A zero linger makes the close an RST; dropping the sockets as they are sends a FIN.
        Some(Ending::Reset) => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
        Some(Ending::Fin) => {
            // Dropping a socket with unread bytes sends an RST: send the FIN first, then read
            // until each peer has closed in turn.
            let _ = tokio::join!(finish(&mut client), finish(&mut server));
        }
    }
    broken.fetch_add(1, Ordering::Relaxed);
}

/// Sends a FIN and discards what the peer still sends until it closes too.
async fn finish(socket: &mut TcpStream) {
    let _ = socket.shutdown().await;
    let mut sink = tokio::io::sink();
    let _ = tokio::time::timeout(Duration::from_secs(5), tokio::io::copy(socket, &mut sink)).await;
}
