//! Webhooks (docs/sharing.md section 8): each notification of a user is POSTed to the webhooks
//! of that user and of its partner, signed, retried with backoff, and logged.

use super::follows::{notification, Notification};
use super::{Cairn, ServiceError};
use crate::stix::timestamp::Timestamp;
use crate::storage::webhooks::{self, Due, Outcome};
use hmac::{Hmac, Mac};
use serde::Serialize;
use std::collections::HashMap;
use std::time::Duration;

/// How often the sender looks for due deliveries (and due releases, which notify).
const TICK: Duration = Duration::from_millis(250);
/// Deliveries in flight at once, in all and per webhook.
const PARALLEL: usize = 16;
const PER_HOOK: usize = 4;
/// A receiver must answer within this time.
const TIMEOUT: Duration = Duration::from_secs(10);
/// A taken delivery is left to its sender this long (longer than `TIMEOUT`): another instance
/// takes it again only if this one died meanwhile.
const LEASE_MICROS: i64 = 60_000_000;
/// After this many failed attempts (about 14 hours of backoff), the event is given up.
pub const MAX_ATTEMPTS: i64 = 20;

/// Aborts a task when dropped: what the sender started stops with it.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The deliveries being sent, each on a task, and how many per webhook: a receiver that hangs
/// holds at most `PER_HOOK` places, and the others go on.
#[derive(Default)]
struct InFlight {
    tasks: tokio::task::JoinSet<()>,
    key_of: HashMap<tokio::task::Id, webhooks::Key>,
    per_hook: HashMap<String, usize>,
}

impl InFlight {
    fn spawn(
        &mut self,
        key: webhooks::Key,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let id = self.tasks.spawn(task).id();
        *self.per_hook.entry(key.webhook.clone()).or_default() += 1;
        self.key_of.insert(id, key);
    }

    /// Whether this instance is sending that delivery now: a lease that ran out while it is
    /// still on its way (a clock moved on) must not send it twice.
    fn sending(&self, key: &webhooks::Key) -> bool {
        self.key_of.values().any(|k| k == key)
    }

    /// Forgets the tasks that ended (a panic included).
    fn reap(&mut self) {
        while let Some(ended) = self.tasks.try_join_next_with_id() {
            let id = match ended {
                Ok((id, ())) => id,
                Err(e) => e.id(),
            };
            let Some(key) = self.key_of.remove(&id) else {
                continue;
            };
            if let Some(n) = self.per_hook.get_mut(&key.webhook) {
                *n -= 1;
            }
        }
    }

    /// How many more deliveries each webhook may start now, within the free places.
    fn wanted(&self, hooks: Vec<String>) -> Vec<(String, i64)> {
        let mut free = PARALLEL.saturating_sub(self.tasks.len());
        let mut out = vec![];
        for hook in hooks {
            let busy = self.per_hook.get(&hook).copied().unwrap_or(0);
            let n = PER_HOOK.saturating_sub(busy).min(free);
            if n > 0 {
                free -= n;
                out.push((hook, n as i64));
            }
        }
        out
    }
}

/// The body of a webhook request: the notification as the feed shows it, and whose it is.
#[derive(Debug, Serialize)]
pub struct Event {
    pub user: String,
    #[serde(flatten)]
    pub notification: Notification,
}

/// `Cairn-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the
/// secret>`. The time inside the signed text lets a receiver refuse a replayed old request.
pub fn signature(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex = super::auth::token::hex(&mac.finalize().into_bytes());
    format!("t={unix_secs},v1={hex}")
}

/// The wait after the `attempts`-th failure: 30 s, doubling, at most an hour.
pub fn backoff_micros(attempts: i64) -> i64 {
    let doublings = attempts.clamp(1, 8) - 1;
    (30_000_000i64 << doublings).min(3_600_000_000)
}

