//! argon2 verification into caller-owned memory. `Argon2::verify_password` allocates m_cost KiB
//! per call, and glibc keeps those blocks after a flood (GBs of RSS); here each verifying slot
//! owns one buffer, grown to the largest cost it met and reused, so memory stays at slots x m_cost.

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One verification to run: argon2 with these parameters over the password, compared in
/// constant time with `expected`; `None` never matches (an unknown user).
#[derive(Debug, Clone)]
pub struct Job {
    pub algorithm: Algorithm,
    pub version: Version,
    pub params: Params,
    salt: Vec<u8>,
    expected: Option<Output>,
}

impl Job {
    /// The verification a stored PHC string asks for; `None` when it is unusable (nothing
    /// could match it).
    pub fn for_hash(hash: &str) -> Option<Job> {
        let parsed = PasswordHash::new(hash).ok()?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?.to_vec();
        Some(Job {
            algorithm: Algorithm::try_from(parsed.algorithm).ok()?,
            version: parsed
                .version
                .map_or(Some(Version::default()), |v| Version::try_from(v).ok())?,
            params: Params::try_from(&parsed).ok()?,
            salt,
            expected: Some(parsed.hash?),
        })
    }

    /// The same work as a user's verification with `params`, for a name no user has.
    pub fn dummy(params: Params) -> Job {
        Job {
            algorithm: Algorithm::Argon2id,
            version: Version::default(),
            params,
            salt: b"cairn-unknown-user".to_vec(),
            expected: None,
        }
    }

    /// Whether `password` matches, computing in `blocks` (grown when too small, never shrunk).
    pub fn verify(&self, password: &[u8], blocks: &mut Vec<Block>) -> bool {
        let need = self.params.block_count();
        if blocks.len() < need {
            blocks.resize(need, Block::default());
        }
        let len = self
            .params
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let mut out = vec![0u8; len];
        let argon = Argon2::new(self.algorithm, self.version, self.params.clone());
        if argon
            .hash_password_into_with_memory(password, &self.salt, &mut out, &mut blocks[..need])
            .is_err()
        {
            return false;
        }
        match (&self.expected, Output::new(&out)) {
            // Output's equality is constant-time.
            (Some(expected), Ok(got)) => *expected == got,
            _ => false,
        }
    }
}

/// The parameters an unknown name is verified with: one active user's, chosen by a keyed hash
/// of the name. Each name always costs the same, and unknown names spread over the costs in the
/// proportions users have them, so timing cannot tell an unknown name from a user whatever the
/// stored hashes cost (a dummy at the costliest parameters would instead single out every
/// user with cheaper ones). `costs` must be sorted; empty means the default parameters.
pub fn dummy_params(key: &[u8], name: &str, costs: &[Params]) -> Params {
    if costs.is_empty() {
        return Params::default();
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(b"unknown-user\0");
    mac.update(name.as_bytes());
    let digest = mac.finalize().into_bytes();
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    costs[(n % costs.len() as u64) as usize].clone()
}

/// The parameters of each usable hash, sorted, so every instance picks alike.
pub fn costs_of<'a>(hashes: impl Iterator<Item = &'a str>) -> Vec<Params> {
    let mut costs: Vec<Params> = hashes
        .filter_map(|h| Job::for_hash(h).map(|j| j.params))
        .collect();
    costs.sort_by_key(|p| (p.m_cost(), p.t_cost(), p.p_cost()));
    costs
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    fn hash_with(params: Params, password: &str) -> String {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn small(m: u32, t: u32) -> Params {
        Params::new(m, t, 1, None).unwrap()
    }

    #[test]
    fn verifies_like_argon2_and_reuses_one_buffer() {
        let mut blocks = Vec::new();
        let cheap = Job::for_hash(&hash_with(small(64, 1), "right")).unwrap();
        let dear = Job::for_hash(&hash_with(small(256, 2), "right")).unwrap();
        assert!(cheap.verify(b"right", &mut blocks));
        assert!(!cheap.verify(b"wrong", &mut blocks));
        assert_eq!(blocks.len(), 64);
        assert!(dear.verify(b"right", &mut blocks));
        assert!(
            cheap.verify(b"right", &mut blocks),
            "a larger buffer still works"
        );
        assert_eq!(blocks.len(), 256, "grown once, then kept");
        let default = Job::for_hash(&crate::service::auth::hash_password("pw").unwrap()).unwrap();
        assert!(default.verify(b"pw", &mut blocks));
        assert!(!Job::dummy(small(64, 1)).verify(b"", &mut blocks));
    }

    #[test]
    fn unusable_hashes_give_no_job() {
        assert!(Job::for_hash("not a hash").is_none());
        assert!(Job::for_hash("$argon2id$v=19$m=64,t=1,p=1").is_none());
    }

    /// Unknown names run the same argon2 as some stored user: with one cost stored, exactly it.
    #[test]
    fn unknown_names_cost_what_users_cost() {
        let dear = small(262_144, 10);
        let costs = costs_of([hash_with(small(64, 1), "x")].iter().map(String::as_str));
        let cost = |p: &Params| (p.m_cost(), p.t_cost(), p.p_cost());
        assert_eq!(costs.iter().map(cost).collect::<Vec<_>>(), vec![(64, 1, 1)]);
        for name in ["nobody", "admin", "acme-soc", ""] {
            assert_eq!(dummy_params(b"k", name, std::slice::from_ref(&dear)), dear);
        }
        assert_eq!(dummy_params(b"k", "nobody", &[]), Params::default());
        // Mixed costs: each name keeps one, and the names spread over all of them.
        let mixed = [small(64, 1), small(128, 1), dear.clone()];
        let picks: Vec<Params> = (0..300)
            .map(|n| dummy_params(b"k", &format!("user{n}"), &mixed))
            .collect();
        for p in &mixed {
            let share = picks.iter().filter(|q| *q == p).count();
            assert!((60..=140).contains(&share), "{share} of 300 names on {p:?}");
        }
        assert_eq!(dummy_params(b"k", "user7", &mixed), picks[7]);
    }
}
