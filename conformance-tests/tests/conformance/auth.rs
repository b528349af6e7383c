//! HTTP Basic under attack (TAXII 2.1 section 1.6.5 leaves throttling to the server): failed
//! logins are counted per (user name, client address) and per address, and past the limit get
//! 429 with Retry-After and a TAXII error, while valid users elsewhere keep logging in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cairn::clock::Clock;
use cairn_conformance::*;
use reqwest::Method;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DISCOVERY: &str = "/taxii2/";
const ELSEWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// A client of `s` whose connections come from `from` (loopback holds all of 127/8).
fn client_from(s: &TestServer, from: IpAddr) -> Http {
    Http {
        base: s.base.clone(),
        client: reqwest::Client::builder()
            .local_address(from)
            .build()
            .unwrap(),
    }
}

async fn login(http: &Http, path: &str, user: &str, password: &str) -> Resp {
    let basic = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    http.send(Method::GET, path, None, &[("Authorization", &basic)], None)
        .await
}

/// Asserts a 429 TAXII error whose Retry-After is `expected` seconds and which says so.
fn assert_throttled(r: &Resp, expected: u64) {
    let e = r.assert_error(429);
    assert_eq!(r.header("retry-after"), Some(expected.to_string()), "{e}");
    let description = e["description"].as_str().unwrap();
    assert!(
        description.contains(&format!("Retry after {expected} second")),
        "{description}"
    );
}

fn limits(per_name: u32, per_address: u32) -> String {
    format!("login_failures = {per_name}\nlogin_failures_per_address = {per_address}\nlogin_window = \"10m\"\n")
}

async fn frozen_server(config: &str) -> TestServer {
    let clock = Clock::frozen(Clock::system().now());
    TestServer::start_with_clock(&standard_setup(), config, clock).await
}

