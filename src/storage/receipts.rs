//! Receipts: which versions each user was served (pull) or stored (push), when. A receipt lists
//! its versions' sequence numbers, each as its difference from the one before (a page of new
//! objects is mostly "1,1,1"), so a receipt costs a few bytes per version.

use super::schema::receipts::dsl as r;
use super::{Conn, StorageError};
use diesel::prelude::*;

/// Pulls are pages of the objects and object endpoints; pushes are POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pull,
    Push,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Pull => "pull",
            Kind::Push => "push",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub user: String,
    pub community: String,
    pub kind: Kind,
    pub at: i64,
    pub seqs: Vec<i64>,
    /// Objects of a push that were refused.
    pub refused: i64,
}

/// One statement per receipt: a flush holds a few, each from one request.
pub fn insert(conn: &mut Conn, receipts: &[Receipt]) -> Result<(), StorageError> {
    for x in receipts {
        diesel::insert_into(r::receipts)
            .values((
                r::user_name.eq(&x.user),
                r::community_id.eq(&x.community),
                r::kind.eq(x.kind.as_str()),
                r::at.eq(x.at),
                r::seqs.eq(encode(&x.seqs)),
                r::refused.eq(x.refused),
            ))
            .execute(conn)?;
    }
    Ok(())
}

type RowOf = (String, String, String, i64, String, i64);

fn receipt(row: RowOf) -> Result<Receipt, StorageError> {
    let (user, community, kind, at, seqs, refused) = row;
    let kind = match kind.as_str() {
        "pull" => Kind::Pull,
        "push" => Kind::Push,
        _ => return Err(StorageError::Inconsistent("a receipt of an unknown kind")),
    };
    let seqs = decode(&seqs).ok_or(StorageError::Inconsistent("an unreadable receipt"))?;
    Ok(Receipt {
        user,
        community,
        kind,
        at,
        seqs,
        refused,
    })
}

/// Receipts of `user` (or of everyone in `community`) at or after `since`, oldest first.
pub fn since(
    conn: &mut Conn,
    user: Option<&str>,
    community: Option<&str>,
    since: i64,
) -> Result<Vec<Receipt>, StorageError> {
    select(conn, (user, community), since, None)
}

/// The newest receipts of `community` at or after `since`, newest first, at most `limit`.
pub fn newest_in(
    conn: &mut Conn,
    community: &str,
    since: i64,
    limit: i64,
) -> Result<Vec<Receipt>, StorageError> {
    select(conn, (None, Some(community)), since, Some(limit))
}

/// Receipts at or after `since`, oldest first; with `newest`, that many newest first.
fn select(
    conn: &mut Conn,
    (user, community): (Option<&str>, Option<&str>),
    since: i64,
    newest: Option<i64>,
) -> Result<Vec<Receipt>, StorageError> {
    let mut q = r::receipts
        .select((
            r::user_name,
            r::community_id,
            r::kind,
            r::at,
            r::seqs,
            r::refused,
        ))
        .filter(r::at.ge(since))
        .into_boxed();
    if let Some(user) = user {
        q = q.filter(r::user_name.eq(user.to_owned()));
    }
    if let Some(community) = community {
        q = q.filter(r::community_id.eq(community.to_owned()));
    }
    q = match newest {
        Some(limit) => q.order((r::at.desc(), r::id.desc())).limit(limit),
        None => q.order((r::at, r::id)),
    };
    let rows: Vec<RowOf> = q.load(conn)?;
    rows.into_iter().map(receipt).collect()
}

/// Drops receipts older than the retention.
pub fn purge(conn: &mut Conn, older_than: i64) -> Result<usize, StorageError> {
    Ok(diesel::delete(r::receipts.filter(r::at.lt(older_than))).execute(conn)?)
}

fn encode(seqs: &[i64]) -> String {
    let mut out = String::with_capacity(seqs.len() * 2);
    let mut before = 0i64;
    for (i, s) in seqs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&s.wrapping_sub(before).to_string());
        before = *s;
    }
    out
}

fn decode(text: &str) -> Option<Vec<i64>> {
    if text.is_empty() {
        return Some(vec![]);
    }
    let mut before = 0i64;
    text.split(',')
        .map(|d| {
            before = before.wrapping_add(d.parse::<i64>().ok()?);
            Some(before)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_travel_as_differences() {
        for seqs in [
            vec![],
            vec![7],
            vec![100, 101, 102, 90, 5000],
            vec![i64::MAX, 1],
        ] {
            let text = encode(&seqs);
            assert_eq!(decode(&text), Some(seqs.clone()), "{text}");
        }
        assert_eq!(encode(&[100, 101, 102]), "100,1,1");
        assert_eq!(decode("1,x"), None);
    }
}
