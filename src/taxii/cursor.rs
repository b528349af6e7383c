//! `next` tokens: the keyset position of the last row served and the filters of the listing,
//! authenticated with HMAC-SHA256 over both and what the token is bound to (caller, endpoint,
//! collection, object). A token alone continues its listing, as SIEMs that send only `next`
//! expect. Stateless, so they survive restarts and work on every instance that shares the key.

use super::timestamp::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Version 2 carries the listing's filters; version 1 tokens (bound to the filters) are no longer
/// issued nor accepted.
const VERSION: u8 = 2;
const MAC_LEN: usize = 16;
const DIGEST_LEN: usize = 32;
/// Filters longer than this travel as their SHA-256 instead, and must then be repeated with the
/// token, so that a token stays well inside the server's URL limit.
pub const MAX_INLINE_FILTERS: usize = 2048;
const INLINE: u8 = 0;
const DIGEST: u8 = 1;

/// Where the next page starts: strictly after this date_added, which is unique within what
/// one reader sees of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub date_added: Timestamp,
}

/// What a token says of the filters of the listing it continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The filters themselves (`Query::listing` text): a request may carry the token alone.
    Filters(String),
    /// The SHA-256 of long filters: the request must repeat them.
    Digest([u8; DIGEST_LEN]),
}

impl Listing {
    /// How `filters` travel in a token.
    pub fn of(filters: &str) -> Listing {
        if filters.len() <= MAX_INLINE_FILTERS {
            Listing::Filters(filters.to_owned())
        } else {
            Listing::Digest(digest(filters))
        }
    }
}

pub fn digest(filters: &str) -> [u8; DIGEST_LEN] {
    Sha256::digest(filters.as_bytes()).into()
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

    fn hmac(&self, binding: &str, payload: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(b"cairn-next\0");
        mac.update(binding.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        mac
    }

    /// A token for the page after `pos` of the listing with these `filters`, bound to `binding`
    /// (caller, endpoint, collection, object).
    pub fn mint(&self, binding: &str, pos: Position, filters: &str) -> String {
        let mut raw = vec![VERSION];
        raw.extend_from_slice(&pos.date_added.micros().to_be_bytes());
        match Listing::of(filters) {
            Listing::Filters(text) => {
                raw.push(INLINE);
                raw.extend_from_slice(text.as_bytes());
            }
            Listing::Digest(d) => {
                raw.push(DIGEST);
                raw.extend_from_slice(&d);
            }
        }
        let tag = self.hmac(binding, &raw).finalize().into_bytes();
        raw.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub fn open(&self, binding: &str, token: &str) -> Result<(Position, Listing), InvalidCursor> {
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| InvalidCursor)?;
        if raw.len() < 1 + 8 + 1 + MAC_LEN || raw[0] != VERSION {
            return Err(InvalidCursor);
        }
        let (payload, tag) = raw.split_at(raw.len() - MAC_LEN);
        // Constant-time comparison of the truncated tag.
        self.hmac(binding, payload)
            .verify_truncated_left(tag)
            .map_err(|_| InvalidCursor)?;
        let mut at = [0u8; 8];
        at.copy_from_slice(&payload[1..9]);
        let pos = Position {
            date_added: Timestamp::from_micros(i64::from_be_bytes(at)),
        };
        let rest = &payload[10..];
        let listing = match payload[9] {
            INLINE => {
                Listing::Filters(String::from_utf8(rest.to_vec()).map_err(|_| InvalidCursor)?)
            }
            DIGEST => Listing::Digest(rest.try_into().map_err(|_| InvalidCursor)?),
            _ => return Err(InvalidCursor),
        };
        Ok((pos, listing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = CursorKey::new(b"secret");
        let pos = Position {
            date_added: Timestamp::from_micros(1_700_000_000_123_456),
        };
        let filters = r#"[["match[type]","indicator"]]"#;
        let t = k.mint("alice|objects|c1", pos, filters);
        let opened = (pos, Listing::Filters(filters.into()));
        assert_eq!(k.open("alice|objects|c1", &t), Ok(opened));
        assert_eq!(k.open("bob|objects|c1", &t), Err(InvalidCursor));
        assert_eq!(
            CursorKey::new(b"other").open("alice|objects|c1", &t),
            Err(InvalidCursor)
        );
        for at in [5, t.len() - 3] {
            let mut bytes = t.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(k.open("alice|objects|c1", &changed), Err(InvalidCursor));
        }
        assert_eq!(k.open("x", "not base64 !"), Err(InvalidCursor));
        assert_eq!(k.open("x", ""), Err(InvalidCursor));
    }

    #[test]
    fn long_filters_travel_as_their_digest() {
        let k = CursorKey::new(b"secret");
        let pos = Position {
            date_added: Timestamp::from_micros(7),
        };
        let long = "x".repeat(MAX_INLINE_FILTERS + 1);
        let t = k.mint("b", pos, &long);
        assert!(t.len() < 100, "{}", t.len());
        assert_eq!(k.open("b", &t), Ok((pos, Listing::Digest(digest(&long)))));
        let edge = "y".repeat(MAX_INLINE_FILTERS);
        let t = k.mint("b", pos, &edge);
        assert_eq!(k.open("b", &t), Ok((pos, Listing::Filters(edge))));
    }
}