#[tokio::test]
async fn wrong_passwords_past_the_limit_get_429_with_retry_after() {
    let s = frozen_server(&limits(3, 1000)).await;
    let here = &s.http;
    // Remembered before the attack: a cached success is answered before the throttle.
    assert_eq!(
        login(here, DISCOVERY, "acme-bot", PASSWORD).await.status,
        200
    );
    for _ in 0..3 {
        login(here, DISCOVERY, "acme-bot", "guess")
            .await
            .assert_error(401);
    }
    for path in [DISCOVERY, &TestServer::coll("acme", FINANCE, "objects/")] {
        assert_throttled(&login(here, path, "acme-bot", "guess").await, 600);
    }
    assert_eq!(
        login(here, DISCOVERY, "acme-bot", PASSWORD).await.status,
        200
    );
    // Another name from the same address is not affected.
    assert_eq!(
        login(here, DISCOVERY, "acme-soc", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn a_flood_from_another_address_does_not_lock_the_user_out() {
    let s = frozen_server(&limits(3, 1000)).await;
    let attacker = client_from(&s, ELSEWHERE);
    for _ in 0..3 {
        login(&attacker, DISCOVERY, "globex-soc", "guess")
            .await
            .assert_error(401);
    }
    assert_throttled(
        &login(&attacker, DISCOVERY, "globex-soc", PASSWORD).await,
        600,
    );
    // The user's own first login (nothing cached) from its own address succeeds.
    let r = login(
        &s.http,
        &TestServer::coll("globex", FINANCE, "objects/"),
        "globex-soc",
        PASSWORD,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A login relayed by a proxy on the test's own address, for the client `client`.
async fn login_via_proxy(s: &TestServer, client: &str, user: &str, password: &str) -> Resp {
    let basic = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    let headers = [
        ("Authorization", basic.as_str()),
        ("X-Forwarded-For", client),
    ];
    s.http
        .send(Method::GET, DISCOVERY, None, &headers, None)
        .await
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_is_counted_on_its_own() {
    let config = format!("trusted_proxies = [\"127.0.0.1\"]\n{}", limits(3, 1000));
    let s = frozen_server(&config).await;
    for _ in 0..3 {
        login_via_proxy(&s, "203.0.113.66", "globex-soc", "guess")
            .await
            .assert_error(401);
    }
    let attacker = login_via_proxy(&s, "203.0.113.66", "globex-soc", PASSWORD).await;
    assert_throttled(&attacker, 600);
    // The user behind the same proxy, from its own address, is not locked out with it.
    let user = login_via_proxy(&s, "198.51.100.20", "globex-soc", PASSWORD).await;
    assert_eq!(user.status, 200, "{}", user.text());
}

#[tokio::test]
async fn an_address_guessing_many_names_is_throttled_as_a_whole() {
    let s = frozen_server(&limits(100, 4)).await;
    let attacker = client_from(&s, ELSEWHERE);
    for name in ["nobody", "admin", "acme-soc", "root"] {
        login(&attacker, DISCOVERY, name, "guess")
            .await
            .assert_error(401);
    }
    let r = login(&attacker, DISCOVERY, "initech-soc", PASSWORD).await;
    assert_throttled(&r, 600);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("from this address"));
    assert_eq!(
        login(&s.http, DISCOVERY, "initech-soc", PASSWORD)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_throttle_ends_with_its_window() {
    let s = frozen_server(&limits(2, 1000)).await;
    for _ in 0..2 {
        login(&s.http, DISCOVERY, "acme-soc", "guess")
            .await
            .assert_error(401);
    }
    assert_throttled(&login(&s.http, DISCOVERY, "acme-soc", PASSWORD).await, 600);
    s.clock.advance(chrono::Duration::seconds(599));
    assert_throttled(&login(&s.http, DISCOVERY, "acme-soc", PASSWORD).await, 1);
    s.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        login(&s.http, DISCOVERY, "acme-soc", PASSWORD).await.status,
        200
    );
    // A success forgets the name's failures: two more wrong ones are 401, not 429.
    login(&s.http, DISCOVERY, "acme-soc", "guess")
        .await
        .assert_error(401);
    login(&s.http, DISCOVERY, "acme-soc", "guess")
        .await
        .assert_error(401);
    assert_throttled(&login(&s.http, DISCOVERY, "acme-soc", "guess").await, 600);
}

/// The shipped limits (10 per name and address) apply without any configuration.
#[tokio::test]
async fn default_limits_throttle_the_eleventh_failure() {
    let s = TestServer::start().await;
    for _ in 0..10 {
        login(&s.http, DISCOVERY, "acme-soc", "guess")
            .await
            .assert_error(401);
    }
    let r = login(&s.http, DISCOVERY, "acme-soc", "guess").await;
    r.assert_error(429);
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((890..=900).contains(&wait), "{wait}");
}

/// `per_address` connections from each of `addresses` sending wrong passwords for new names
/// until `stop`; returns how many got 429 (each asserted to be a TAXII error with Retry-After).
fn flood(
    s: &TestServer,
    addresses: &[IpAddr],
    per_address: usize,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinSet<u32> {
    let mut tasks = tokio::task::JoinSet::new();
    for (a, from) in addresses.iter().enumerate() {
        for c in 0..per_address {
            let (attacker, stop) = (client_from(s, *from), stop.clone());
            tasks.spawn(async move {
                let mut refused = 0;
                for n in 0..200 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = login(&attacker, DISCOVERY, &format!("guess-{a}-{c}-{n}"), "x").await;
                    match r.status {
                        401 => {}
                        429 => {
                            assert_throttled(&r, 1);
                            refused += 1;
                        }
                        other => panic!("{other}: {}", r.text()),
                    }
                }
                refused
            });
        }
    }
    tasks
}

async fn refused(stop: &AtomicBool, mut tasks: tokio::task::JoinSet<u32>) -> u32 {
    stop.store(true, Ordering::Relaxed);
    let mut refused = 0;
    while let Some(n) = tasks.join_next().await {
        refused += n.unwrap();
    }
    refused
}

/// 64 connections of wrong passwords from one address hold at most a few verifications at a
/// time (the rest get 429 at once), so a user's first login from elsewhere is neither refused
/// nor queued behind them.
#[tokio::test]
async fn a_flood_from_one_address_does_not_crowd_out_other_logins() {
    let s = TestServer::start_with(&standard_setup(), &limits(1_000_000, 1_000_000)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = flood(&s, &[ELSEWHERE], 64, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for user in ["acme-soc", "globex-soc"] {
        let r = login(&s.http, DISCOVERY, user, PASSWORD).await;
        assert_eq!(r.status, 200, "{user} under the flood: {}", r.text());
    }
    assert!(
        refused(&stop, tasks).await > 0,
        "64 at once from one address: some must be refused"
    );
}

/// A flood from 64 addresses fills the verification queue; an address a user logged in from
/// before is still admitted, so its users' first logins succeed.
#[tokio::test]
async fn addresses_users_logged_in_from_get_in_when_the_queue_is_full() {
    let s = TestServer::start_with(&standard_setup(), &limits(1_000_000, 1_000_000)).await;
    assert_eq!(
        login(&s.http, DISCOVERY, "acme-soc", PASSWORD).await.status,
        200
    );
    let addresses: Vec<IpAddr> = (1..=64)
        .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 1, n)))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = flood(&s, &addresses, 4, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for user in ["acme-bot", "globex-soc", "initech-soc"] {
        let r = login(&s.http, DISCOVERY, user, PASSWORD).await;
        assert_eq!(r.status, 200, "{user} under the flood: {}", r.text());
    }
    assert!(
        refused(&stop, tasks).await > 0,
        "the queue must have been full"
    );
}
