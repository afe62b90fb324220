//! A TCP relay on loopback that can reset every connection through it (RST, not FIN), as a NAT
//! that forgets its mappings or a crashed middlebox would. WebSocket's recovery test and the
//! benchmark's `migration` scenario put it between a client and a server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A running TCP relay to one server; it accepts any number of connections.
pub struct TcpRelay {
    /// Where clients connect to reach the server through the relay.
    pub addr: SocketAddr,
    /// Connections reset so far.
    pub resets: Arc<AtomicU64>,
    /// Bumped by each cut; every connection open before it resets.
    cuts: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TcpRelay {
    /// Resets both sides of every connection open now; later connections go through.
    pub fn cut(&self) {
        self.cuts.send_modify(|cuts| *cuts += 1);
    }
}

/// Starts a relay to `upstream`.
pub async fn start(upstream: SocketAddr) -> TcpRelay {
    let front = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback TCP port");
    let addr = front.local_addr().expect("a bound listener has an address");
    let (cuts, _) = watch::channel(0);
    let resets = Arc::new(AtomicU64::new(0));
    let (watcher, counter) = (cuts.clone(), Arc::clone(&resets));
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
        resets,
        cuts,
        task,
    }
}

/// Copies both ways until either side closes or the relay cuts.
async fn pass(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<u64>,
    resets: Arc<AtomicU64>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    // Small frames go on at once, as they would without the relay: Nagle's wait for the
    // peer's delayed ACK would add tens of milliseconds to a resume.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let reset = tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
        changed = cut.changed() => changed.is_ok(),
    };
    if reset {
        // A zero linger makes the close an RST.
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
        resets.fetch_add(1, Ordering::Relaxed);
    }
}
