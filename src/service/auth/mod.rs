//! HTTP Basic credentials checked against argon2id hashes. argon2 costs tens of milliseconds by
//! design and SIEMs send credentials with every poll, so a success is remembered briefly, keyed by
//! an HMAC (per-process key) of user and password; the password itself is never kept. An entry
//! only counts while the stored hash is unchanged. Failures are never cached.
//!
//! Under attack: a remembered success is answered before anything else, so a flood never slows
//! or refuses it. Failures are counted per (user name, client address) and per client address;
//! past either limit the attempt gets 429 without running argon2. Counting by name alone would
//! let an attacker anywhere lock a user out, so a user whose name is under attack from elsewhere
//! still logs in from its own address. At most `QUEUED_PER_SLOT` verifications per core wait for
//! a slot, and one address has at most `queue::PER_ADDRESS` under way; beyond that the login is
//! refused (429, retry in a second) rather than queued forever, unless a user logged in from
//! its address recently (see `queue`).

mod argon;
mod queue;
mod throttle;
pub mod token;

use crate::ids::{PartnerId, UserName};
use argon::{costs_of, dummy_params, Job};

use super::ServiceError;
use crate::clock::Clock;
use crate::policy::Principal;
use crate::storage::models::UserRow;
use crate::storage::{setup, Conn, Storage, StorageError};
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, Block, Params};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use throttle::Table;
use tokio::sync::{OnceCell, Semaphore};

const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 10_000;
/// Verifications that may wait per verifying slot: a login waits at most this many argon2 runs.
const QUEUED_PER_SLOT: usize = 8;
/// How long the costs of the stored hashes (for unknown names) are trusted before re-reading.
const COSTS_TTL: Duration = Duration::from_secs(60);

struct Entry {
    user: String,
    password_hash: String,
    expires: Instant,
}

/// Credentials as sent, not yet checked, and the address they came from.
#[derive(Clone)]
pub struct Credentials {
    /// Empty for a bearer token, which names its user itself.
    pub user: String,
    /// A password, or an API token (as the password of Basic, or as a bearer token).
    pub password: String,
    pub client: Option<IpAddr>,
    pub scheme: Scheme,
}

/// How the credentials came: `Authorization: Basic`, or `Bearer`/`Token` (a token alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Basic,
    Bearer,
}

impl Credentials {
    /// An API token and, for Basic, the user it must belong to. A Basic password shaped like a
    /// token (`cairn_<id>_<secret>`) is taken for one.
    fn token(&self) -> Option<(&str, Option<&str>)> {
        match self.scheme {
            Scheme::Bearer => Some((&self.password, None)),
            Scheme::Basic => {
                token::split(&self.password).map(|_| (&*self.password, Some(&*self.user)))
            }
        }
    }
}

/// Token uses are recorded at most this often per token (a write per poll would be too many).
const TOKEN_USE_GRAIN: i64 = 60_000_000;

/// Failed logins allowed within `window` before further attempts are refused until it ends.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_name_and_address: u32,
    pub per_address: u32,
    pub window: chrono::Duration,
}

/// Failure counts: per (name, address), per address.
struct Throttle {
    by_name: Table,
    by_address: Table,
}

/// The outcome of one verification, shared by concurrent requests with the same credentials:
/// the hash that matched, or `None`.
type Verdict = Option<Arc<str>>;
/// Verifications under way, by cache key.
type Inflight = Mutex<HashMap<[u8; 32], Arc<OnceCell<Verdict>>>>;
/// The argon2 parameters of the active users' hashes, and when they were read.
type Costs = Mutex<Option<(Arc<Vec<Params>>, Instant)>>;

#[derive(Clone)]
pub struct Authenticator {
    key: Arc<[u8; 32]>,
    /// Picks an unknown name's cost; from the shared secret, so every instance picks alike.
    pick_key: Arc<[u8]>,
    clock: Clock,
    cache: Arc<Mutex<HashMap<[u8; 32], Entry>>>,
    throttle: Arc<Mutex<Throttle>>,
    costs: Arc<Costs>,
    /// One argon2 verification per core at a time, each with its own reused block buffer.
    slots: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    queue: Arc<queue::Queue>,
    inflight: Arc<Inflight>,
    /// Tokens used since their last recorded use went stale, to record (see `flush_uses`).
    used: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Authenticator {
    pub fn new(limits: Limits, clock: Clock, pick_key: &[u8]) -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let window = limits.window.num_microseconds().unwrap_or(i64::MAX);
        let slots = crate::service::per_core_gate();
        Self {
            key: Arc::new(key),
            pick_key: Arc::from(pick_key),
            clock,
            cache: Arc::default(),
            throttle: Arc::new(Mutex::new(Throttle {
                by_name: Table::new(limits.per_name_and_address, window, throttle::MAX_TRACKED),
                by_address: Table::new(limits.per_address, window, throttle::MAX_TRACKED),
            })),
            costs: Arc::default(),
            queue: Arc::new(queue::Queue::new(
                slots.available_permits() * QUEUED_PER_SLOT,
            )),
            slots,
            buffers: Arc::default(),
            inflight: Arc::default(),
            used: Arc::default(),
        }
    }

