//! Notification mail (docs/sharing.md section 8) through a local SMTP sink: what a user may see
//! and follows, as it comes (at most once a minute) or in a daily digest.

use super::fixture::*;
use super::follows::{follow, note};
use cairn::clock::Clock;
use cairn_conformance::*;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// One mail as the sink got it: envelope recipient and the message text.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub text: String,
}

impl Mail {
    /// The entry lines of the body (each names a notified version).
    pub fn entries(&self) -> Vec<String> {
        let lines = self.text.lines();
        lines
            .filter(|l| l.contains(" because "))
            .map(str::to_owned)
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}: ");
        let line = self.text.lines().find(|l| l.starts_with(&prefix))?;
        Some(line[prefix.len()..].to_owned())
    }
}

/// An SMTP sink on 127.0.0.1: accepts every mail, refusing the first `refuse` with a 451.
pub async fn smtp_sink(refuse: usize) -> (u16, mpsc::UnboundedReceiver<Mail>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut refused = 0;
        while let Ok((conn, _)) = listener.accept().await {
            let refuse_this = refused < refuse;
            refused += usize::from(refuse_this);
            let tx = tx.clone();
            tokio::spawn(async move { smtp_session(conn, refuse_this, tx).await });
        }
    });
    (port, rx)
}

async fn smtp_session(
    conn: tokio::net::TcpStream,
    refuse: bool,
    tx: mpsc::UnboundedSender<Mail>,
) -> Option<()> {
    let (read, mut write) = conn.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 sink ESMTP\r\n").await.ok()?;
    let mut to = String::new();
    while let Some(line) = lines.next_line().await.ok()? {
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 sink\r\n",
            "MAIL" if refuse => b"451 try again later\r\n",
            "RCPT" => {
                to = line[8..]
                    .trim()
                    .trim_matches(|c| c == '<' || c == '>')
                    .to_owned();
                b"250 ok\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await.ok()?;
                let mut text = String::new();
                while let Some(l) = lines.next_line().await.ok()? {
                    if l == "." {
                        break;
                    }
                    text.push_str(l.strip_prefix('.').unwrap_or(&l));
                    text.push('\n');
                }
                let _ = tx.send(Mail {
                    to: to.clone(),
                    text: unfold(&text),
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await.ok()?;
                return Some(());
            }
            _ => b"250 ok\r\n",
        };
        write.write_all(answer).await.ok()?;
    }
    Some(())
}

/// The text with quoted-printable soft line breaks joined and `=3D` read as `=` (long lines
/// of the body come that way).
fn unfold(text: &str) -> String {
    text.replace("=\n", "").replace("=3D", "=")
}

pub async fn next_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("no mail within 15 s")
        .unwrap()
}

async fn no_mail(rx: &mut mpsc::UnboundedReceiver<Mail>) {
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Ok(extra) = rx.try_recv() {
        panic!("an unexpected mail: {}", extra.text);
    }
}

pub fn mail_config(port: u16) -> String {
    format!("[mail]\nserver = \"smtp://127.0.0.1:{port}\"\nfrom = \"Cairn <cairn@isac.example>\"\n")
}

/// A server on a frozen clock (noon UTC) mailing to a sink, with `mail` entries in its setup.
async fn start(mail: &str, refuse: usize) -> (TestServer, mpsc::UnboundedReceiver<Mail>) {
    let (port, rx) = smtp_sink(refuse).await;
    let noon = chrono::DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
        .unwrap()
        .to_utc();
    let setup = format!("{}\n{mail}", isac_setup(""));
    let s = TestServer::start_with_clock(&setup, &mail_config(port), Clock::frozen(noon)).await;
    (s, rx)
}

