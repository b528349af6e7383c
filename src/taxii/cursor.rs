//! `next` tokens: the keyset position of the last row served, authenticated with HMAC-SHA256 over
//! the position and what the token is bound to (caller, endpoint, collection, filters). Stateless,
//! so they survive restarts and work on every instance that shares the key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const VERSION: u8 = 1;
const MAC_LEN: usize = 16;
const RAW_LEN: usize = 1 + 8 + MAC_LEN;

/// Where the next page starts: strictly after this date_added, which is unique within what
/// one reader sees of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub date_added: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the next token is not one this server issued for this request")]
pub struct InvalidCursor;

#[derive(Clone)]
pub struct CursorKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self, binding: &str, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"cairn-next\0");
        mac.update(binding.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    pub fn mint(&self, binding: &str, pos: Position) -> String {
        let mut raw = Vec::with_capacity(RAW_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&pos.date_added.to_be_bytes());
        let mac = self.mac(binding, &raw);
        raw.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn open(&self, binding: &str, token: &str) -> Result<Position, InvalidCursor> {
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| InvalidCursor)?;
        if raw.len() != RAW_LEN || raw[0] != VERSION {
            return Err(InvalidCursor);
        }
        let (payload, tag) = raw.split_at(RAW_LEN - MAC_LEN);
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"cairn-next\0");
        mac.update(binding.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        // Constant-time comparison of the truncated tag.
        mac.verify_truncated_left(tag).map_err(|_| InvalidCursor)?;
        let date_added = i64::from_be_bytes(payload[1..9].try_into().expect("8 bytes"));
        Ok(Position { date_added })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = CursorKey::new(b"secret");
        let pos = Position {
            date_added: 1_700_000_000_123_456,
        };
        let t = k.mint("alice|objects|c1|f", pos);
        assert_eq!(k.open("alice|objects|c1|f", &t), Ok(pos));
        assert_eq!(k.open("bob|objects|c1|f", &t), Err(InvalidCursor));
        assert_eq!(
            CursorKey::new(b"other").open("alice|objects|c1|f", &t),
            Err(InvalidCursor)
        );
        let mut bytes = t.into_bytes();
        bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        assert_eq!(k.open("alice|objects|c1|f", &changed), Err(InvalidCursor));
        assert_eq!(k.open("x", "not base64 !"), Err(InvalidCursor));
    }
}
