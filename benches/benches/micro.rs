//! Micro-benchmarks of the hot paths: frame encode and decode, a broadcast encoded once for
//! 1,000 sockets, room membership lookups, and an acknowledged emit's bookkeeping.
//!
//! `cargo bench -p quicket-bench --bench micro`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)] // Benchmark code.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use quicket::transport::memory::{self, MemoryConfig};
use quicket::{AckSender, Client, Data, Raw, Server, Socket};
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
    c.bench_function("decode a ping", |b| b.iter(|| codec::decode(black_box(&ping)).unwrap()));
}

/// A server with `n` memory-transport clients in room `r`, and a runtime to drive them.
fn room_of(n: usize) -> (tokio::runtime::Runtime, Server, Vec<Client>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Server::builder()
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
            clients.push(Client::builder().connect(&connector).await.unwrap());
        }
        clients
    });
    (runtime, server, clients)
}

fn broadcast(c: &mut Criterion) {
    let (runtime, server, clients) = room_of(1_000);
    let payload = Raw(bytes::Bytes::from_static(&[7u8; 32]));
    let mut group = c.benchmark_group("broadcast");
    group.measurement_time(Duration::from_secs(5));
    // One emit encodes once per codec and pushes the shared bytes into 1,000 queues; the
    // clients drain them meanwhile on the runtime's threads.
    group.bench_function("to a room of 1,000 (encode once, 1,000 pushes)", |b| {
        let _guard = runtime.enter();
        b.iter(|| {
            let reached = server.to("r").emit("tick", &payload).unwrap();
            assert_eq!(reached, 1_000);
        });
    });
    group.bench_function("room membership: the sockets of a room of 1,000", |b| {
        b.iter(|| runtime.block_on(server.to("r").sockets()).len());
    });
    group.finish();
    drop(clients);
}

fn acks(c: &mut Criterion) {
    let (runtime, _server, clients) = room_of(1);
    let client = &clients[0];
    let payload = Raw(bytes::Bytes::from_static(&[7u8; 32]));
    c.bench_function("emit_with_ack round trip in process (ack id, table, reply)", |b| {
        b.iter(|| runtime.block_on(client.emit_with_ack::<Raw>("echo", &payload)).unwrap());
    });
}

criterion_group!(benches, frames, broadcast, acks);
criterion_main!(benches);
