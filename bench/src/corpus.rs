//! A seeded, realistic STIX 2.1 corpus, the kind of stream a sector CERT shares with its members:
//! indicators with STIX patterns of many shapes, malware, threat actors, attack patterns,
//! campaigns, relationships, sightings, observed-data, SCOs (ipv4-addr, domain-name, url, file
//! with hashes), reports, producer identities; TLP 1.0 and 2.0 object markings, some granular
//! markings, external references and kill-chain phases.
//!
//! Every reference points to an object generated earlier, so the stream can be posted in order.

use crate::rng::Rng;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};

/// How objects are marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markings {
    /// A realistic mix: TLP 2.0 and 1.0 ids, every level, some objects unmarked.
    Mixed,
    /// Exactly one object in a hundred is TLP:CLEAR (only objects without content references,
    /// so that the reference rule does not hide them), spread evenly; the rest GREEN or AMBER.
    ReaderShare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

const TLP2: [(Level, &str); 5] = [
    (
        Level::Clear,
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    ),
    (
        Level::Green,
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    ),
    (
        Level::Amber,
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ),
    (
        Level::AmberStrict,
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    (
        Level::Red,
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ),
];

/// TLP 1.0 has no AMBER+STRICT; WHITE is CLEAR.
const TLP1: [(Level, &str); 4] = [
    (
        Level::Clear,
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    ),
    (
        Level::Green,
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    ),
    (
        Level::Amber,
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    ),
    (
        Level::Red,
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    ),
];

fn marking_id(level: Level, tlp1: bool) -> &'static str {
    if tlp1 {
        if let Some((_, id)) = TLP1.iter().find(|(l, _)| *l == level) {
            return id;
        }
    }
    TLP2.iter()
        .find(|(l, _)| *l == level)
        .expect("every level")
        .1
}

/// The level of a TLP marking-definition id (1.0 or 2.0).
pub fn level_of(id: &str) -> Option<Level> {
    TLP2.iter()
        .chain(TLP1.iter())
        .find(|(_, i)| *i == id)
        .map(|(l, _)| *l)
}

/// The STIX 2.1 namespace for deterministic (UUIDv5) SCO ids.
const SCO_NAMESPACE: uuid::Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Indicator,
    Ipv4,
    Domain,
    Url,
    File,
    Relationship,
    Sighting,
    ObservedData,
    Malware,
    AttackPattern,
    Campaign,
    ThreatActor,
    Report,
    Identity,
}

/// The stream's mix, by weight.
const MIX: [(Kind, u32); 14] = [
    (Kind::Indicator, 28),
    (Kind::Ipv4, 7),
    (Kind::Domain, 6),
    (Kind::Url, 5),
    (Kind::File, 5),
    (Kind::Relationship, 16),
    (Kind::Sighting, 6),
    (Kind::ObservedData, 6),
    (Kind::Malware, 5),
    (Kind::AttackPattern, 4),
    (Kind::Campaign, 3),
    (Kind::ThreatActor, 3),
    (Kind::Report, 3),
    (Kind::Identity, 1),
];

const PRODUCERS: [(&str, &[&str]); 6] = [
    (
        "Regional Finance CERT",
        &["financial-services", "government"],
    ),
    ("ACME Bank", &["financial-services"]),
    ("Globex Savings", &["financial-services"]),
    ("Initech Credit Union", &["financial-services"]),
    ("Umbrella Mutual", &["financial-services", "insurance"]),
    ("Watchtower MSSP", &["technology"]),
];

const WORDS: [&str; 64] = [
    "actor",
    "campaign",
    "targets",
    "regional",
    "banks",
    "credential",
    "phishing",
    "payload",
    "delivered",
    "through",
    "invoice",
    "themed",
    "emails",
    "observed",
    "beaconing",
    "to",
    "infrastructure",
    "hosted",
    "on",
    "bulletproof",
    "providers",
    "loader",
    "drops",
    "second",
    "stage",
    "implant",
    "persistence",
    "via",
    "scheduled",
    "tasks",
    "and",
    "registry",
    "run",
    "keys",
    "exfiltration",
    "over",
    "https",
    "lateral",
    "movement",
    "with",
    "stolen",
    "accounts",
    "the",
    "operators",
    "rotate",
    "domains",
    "weekly",
    "sinkholed",
    "after",
    "takedown",
    "customers",
    "should",
    "block",
    "at",
    "perimeter",
    "seen",
    "by",
    "several",
    "members",
    "during",
    "overnight",
    "batch",
    "processing",
    "window",
];

const SYLLABLES: [&str; 24] = [
    "ka", "ro", "mi", "te", "lu", "van", "sor", "dex", "pri", "mo", "na", "zel", "qui", "tor",
    "bel", "fa", "gri", "sun", "lo", "cam", "pex", "ri", "tu", "ven",
];

const TLDS: [&str; 10] = [
    "com", "net", "org", "info", "xyz", "top", "io", "biz", "online", "site",
];

const SUBDOMAINS: [&str; 8] = [
    "login", "secure", "cdn", "mail", "update", "api", "portal", "docs",
];

const PATH_WORDS: [&str; 14] = [
    "invoice", "login", "wp-admin", "update", "download", "secure", "account", "verify", "files",
    "doc", "payment", "static", "gate", "panel",
];

const FILE_NAMES: [&str; 14] = [
    "invoice_2026.pdf.exe",
    "update.dll",
    "svch0st.exe",
    "payload.bin",
    "setup_x64.msi",
    "report.docm",
    "statement.xlsm",
    "agent.ps1",
    "loader.js",
    "remittance.zip",
    "swift_msg.lnk",
    "chrome_update.exe",
    "scan_0412.iso",
    "libcurl.dll",
];

const MIME: [&str; 5] = [
    "application/x-msdownload",
    "application/zip",
    "application/vnd.ms-word.document.macroEnabled.12",
    "application/octet-stream",
    "text/javascript",
];

const LOCKHEED: [&str; 7] = [
    "reconnaissance",
    "weaponization",
    "delivery",
    "exploitation",
    "installation",
    "command-and-control",
    "actions-on-objectives",
];

