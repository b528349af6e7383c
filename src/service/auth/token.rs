//! API tokens, `cairn_<id>_<secret>`: the id finds the row, the secret (32 random bytes) is
//! checked against its stored SHA-256. A secret that cannot be guessed needs no slow hash, so a
//! token costs a SIEM's poll one indexed read, checked in the transaction that serves it.

use crate::ids::{PartnerId, UserName};
use crate::policy::Principal;
use crate::storage::tokens::{self, TokenRow};
use crate::storage::{setup, Conn, StorageError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "cairn_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A new token: its row to store, and the token, shown once.
pub struct Minted {
    pub row: TokenRow,
    pub token: String,
}

/// What `cairn token create` asks for.
pub struct Request {
    pub user: String,
    pub expires_at: Option<i64>,
    pub read_only: bool,
    pub note: String,
}

pub fn mint(req: Request, now: i64) -> Minted {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut id);
    rand::thread_rng().fill_bytes(&mut secret);
    let id = hex(&id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    Minted {
        token: format!("{PREFIX}{id}_{secret}"),
        row: TokenRow {
            id,
            user_name: req.user,
            secret_hash: hex(&Sha256::digest(secret.as_bytes())),
            created_at: now,
            expires_at: req.expires_at,
            read_only: req.read_only,
            note: req.note,
            last_used_at: None,
            revoked_at: None,
        },
    }
}

/// Bytes as lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id and secret of a string shaped like a token.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 2 * ID_BYTES && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// The principal `token` acts as, when it is stored, unrevoked, unexpired and its user active
/// (and, for Basic, named `user`); `None` otherwise. The row says whether to record its use.
pub fn check(
    c: &mut Conn,
    token: &str,
    user: Option<&str>,
    now: i64,
) -> Result<Option<(Principal, TokenRow)>, StorageError> {
    let Some((id, secret)) = split(token) else {
        return Ok(None);
    };
    let Some(row) = tokens::find(c, id)? else {
        return Ok(None);
    };
    let live = row.revoked_at.is_none() && row.expires_at.is_none_or(|t| t > now);
    let named = user.is_none_or(|u| u == row.user_name);
    let hash = hex(&Sha256::digest(secret.as_bytes()));
    if !(live && named && same(&hash, &row.secret_hash)) {
        return Ok(None);
    }
    let Some(user) = setup::active_user(c, &row.user_name)? else {
        return Ok(None);
    };
    let principal = Principal {
        user: UserName::known(user.name),
        partner: PartnerId::known(user.partner_id),
        read_only: row.read_only,
        token: Some(row.id.clone()),
    };
    Ok(Some((principal, row)))
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            user: "acme-soc".into(),
            expires_at: None,
            read_only: false,
            note: String::new(),
        }
    }

    #[test]
    fn a_minted_token_splits_into_its_id_and_a_secret_matching_the_hash() {
        let m = mint(request(), 5);
        let (id, secret) = split(&m.token).unwrap();
        assert_eq!(id, m.row.id);
        assert_eq!(hex(&Sha256::digest(secret.as_bytes())), m.row.secret_hash);
        assert!(!m.row.secret_hash.contains(secret));
        assert_ne!(mint(request(), 5).token, m.token);
    }

    #[test]
    fn only_the_token_shape_splits() {
        let m = mint(request(), 5);
        assert!(split(&m.token[1..]).is_none());
        assert!(split(&format!("{}x", m.token)).is_none());
        assert!(split("cairn_0123456789abcdef_short").is_none());
        assert!(split("hunter2").is_none());
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