impl Cairn {
    /// Sends due webhook deliveries, and mail when `mailer` is set, until the task is dropped
    /// (the server stops).
    pub async fn send_notifications(self, mailer: Option<super::mail::Mailer>) {
        let client = match reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => return tracing::error!(error = %e, "webhooks: no HTTP client; none sent"),
        };
        // Mail goes on a task of its own: a mail server that hangs holds back no webhook.
        let _mail = mailer.map(|m| AbortOnDrop(tokio::spawn(self.clone().send_mail_loop(m))));
        let mut sending = InFlight::default();
        loop {
            sending.reap();
            if let Err(e) = self.webhook_tick(&client, &mut sending).await {
                tracing::warn!(error = %e, "webhooks: a round failed; trying again");
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// Mails due entries until the task is dropped.
    async fn send_mail_loop(self, mailer: super::mail::Mailer) {
        loop {
            if let Err(e) = self.mail_tick(&mailer).await {
                tracing::warn!(error = %e, "mail: a round failed; trying again");
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// When the setup names a webhook: the delays that came due first (they may notify, with
    /// nobody reading), then the due deliveries.
    async fn webhook_tick(
        &self,
        client: &reqwest::Client,
        sending: &mut InFlight,
    ) -> Result<(), ServiceError> {
        if !self.storage.read(webhooks::any).await? {
            return Ok(());
        }
        self.release_due_everywhere().await?;
        self.webhook_round(client, sending).await
    }

    /// The same for mail, when the setup names a mailbox.
    async fn mail_tick(&self, mailer: &super::mail::Mailer) -> Result<(), ServiceError> {
        if !self.storage.read(crate::storage::mail::any).await? {
            return Ok(());
        }
        self.release_due_everywhere().await?;
        self.mail_round(mailer).await
    }

    /// As many due deliveries as there are free places, each webhook's earliest first, each
    /// sent on a task of its own.
    async fn webhook_round(
        &self,
        client: &reqwest::Client,
        sending: &mut InFlight,
    ) -> Result<(), ServiceError> {
        let hooks = self.storage.read(webhooks::ids).await?;
        let wanted = sending.wanted(hooks);
        if wanted.is_empty() {
            return Ok(());
        }
        let now = self.clock.now().micros();
        let mut due = self
            .storage
            .read(move |c| webhooks::due(c, now, &wanted))
            .await?;
        due.retain(|d| !sending.sending(&d.key));
        if due.is_empty() {
            return Ok(());
        }
        let taken = self
            .storage
            .write(move |c| webhooks::take(c, due.clone(), now + LEASE_MICROS))
            .await?;
        for d in taken {
            let (cairn, client) = (self.clone(), client.clone());
            sending.spawn(d.key.clone(), async move {
                if let Err(e) = cairn.deliver(&client, d).await {
                    tracing::warn!(error = %e, "webhooks: an attempt was not recorded");
                }
            });
        }
        Ok(())
    }

    async fn release_due_everywhere(&self) -> Result<(), ServiceError> {
        self.release_due_in(crate::storage::setup::community_ids)
            .await
    }

    /// One attempt at one delivery, and its record.
    async fn deliver(&self, client: &reqwest::Client, due: Due) -> Result<(), ServiceError> {
        let attempts = due.attempts + 1;
        let (user, collection) = (due.key.user.clone(), due.event.collection_id.clone());
        let reads = self
            .storage
            .read(move |c| Ok(super::reader_grant(c, &user, &collection)?.is_some()))
            .await?;
        let (result, received) = match reads {
            true => self.post(client, &due).await,
            false => (
                "not sent: the user no longer reads this collection".into(),
                true,
            ),
        };
        let now = self.clock.now().micros();
        let (result, outcome) = if received {
            (result, Outcome::Done { at: now })
        } else if attempts >= MAX_ATTEMPTS {
            let gave_up = format!("gave up after {attempts} attempts: {result}");
            (gave_up, Outcome::Done { at: now })
        } else {
            let next_at = now + backoff_micros(attempts);
            (result, Outcome::Retry { next_at })
        };
        tracing::info!(webhook = %due.key.webhook, user = %due.key.user, attempts, %result, "webhook");
        let key = due.key;
        self.storage
            .write(move |c| webhooks::record(c, &key, attempts, &result, outcome.clone()))
            .await?;
        Ok(())
    }

    /// POSTs the event; the result in words, and whether the receiver took it (a 2xx).
    async fn post(&self, client: &reqwest::Client, due: &Due) -> (String, bool) {
        let event = Event {
            user: due.key.user.clone(),
            notification: notification(due.event.clone()),
        };
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let t = self.clock.now().seconds();
        let sent = client
            .post(&due.url)
            .header("Content-Type", "application/json")
            .header("Cairn-Event-Id", &event.notification.id)
            .header("Cairn-Signature", signature(&due.secret, t, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) => (
                format!("HTTP {}", r.status().as_u16()),
                r.status().is_success(),
            ),
            Err(e) => (failure(&e), false),
        }
    }
}

/// The delivery log, newest first: one line per event and webhook, with its state.
pub fn log_lines(
    conn: &mut crate::storage::Conn,
    limit: i64,
) -> Result<Vec<String>, crate::storage::StorageError> {
    let rows = webhooks::log(conn, limit)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = match r.done_at {
                Some(at) => format!("closed {}", Timestamp::from_micros(at)),
                None => format!("next {}", Timestamp::from_micros(r.next_at)),
            };
            format!(
                "{}  notification--{}  user {}  webhook {}  attempts {}  {}  {}",
                Timestamp::from_micros(r.at),
                r.event_id,
                r.user_name,
                r.webhook_id,
                r.attempts,
                state,
                r.last_result
            )
        })
        .collect())
}

/// A failed request in words: the error and its causes (reqwest's own message names only the
/// URL), at most 200 characters.
fn failure(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(webhook: &str, at: i64) -> webhooks::Key {
        webhooks::Key {
            webhook: webhook.into(),
            user: "u".into(),
            at,
        }
    }

    #[tokio::test]
    async fn a_delivery_being_sent_is_known_until_its_task_is_reaped() {
        let mut sending = InFlight::default();
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        sending.spawn(key("h", 1), async move {
            let _ = wait.await;
        });
        assert!(sending.sending(&key("h", 1)));
        assert!(!sending.sending(&key("h", 2)));
        assert!(!sending.sending(&key("other", 1)));
        assert_eq!(sending.wanted(vec!["h".into()]), vec![("h".into(), 3)]);
        release.send(()).unwrap();
        for _ in 0..1000 {
            tokio::task::yield_now().await;
            sending.reap();
        }
        assert!(sending.tasks.is_empty(), "the ended task was not reaped");
        assert!(!sending.sending(&key("h", 1)));
        assert_eq!(sending.wanted(vec!["h".into()]), vec![("h".into(), 4)]);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_time_dot_body() {
        // Computed apart with Python's hmac module.
        let sig = signature(
            "a webhook secret of 32 bytes!!!!",
            1_767_225_600,
            br#"{"id":"x"}"#,
        );
        assert_eq!(
            sig,
            "t=1767225600,v1=14c2c315be31d232122a9aa6eafd43d5ba63a3c499276d7ea4efdc2ede8efc53"
        );
    }

    #[test]
    fn backoff_doubles_from_30_seconds_to_an_hour() {
        let secs: Vec<i64> = (1..=9).map(|n| backoff_micros(n) / 1_000_000).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