const TACTICS: [&str; 12] = [
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// (technique id, name, tactic): public ATT&CK facts, used for attack-pattern objects.
const TECHNIQUES: [(&str, &str, &str); 16] = [
    ("T1566.001", "Spearphishing Attachment", "initial-access"),
    ("T1566.002", "Spearphishing Link", "initial-access"),
    (
        "T1190",
        "Exploit Public-Facing Application",
        "initial-access",
    ),
    ("T1059.001", "PowerShell", "execution"),
    ("T1204.002", "Malicious File", "execution"),
    ("T1053.005", "Scheduled Task", "persistence"),
    (
        "T1547.001",
        "Registry Run Keys / Startup Folder",
        "persistence",
    ),
    (
        "T1027",
        "Obfuscated Files or Information",
        "defense-evasion",
    ),
    ("T1078", "Valid Accounts", "defense-evasion"),
    ("T1003.001", "LSASS Memory", "credential-access"),
    ("T1082", "System Information Discovery", "discovery"),
    ("T1021.001", "Remote Desktop Protocol", "lateral-movement"),
    ("T1071.001", "Web Protocols", "command-and-control"),
    ("T1105", "Ingress Tool Transfer", "command-and-control"),
    ("T1041", "Exfiltration Over C2 Channel", "exfiltration"),
    ("T1486", "Data Encrypted for Impact", "impact"),
];

const MALWARE_A: [&str; 12] = [
    "Black", "Silent", "Iron", "Crimson", "Night", "Frost", "Shadow", "Rapid", "Hollow", "Golden",
    "Quiet", "Storm",
];
const MALWARE_B: [&str; 12] = [
    "Viper", "Lynx", "Moth", "Anchor", "Relay", "Harvest", "Lantern", "Spider", "Wren", "Gate",
    "Drift", "Ember",
];
const MALWARE_TYPES: [&str; 10] = [
    "ransomware",
    "trojan",
    "remote-access-trojan",
    "backdoor",
    "dropper",
    "downloader",
    "spyware",
    "worm",
    "bot",
    "keylogger",
];
const CAPABILITIES: [&str; 8] = [
    "communicates-with-c2",
    "persists-after-system-reboot",
    "exfiltrates-data",
    "captures-credentials",
    "evades-av",
    "escalates-privileges",
    "accesses-remote-machines",
    "fingerprints-host",
];
const LANGUAGES: [&str; 7] = [
    "c",
    "c++",
    "go",
    "python",
    "powershell",
    "rust",
    "javascript",
];
const ARCHS: [&str; 4] = ["x86", "x86-64", "arm", "powerpc"];

const ACTOR_A: [&str; 10] = [
    "Fancy", "Wizard", "Cozy", "Sandy", "Velvet", "Copper", "Jade", "Marble", "Ocean", "Tundra",
];
const ACTOR_B: [&str; 9] = [
    "Bear", "Panda", "Kitten", "Chollima", "Spider", "Tempest", "Typhoon", "Sleet", "Blizzard",
];
const ACTOR_TYPES: [&str; 6] = [
    "crime-syndicate",
    "criminal",
    "nation-state",
    "hacker",
    "insider-disgruntled",
    "spy",
];
const ROLES: [&str; 4] = ["agent", "director", "sponsor", "infrastructure-operator"];
const SOPHISTICATION: [&str; 4] = ["intermediate", "advanced", "expert", "innovator"];
const RESOURCES: [&str; 4] = ["club", "contest", "organization", "government"];
const MOTIVATIONS: [&str; 4] = [
    "organizational-gain",
    "personal-gain",
    "ideology",
    "dominance",
];

const INDICATOR_TYPES: [&str; 4] = [
    "malicious-activity",
    "anomalous-activity",
    "attribution",
    "compromised",
];
const REPORT_TYPES: [&str; 6] = [
    "threat-report",
    "attack-pattern",
    "campaign",
    "indicator",
    "malware",
    "threat-actor",
];
const LABELS: [&str; 8] = [
    "phishing",
    "banking",
    "ransomware",
    "c2",
    "credential-theft",
    "fraud",
    "swift",
    "mobile",
];

/// (source type, relationship type, target type, weight).
const RELATIONSHIPS: [(&str, &str, &str, u32); 16] = [
    ("indicator", "indicates", "malware", 30),
    ("indicator", "indicates", "threat-actor", 6),
    ("indicator", "indicates", "campaign", 8),
    ("indicator", "indicates", "attack-pattern", 6),
    ("malware", "uses", "attack-pattern", 8),
    ("threat-actor", "uses", "malware", 6),
    ("threat-actor", "uses", "attack-pattern", 4),
    ("campaign", "attributed-to", "threat-actor", 5),
    ("campaign", "uses", "malware", 5),
    ("indicator", "based-on", "observed-data", 6),
    ("malware", "communicates-with", "ipv4-addr", 5),
    ("malware", "communicates-with", "domain-name", 5),
    ("malware", "communicates-with", "url", 3),
    ("indicator", "related-to", "indicator", 4),
    ("malware", "variant-of", "malware", 2),
    ("threat-actor", "targets", "identity", 2),
];

/// How far back references reach (in objects of the target type).
const RECENT: usize = 2000;

const START_MS: i64 = 1_748_736_000_000; // 2025-06-01T00:00:00Z
const SPAN_MS: i64 = 330 * 86_400_000;

pub struct Generator {
    rng: Rng,
    markings: Markings,
    expected: usize,
    produced: usize,
    clear_given: usize,
    pools: HashMap<&'static str, Vec<String>>,
    sco_ids: HashSet<String>,
    /// The share of the stream that is a new version of an earlier SDO (0: every object is new,
    /// and the stream is the same as before versions existed).
    versions: f64,
    /// Recent SDOs that may get a new version: the latest version of each and its `modified`.
    revisable: VecDeque<(Map<String, Value>, i64)>,
}

/// How many recent SDOs may be given a new version.
const REVISABLE: usize = 1000;

/// What the generator made: the objects and a summary.
pub struct Corpus {
    pub objects: Vec<Value>,
}

impl Corpus {
    pub fn generate(seed: u64, n: usize, markings: Markings) -> Corpus {
        let mut g = Generator::new(seed, n, markings);
        Corpus {
            objects: (0..n).map(|_| g.next_object()).collect(),
        }
    }

    /// Objects per type, most frequent first.
    pub fn type_counts(&self) -> Vec<(String, usize)> {
        let mut m: HashMap<String, usize> = HashMap::new();
        for o in &self.objects {
            *m.entry(o["type"].as_str().unwrap_or("?").to_owned())
                .or_default() += 1;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

fn stamp_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn stamp_s(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms - ms.rem_euclid(1000))
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A JSON string literal (for canonical SCO id inputs).
fn js(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

impl Generator {
    pub fn new(seed: u64, expected: usize, markings: Markings) -> Generator {
        Generator {
            rng: Rng::new(seed),
            markings,
            expected: expected.max(1),
            produced: 0,
            clear_given: 0,
            pools: HashMap::new(),
            sco_ids: HashSet::new(),
            versions: 0.0,
            revisable: VecDeque::new(),
        }
    }

    /// Makes a share `p` of the stream (after the producers' identities) new versions of recent
    /// indicators, malware, threat actors, campaigns and attack patterns: the same id, a later
    /// `modified`, a new `confidence` and sometimes a new description. Each new version is the
    /// latest of its object when it is made, so a later one builds on it.
    pub fn with_versions(mut self, p: f64) -> Generator {
        self.versions = p;
        self
    }

    fn pool(&self, t: &str) -> &[String] {
        self.pools.get(t).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A recent object of type `t`, if any was made.
    fn recent(&mut self, t: &str) -> Option<String> {
        let n = self.pool(t).len();
        if n == 0 {
            return None;
        }
        let from = n.saturating_sub(RECENT);
        let i = from + self.rng.below(n - from);
        Some(self.pool(t)[i].clone())
    }

    fn remember(&mut self, t: &'static str, id: &str) {
        self.pools.entry(t).or_default().push(id.to_owned());
    }

    /// The next object of the stream.
    pub fn next_object(&mut self) -> Value {
        // Drawn only when versions are asked for, so that other streams stay as they were.
        if self.versions > 0.0
            && self.produced >= PRODUCERS.len()
            && !self.revisable.is_empty()
            && self.rng.chance(self.versions)
        {
            return self.new_version();
        }
        // The stream opens with the producers' identities.
        let kind = if self.produced < PRODUCERS.len() {
            Kind::Identity
        } else {
            let weights: Vec<u32> = MIX.iter().map(|(_, w)| *w).collect();
            MIX[self.rng.weighted(&weights)].0
        };
        let created = START_MS
            + (self.produced as i64 * SPAN_MS) / self.expected as i64
            + self.rng.between(0, 20 * 60_000);
        let (mut obj, has_refs) = match kind {
            Kind::Indicator => (self.indicator(created), false),
            Kind::Ipv4 => (self.ipv4_sco(), false),
            Kind::Domain => (self.domain_sco(), false),
            Kind::Url => (self.url_sco(), false),
            Kind::File => (self.file_sco(), false),
            Kind::Malware => (self.malware(created), false),
            Kind::AttackPattern => (self.attack_pattern(created), false),
            Kind::Campaign => (self.campaign(created), false),
            Kind::ThreatActor => (self.threat_actor(created), false),
            Kind::Identity => (self.identity(created), false),
            Kind::Relationship => match self.relationship(created) {
                Some(o) => (o, true),
                None => (self.indicator(created), false),
            },
            Kind::Sighting => match self.sighting(created) {
                Some(o) => (o, true),
                None => (self.indicator(created), false),
            },
            Kind::ObservedData => match self.observed_data(created) {
                Some(o) => (o, true),
                None => (self.indicator(created), false),
            },
            Kind::Report => match self.report(created) {
                Some(o) => (o, true),
                None => (self.indicator(created), false),
            },
        };
        self.mark(&mut obj, has_refs);
        let t: &'static str = match obj["type"].as_str().expect("typed") {
            "indicator" => "indicator",
            "ipv4-addr" => "ipv4-addr",
            "domain-name" => "domain-name",
            "url" => "url",
            "file" => "file",
            "relationship" => "relationship",
            "sighting" => "sighting",
            "observed-data" => "observed-data",
            "malware" => "malware",
            "attack-pattern" => "attack-pattern",
            "campaign" => "campaign",
            "threat-actor" => "threat-actor",
            "report" => "report",
            _ => "identity",
        };
        let id = obj["id"].as_str().expect("id").to_owned();
        self.remember(t, &id);
        self.produced += 1;
        if self.versions > 0.0
            && matches!(
                t,
                "indicator" | "malware" | "threat-actor" | "campaign" | "attack-pattern"
            )
        {
            let modified = obj["modified"]
                .as_str()
                .and_then(|m| chrono::DateTime::parse_from_rfc3339(m).ok())
                .map_or(created, |d| d.timestamp_millis());
            if self.revisable.len() == REVISABLE {
                self.revisable.pop_front();
            }
            self.revisable.push_back((obj.clone(), modified));
        }
        Value::Object(obj)
    }

    /// A new version of a recent SDO (see `with_versions`).
    fn new_version(&mut self) -> Value {
        let now = START_MS
            + (self.produced as i64 * SPAN_MS) / self.expected as i64
            + self.rng.between(0, 20 * 60_000);
        let i = self.rng.below(self.revisable.len());
        let (mut o, last) = self.revisable[i].clone();
        let modified = last.max(now) + self.rng.between(1000, 6 * HOUR);
        o.insert("modified".into(), json!(stamp_ms(modified)));
        o.insert("confidence".into(), json!(self.rng.between(10, 100)));
        if o.contains_key("description") && self.rng.chance(0.5) {
            o.insert("description".into(), json!(self.sentence(8, 40)));
        }
        self.revisable[i] = (o.clone(), modified);
        self.produced += 1;
        Value::Object(o)
    }

    // ---- markings ----

    fn level(&mut self, has_refs: bool) -> Option<Level> {
        match self.markings {
            Markings::Mixed => {
                if self.rng.chance(0.12) {
                    return None;
                }
                let levels = [
                    Level::Clear,
                    Level::Green,
                    Level::Amber,
                    Level::AmberStrict,
                    Level::Red,
                ];
                Some(levels[self.rng.weighted(&[15, 45, 28, 8, 4])])
            }
            Markings::ReaderShare => {
                if !has_refs && self.clear_given < (self.produced + 1) / 100 {
                    self.clear_given += 1;
                    Some(Level::Clear)
                } else if self.rng.chance(0.55) {
                    Some(Level::Green)
                } else {
                    Some(Level::Amber)
                }
            }
        }
    }

    fn mark(&mut self, obj: &mut Map<String, Value>, has_refs: bool) {
        let level = self.level(has_refs);
        let tlp1 = self.rng.chance(0.4);
        if let Some(l) = level {
            obj.insert(
                "object_marking_refs".into(),
                json!([marking_id(l, tlp1 && l != Level::AmberStrict)]),
            );
        }
        // Granular markings on some SDOs: a stricter TLP on the description, sometimes on the
        // first external reference. Never on a CLEAR object of the reader-share corpus (its TLP
        // would no longer be CLEAR). No `lang` granular markings: valid STIX 2.1, but
        // stix2-validator 3.3.2 refuses them (conformance-tests/stix-corpus/DISAGREEMENTS.md),
        // and the corpus must be one both validators accept.
        let granular_ok = match self.markings {
            Markings::Mixed => true,
            Markings::ReaderShare => level != Some(Level::Clear),
        };
        if granular_ok && obj.contains_key("description") && self.rng.chance(0.06) {
            let mut gm = vec![json!({
                "marking_ref": marking_id(Level::Amber, tlp1),
                "selectors": ["description"],
            })];
            if obj.contains_key("external_references") && self.rng.chance(0.3) {
                gm.push(json!({
                    "marking_ref": marking_id(Level::Amber, tlp1),
                    "selectors": ["external_references.[0]"],
                }));
            }
            obj.insert("granular_markings".into(), Value::Array(gm));
        }
    }

    // ---- values ----

    fn sentence(&mut self, min: usize, max: usize) -> String {
        let n = min + self.rng.below(max - min + 1);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            let w: &&str = self.rng.pick(&WORDS);
            s.push_str(w);
        }
        let mut c = s.chars();
        match c.next() {
            Some(f) => format!("{}{}.", f.to_ascii_uppercase(), c.as_str()),
            None => s,
        }
    }

    fn ipv4(&mut self) -> String {
        let a = loop {
            let a = self.rng.between(1, 223);
            if a != 10 && a != 127 {
                break a;
            }
        };
        format!(
            "{a}.{}.{}.{}",
            self.rng.between(0, 255),
            self.rng.between(0, 255),
            self.rng.between(1, 254)
        )
    }

    fn label(&mut self) -> String {
        let n = 2 + self.rng.below(3);
        let mut s: String = (0..n).map(|_| *self.rng.pick(&SYLLABLES)).collect();
        if self.rng.chance(0.25) {
            s.push('-');
            let w: &&str = self.rng.pick(&PATH_WORDS);
            s.push_str(w);
        }
        s
    }

    fn domain(&mut self) -> String {
        let base = format!("{}.{}", self.label(), self.rng.pick(&TLDS));
        if self.rng.chance(0.3) {
            format!("{}.{base}", self.rng.pick(&SUBDOMAINS))
        } else {
            base
        }
    }

    fn url(&mut self) -> String {
        let scheme = if self.rng.chance(0.8) {
            "https"
        } else {
            "http"
        };
        let host = if self.rng.chance(0.15) {
            self.ipv4()
        } else {
            self.domain()
        };
        let mut u = format!("{scheme}://{host}");
        for _ in 0..1 + self.rng.below(3) {
            u.push('/');
            let w: &&str = self.rng.pick(&PATH_WORDS);
            u.push_str(w);
        }
        let ext: &&str = self.rng.pick(&[".php", ".zip", ".exe", "", "", ".html"]);
        u.push_str(ext);
        if self.rng.chance(0.2) {
            u.push_str(&format!("?id={}", self.rng.between(1000, 99999)));
        }
        u
    }

    fn kill_chain(&mut self) -> Value {
        let mut phases = vec![];
        if self.rng.chance(0.6) {
            phases.push(json!({
                "kill_chain_name": "mitre-attack",
                "phase_name": self.rng.pick(&TACTICS),
            }));
        }
        if phases.is_empty() || self.rng.chance(0.4) {
            phases.push(json!({
                "kill_chain_name": "lockheed-martin-cyber-kill-chain",
                "phase_name": self.rng.pick(&LOCKHEED),
            }));
        }
        Value::Array(phases)
    }

    fn sdo(&mut self, t: &str, created: i64) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("type".into(), json!(t));
        o.insert("spec_version".into(), json!("2.1"));
        o.insert("id".into(), json!(format!("{t}--{}", self.rng.uuid4())));
        let modified = if self.rng.chance(0.35) {
            created + self.rng.between(HOUR, 30 * DAY)
        } else {
            created
        };
        o.insert("created".into(), json!(stamp_ms(created)));
        o.insert("modified".into(), json!(stamp_ms(modified)));
        if t != "identity" && self.rng.chance(0.75) {
            let producers = self.pool("identity").len().min(PRODUCERS.len());
            if producers > 0 {
                let i = self.rng.below(producers);
                let id = self.pool("identity")[i].clone();
                o.insert("created_by_ref".into(), json!(id));
            }
        }
        if self.rng.chance(0.25) {
            o.insert("confidence".into(), json!(self.rng.between(10, 100)));
        }
        if self.rng.chance(0.15) {
            let k = 1 + self.rng.below(2);
            o.insert("labels".into(), json!(self.rng.sample(&LABELS, k)));
        }
        if self.rng.chance(0.1) {
            o.insert("lang".into(), json!("en"));
        }
        o
    }

    fn sco(&mut self, t: &str, canonical: String) -> Option<Map<String, Value>> {
        let id = format!(
            "{t}--{}",
            uuid::Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
        );
        if !self.sco_ids.insert(id.clone()) {
            return None; // the same observable again: the caller makes another
        }
        let mut o = Map::new();
        o.insert("type".into(), json!(t));
        if self.rng.chance(0.7) {
            o.insert("spec_version".into(), json!("2.1"));
        }
        o.insert("id".into(), json!(id));
        Some(o)
    }

    // ---- SCOs ----

    fn ipv4_sco(&mut self) -> Map<String, Value> {
        loop {
            let v = if self.rng.chance(0.05) {
                let ip = self.ipv4();
                let base = ip.rsplit_once('.').expect("dotted").0;
                format!("{base}.0/24")
            } else {
                self.ipv4()
            };
            if let Some(mut o) = self.sco("ipv4-addr", format!("{{\"value\":{}}}", js(&v))) {
                o.insert("value".into(), json!(v));
                return o;
            }
        }
    }

    fn domain_sco(&mut self) -> Map<String, Value> {
        loop {
            let v = self.domain();
            if let Some(mut o) = self.sco("domain-name", format!("{{\"value\":{}}}", js(&v))) {
                o.insert("value".into(), json!(v));
                return o;
            }
        }
    }

    fn url_sco(&mut self) -> Map<String, Value> {
        loop {
            let v = self.url();
            if let Some(mut o) = self.sco("url", format!("{{\"value\":{}}}", js(&v))) {
                o.insert("value".into(), json!(v));
                return o;
            }
        }
    }

    fn file_sco(&mut self) -> Map<String, Value> {
        loop {
            let mut hashes = vec![];
            if self.rng.chance(0.6) {
                hashes.push(("MD5", self.rng.hex(16)));
            }
            if self.rng.chance(0.4) {
                hashes.push(("SHA-1", self.rng.hex(20)));
            }
            hashes.push(("SHA-256", self.rng.hex(32)));
            let name = self
                .rng
                .chance(0.8)
                .then(|| self.rng.pick(&FILE_NAMES).to_string());
            // Canonical (sorted keys) JSON of the id-contributing properties; of the hashes,
            // only the first of MD5, SHA-1 and SHA-256 present contributes (section 2.9).
            let h: Vec<String> = hashes
                .iter()
                .take(1)
                .map(|(k, v)| format!("{}:{}", js(k), js(v)))
                .collect();
            let mut canonical = format!("{{\"hashes\":{{{}}}", h.join(","));
            if let Some(n) = &name {
                canonical.push_str(&format!(",\"name\":{}", js(n)));
            }
            canonical.push('}');
            if let Some(mut o) = self.sco("file", canonical) {
                let hm: Map<String, Value> = hashes
                    .into_iter()
                    .map(|(k, v)| (k.into(), json!(v)))
                    .collect();
                o.insert("hashes".into(), Value::Object(hm));
                if let Some(n) = name {
                    o.insert("name".into(), json!(n));
                }
                if self.rng.chance(0.7) {
                    o.insert("size".into(), json!(self.rng.between(2_048, 8_000_000)));
                }
                if self.rng.chance(0.3) {
                    o.insert("mime_type".into(), json!(self.rng.pick(&MIME)));
                }
                return o;
            }
        }
    }

    // ---- SDOs ----

    /// A STIX pattern of one of many shapes, with a name for the indicator.
    fn pattern(&mut self, valid_from: i64) -> (String, String) {
        let shape = self
            .rng
            .weighted(&[20, 15, 12, 12, 6, 6, 4, 3, 5, 2, 4, 4, 3, 3, 3, 2]);
        match shape {
            0 => {
                let ip = self.ipv4();
                (
                    format!("[ipv4-addr:value = '{ip}']"),
                    format!("C2 address {ip}"),
                )
            }
            1 => {
                let d = self.domain();
                (
                    format!("[domain-name:value = '{d}']"),
                    format!("Phishing domain {d}"),
                )
            }
            2 => {
                let u = self.url();
                (format!("[url:value = '{u}']"), "Malicious URL".into())
            }
            3 => (
                format!("[file:hashes.'SHA-256' = '{}']", self.rng.hex(32)),
                "Malicious file hash".into(),
            ),
            4 => (
                format!(
                    "[file:hashes.MD5 = '{}' OR file:hashes.'SHA-1' = '{}']",
                    self.rng.hex(16),
                    self.rng.hex(20)
                ),
                "Dropper sample".into(),
            ),
            5 => {
                let ip = self.ipv4();
                let port = *self.rng.pick(&[443, 8443, 80, 4444, 8080, 53]);
                (
                    format!(
                        "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '{ip}' AND network-traffic:dst_port = {port}]"
                    ),
                    format!("Beacon to {ip}:{port}"),
                )
            }
            6 => {
                let ip = self.ipv4();
                let base = ip.rsplit_once('.').expect("dotted").0.to_owned();
                (
                    format!("[ipv4-addr:value ISSUBSET '{base}.0/24']"),
                    format!("Hosting range {base}.0/24"),
                )
            }
            7 => {
                let d = self.domain().replace('.', "\\\\.");
                (
                    format!("[email-message:from_ref.value MATCHES '^[a-z0-9._-]+@{d}$']"),
                    "Phishing sender domain".into(),
                )
            }
            8 => {
                let f = self.rng.pick(&FILE_NAMES).to_string();
                let d = self.domain();
                (
                    format!(
                        "[file:name = '{f}'] FOLLOWEDBY [domain-name:value = '{d}'] WITHIN {} SECONDS",
                        self.rng.between(60, 3600)
                    ),
                    "Execution then callout".into(),
                )
            }
            9 => {
                let (a, b) = (self.ipv4(), self.ipv4());
                (
                    format!(
                        "([ipv4-addr:value = '{a}'] OR [ipv4-addr:value = '{b}']) REPEATS {} TIMES WITHIN {} SECONDS",
                        self.rng.between(2, 10),
                        self.rng.between(60, 900)
                    ),
                    "Repeated contact with known pair".into(),
                )
            }
            10 => (
                format!("[url:value LIKE '%/{}/%']", self.rng.pick(&PATH_WORDS)),
                "Suspicious URL path".into(),
            ),
            11 => {
                let names = self.rng.sample(&FILE_NAMES, 3);
                let list: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                (
                    format!("[process:name IN ({})]", list.join(", ")),
                    "Known loader processes".into(),
                )
            }
            12 => {
                let start = valid_from - valid_from.rem_euclid(DAY);
                (
                    format!(
                        "[x509-certificate:hashes.'SHA-256' = '{}'] START t'{}' STOP t'{}'",
                        self.rng.hex(32),
                        stamp_s(start),
                        stamp_s(start + self.rng.between(7, 90) * DAY)
                    ),
                    "C2 TLS certificate".into(),
                )
            }
            13 => {
                let d = self.domain();
                let ip = self.ipv4();
                (
                    format!(
                        "[domain-name:value = '{d}' AND domain-name:resolves_to_refs[*].value = '{ip}']"
                    ),
                    format!("{d} resolving to {ip}"),
                )
            }
            14 => (
                format!(
                    "[file:name = '{}' AND file:size > {}]",
                    self.rng.pick(&FILE_NAMES),
                    self.rng.between(10_000, 900_000)
                ),
                "Oversized attachment".into(),
            ),
            _ => (
                "[windows-registry-key:key = 'HKEY_CURRENT_USER\\\\Software\\\\Microsoft\\\\Windows\\\\CurrentVersion\\\\Run' AND windows-registry-key:values[*].name = 'updater']".into(),
                "Run key persistence".into(),
            ),
        }
    }

    fn external_ref(&mut self) -> Value {
        match self.rng.below(4) {
            0 => json!({
                "source_name": "acme-ticket",
                "external_id": format!("T-{}", self.rng.between(1000, 99999)),
            }),
            1 => json!({
                "source_name": "virustotal",
                "url": format!("https://www.virustotal.com/gui/file/{}", self.rng.hex(32)),
            }),
            2 => json!({
                "source_name": "cve",
                "external_id": format!("CVE-{}-{}", self.rng.between(2019, 2026), self.rng.between(1000, 59999)),
            }),
            _ => json!({
                "source_name": "vendor-blog",
                "description": self.sentence(4, 10),
                "url": format!("https://blog.{}/{}", self.domain(), self.rng.pick(&PATH_WORDS)),
            }),
        }
    }

    fn indicator(&mut self, created: i64) -> Map<String, Value> {
        let mut o = self.sdo("indicator", created);
        let valid_from = created - created.rem_euclid(1000);
        let (pattern, name) = self.pattern(valid_from);
        o.insert("name".into(), json!(name));
        if self.rng.chance(0.6) {
            o.insert("description".into(), json!(self.sentence(8, 40)));
        }
        let k = 1 + self.rng.below(2);
        o.insert(
            "indicator_types".into(),
            json!(self.rng.sample(&INDICATOR_TYPES, k)),
        );
        o.insert("pattern".into(), json!(pattern));
        o.insert("pattern_type".into(), json!("stix"));
        if self.rng.chance(0.5) {
            o.insert("pattern_version".into(), json!("2.1"));
        }
        o.insert("valid_from".into(), json!(stamp_s(valid_from)));
        if self.rng.chance(0.3) {
            o.insert(
                "valid_until".into(),
                json!(stamp_ms(valid_from + self.rng.between(30, 180) * DAY)),
            );
        }
        if self.rng.chance(0.4) {
            o.insert("kill_chain_phases".into(), self.kill_chain());
        }
        if self.rng.chance(0.25) {
            o.insert("external_references".into(), json!([self.external_ref()]));
        }
        o
    }

    fn malware(&mut self, created: i64) -> Map<String, Value> {
        let mut o = self.sdo("malware", created);
        let name = format!("{}{}", self.rng.pick(&MALWARE_A), self.rng.pick(&MALWARE_B));
        o.insert("name".into(), json!(name));
        o.insert("description".into(), json!(self.sentence(10, 50)));
        o.insert("is_family".into(), json!(self.rng.chance(0.8)));
        let k = 1 + self.rng.below(2);
        o.insert(
            "malware_types".into(),
            json!(self.rng.sample(&MALWARE_TYPES, k)),
        );
        if self.rng.chance(0.3) {
            o.insert(
                "aliases".into(),
                json!([format!(
                    "{}{}",
                    self.rng.pick(&MALWARE_B),
                    self.rng.between(2, 9)
                )]),
            );
        }
        if self.rng.chance(0.5) {
            o.insert("kill_chain_phases".into(), self.kill_chain());
        }
        if self.rng.chance(0.3) {
            let first = created - self.rng.between(30, 400) * DAY;
            o.insert("first_seen".into(), json!(stamp_ms(first)));
            o.insert("last_seen".into(), json!(stamp_ms(created)));
        }
        if self.rng.chance(0.3) {
            let k = 1 + self.rng.below(3);
            o.insert(
                "capabilities".into(),
                json!(self.rng.sample(&CAPABILITIES, k)),
            );
        }
        if self.rng.chance(0.2) {
            o.insert(
                "implementation_languages".into(),
                json!([self.rng.pick(&LANGUAGES)]),
            );
            o.insert(
                "architecture_execution_envs".into(),
                json!(self.rng.sample(&ARCHS, 2)),
            );
        }
        if self.rng.chance(0.4) {
            o.insert(
                "external_references".into(),
                json!([{
                    "source_name": "malpedia",
                    "url": format!("https://malpedia.example.org/details/win.{}", name.to_lowercase()),
                }]),
            );
        }
        o
    }

    fn attack_pattern(&mut self, created: i64) -> Map<String, Value> {
        let mut o = self.sdo("attack-pattern", created);
        let (tid, name, tactic) = *self.rng.pick(&TECHNIQUES);
        o.insert("name".into(), json!(name));
        if self.rng.chance(0.7) {
            o.insert("description".into(), json!(self.sentence(10, 40)));
        }
        let mut refs = vec![json!({
            "source_name": "mitre-attack",
            "external_id": tid,
            "url": format!("https://attack.mitre.org/techniques/{}", tid.replace('.', "/")),
        })];
        if self.rng.chance(0.2) {
            refs.push(json!({
                "source_name": "capec",
                "external_id": format!("CAPEC-{}", self.rng.between(1, 700)),
            }));
        }
        o.insert("external_references".into(), Value::Array(refs));
        o.insert(
            "kill_chain_phases".into(),
            json!([{ "kill_chain_name": "mitre-attack", "phase_name": tactic }]),
        );
        o
    }

    fn campaign(&mut self, created: i64) -> Map<String, Value> {
        let mut o = self.sdo("campaign", created);
        o.insert(
            "name".into(),
            json!(format!(
                "Operation {} {}",
                self.rng.pick(&ACTOR_A),
                self.rng.pick(&MALWARE_B)
            )),
        );
        o.insert("description".into(), json!(self.sentence(12, 60)));
        if self.rng.chance(0.4) {
            o.insert(
                "aliases".into(),
                json!([format!("Wave {}", self.rng.between(1, 40))]),
            );
        }
        if self.rng.chance(0.7) {
            let first = created - self.rng.between(5, 120) * DAY;
            o.insert("first_seen".into(), json!(stamp_ms(first)));
            o.insert("last_seen".into(), json!(stamp_ms(created)));
        }
        if self.rng.chance(0.5) {
            o.insert("objective".into(), json!(self.sentence(4, 10)));
        }
        o
    }

    fn threat_actor(&mut self, created: i64) -> Map<String, Value> {
        let mut o = self.sdo("threat-actor", created);
        o.insert(
            "name".into(),
            json!(format!(
                "{} {}",
                self.rng.pick(&ACTOR_A),
                self.rng.pick(&ACTOR_B)
            )),
        );
        o.insert("description".into(), json!(self.sentence(10, 50)));
        let k = 1 + self.rng.below(2);
        o.insert(
            "threat_actor_types".into(),
            json!(self.rng.sample(&ACTOR_TYPES, k)),
        );
        if self.rng.chance(0.5) {
            o.insert(
                "aliases".into(),
                json!([format!("TA{}", self.rng.between(400, 999))]),
            );
        }
        if self.rng.chance(0.4) {
            o.insert("roles".into(), json!([self.rng.pick(&ROLES)]));
            o.insert(
                "sophistication".into(),
                json!(self.rng.pick(&SOPHISTICATION)),
            );
            o.insert("resource_level".into(), json!(self.rng.pick(&RESOURCES)));
            o.insert(
                "primary_motivation".into(),
                json!(self.rng.pick(&MOTIVATIONS)),
            );
        }
        if self.rng.chance(0.5) {
            let first = created - self.rng.between(100, 2000) * DAY;
            o.insert("first_seen".into(), json!(stamp_ms(first)));
            o.insert("last_seen".into(), json!(stamp_ms(created)));
        }
        if self.rng.chance(0.4) {
            o.insert(
                "external_references".into(),
                json!([{
                    "source_name": "mitre-attack",
                    "external_id": format!("G{:04}", self.rng.between(1, 1200)),
                }]),
            );
        }
        o
    }

    fn identity(&mut self, created: i64) -> Map<String, Value> {
        let mut o = self.sdo("identity", created);
        let (name, sectors) = if self.produced < PRODUCERS.len() {
            PRODUCERS[self.produced]
        } else {
            *self.rng.pick(&PRODUCERS)
        };
        let name = if self.produced < PRODUCERS.len() {
            name.to_string()
        } else {
            format!("{name} branch {}", self.rng.between(1, 400))
        };
        o.insert("name".into(), json!(name));
        o.insert("identity_class".into(), json!("organization"));
        o.insert("sectors".into(), json!(sectors));
        if self.rng.chance(0.5) {
            o.insert(
                "contact_information".into(),
                json!(format!("soc@{}", self.domain())),
            );
        }
        o
    }

    fn relationship(&mut self, created: i64) -> Option<Map<String, Value>> {
        let usable: Vec<usize> = (0..RELATIONSHIPS.len())
            .filter(|&i| {
                let (s, _, t, _) = RELATIONSHIPS[i];
                !self.pool(s).is_empty() && !self.pool(t).is_empty()
            })
            .collect();
        if usable.is_empty() {
            return None;
        }
        let weights: Vec<u32> = usable.iter().map(|&i| RELATIONSHIPS[i].3).collect();
        let (s, rel, t, _) = RELATIONSHIPS[usable[self.rng.weighted(&weights)]];
        let source = self.recent(s)?;
        let target = self.recent(t)?;
        let mut o = self.sdo("relationship", created);
        o.insert("relationship_type".into(), json!(rel));
        o.insert("source_ref".into(), json!(source));
        o.insert("target_ref".into(), json!(target));
        if self.rng.chance(0.3) {
            o.insert("description".into(), json!(self.sentence(6, 25)));
        }
        if self.rng.chance(0.1) {
            let start = created - self.rng.between(1, 60) * DAY;
            o.insert("start_time".into(), json!(stamp_ms(start)));
            o.insert("stop_time".into(), json!(stamp_ms(created)));
        }
        Some(o)
    }

    fn sighting(&mut self, created: i64) -> Option<Map<String, Value>> {
        let of = if self.rng.chance(0.8) {
            self.recent("indicator")
        } else {
            self.recent("malware")
        }
        .or_else(|| self.recent("indicator"))?;
        let mut o = self.sdo("sighting", created);
        o.insert("sighting_of_ref".into(), json!(of));
        if self.rng.chance(0.5) {
            if let Some(od) = self.recent("observed-data") {
                o.insert("observed_data_refs".into(), json!([od]));
            }
        }
        if self.rng.chance(0.6) {
            let k = 1 + self.rng.below(2);
            let ids: Vec<String> = (0..k).filter_map(|_| self.recent("identity")).collect();
            let mut ids: Vec<String> = ids
                .into_iter()
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            ids.sort();
            o.insert("where_sighted_refs".into(), json!(ids));
        }
        if self.rng.chance(0.7) {
            let first = created - self.rng.between(HOUR, 5 * DAY);
            o.insert("first_seen".into(), json!(stamp_ms(first)));
            o.insert(
                "last_seen".into(),
                json!(stamp_ms(first + self.rng.between(0, 2 * HOUR))),
            );
        }
        o.insert("count".into(), json!(self.rng.between(1, 500)));
        if self.rng.chance(0.2) {
            o.insert("description".into(), json!(self.sentence(5, 20)));
        }
        Some(o)
    }

    /// STIX 2.1 style: object_refs to SCOs made earlier. (Not the deprecated embedded
    /// `objects`, valid STIX 2.1 on which stix2-validator 3.3.2 crashes: see DISAGREEMENTS.md.)
    fn observed_data(&mut self, created: i64) -> Option<Map<String, Value>> {
        let k = 1 + self.rng.below(3);
        let mut refs = vec![];
        for _ in 0..k {
            let t = *self.rng.pick(&["ipv4-addr", "domain-name", "url", "file"]);
            if let Some(id) = self.recent(t) {
                if !refs.contains(&id) {
                    refs.push(id);
                }
            }
        }
        if refs.is_empty() {
            return None;
        }
        let mut o = self.sdo("observed-data", created);
        let first = created - self.rng.between(HOUR, 3 * DAY);
        o.insert("first_observed".into(), json!(stamp_ms(first)));
        o.insert(
            "last_observed".into(),
            json!(stamp_ms(first + self.rng.between(0, 2 * HOUR))),
        );
        o.insert("number_observed".into(), json!(self.rng.between(1, 500)));
        o.insert("object_refs".into(), json!(refs));
        Some(o)
    }

    fn report(&mut self, created: i64) -> Option<Map<String, Value>> {
        let k = 2 + self.rng.below(19);
        let kinds = [
            ("indicator", 40),
            ("malware", 10),
            ("attack-pattern", 8),
            ("threat-actor", 5),
            ("campaign", 5),
            ("relationship", 20),
            ("sighting", 5),
            ("observed-data", 5),
            ("ipv4-addr", 4),
            ("domain-name", 4),
            ("url", 3),
            ("file", 3),
        ];
        let weights: Vec<u32> = kinds.iter().map(|(_, w)| *w).collect();
        let mut refs = vec![];
        let mut seen = HashSet::new();
        for _ in 0..k {
            let t = kinds[self.rng.weighted(&weights)].0;
            if let Some(id) = self.recent(t) {
                if seen.insert(id.clone()) {
                    refs.push(id);
                }
            }
        }
        if refs.is_empty() {
            return None;
        }
        let mut o = self.sdo("report", created);
        o.insert(
            "name".into(),
            json!(format!(
                "Weekly threat digest {}-{:02}",
                2025 + (created - START_MS) / (365 * DAY),
                self.rng.between(1, 52)
            )),
        );
        o.insert("description".into(), json!(self.sentence(20, 80)));
        o.insert("published".into(), json!(stamp_ms(created)));
        let k = 1 + self.rng.below(2);
        o.insert(
            "report_types".into(),
            json!(self.rng.sample(&REPORT_TYPES, k)),
        );
        o.insert("object_refs".into(), json!(refs));
        if self.rng.chance(0.5) {
            o.insert(
                "external_references".into(),
                json!([{
                    "source_name": "cert-advisory",
                    "external_id": format!("ADV-{}", self.rng.between(1000, 9999)),
                    "url": format!("https://cert.example.org/advisories/{}", self.rng.between(1000, 9999)),
                }]),
            );
        }
        Some(o)
    }
}

/// The most restrictive TLP among an object's object and granular markings.
pub fn object_level(o: &Value) -> Option<Level> {
    let mut ids: Vec<&str> = vec![];
    if let Some(a) = o["object_marking_refs"].as_array() {
        ids.extend(a.iter().filter_map(Value::as_str));
    }
    if let Some(a) = o["granular_markings"].as_array() {
        ids.extend(a.iter().filter_map(|g| g["marking_ref"].as_str()));
    }
    ids.into_iter().filter_map(level_of).max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_corpus() {
        let a = Corpus::generate(3, 500, Markings::Mixed);
        let b = Corpus::generate(3, 500, Markings::Mixed);
        assert_eq!(a.objects, b.objects);
        let c = Corpus::generate(4, 500, Markings::Mixed);
        assert_ne!(a.objects, c.objects);
    }

    #[test]
    fn ids_are_unique_and_references_point_backwards() {
        let c = Corpus::generate(11, 5000, Markings::Mixed);
        let mut seen = HashSet::new();
        for o in &c.objects {
            let refs = cairn::stix::refs::content_refs(o);
            for r in refs {
                assert!(seen.contains(&r), "{r} referenced before it exists");
            }
            assert!(seen.insert(o["id"].as_str().unwrap().to_owned()));
        }
    }

    #[test]
    fn reader_share_marks_one_in_a_hundred_clear() {
        let c = Corpus::generate(5, 20_000, Markings::ReaderShare);
        let clear = c
            .objects
            .iter()
            .filter(|o| object_level(o) == Some(Level::Clear))
            .count();
        // One due every hundred objects; the last may still be waiting for a ref-free object.
        assert!((199..=200).contains(&clear), "{clear}");
        for o in &c.objects {
            assert!(object_level(o).is_some(), "unmarked: {o}");
            if object_level(o) == Some(Level::Clear) {
                assert!(cairn::stix::refs::content_refs(o).is_empty());
            }
        }
    }

    #[test]
    fn versions_share_ids_with_later_modified_and_stay_valid() {
        let plain = Corpus::generate(9, 3000, Markings::Mixed);
        let mut g = Generator::new(9, 3000, Markings::Mixed).with_versions(0.0);
        let same: Vec<Value> = (0..3000).map(|_| g.next_object()).collect();
        assert_eq!(
            plain.objects, same,
            "versions off leaves the stream as it was"
        );

        let v = cairn::stix::Validator::new().unwrap();
        let mut g = Generator::new(9, 5000, Markings::Mixed).with_versions(0.05);
        let mut latest: HashMap<String, String> = HashMap::new();
        let mut again = 0;
        for i in 0..5000 {
            let o = g.next_object();
            let id = o["id"].as_str().unwrap().to_owned();
            if let Some(m) = o["modified"].as_str() {
                if let Some(prev) = latest.insert(id.clone(), m.to_owned()) {
                    assert!(m > prev.as_str(), "{id}: {m} not after {prev}");
                    again += 1;
                }
            }
            let raw = serde_json::value::to_raw_value(&o).unwrap();
            if let Err(r) = v.check(raw.get(), i) {
                panic!("{}: {}\n{o}", r.id, r.message());
            }
        }
        assert!((150..=350).contains(&again), "{again} new versions");
    }

    #[test]
    fn every_generated_object_is_valid() {
        let v = cairn::stix::Validator::new().unwrap();
        for m in [Markings::Mixed, Markings::ReaderShare] {
            let c = Corpus::generate(21, 3000, m);
            for (i, o) in c.objects.iter().enumerate() {
                let raw = serde_json::value::to_raw_value(o).unwrap();
                if let Err(r) = v.check(raw.get(), i) {
                    panic!("{}: {}\n{o}", r.id, r.message());
                }
            }
        }
    }
}
