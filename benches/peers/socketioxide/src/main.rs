//! The socketioxide server of the benchmark: the events of `benches/peers/socketio-server.mjs`
//! (`echo` with an ack, `join`, `publish` to a room), on 127.0.0.1 at the port given as the
//! first argument (0 for a free one). Prints `listening <port>` when ready.

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |Data(data): Data<Value>, ack: AckSender| {
            let _ = ack.send(&data);
        });
        socket.on(
            "join",
            async |socket: SocketRef, Data(room): Data<String>, ack: AckSender| {
                socket.join(room);
                let _ = ack.send(&true);
            },
        );
        socket.on(
            "publish",
            async |socket: SocketRef, Data(message): Data<Value>, ack: AckSender| {
                let room = message["room"].as_str().unwrap_or("bench").to_owned();
                let _ = socket.to(room).emit("msg", &message["data"]).await;
                let _ = ack.send(&true);
            },
        );
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening {}", listener.local_addr()?.port());
    axum::serve(listener, app).await?;
    Ok(())
}
