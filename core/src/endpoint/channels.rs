//! Which ordered channel a room's events take (PROTOCOL.md section 2.2).
//!
//! Each room gets a channel of its own, in the order rooms first send, until the session's
//! grant is used up; later rooms share the granted channels by a hash of their name. A room
//! keeps its channel for the whole session, so its events stay in order across resumes.

use std::hash::{Hash, Hasher};

/// The most channels a session may be granted, whatever is configured: a resume offers an
/// offset for each, and the server keeps a count of each.
pub(crate) const MAX_CHANNELS: u16 = 256;

/// A room, as the channel map knows it: its name's hash, computed once per broadcast rather
/// than once per recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChannelKey(u64);

impl ChannelKey {
    /// The key of the room named `room`: the same on every node and in every process.
    pub(crate) fn of(room: &str) -> Self {
        // SipHash with fixed keys: stable, unlike a `RandomState`, so every node agrees.
        let mut hasher = std::hash::DefaultHasher::new();
        room.hash(&mut hasher);
        Self(hasher.finish())
    }
}

/// The channels one session's rooms were given.
#[derive(Debug, Default)]
pub(crate) struct ChannelMap {
    granted: u16,
    /// The rooms given channels 1, 2, … in that order.
    assigned: Vec<ChannelKey>,
}

impl ChannelMap {
    /// Allows up to `granted` channels, for a new session: no room has one yet.
    pub(crate) fn grant(&mut self, granted: u16) {
        self.granted = granted.min(MAX_CHANNELS);
        self.assigned.clear();
    }

    pub(crate) fn granted(&self) -> u16 {
        self.granted
    }

    /// The channel for the room `key` names; 0 without a room or a grant.
    pub(crate) fn channel_for(&mut self, key: Option<ChannelKey>) -> u16 {
        let Some(key) = key.filter(|_| self.granted > 0) else {
            return 0;
        };
        if let Some(index) = self.assigned.iter().position(|room| *room == key) {
            return channel_number(index);
        }
        if self.assigned.len() < usize::from(self.granted) {
            self.assigned.push(key);
            return channel_number(self.assigned.len() - 1);
        }
        let shared = key.0 % u64::from(self.granted);
        channel_number(usize::try_from(shared).unwrap_or(0))
    }
}

/// Channel numbers start at 1; `index` is below the grant, itself a `u16`.
fn channel_number(index: usize) -> u16 {
    u16::try_from(index + 1).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_get_channels_of_their_own_until_the_grant_then_share_them() {
        let mut map = ChannelMap::default();
        map.grant(2);
        let (a, b, c) = (
            ChannelKey::of("a"),
            ChannelKey::of("b"),
            ChannelKey::of("c"),
        );
        assert_eq!(map.channel_for(Some(a)), 1);
        assert_eq!(map.channel_for(Some(b)), 2);
        assert_eq!(map.channel_for(Some(a)), 1, "a room keeps its channel");
        let shared = map.channel_for(Some(c));
        assert!(shared == 1 || shared == 2, "past the grant: {shared}");
        assert_eq!(map.channel_for(Some(c)), shared, "and keeps the shared one");
        assert_eq!(map.channel_for(None), 0, "no room: channel 0");
    }

    #[test]
    fn without_a_grant_everything_takes_channel_0() {
        let mut map = ChannelMap::default();
        assert_eq!(map.channel_for(Some(ChannelKey::of("a"))), 0);
        map.grant(u16::MAX);
        assert_eq!(map.granted(), MAX_CHANNELS, "capped");
    }
}
