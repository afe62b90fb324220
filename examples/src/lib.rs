//! quicket's runnable examples: the chat (`--bin chat`, `--bin chat-cli`), the game
//! (`--bin game`), the IoT fleet (`--bin iot`, `--bin iot-devices`) and `examples/`.

pub mod game;
pub mod iot;
pub mod web;

/// What the chat server and its clients exchange.
pub mod chat {
    use serde::{Deserialize, Serialize};

    /// The one room of the chat.
    pub const ROOM: &str = "chat";

    /// A chat line.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Line {
        /// Who wrote it.
        pub from: String,
        /// What they wrote.
        pub text: String,
    }

    /// The reply to `join`.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Joined {
        /// The room joined.
        pub room: String,
        /// The transport the server sees the client on.
        pub transport: String,
    }

    /// The name a socket joined with, kept in its extensions.
    #[derive(Debug, Clone)]
    pub struct User(pub String);
}
