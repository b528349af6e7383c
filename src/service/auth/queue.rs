//! Admission to the argon2 queue. A flood must neither make valid users wait without bound nor
//! lock them out: one address has at most `PER_ADDRESS` verifications under way, at most
//! `max` wait in all, and an address a user logged in from recently (the SIEMs and SOCs that
//! use the server) is admitted even when the queue is full, to wait at most `max` verifications.

use super::throttle::Key;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Verifications one address may have waiting or running at once.
pub const PER_ADDRESS: u32 = 4;
/// How long a successful login vouches for its address, and how many addresses are kept.
const VOUCH_TTL: Duration = Duration::from_secs(24 * 3600);
const VOUCHED_MAX: usize = 4096;

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// This address already has `PER_ADDRESS` verifications under way.
    Address,
    /// The queue is full and this address is not vouched for.
    Full,
}

#[derive(Default)]
struct State {
    per_address: HashMap<Key, u32>,
    waiting: usize,
    vouched: HashMap<Key, Instant>,
}

pub struct Queue {
    max: usize,
    state: Mutex<State>,
}

/// A place in the queue: released when dropped; `started` gives back the waiting part.
pub struct Place<'a> {
    queue: &'a Queue,
    address: Key,
    waiting: bool,
}

impl Queue {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Also after a panic poisoned it: each section is a few counter and map updates that
        // cannot panic halfway, so the counts stay consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `address` would be admitted now: refusing before the database read spares the
    /// reads a flood would otherwise queue in front of valid users' logins.
    pub fn check(&self, address: &Key) -> Result<(), Refusal> {
        self.refusal(&self.lock(), address).map_or(Ok(()), Err)
    }

    fn refusal(&self, s: &State, address: &Key) -> Option<Refusal> {
        if s.per_address.get(address).copied().unwrap_or(0) >= PER_ADDRESS {
            return Some(Refusal::Address);
        }
        let vouched = s
            .vouched
            .get(address)
            .is_some_and(|at| at.elapsed() < VOUCH_TTL);
        (s.waiting >= self.max && !vouched).then_some(Refusal::Full)
    }

    pub fn admit(&self, address: Key) -> Result<Place<'_>, Refusal> {
        let mut s = self.lock();
        if let Some(r) = self.refusal(&s, &address) {
            return Err(r);
        }
        s.waiting += 1;
        *s.per_address.entry(address).or_default() += 1;
        Ok(Place {
            queue: self,
            address,
            waiting: true,
        })
    }

    /// A user logged in from `address`.
    pub fn vouch(&self, address: Key) {
        let mut s = self.lock();
        if s.vouched.len() >= VOUCHED_MAX && !s.vouched.contains_key(&address) {
            s.vouched.retain(|_, at| at.elapsed() < VOUCH_TTL);
            if s.vouched.len() >= VOUCHED_MAX {
                return;
            }
        }
        s.vouched.insert(address, Instant::now());
    }
}

impl Place<'_> {
    /// The verification got its slot: it no longer counts as waiting.
    pub fn started(&mut self) {
        if std::mem::take(&mut self.waiting) {
            self.queue.lock().waiting -= 1;
        }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut s = self.queue.lock();
        if self.waiting {
            s.waiting -= 1;
        }
        if let Some(n) = s.per_address.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                s.per_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> Key {
        [n; 16]
    }

    #[test]
    fn one_address_holds_at_most_per_address_places() {
        let q = Queue::new(100);
        let places: Vec<_> = (0..PER_ADDRESS)
            .map(|_| q.admit(addr(1)).unwrap())
            .collect();
        assert_eq!(q.admit(addr(1)).err(), Some(Refusal::Address));
        assert!(q.admit(addr(2)).is_ok(), "other addresses still get in");
        drop(places);
        assert!(q.admit(addr(1)).is_ok());
        assert!(
            q.lock().per_address.is_empty(),
            "released places leave nothing behind"
        );
    }

    /// A panic while the queue was locked (poisoning it) must not make every later login panic.
    #[test]
    fn a_poisoned_queue_still_admits_and_releases() {
        let q = Queue::new(2);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = q.lock();
            panic!("a panic while the queue is locked");
        }));
        assert!(q.state.is_poisoned());
        let place = q.admit(addr(1)).unwrap();
        q.vouch(addr(1));
        assert_eq!(q.check(&addr(1)), Ok(()));
        drop(place);
        assert!(q.lock().per_address.is_empty() && q.lock().waiting == 0);
    }

    #[test]
    fn a_full_queue_admits_only_vouched_addresses() {
        let q = Queue::new(2);
        let mut a = q.admit(addr(1)).unwrap();
        let _b = q.admit(addr(2)).unwrap();
        assert_eq!(q.admit(addr(3)).err(), Some(Refusal::Full));
        assert_eq!(q.check(&addr(3)), Err(Refusal::Full));
        q.vouch(addr(3));
        assert_eq!(q.check(&addr(3)), Ok(()));
        assert!(q.admit(addr(3)).is_ok());
        // A started verification no longer waits: its place in the queue is free.
        a.started();
        assert!(q.admit(addr(4)).is_ok());
    }
}