#[tokio::test]
async fn immediate_mail_tells_what_the_user_may_see_and_waits_a_minute_between_mails() {
    let entries = "[[mail]]\nuser = \"initech-soc\"\nto = \"soc@initech.example\"\nschedule = \"immediate\"\n";
    let (s, mut rx) = start(entries, 0).await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    follow(&s, "initech-soc", Some(&threat)).await;
    let (green, amber) = (note(2, &threat, GREEN2), note(3, &threat, AMBER2));
    post(&s, "acme-soc", &[green.clone(), amber.clone()], None).await;

    let mail = next_mail(&mut rx).await;
    assert_eq!(mail.to, "soc@initech.example");
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Cairn <cairn@isac.example>")
    );
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Cairn notifications for initech-soc: 1 new")
    );
    // initech is capped at GREEN: the AMBER note is in no mail, nor a word of it. The entry's
    // time is its position in the user's feed.
    let feed = s.get("initech-soc", "/initech/notifications/").await.json();
    let at = feed["notifications"][0]["date_added"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        mail.entries(),
        vec![format!(
            "{at}  note {} version 2026-01-01T00:00:00.000Z by acme in collection {ISAC} because {}",
            id(&green),
            id(&threat)
        )]
    );
    assert!(!mail.text.contains(&id(&amber)) && !mail.text.contains("note 3"));

    // What comes within the minute waits for the next mail.
    let mut v2 = threat.clone();
    v2["modified"] = serde_json::json!("2026-02-01T00:00:00.000Z");
    post(&s, "cert-ops", std::slice::from_ref(&v2), None).await;
    no_mail(&mut rx).await;
    s.clock.advance(chrono::Duration::seconds(61));
    let mail = next_mail(&mut rx).await;
    assert_eq!(mail.entries().len(), 1, "{}", mail.text);
    assert!(
        mail.entries()[0].contains("version 2026-02-01T00:00:00.000Z"),
        "{}",
        mail.text
    );
    no_mail(&mut rx).await;
}

#[tokio::test]
async fn a_daily_digest_goes_at_its_time_to_every_user_of_a_partner() {
    let entries = "[[mail]]\npartner = \"umbrella\"\nto = \"Umbrella SOC <soc@umbrella.example>\"\ndigest_at = \"07:30\"\n";
    let (s, mut rx) = start(entries, 1).await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    follow(&s, "umbrella-soc", None).await;
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    // 12:00 now; the digest is due at 07:30 tomorrow, not before.
    s.clock.advance(chrono::Duration::minutes(19 * 60 + 29));
    no_mail(&mut rx).await;
    s.clock.advance(chrono::Duration::minutes(1));
    // The sink refuses the first attempt; the digest comes again 30 s later.
    no_mail(&mut rx).await;
    s.clock.advance(chrono::Duration::seconds(31));
    let mail = next_mail(&mut rx).await;
    assert_eq!(mail.to, "soc@umbrella.example");
    assert_eq!(
        mail.header("Subject").as_deref(),
        Some("Cairn daily digest for umbrella-soc: 1 new")
    );
    assert_eq!(mail.entries().len(), 1, "{}", mail.text);
    assert!(mail.entries()[0].contains(&id(&threat)), "{}", mail.text);
    // Nothing new: no digest the next day.
    s.clock.advance(chrono::Duration::days(1));
    no_mail(&mut rx).await;
}

#[tokio::test]
async fn an_embargoed_note_is_mailed_when_its_delay_ends_with_nobody_reading() {
    let (port, mut rx) = smtp_sink(0).await;
    let mail = "[[mail]]\nuser = \"initech-soc\"\nto = \"soc@initech.example\"\nschedule = \"immediate\"\n";
    let setup = format!("{}\n{mail}", isac_setup(ACME_RULE));
    let s = TestServer::start_with(&setup, &mail_config(port)).await;
    let threat = sdo("indicator", 1, Some(GREEN2));
    post(&s, "cert-ops", std::slice::from_ref(&threat), None).await;
    let later = note(2, &threat, GREEN2);
    follow(&s, "initech-soc", Some(&threat)).await;
    post(&s, "acme-soc", std::slice::from_ref(&later), None).await;
    no_mail(&mut rx).await;
    // No webhook is set up and no request reads the collection: the sender releases it.
    s.clock.advance(chrono::Duration::hours(25));
    let mail = next_mail(&mut rx).await;
    assert_eq!(mail.entries().len(), 1, "{}", mail.text);
    assert!(mail.entries()[0].contains(&id(&later)), "{}", mail.text);
}
