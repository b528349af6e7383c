//! `cairn import FILE... --community C --as USER`: a moderator's first load of a community, from
//! bundles, envelopes or JSON lines of any size. Files are read as a stream and stored in
//! batches of at most `BATCH_OBJECTS` objects (or about `BATCH_BYTES`), each checked and stored
//! exactly as a POST of that batch by the user would be, so memory stays bounded and the
//! validation and the sharing policy are the same.

use super::ingest::{commit_upload, refusal_detail, Candidate, Checks, Keep, Upload};
use super::ServiceError;
use crate::ids::{PartnerId, UserName};
use crate::policy::Principal;
use crate::stix::timestamp::Timestamp;
use crate::stix::Validator;
use crate::storage::{setup, Storage, StorageError};
use crate::taxii::resources::StatusDetail;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const BATCH_OBJECTS: usize = 1000;
const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// A first line longer than this is not taken for a line of JSON lines.
const SNIFF_BYTES: usize = 16 * 1024 * 1024;

/// Where an import stands, after each batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub objects: u64,
    pub accepted: u64,
    pub refused: u64,
    /// Bytes read of all the files, and their total size.
    pub read: u64,
    pub total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}: {1}")]
    File(String, String),
    #[error("there is no enabled user '{0}'")]
    NoSuchUser(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What the caller sees of the import: progress after each batch, and each refusal as found.
pub trait Report {
    fn progress(&mut self, p: &Progress);
    fn refused(&mut self, detail: &StatusDetail);
}

/// The import of one run, batch by batch.
pub struct Import<'a, R: Report> {
    pub storage: &'a Storage,
    pub validator: &'a Validator,
    pub community: String,
    pub keep: Keep,
    pub now: fn() -> Timestamp,
    pub report: R,
    /// RED recipients for the whole import, as the `Cairn-Recipients` header names them.
    pub recipients: Option<String>,
    /// Bytes read of the files so far, counted by the caller's reader.
    pub read: Arc<AtomicU64>,
    caller: Principal,
    batch: Vec<(usize, Box<RawValue>)>,
    batch_bytes: usize,
    progress: Progress,
}

impl<'a, R: Report> Import<'a, R> {
    /// An import as `user` (who must be an enabled user; its role is checked per batch).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        storage: &'a Storage,
        validator: &'a Validator,
        user: &str,
        community: &str,
        keep: Keep,
        now: fn() -> Timestamp,
        total: u64,
        report: R,
    ) -> Result<Self, ImportError> {
        let row = storage
            .read_now(|c| setup::active_user(c, user))?
            .ok_or_else(|| ImportError::NoSuchUser(user.to_owned()))?;
        Ok(Import {
            storage,
            validator,
            community: community.to_owned(),
            keep,
            now,
            report,
            recipients: None,
            read: Arc::default(),
            caller: Principal {
                user: UserName::known(row.name),
                partner: PartnerId::known(row.partner_id),
                read_only: false,
                token: None,
            },
            batch: vec![],
            batch_bytes: 0,
            progress: Progress {
                total,
                ..Progress::default()
            },
        })
    }

    /// Reads one file (`read` counts its bytes as they are read) and stores its objects.
    pub fn file(&mut self, name: &str, input: impl Read) -> Result<(), ImportError> {
        let mut input = BufReader::with_capacity(1 << 20, input);
        let bad = |e: String| ImportError::File(name.to_owned(), e);
        match sniff_line(&mut input).map_err(|e| bad(e.to_string()))? {
            Some(first) => self.lines(first, input).map_err(|e| lift(e, bad))?,
            None => {
                let mut de = serde_json::Deserializer::from_reader(input);
                Document(self)
                    .deserialize(&mut de)
                    .map_err(|e| bad(e.to_string()))?;
                self.flush()?;
                // One document a file: what follows it would otherwise go unread, unsaid.
                de.end().map_err(|_| {
                    bad(
                        "more after the first JSON document; give one bundle or envelope a \
                         file, or JSON lines of objects"
                            .into(),
                    )
                })?;
            }
        }
        self.flush()
    }

    /// JSON lines: one object per line, blank lines skipped.
    fn lines(&mut self, first: String, input: impl BufRead) -> Result<(), ImportError> {
        self.object_text(first)?;
        for line in input.lines() {
            let line = line.map_err(|e| ImportError::Refused(e.to_string()))?;
            if !line.trim().is_empty() {
                self.object_text(line)?;
            }
        }
        Ok(())
    }

    fn object_text(&mut self, text: String) -> Result<(), ImportError> {
        let raw = RawValue::from_string(text)
            .map_err(|e| ImportError::Refused(format!("a line is not JSON: {e}")))?;
        self.object(raw)
    }

    fn object(&mut self, raw: Box<RawValue>) -> Result<(), ImportError> {
        let index = self.progress.objects as usize;
        self.progress.objects += 1;
        self.batch_bytes += raw.get().len();
        self.batch.push((index, raw));
        if self.batch.len() >= BATCH_OBJECTS || self.batch_bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Checks and stores the batch, as one POST of it would be.
    fn flush(&mut self) -> Result<(), ImportError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let mut checks = Checks::default();
        for (index, raw) in batch {
            match self.validator.check(raw.get(), index) {
                Ok(checked) => checks
                    .candidates
                    .push(Candidate::new(index, checked, raw.get())),
                Err(r) => checks.refused.push((index, refusal_detail(&r))),
            }
        }
        let upload = Upload {
            caller: self.caller.clone(),
            community: self.community.clone(),
            recipients: self.recipients.clone(),
            checks,
            now: (self.now)(),
            status_id: uuid::Uuid::new_v4().to_string(),
        };
        let keep = self.keep;
        let committed = self
            .storage
            .write_now(|c| commit_upload(c, &upload, keep))?
            .map_err(|e: ServiceError| ImportError::Refused(refusal_text(&e)))?;
        let status = committed.0;
        self.progress.accepted += status.success_count;
        self.progress.refused += status.failure_count;
        self.progress.read = self.read.load(Ordering::Relaxed);
        for f in &status.failures {
            self.report.refused(f);
        }
        self.report.progress(&self.progress);
        Ok(())
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }
}

