//! HTTP Basic credentials checked against argon2id hashes. argon2 costs tens of milliseconds by
//! design and SIEMs send credentials with every poll, so a success is remembered briefly, keyed by
//! an HMAC (per-process key) of user and password; the password itself is never kept. An entry
//! only counts while the stored hash is unchanged. Failures are never cached.

use super::ServiceError;
use crate::policy::Principal;
use crate::storage::models::UserRow;
use crate::storage::{setup, Conn, Storage, StorageError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX: usize = 10_000;

struct Entry {
    user: String,
    password_hash: String,
    expires: Instant,
}

/// HTTP Basic credentials as sent, not yet checked.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

#[derive(Clone)]
pub struct Authenticator {
    key: Arc<[u8; 32]>,
    cache: Arc<Mutex<HashMap<[u8; 32], Entry>>>,
    /// Verified against when the user does not exist, so both failures cost the same.
    dummy_hash: Arc<String>,
    /// One argon2 verification per core at a time: each takes about 19 MiB, and a SIEM that
    /// opens 64 connections at once would otherwise run 64 of them side by side.
    verifying: Arc<tokio::sync::Semaphore>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl Authenticator {
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let dummy = hash_password("not a real password").expect("argon2 hashing works");
        Self {
            key: Arc::new(key),
            cache: Arc::default(),
            dummy_hash: Arc::new(dummy),
            verifying: crate::service::per_core_gate(),
        }
    }

    /// The principal of a remembered success for these credentials, while the hash is unchanged.
    fn remembered(&self, key: &[u8; 32], row: Option<&UserRow>) -> Option<Principal> {
        let row = row?;
        let cache = self.cache.lock().expect("auth cache lock");
        let e = cache.get(key)?;
        (e.user == row.name && e.password_hash == row.password_hash && e.expires > Instant::now())
            .then(|| Principal {
                user: row.name.clone(),
                partner: row.partner_id.clone(),
            })
    }

    fn cache_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key[..]).expect("any key length");
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Within a caller's transaction: the principal when these credentials succeeded recently
    /// and the user is unchanged; `None` when they must be verified (`authenticate`), which
    /// also answers a wrong password.
    pub fn recall(
        &self,
        c: &mut Conn,
        creds: &Credentials,
    ) -> Result<Option<Principal>, StorageError> {
        let row = setup::active_user(c, &creds.user)?;
        Ok(self.remembered(&self.cache_key(&creds.user, &creds.password), row.as_ref()))
    }

    pub async fn authenticate(
        &self,
        storage: &Storage,
        user: &str,
        password: &str,
    ) -> Result<Principal, ServiceError> {
        let name = user.to_owned();
        let row = storage.read(move |c| setup::active_user(c, &name)).await?;
        let key = self.cache_key(user, password);
        if let Some(p) = self.remembered(&key, row.as_ref()) {
            return Ok(p);
        }
        let _turn = self
            .verifying
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        // Concurrent requests with the same credentials wait for the first verification.
        if let Some(p) = self.remembered(&key, row.as_ref()) {
            return Ok(p);
        }
        let hash = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| (*self.dummy_hash).clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &password))
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        match (row, ok) {
            (Some(row), true) => {
                let mut cache = self.cache.lock().expect("auth cache lock");
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(
                    key,
                    Entry {
                        user: row.name.clone(),
                        password_hash: row.password_hash.clone(),
                        expires: Instant::now() + CACHE_TTL,
                    },
                );
                Ok(Principal {
                    user: row.name,
                    partner: row.partner_id,
                })
            }
            _ => Err(ServiceError::Unauthorized),
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

pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
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
