//! Failed logins counted per key in a window, in bounded memory. A key is 16 bytes: a client
//! address (see `address_key`) or an HMAC of user name and address (long names cost no memory).

use std::collections::HashMap;
use std::net::IpAddr;

/// Keys tracked per table at most: about 3 MiB each when full, whatever the flood.
pub const MAX_TRACKED: usize = 1 << 16;

pub type Key = [u8; 16];

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// The first failure of the current window (microseconds).
    since: i64,
}

/// Failures per key within `window` microseconds of the key's first failure; at `limit`, the
/// key is blocked until the window ends.
#[derive(Debug)]
pub struct Table {
    limit: u32,
    window: i64,
    cap: usize,
    map: HashMap<Key, Entry>,
    /// When full, expired entries are swept at most this often, so a full table stays linear.
    next_sweep: i64,
}

impl Table {
    pub fn new(limit: u32, window_micros: i64, cap: usize) -> Self {
        Self {
            limit: limit.max(1),
            window: window_micros.max(1),
            cap: cap.max(1),
            map: HashMap::new(),
            next_sweep: i64::MIN,
        }
    }

    /// Whole seconds until `key` may try again, when it used up its failures in this window.
    pub fn blocked(&self, key: &Key, now: i64) -> Option<u64> {
        let e = self.map.get(key)?;
        let end = e.since.saturating_add(self.window);
        (e.failures >= self.limit && now < end).then(|| ((end - now) as u64).div_ceil(1_000_000))
    }

    pub fn fail(&mut self, key: Key, now: i64) {
        if !self.map.contains_key(&key) {
            self.make_room(now);
        }
        let window = self.window;
        let e = self.map.entry(key).or_insert(Entry {
            failures: 0,
            since: now,
        });
        if now >= e.since.saturating_add(window) {
            *e = Entry {
                failures: 0,
                since: now,
            };
        }
        e.failures = e.failures.saturating_add(1);
    }

    pub fn clear(&mut self, key: &Key) {
        self.map.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }

    /// Sweeps expired entries (at most once per 1/16 window); if the table is still full, one
    /// entry goes, whichever the map yields first: memory stays bounded, and a flood of new
    /// keys mostly evicts the flood's own.
    fn make_room(&mut self, now: i64) {
        if self.map.len() < self.cap {
            return;
        }
        if now >= self.next_sweep {
            let window = self.window;
            self.map.retain(|_, e| now < e.since.saturating_add(window));
            self.next_sweep = now.saturating_add(window / 16);
        }
        if self.map.len() >= self.cap {
            if let Some(k) = self.map.keys().next().copied() {
                self.map.remove(&k);
            }
        }
    }
}

/// The key of a client address: IPv4 as itself (also when IPv4-mapped), IPv6 by its /64, since
/// one host commonly holds a whole /64.
pub fn address_key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => {
                let mut k = v6.octets();
                k[8..].fill(0);
                k
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn key(n: u32) -> Key {
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&n.to_be_bytes());
        k
    }

    #[test]
    fn blocks_at_the_limit_until_the_window_ends() {
        let mut t = Table::new(3, 60 * S, 100);
        for _ in 0..2 {
            t.fail(key(1), 0);
        }
        assert_eq!(t.blocked(&key(1), S), None);
        t.fail(key(1), S);
        assert_eq!(
            t.blocked(&key(1), S),
            Some(59),
            "the window runs from the first failure"
        );
        assert_eq!(t.blocked(&key(1), 59 * S + 1), Some(1));
        assert_eq!(t.blocked(&key(2), S), None, "other keys are not affected");
        assert_eq!(t.blocked(&key(1), 60 * S), None, "the window has ended");
    }

    #[test]
    fn a_failure_after_the_window_starts_a_new_one() {
        let mut t = Table::new(2, 10 * S, 100);
        t.fail(key(1), 0);
        t.fail(key(1), 11 * S);
        assert_eq!(
            t.blocked(&key(1), 11 * S),
            None,
            "the first failure expired"
        );
        t.fail(key(1), 12 * S);
        assert_eq!(t.blocked(&key(1), 12 * S), Some(9));
    }

    #[test]
    fn clear_forgets_the_failures() {
        let mut t = Table::new(1, 10 * S, 100);
        t.fail(key(1), 0);
        assert!(t.blocked(&key(1), 0).is_some());
        t.clear(&key(1));
        assert_eq!(t.blocked(&key(1), 0), None);
    }

    #[test]
    fn memory_is_bounded_and_expired_entries_go_first() {
        let mut t = Table::new(1, 10 * S, 8);
        for n in 0..8 {
            t.fail(key(n), 0);
        }
        t.fail(key(100), 0);
        assert_eq!(t.len(), 8, "full: one entry made room");
        // Once the first ones expired, a newcomer sweeps them all instead of evicting a live one.
        t.fail(key(200), 10 * S);
        assert_eq!(t.len(), 1);
        assert!(t.blocked(&key(200), 10 * S).is_some());
        for n in 0..10_000 {
            t.fail(key(1000 + n), 11 * S);
        }
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn addresses_group_ipv6_by_64_and_unmap_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), address_key(mapped));
        assert_ne!(address_key(v4), address_key("192.0.2.8".parse().unwrap()));
    }
}