fn refusal_text(e: &ServiceError) -> String {
    match e {
        ServiceError::NotFound => "the user's partner is not a member of that community".into(),
        ServiceError::Forbidden(why) => why.to_string(),
        other => other.to_string(),
    }
}

fn lift(e: ImportError, bad: impl Fn(String) -> ImportError) -> ImportError {
    match e {
        ImportError::Refused(m) => bad(m),
        other => other,
    }
}

/// The first line, when the file is JSON lines: it holds a whole object that is neither a
/// bundle nor an envelope. `None` (and the reader untouched) for one JSON document.
fn sniff_line(input: &mut BufReader<impl Read>) -> std::io::Result<Option<String>> {
    let buffered = input.fill_buf()?;
    let end = buffered.iter().position(|b| *b == b'\n');
    let Some(end) = end.filter(|e| *e < SNIFF_BYTES) else {
        return Ok(None);
    };
    let line = match std::str::from_utf8(&buffered[..end]) {
        Ok(l) => l.trim(),
        Err(_) => return Ok(None),
    };
    let first: Result<serde_json::Map<String, serde_json::Value>, _> = serde_json::from_str(line);
    match first {
        Ok(map) if !map.contains_key("objects") => {
            let text = line.to_owned();
            input.consume(end + 1);
            Ok(Some(text))
        }
        _ => Ok(None),
    }
}

/// A bundle or an envelope, read as a stream: every element of `objects` goes to the import as
/// it is read; other keys are skipped.
struct Document<'i, 'a, R: Report>(&'i mut Import<'a, R>);

impl<'de, R: Report> DeserializeSeed<'de> for Document<'_, '_, R> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, R: Report> Visitor<'de> for Document<'_, '_, R> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a bundle or envelope with an objects array, or JSON lines")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "objects" {
                map.next_value_seed(Objects(&mut *self.0))?;
                found = true;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if !found {
            return Err(A::Error::custom("no objects array"));
        }
        Ok(())
    }
}

struct Objects<'i, 'a, R: Report>(&'i mut Import<'a, R>);

impl<'de, R: Report> DeserializeSeed<'de> for Objects<'_, '_, R> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, R: Report> Visitor<'de> for Objects<'_, '_, R> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            self.0.object(raw).map_err(A::Error::custom)?;
        }
        Ok(())
    }
}
