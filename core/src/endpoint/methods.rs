//! The methods `Socket` and `Client` share, generated into both.

/// The methods a server-side socket and a client share, written once. Both keep `id`, `core`
/// and `handlers` in `self.inner`.
macro_rules! endpoint_methods {
    ($owner:ident, $peer:literal) => {
        /// The connection's socket id, assigned by the server.
        pub fn id(&self) -> quicket_proto::SocketId {
            self.inner.id()
        }

        /// The transport carrying the connection.
        pub fn transport(&self) -> $crate::transport::TransportKind {
            self.inner.core.info().kind
        }

        #[doc = concat!("The ", $peer, "'s address now, where the transport has one. Over WebTransport it")]
        /// follows a migration (a NAT that rebinds, a device that changes networks); a
        /// socket's [`Handshake`](crate::Handshake) keeps the address it connected from.
        pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
            self.inner.core.peer_addr()
        }

        /// The connection's payload codec, chosen by the client.
        pub fn codec(&self) -> quicket_proto::PayloadCodec {
            self.inner.core.codec
        }

        #[doc = concat!("The last measured round trip to the ", $peer, ", once a ping has been answered.")]
        pub fn rtt(&self) -> Option<std::time::Duration> {
            self.inner.core.rtt()
        }

        #[doc = concat!("What is known of the network path to the ", $peer, " now: the round trip, and where")]
        /// the transport measures them (WebTransport) the congestion window, packets sent and
        /// lost, and the path MTU. `None` while nothing is known: a WebSocket before its
        /// first heartbeat's answer.
        pub fn path_stats(&self) -> Option<$crate::PathStats> {
            self.inner.core.path_stats()
        }

        /// The largest volatile frame that travels as a datagram right now; `None` when the
        /// transport has no datagrams. On WebTransport a larger volatile emit fails with
        /// `EmitError::DatagramTooLarge` (a browser would drop it without a trace) and a
        /// broadcast skips that socket; on a transport whose datagrams take no such stand, it
        /// takes the reliable channel unless that is congested.
        pub fn max_datagram_size(&self) -> Option<usize> {
            self.inner.core.datagrams().map(|datagrams| datagrams.max_size())
        }

        /// Handles the event `event` with `handler`, replacing any handler it had.
        pub fn on<H, Args>(&self, event: impl Into<String>, handler: H)
        where
            H: $crate::Handler<$owner, Args>,
            Args: 'static,
        {
            self.inner.handlers.on(event.into(), handler);
        }

        /// Removes the handler of `event`.
        pub fn off(&self, event: &str) {
            self.inner.handlers.off(event);
        }

        /// Handles every event that has no handler of its own; take
        /// [`EventName`]($crate::EventName) to learn which.
        pub fn on_fallback<H, Args>(&self, handler: H)
        where
            H: $crate::Handler<$owner, Args>,
            Args: 'static,
        {
            self.inner.handlers.on_fallback(handler);
        }

        #[doc = concat!("Emits an event to the ", $peer, ".")]
        pub fn emit(
            &self,
            event: &str,
            data: impl $crate::IntoPayload,
        ) -> Result<(), $crate::EmitError> {
            self.emit_reliable(event, &data)
        }

        #[doc = concat!("Emits an event and waits for the ", $peer, "'s acknowledgement, decoded as `R`.")]
        pub fn emit_with_ack<R>(
            &self,
            event: &str,
            data: impl $crate::IntoPayload,
        ) -> $crate::EmitWithAck<R> {
            self.inner.core.emit_with_ack(event, &data)
        }

        /// Emits that may be dropped under congestion, and travel as datagrams where they fit.
        pub fn volatile(&self) -> $crate::Classed<'_> {
            $crate::Classed::new(&self.inner.core, $crate::Delivery::Volatile)
        }

        /// Emits that are reliable while the connection lives but keep no order: over
        /// WebTransport each has a stream of its own, so a lost packet holds back that event
        /// alone. A resume does not replay them. Where they cannot travel so, they go in order.
        pub fn unordered(&self) -> $crate::Classed<'_> {
            $crate::Classed::new(&self.inner.core, $crate::Delivery::Unordered)
        }

        #[doc = concat!("Emits that may be dropped, and that the ", $peer, " never handles after a newer one of")]
        /// the same name: datagrams stamped with a sequence number (PROTOCOL.md section 2.3).
        pub fn sequenced(&self) -> $crate::Classed<'_> {
            $crate::Classed::new(&self.inner.core, $crate::Delivery::Sequenced)
        }

        /// Emits of a value that only its newest matters for, per event name and `key` (a
        /// game snapshot, a sensor's reading): over WebTransport from a server, each value has a
        /// stream of its own, which a newer one resets, so nobody waits for a stale value's
        /// retransmission; everywhere an older value is dropped once a newer one was handled.
        pub fn latest(&self, key: impl Into<String>) -> $crate::Classed<'_> {
            $crate::Classed::new(&self.inner.core, $crate::Delivery::Latest(key.into()))
        }
    };
}

pub(crate) use endpoint_methods;
