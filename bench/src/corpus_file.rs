//! `corpus`: writes the bench corpus (the seeded generator of `corpus.rs`, the same mix
//! `compare` posts: mixed markings, 5% new versions) to a file, for `cairn import`. As JSON
//! lines (one object a line) or as one bundle (a single JSON document holding every object).
//! Objects are written as they are generated, so the file may be far larger than memory.
//! With `--setup-dir` it also writes a config and a setup file like `compare`'s (one community,
//! `compare`, whose moderator user is `cert-bot`), for `cairn apply` and `cairn import`.

use crate::compare::servers;
use crate::corpus::{Generator, Markings};
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One object per line.
    Jsonl,
    /// One STIX bundle.
    Bundle,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Objects to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub objects: usize,
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// The file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the corpus (as for `compare`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of the corpus that is a new version of an earlier object (as for `compare`).
    #[arg(long, default_value_t = 0.05)]
    pub versions: f64,
    /// Also write `cairn.toml` (SQLite at DIR/cairn.db) and `setup.toml` (the bench's
    /// community) into this directory.
    #[arg(long)]
    pub setup_dir: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.setup_dir {
        write_setup(dir)?;
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut g =
        Generator::new(args.seed, args.objects, Markings::Mixed).with_versions(args.versions);
    if args.format == Format::Bundle {
        let id = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("cairn-bench corpus {} {}", args.seed, args.objects).as_bytes(),
        );
        write!(
            out,
            "{{\"type\":\"bundle\",\"id\":\"bundle--{id}\",\"objects\":["
        )?;
    }
    let mut types: BTreeMap<String, usize> = BTreeMap::new();
    let mut versions = 0usize;
    let mut seen = std::collections::HashSet::new();
    for i in 0..args.objects {
        let o = g.next_object();
        *types
            .entry(o["type"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        // (id, modified) is unique; a repeated id is a new version.
        if !seen.insert(o["id"].as_str().context("object without id")?.to_owned()) {
            versions += 1;
        }
        match args.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut out, &o)?;
                out.write_all(b"\n")?;
            }
            Format::Bundle => {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut out, &o)?;
            }
        }
    }
    if args.format == Format::Bundle {
        out.write_all(b"]}\n")?;
    }
    out.flush()?;
    drop(out);
    let bytes = std::fs::metadata(&args.out)?.len();
    let mut t: Vec<(String, usize)> = types.into_iter().collect();
    t.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
    println!(
        "wrote {} objects ({} distinct ids, {versions} new versions), {bytes} bytes, to {}",
        args.objects,
        seen.len(),
        args.out.display()
    );
    println!(
        "types: {}",
        t.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// `cairn.toml` and `setup.toml` for a fresh SQLite database in `dir`.
fn write_setup(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join("cairn.db");
    std::fs::write(
        dir.join("cairn.toml"),
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n[storage]\nurl = \"sqlite://{}\"\n",
            db.display()
        ),
    )?;
    std::fs::write(dir.join("setup.toml"), servers::cairn_setup()?)?;
    println!(
        "wrote {0}/cairn.toml and {0}/setup.toml (community compare, user {1})",
        dir.display(),
        servers::CAIRN_WRITER.1
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn write(format: Format, dir: &std::path::Path) -> Vec<serde_json::Value> {
        let out = dir.join(format!("{format:?}"));
        run(Args {
            objects: 300,
            format,
            out: out.clone(),
            seed: 1,
            versions: 0.05,
            setup_dir: None,
        })
        .expect("writes");
        let text = std::fs::read_to_string(&out).expect("reads");
        match format {
            Format::Jsonl => text
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON object a line"))
                .collect(),
            Format::Bundle => {
                let b: serde_json::Value = serde_json::from_str(&text).expect("one document");
                assert_eq!(b["type"], "bundle");
                assert!(b["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("bundle--")));
                b["objects"].as_array().expect("objects").clone()
            }
        }
    }

    #[test]
    fn both_formats_hold_the_same_objects_each_version_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lines = write(Format::Jsonl, dir.path());
        let bundle = write(Format::Bundle, dir.path());
        assert_eq!(lines.len(), 300);
        assert_eq!(lines, bundle);
        let versions: HashSet<(String, String)> = lines
            .iter()
            .map(|o| (o["id"].to_string(), o["modified"].to_string()))
            .collect();
        assert_eq!(versions.len(), 300, "an (id, modified) pair repeats");
    }
}
