//! Receipts (`cairn receipts`): what each user was served and what it posted, for audits and
//! recalls (TAXII 2.1 Appendix B asks servers to be able to say who received what). A page's
//! receipt is written after the answer, with the others of the same moment (`GATHER`), so a poll
//! never waits for it and a poller's pages share one commit; a POST's receipt is written in its
//! own transaction.

use super::Cairn;
use crate::stix::timestamp::Timestamp;
use crate::storage::receipts::{self, Kind, Receipt};
use crate::storage::{objects, setup, Conn, Storage, StorageError};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long pull receipts gather before they are written together. Written one by one, each
/// page of a poll cost its own commit (and fsync): about a third more server time per poll.
const GATHER: Duration = Duration::from_millis(500);

/// Pull receipts waiting to be written, and whether a write of them is under way.
#[derive(Default)]
pub struct Ledger {
    pending: Mutex<Vec<Receipt>>,
    writing: AtomicBool,
}

impl Ledger {
    fn take(&self) -> Vec<Receipt> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Cairn {
    /// Notes that `user` was served these versions of `community` now.
    pub(super) fn record_pull(&self, user: &str, community: &str, seqs: Vec<i64>) {
        if seqs.is_empty() {
            return;
        }
        let receipt = Receipt {
            user: user.to_owned(),
            community: community.to_owned(),
            kind: Kind::Pull,
            at: self.clock.now().micros(),
            seqs,
            refused: 0,
        };
        let ledger = &self.receipts;
        ledger
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(receipt);
        if !ledger.writing.swap(true, Ordering::AcqRel) {
            tokio::spawn(write_pending(self.storage.clone(), Arc::clone(ledger)));
        }
    }
}

/// Writes what is pending, batch after batch, until nothing is.
async fn write_pending(storage: Storage, ledger: Arc<Ledger>) {
    loop {
        tokio::time::sleep(GATHER).await;
        let batch = ledger.take();
        if batch.is_empty() {
            ledger.writing.store(false, Ordering::Release);
            // A receipt noted between the take and the store would wait for the next one.
            let more = !ledger
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty();
            if more && !ledger.writing.swap(true, Ordering::AcqRel) {
                continue;
            }
            return;
        }
        let n = batch.len();
        if let Err(e) = storage.write(move |c| receipts::insert(c, &batch)).await {
            tracing::error!(error = %e, receipts = n, "receipts could not be written");
        }
    }
}

const HEADER_OBJECT: &str = "when\tuser\tkind\tcommunity\tversion";
const HEADER_USER: &str = "when\tcommunity\tkind\tobject\tversion";

/// `cairn receipts OBJECT-ID [--community C]`: every user that received or posted a version of
/// the object, and when; oldest first.
pub fn for_object(
    c: &mut Conn,
    object: &str,
    community: Option<&str>,
) -> Result<Vec<String>, StorageError> {
    let communities = match community {
        Some(id) => vec![id.to_owned()],
        None => setup::community_ids(c)?,
    };
    let mut out = vec![HEADER_OBJECT.to_owned()];
    for community in communities {
        let versions = objects::versions_of(c, &community, Some(&[object.to_owned()]))?;
        let Some(first) = versions.iter().map(|v| v.added_at).min() else {
            continue;
        };
        let by_seq: HashMap<i64, i64> = versions.iter().map(|v| (v.seq, v.version)).collect();
        for r in receipts::since(c, None, Some(&community), first)? {
            for seq in r.seqs.iter().filter(|s| by_seq.contains_key(s)) {
                out.push(format!(
                    "{}\t{}\t{}\t{community}\t{}",
                    Timestamp::from_micros(r.at),
                    r.user,
                    kind(&r),
                    Timestamp::from_micros(by_seq[seq])
                ));
            }
        }
    }
    Ok(out)
}

/// `cairn receipts --user U --since T`: what the user pulled and pushed, oldest first.
pub fn for_user(c: &mut Conn, user: &str, since: i64) -> Result<Vec<String>, StorageError> {
    let found = receipts::since(c, Some(user), None, since)?;
    let seqs: Vec<i64> = found
        .iter()
        .flat_map(|r| r.seqs.iter().copied())
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let mut named: HashMap<i64, (String, i64)> = HashMap::new();
    for chunk in seqs.chunks(500) {
        named.extend(objects::ids_of(c, chunk)?);
    }
    let mut out = vec![HEADER_USER.to_owned()];
    for r in &found {
        for seq in &r.seqs {
            let (id, version) = match named.get(seq) {
                Some((id, v)) => (id.as_str(), Timestamp::from_micros(*v).to_string()),
                None => ("(deleted since)", format!("seq {seq}")),
            };
            out.push(format!(
                "{}\t{}\t{}\t{id}\t{version}",
                Timestamp::from_micros(r.at),
                r.community,
                kind(r)
            ));
        }
    }
    Ok(out)
}

pub(crate) fn kind(r: &Receipt) -> String {
    match (r.kind, r.refused) {
        (Kind::Pull, _) => "pull".into(),
        (Kind::Push, 0) => "push".into(),
        (Kind::Push, n) => format!("push ({n} refused)"),
    }
}
