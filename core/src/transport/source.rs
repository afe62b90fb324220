//! Counting by source address, for per-source limits: what one client address may hold at
//! once (connections, handshakes in flight), so that one host cannot take what all share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The address a per-source limit counts under: an IPv4 address, or an IPv6 address's /64
/// prefix, since one subscriber typically holds a whole /64.
pub fn source_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// At most `max` slots held at once per source address.
#[derive(Debug)]
pub struct SourceLimit {
    max: usize,
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One slot of a [`SourceLimit`], given back on drop.
#[derive(Debug)]
pub struct SourceSlot {
    limit: Arc<SourceLimit>,
    source: IpAddr,
}

impl SourceLimit {
    /// A limit of `max` slots per source.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            held: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `addr`'s source, or `None` when it holds `max` already.
    pub fn take(self: &Arc<Self>, addr: IpAddr) -> Option<SourceSlot> {
        let source = source_key(addr);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(source).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            limit: Arc::clone(self),
            source,
        })
    }

    /// Slots `addr`'s source holds now.
    pub fn held(&self, addr: IpAddr) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.get(&source_key(addr)).copied().unwrap_or(0)
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut held = self
            .limit
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_source_holds_at_most_its_slots_and_gets_them_back_on_drop() {
        let limit = SourceLimit::new(2);
        let first = limit.take(ip("10.0.0.1")).unwrap();
        let _second = limit.take(ip("10.0.0.1")).unwrap();
        assert!(limit.take(ip("10.0.0.1")).is_none());
        assert!(limit.take(ip("10.0.0.2")).is_some(), "another source");
        drop(first);
        assert_eq!(limit.held(ip("10.0.0.1")), 1);
        assert!(limit.take(ip("10.0.0.1")).is_some());
    }

    #[test]
    fn ipv6_sources_count_by_their_64_prefix() {
        let a = ip("2001:db8:1:2:aaaa::1");
        let b = ip("2001:db8:1:2:bbbb::2");
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(ip("2001:db8:1:3::1")));
        assert_eq!(source_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        let limit = SourceLimit::new(1);
        let _held = limit.take(a).unwrap();
        assert!(limit.take(b).is_none(), "the same /64");
    }
}