    /// The principal of a remembered success for these credentials, while the hash is unchanged.
    fn remembered(&self, key: &[u8; 32], row: Option<&UserRow>) -> Option<Principal> {
        let row = row?;
        let cache = lock(&self.cache);
        let e = cache.get(key)?;
        (e.user == row.name && e.password_hash == row.password_hash && e.expires > Instant::now())
            .then(|| principal(row))
    }

    fn remember(&self, key: [u8; 32], row: &UserRow) {
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        let entry = Entry {
            user: row.name.clone(),
            password_hash: row.password_hash.clone(),
            expires: Instant::now() + CACHE_TTL,
        };
        cache.insert(key, entry);
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The throttle keys of these credentials: (name, address) and address.
    fn throttle_keys(&self, creds: &Credentials) -> (throttle::Key, throttle::Key) {
        let addr = throttle::address_key(creds.client.unwrap_or(IpAddr::from([0u8; 4])));
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(b"throttle\0");
        mac.update(&addr);
        mac.update(creds.user.as_bytes());
        let digest = mac.finalize().into_bytes();
        (digest[..16].try_into().expect("16 bytes"), addr)
    }

    /// Refuses when this name from this address, or this address, used up its failures.
    fn check_throttle(&self, keys: &(throttle::Key, throttle::Key)) -> Result<(), ServiceError> {
        let now = self.clock.now().micros();
        let t = lock(&self.throttle);
        let refuse = |retry_after, reason| ServiceError::Throttled {
            retry_after,
            reason,
        };
        if let Some(s) = t.by_address.blocked(&keys.1, now) {
            return Err(refuse(s, "Too many failed logins from this address"));
        }
        match t.by_name.blocked(&keys.0, now) {
            Some(s) => Err(refuse(
                s,
                "Too many failed logins for this user name from this address",
            )),
            None => Ok(()),
        }
    }

    fn record(&self, keys: &(throttle::Key, throttle::Key), success: bool) {
        let now = self.clock.now().micros();
        let mut t = lock(&self.throttle);
        if success {
            // The address count stays: one valid account must not reset guesses at others.
            t.by_name.clear(&keys.0);
        } else {
            t.by_name.fail(keys.0, now);
            t.by_address.fail(keys.1, now);
        }
    }

    /// Within a caller's transaction: the principal when these credentials succeeded recently
    /// and the user is unchanged; `None` when they must be verified (`authenticate`), which
    /// also answers a wrong password.
    pub fn recall(
        &self,
        c: &mut Conn,
        creds: &Credentials,
    ) -> Result<Option<Principal>, StorageError> {
        if let Some((sent, user)) = creds.token() {
            return self.check_token(c, sent, user);
        }
        let row = setup::active_user(c, &creds.user)?;
        Ok(self.remembered(&self.cache_key(&creds.user, &creds.password), row.as_ref()))
    }

    pub async fn authenticate(
        &self,
        storage: &Storage,
        creds: &Credentials,
    ) -> Result<Principal, ServiceError> {
        if creds.token().is_some() {
            return self.authenticate_token(storage, creds).await;
        }
        let key = self.cache_key(&creds.user, &creds.password);
        let keys = self.throttle_keys(creds);
        // Nothing remembered: a throttled or unqueueable attempt is refused before it costs a
        // database read (under a flood those reads would delay valid users' logins).
        let cached = lock(&self.cache).contains_key(&key);
        if !cached {
            self.check_throttle(&keys)?;
            self.queue.check(&keys.1).map_err(busy)?;
        }
        let name = creds.user.clone();
        let row = storage.read(move |c| setup::active_user(c, &name)).await?;
        if let Some(p) = self.remembered(&key, row.as_ref()) {
            return Ok(p);
        }
        self.check_throttle(&keys)?;
        let verdict = self
            .verify_once(storage, key, row.as_ref(), creds, keys.1)
            .await?;
        match (row, verdict) {
            (Some(row), Some(hash)) if *row.password_hash == *hash => {
                self.remember(key, &row);
                self.record(&keys, true);
                self.queue.vouch(keys.1);
                Ok(principal(&row))
            }
            _ => {
                self.record(&keys, false);
                Err(ServiceError::Unauthorized)
            }
        }
    }

    /// A token is checked in one read; failures count like failed logins.
    async fn authenticate_token(
        &self,
        storage: &Storage,
        creds: &Credentials,
    ) -> Result<Principal, ServiceError> {
        let keys = self.throttle_keys(creds);
        self.check_throttle(&keys)?;
        let (auth, sent) = (self.clone(), creds.clone());
        let found = storage
            .read(move |c| {
                let (token, user) = sent.token().unwrap_or_default();
                auth.check_token(c, token, user)
            })
            .await?;
        self.record(&keys, found.is_some());
        self.flush_uses(storage);
        found.ok_or(ServiceError::Unauthorized)
    }

    /// The principal of a live token, noting its use.
    fn check_token(
        &self,
        c: &mut Conn,
        sent: &str,
        user: Option<&str>,
    ) -> Result<Option<Principal>, StorageError> {
        let now = self.clock.now().micros();
        let Some((principal, row)) = token::check(c, sent, user, now)? else {
            return Ok(None);
        };
        if row.last_used_at.is_none_or(|t| t < now - TOKEN_USE_GRAIN) {
            self.used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(row.id);
        }
        Ok(Some(principal))
    }

    /// Records the uses noted since the last flush, in a write of its own that the request
    /// does not wait for.
    pub fn flush_uses(&self, storage: &Storage) {
        let ids: Vec<String> =
            std::mem::take(&mut *self.used.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect();
        if ids.is_empty() {
            return;
        }
        let (storage, now) = (storage.clone(), self.clock.now().micros());
        tokio::spawn(async move {
            if let Err(e) = storage
                .write(move |c| crate::storage::tokens::touch(c, &ids, now))
                .await
            {
                tracing::warn!(error = %e, "recording API token use failed");
            }
        });
    }

    /// Concurrent requests with the same credentials share one verification (a SIEM opening
    /// 64 connections at once runs argon2 once, and takes one place in the queue).
    async fn verify_once(
        &self,
        storage: &Storage,
        key: [u8; 32],
        row: Option<&UserRow>,
        creds: &Credentials,
        address: throttle::Key,
    ) -> Result<Verdict, ServiceError> {
        let cell = {
            let mut inflight = lock(&self.inflight);
            Arc::clone(inflight.entry(key).or_default())
        };
        let _leave = Leave {
            map: &self.inflight,
            key,
            cell: &cell,
        };
        let verdict = cell
            .get_or_try_init(|| self.verify(storage, row, creds, address))
            .await?;
        Ok(verdict.clone())
    }

    async fn verify(
        &self,
        storage: &Storage,
        row: Option<&UserRow>,
        creds: &Credentials,
        address: throttle::Key,
    ) -> Result<Verdict, ServiceError> {
        let job = match row {
            Some(r) => match Job::for_hash(&r.password_hash) {
                Some(job) => job,
                None => return Ok(None),
            },
            None => Job::dummy(self.unknown_params(storage, &creds.user).await?),
        };
        let matched = self.run(job, creds.password.clone(), address).await?;
        Ok(matched
            .then(|| row.map(|r| Arc::from(r.password_hash.as_str())))
            .flatten())
    }

    /// Runs one verification on a free slot, with that slot's block buffer, once admitted to
    /// the queue. The slot is held until argon2 ends, even if the request is dropped.
    async fn run(
        &self,
        job: Job,
        password: String,
        address: throttle::Key,
    ) -> Result<bool, ServiceError> {
        let mut place = self.queue.admit(address).map_err(busy)?;
        let permit = Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        place.started();
        let buffers = Arc::clone(&self.buffers);
        tokio::task::spawn_blocking(move || {
            let mut blocks = lock(&buffers).pop().unwrap_or_default();
            let ok = job.verify(password.as_bytes(), &mut blocks);
            lock(&buffers).push(blocks);
            drop(permit);
            ok
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// The argon2 parameters an unknown name is verified with (see `dummy_params`), from the
    /// active users' hashes, re-read at most every `COSTS_TTL`.
    async fn unknown_params(&self, storage: &Storage, name: &str) -> Result<Params, ServiceError> {
        let fresh = lock(&self.costs)
            .as_ref()
            .and_then(|(c, at)| (at.elapsed() < COSTS_TTL).then(|| Arc::clone(c)));
        let costs = match fresh {
            Some(c) => c,
            None => {
                let rows = storage.read(setup::load_all).await?;
                let costs = Arc::new(costs_of(active_hashes(&rows)));
                *lock(&self.costs) = Some((Arc::clone(&costs), Instant::now()));
                costs
            }
        };
        Ok(dummy_params(&self.pick_key, name, &costs))
    }
}

/// Locks `m` also after a panic poisoned it: each section these locks guard is one map, list,
/// counter or option update with nothing left half done, so the data stays consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A login the queue cannot take now: retry in a second.
fn busy(r: queue::Refusal) -> ServiceError {
    ServiceError::Throttled {
        retry_after: 1,
        reason: match r {
            queue::Refusal::Address => {
                "Too many logins from this address are being verified at once"
            }
            queue::Refusal::Full => "Too many logins are being verified at once",
        },
    }
}

fn principal(row: &UserRow) -> Principal {
    Principal {
        user: UserName::known(&row.name),
        partner: PartnerId::known(&row.partner_id),
        read_only: false,
        token: None,
    }
}

/// The password hashes of enabled users of enabled partners.
fn active_hashes(rows: &setup::SetupRows) -> impl Iterator<Item = &str> {
    let enabled: std::collections::HashSet<&str> = rows
        .partners
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.id.as_str())
        .collect();
    rows.users
        .iter()
        .filter(move |u| u.enabled && enabled.contains(u.partner_id.as_str()))
        .map(|u| u.password_hash.as_str())
}

/// Removes a finished (or abandoned) shared verification, so the next login verifies anew.
struct Leave<'a> {
    map: &'a Inflight,
    key: [u8; 32],
    cell: &'a Arc<OnceCell<Verdict>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut map = lock(self.map);
        if map
            .get(&self.key)
            .is_some_and(|c| Arc::ptr_eq(c, self.cell))
        {
            map.remove(&self.key);
        }
    }
}

/// An argon2id PHC string for `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `hash` (offline use: allocates its own blocks).
pub fn verify_password(hash: &str, password: &str) -> bool {
    Job::for_hash(hash).is_some_and(|job| job.verify(password.as_bytes(), &mut Vec::new()))
}

/// The most memory (KiB), passes and lanes a stored hash may ask of a login: every sign-in of
/// a user verifies with these, so a hash beyond them would let one file make logins a burden.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
const MAX_PASSES: u32 = 10;
const MAX_LANES: u32 = 8;

/// Why `hash` is not a usable argon2id PHC string, if it is not.
pub fn argon2id_hash_problem(hash: &str) -> Option<String> {
    let parsed = match PasswordHash::new(hash) {
        Ok(p) => p,
        Err(e) => return Some(format!("is not a PHC string ({e})")),
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return Some(format!("uses {}, not argon2id", parsed.algorithm));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Some("has no salt or no hash: nothing could ever match it".into());
    }
    match argon2::Params::try_from(&parsed) {
        Err(e) => Some(format!("has unusable parameters ({e})")),
        Ok(p) if p.m_cost() > MAX_MEMORY_KIB || p.t_cost() > MAX_PASSES || p.p_cost() > MAX_LANES => {
            Some(format!(
                "asks m={}, t={}, p={} of every login: at most m={MAX_MEMORY_KIB}, t={MAX_PASSES}, p={MAX_LANES}",
                p.m_cost(),
                p.t_cost(),
                p.p_cost()
            ))
        }
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{Algorithm, Version};

    fn hash_with(params: Params) -> String {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"secret", &salt)
            .unwrap()
            .to_string()
    }

    fn poison<T>(m: &Mutex<T>) {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = m.lock();
            panic!("a panic while locked");
        }));
        assert!(m.is_poisoned());
    }

    /// A panic while a lock was held (poisoning it) must not make every later login panic.
    #[test]
    fn poisoned_locks_still_remember_and_count() {
        let limits = Limits {
            per_name_and_address: 1,
            per_address: 10,
            window: chrono::Duration::seconds(60),
        };
        let auth = Authenticator::new(limits, Clock::system(), b"pick");
        poison(&auth.cache);
        poison(&auth.throttle);
        let row = UserRow {
            name: "acme-soc".into(),
            partner_id: "acme".into(),
            password_hash: "h".into(),
            max_tlp: "red".into(),
            types: "[]".into(),
            redistributes: false,
            enabled: true,
        };
        auth.remember([7; 32], &row);
        assert_eq!(auth.remembered(&[7; 32], Some(&row)), Some(principal(&row)));
        let keys = ([1; 16], [2; 16]);
        assert!(auth.check_throttle(&keys).is_ok());
        auth.record(&keys, false);
        assert!(
            auth.check_throttle(&keys).is_err(),
            "the failure was counted"
        );
    }

    /// The probe's case: one user's imported hash is costlier than the default. An unknown
    /// name now runs exactly the argon2 a wrong password for that user runs.
    #[test]
    fn unknown_names_run_the_same_argon2_as_a_costly_user() {
        let costly = hash_with(Params::new(65_536, 3, 1, None).unwrap());
        let user = Job::for_hash(&costly).unwrap();
        let costs = costs_of([costly.as_str()].into_iter());
        for name in ["nobody", "acme-admin", "x"] {
            let unknown = Job::dummy(dummy_params(b"secret", name, &costs));
            assert_eq!(unknown.params, user.params, "{name}");
            assert_eq!(
                (unknown.algorithm, unknown.version),
                (user.algorithm, user.version)
            );
        }
    }
}
