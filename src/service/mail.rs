//! Notification mail (docs/sharing.md section 8): each user's feed entries, mailed to the
//! mailboxes of that user and of its partner, as they come or in a daily digest.

use super::follows::notification;
use super::webhooks::backoff_micros;
use super::{Cairn, ServiceError};
use crate::config::MailConfig;
use crate::stix::timestamp::Timestamp;
use crate::storage::follows::{self, FeedRow};
use crate::storage::mail::{self, DueMail};
use lettre::message::{header::ContentType, Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// A mail lists at most this many entries; the rest follow in the next mails.
const MAX_ENTRIES: usize = 200;
/// `immediate` mails go at most this often per mailbox and user: what comes meanwhile waits
/// for the next one.
const IMMEDIATE_GAP_MICROS: i64 = 60_000_000;
const LEASE_MICROS: i64 = 120_000_000;
/// A mail must be taken within this time (less than the lease).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
const DAY_MICROS: i64 = 86_400_000_000;

/// The SMTP transport and the sender's address, from `[mail]` of the config.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(config: &MailConfig) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.server)
            .map_err(|e| format!("mail.server: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = config.from.parse().map_err(|e| format!("mail.from: {e}"))?;
        Ok(Mailer { transport, from })
    }
}

impl Cairn {
    /// One round of mail: every mailbox and user with something to mail now.
    pub(crate) async fn mail_round(&self, mailer: &Mailer) -> Result<(), ServiceError> {
        let now = self.clock.now().micros();
        let day_start = now - now.rem_euclid(DAY_MICROS);
        // Read first: a round with nothing to mail takes no write.
        let due = self
            .storage
            .read(move |c| mail::due(c, now, day_start))
            .await?;
        if due.is_empty() {
            return Ok(());
        }
        let taken = self
            .storage
            .write(move |c| mail::take(c, due.clone(), now + LEASE_MICROS))
            .await?;
        for due in taken {
            self.mail_one(mailer, due).await?;
        }
        Ok(())
    }

    /// Mails the user's entries after what was mailed, up to `bound`, and records how it went.
    async fn mail_one(&self, mailer: &Mailer, due: DueMail) -> Result<(), ServiceError> {
        let (user, partner, after) = (due.user.clone(), due.partner.clone(), due.sent_through);
        let bound = due.bound;
        let at = Timestamp::from_micros;
        let window = (Some(at(after)), at(bound));
        let (mut entries, skipped_to) = self
            .storage
            .read(move |c| {
                let entries = follows::feed(c, (&user, &partner), window, MAX_ENTRIES + 1)?;
                Ok((entries, mail::last_at(c, &user, bound)?))
            })
            .await?;
        let more = entries.len() > MAX_ENTRIES;
        entries.truncate(MAX_ENTRIES);
        let now = self.clock.now().micros();
        let (through, next_at, attempts, result) = match entries.last() {
            // Nothing the feed still serves: pass over what it no longer does.
            None => (
                skipped_to.unwrap_or(after).max(after),
                now,
                0,
                "nothing to mail".into(),
            ),
            Some(last) => match self.send_mail(mailer, &due, &entries).await {
                Ok(()) => {
                    let next = match (more, due.schedule.as_str()) {
                        (false, "immediate") => now + IMMEDIATE_GAP_MICROS,
                        _ => now,
                    };
                    (last.at, next, 0, format!("sent {} entries", entries.len()))
                }
                Err(e) => {
                    let tries = due.attempts + 1;
                    (after, now + backoff_micros(tries), tries, e)
                }
            },
        };
        tracing::info!(mailbox = %due.mailbox, user = %due.user, %result, "mail");
        self.storage
            .write(move |c| mail::record(c, &due, through, next_at, attempts, &result))
            .await?;
        Ok(())
    }

    async fn send_mail(
        &self,
        mailer: &Mailer,
        due: &DueMail,
        entries: &[FeedRow],
    ) -> Result<(), String> {
        let to: Mailbox = due.address.parse().map_err(|e| format!("address: {e}"))?;
        let kind = match due.schedule.as_str() {
            "daily" => "daily digest",
            _ => "notifications",
        };
        let subject = format!("Cairn {kind} for {}: {} new", due.user, entries.len());
        let message = Message::builder()
            .from(mailer.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body(&due.user, &due.partner, entries))
            .map_err(|e| format!("composing: {e}"))?;
        // lettre's own timeout covers the connection only; a server that then says nothing
        // would hold this mailbox forever.
        match tokio::time::timeout(SEND_TIMEOUT, mailer.transport.send(message)).await {
            Ok(sent) => sent
                .map(|_| ())
                .map_err(|e| e.to_string().chars().take(200).collect()),
            Err(_) => Err(format!("no answer within {} s", SEND_TIMEOUT.as_secs())),
        }
    }
}

/// The text of a mail: one line per entry, what the feed says of it and nothing more.
pub fn body(user: &str, partner: &str, entries: &[FeedRow]) -> String {
    let mut text = format!(
        "What became available to {user} and matched its follows (the feed: GET /{partner}/notifications/):\n\n"
    );
    for e in entries {
        let n = notification(e.clone());
        let producer = n.object.producer.as_deref().unwrap_or("unknown");
        text.push_str(&format!(
            "{}  {} {} version {} by {} in collection {} because {}\n",
            n.date_added,
            n.object.stix_type,
            n.object.id,
            n.object.version,
            producer,
            n.collection,
            n.because
        ));
    }
    text
}
