//! Micro-benchmarks of the hot paths: frame encode and decode, a broadcast encoded once for
//! 1,000 sockets, room membership lookups, and an acknowledged emit's bookkeeping.
//!
//! `cargo bench -p quicket-bench --bench micro`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // Benchmark code.

use std::future::IntoFuture;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use quicket::transport::memory::{self, MemoryConfig};
use quicket::{AckSender, Client, ConnectionLimits, Data, Raw, Server, ServerConfig, Socket};
use quicket_proto::{Frame, codec};

fn frames(c: &mut Criterion) {
    let payload = [7u8; 32];
    c.bench_function("encode an event (32-byte payload)", |b| {
        b.iter(|| codec::encode_event(black_box("chat"), None, black_box(&payload)));
    });
    let encoded = codec::encode_event("chat", Some(42), &payload);
    c.bench_function("decode an event (32-byte payload)", |b| {
        b.iter(|| codec::decode(black_box(&encoded)).unwrap());
    });
    let ping = codec::encode(&Frame::Ping(quicket_proto::Ping { id: 7 }));
    c.bench_function("decode a ping", |b| {
        b.iter(|| codec::decode(black_box(&ping)).unwrap());
    });
}

/// A server with `n` memory-transport clients in room `r`, and a runtime to drive them; the
/// clients count the `tick`s they receive.
fn room_of(n: usize, ticks: &Arc<AtomicU64>) -> (tokio::runtime::Runtime, Server, Vec<Client>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Each measured batch queues up to its size per socket before the clients drain it.
    let limits = ConnectionLimits::default()
        .max_queued_frames(1 << 16)
        .max_queued_bytes(256 << 20);
    let config = ServerConfig::default().limits(limits);
    let server = Server::builder()
        .config(config)
        .on_connect(|socket: Socket| async move {
            socket.join("r").unwrap();
            socket.on("echo", |Data(data): Data<Raw>, ack: AckSender| async move {
                let _ = ack.send(data);
            });
        })
        .build();
    let (listener, connector) = memory::pipe(MemoryConfig::default());
    let clients = runtime.block_on(async {
        server.listen(listener);
        let mut clients = Vec::with_capacity(n);
        for _ in 0..n {
            let ticks = Arc::clone(ticks);
            let client = Client::builder()
                .on("tick", move |_: Data<Raw>| {
                    ticks.fetch_add(1, Ordering::Relaxed);
                    async {}
                })
                .connect(&connector)
                .await
                .unwrap();
            clients.push(client);
        }
        // Each socket joins in its connect handler, which may still be running.
        while server.to("r").sockets().await.len() < n {
            tokio::task::yield_now().await;
        }
        clients
    });
    (runtime, server, clients)
}

fn broadcast(c: &mut Criterion) {
    let ticks = Arc::new(AtomicU64::new(0));
    let (runtime, server, clients) = room_of(1_000, &ticks);
    let payload = Raw(bytes::Bytes::from_static(&[7u8; 32]));
    let mut group = c.benchmark_group("broadcast");
    // One emit encodes once per codec and pushes the shared bytes into 1,000 queues. Only the
    // emits are timed; after each batch the clients drain their queues untimed.
    group.bench_function("to a room of 1,000 (encode once, 1,000 pushes)", |b| {
        b.iter_custom(|iters| {
            let expected = ticks.load(Ordering::Relaxed) + iters * 1_000;
            // Emitted from a worker thread, as a handler would: waking a socket's driver is then
            // a local queue push, not a cross-thread injection.
            let (server, payload) = (server.clone(), payload.clone());
            let took = runtime
                .block_on(runtime.spawn(async move {
                    let started = Instant::now();
                    for _ in 0..iters {
                        let reached = server.to("r").emit("tick", payload.clone()).unwrap();
                        assert_eq!(reached, 1_000);
                    }
                    started.elapsed()
                }))
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            while ticks.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
                std::thread::yield_now();
            }
            took
        });
    });
    group.bench_function("room membership: the sockets of a room of 1,000", |b| {
        b.iter(|| runtime.block_on(server.to("r").sockets()).len());
    });
    group.finish();
    drop(clients);
}

fn acks(c: &mut Criterion) {
    let (runtime, _server, clients) = room_of(1, &Arc::new(AtomicU64::new(0)));
    let client = &clients[0];
    let payload = Raw(bytes::Bytes::from_static(&[7u8; 32]));
    c.bench_function(
        "emit_with_ack round trip in process (ack id, table, reply)",
        |b| {
            b.iter(|| {
                let reply = client.emit_with_ack::<Raw>("echo", payload.clone());
                runtime.block_on(reply.into_future()).unwrap()
            });
        },
    );
}

criterion_group!(benches, frames, broadcast, acks);
criterion_main!(benches);
