//! The layer check: every file under src/ names only its own module and the layers below it, and
//! the database and web frameworks stay in the layer that wraps them. It reads the source as Rust
//! tokens, so comments and strings never count, while paths inside macro calls do.

use std::path::Path;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// The crate's top modules, lowest layer first. A module may name modules of lower layers only;
/// two modules of one layer may not name each other. A new module must be placed here.
const LAYERS: &[&[&str]] = &[
    &["ids", "metrics", "telemetry"], // leaves: names, counters, log set-up
    &["config"],                      // the settings, read by the layers that act on them
    &["stix"],                        // the STIX model and its validation
    &["taxii", "clock"], // protocol types, free of actix and diesel; the one reader of "now"
    &["policy", "sharing"], // pure decisions: access, and the sharing engine
    &["storage"],        // the only diesel code
    &["service"],        // use cases
    &["http"],           // the only actix code
    &["setup", "startup"], // the setup file; building the server
    &["cli"],            // the commands
    &["main"],           // the binary
];

/// External crates only some top modules may name: the storage engine's and the web server's.
const CONFINED: &[(&str, &[&str])] = &[
    ("diesel", &["storage"]),
    ("diesel_migrations", &["storage"]),
    ("libsqlite3_sys", &["storage"]),
    ("actix_web", &["http", "startup", "main"]),
    ("actix_http", &["http", "startup", "main"]),
    ("actix_server", &["http", "startup", "main"]),
    ("actix_rt", &["http", "startup", "main"]),
];

/// Lower layers a module may still not name, though they are below it: (module, layer, why).
const BARRED: &[(&str, &str, &str)] = &[(
    "http",
    "storage",
    "HTTP reaches stored data only through service's use cases",
)];

/// Known exceptions: (file under src/, what it names, why it stays for now). An entry that no
/// longer matches anything fails the check, so the list only shrinks.
const ALLOWED: &[(&str, &str, &str)] = &[(
    "config.rs",
    "actix_web",
    "checks server.public_url with the URI parser the server itself uses",
)];

#[test]
fn src_imports_follow_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_sources(&root, &root, &mut files);
    assert!(
        files.len() > 50,
        "read only {} files under src/",
        files.len()
    );
    let problems = check(&files, ALLOWED);
    assert!(
        problems.is_empty(),
        "imports against the layer order:\n{}",
        problems.join("\n")
    );
}

/// Every `.rs` file under `dir`, as (path relative to src/ with `/`, text).
fn read_sources(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_sources(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy();
            out.push((
                rel.replace('\\', "/"),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

/// One name a file uses: a top module of the crate or a confined external crate.
struct Named {
    name: String,
    line: usize,
}

/// The problems of a set of files, one line each.
fn check(files: &[(String, String)], allowed: &[(&str, &str, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut used = vec![false; allowed.len()];
    for (file, text) in files {
        let module = module_path(file);
        let Some(top) = module.first().cloned() else {
            continue; // lib.rs declares the modules; it belongs to no layer
        };
        if layer_of(&top).is_none() {
            problems.push(format!("src/{file}: module {top} has no place in LAYERS"));
            continue;
        }
        let tokens: TokenStream = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("src/{file}: does not tokenize: {e}"));
                continue;
            }
        };
        let mut names = Vec::new();
        walk(tokens, &module, &mut names);
        for n in names {
            let Some(why) = against_layers(&top, &n.name) else {
                continue;
            };
            match allowed.iter().position(|a| a.0 == file && a.1 == n.name) {
                Some(i) => used[i] = true,
                None => problems.push(format!("src/{file}:{}: {why}", n.line)),
            }
        }
    }
    for (entry, used) in allowed.iter().zip(used) {
        if !used {
            problems.push(format!(
                "allow-list entry {entry:?} matches nothing: remove it"
            ));
        }
    }
    problems
}

/// Why `top` may not name `name`, or None when it may.
fn against_layers(top: &str, name: &str) -> Option<String> {
    if let Some((_, owners)) = CONFINED.iter().find(|c| c.0 == name) {
        return (!owners.contains(&top)).then(|| format!("{top} names {name}, kept to {owners:?}"));
    }
    if top == name {
        return None;
    }
    let (Some(from), Some(to)) = (layer_of(top), layer_of(name)) else {
        return Some(format!(
            "{top} names crate::{name}, which has no place in LAYERS"
        ));
    };
    if to >= from {
        return Some(format!("{top} names {name}, which is not in a lower layer"));
    }
    let barred = BARRED.iter().find(|b| b.0 == top && b.1 == name);
    barred.map(|b| format!("{top} names {name}: {}", b.2))
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The module a file holds: `http/handlers.rs` is http::handlers, `stix/mod.rs` is stix, `main.rs`
/// is the binary (named main here), `lib.rs` the crate root.
fn module_path(file: &str) -> Vec<String> {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let stem = stem.strip_suffix("/mod").unwrap_or(stem);
    match stem {
        "lib" => Vec::new(),
        _ => stem.split('/').map(str::to_string).collect(),
    }
}

/// Collects what the tokens name, descending into groups (macro calls too) and inline modules.
/// Items under `#[cfg(test)]` are left out: tests may build their fixtures with any layer.
fn walk(tokens: TokenStream, module: &[String], out: &mut Vec<Named>) {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tokens.len() {
        if is_cfg_test(&tokens[i..]) {
            i = skip_item(&tokens, i + 2);
            continue;
        }
        if let Some((name, body)) = inline_module(&tokens[i..]) {
            let mut inner = module.to_vec();
            inner.push(name);
            walk(body, &inner, out);
            i += 3;
            continue;
        }
        match &tokens[i] {
            TokenTree::Group(g) => walk(g.stream(), module, out),
            TokenTree::Ident(_) => i = path_at(&tokens, i, module, out),
            _ => {}
        }
        i += 1;
    }
}

/// Records what a path starting at `tokens[i]` names; returns the index of its last token read.
fn path_at(tokens: &[TokenTree], i: usize, module: &[String], out: &mut Vec<Named>) -> usize {
    let word = tokens[i].to_string();
    let line = tokens[i].span().start().line;
    let after_use = i > 0 && matches!(tokens[i - 1].to_string().as_str(), "use" | "crate");
    if CONFINED.iter().any(|c| c.0 == word) && (after_use || is_path_sep(tokens, i + 1)) {
        out.push(Named { name: word, line });
        return i;
    }
    let root_alias = if module.first().is_some_and(|m| m == "main") {
        "cairn"
    } else {
        "crate"
    };
    let mut depth = module.len();
    let mut at = i;
    if word == root_alias && is_path_sep(tokens, at + 1) {
        depth = 0;
        at += 3;
    } else {
        while at < tokens.len() && tokens[at].to_string() == "super" && is_path_sep(tokens, at + 1)
        {
            depth = depth.saturating_sub(1);
            at += 3;
        }
    }
    if depth > 0 || at == i || at >= tokens.len() {
        return i; // stays inside this top module
    }
    for name in first_segments(&tokens[at]) {
        out.push(Named { name, line });
    }
    at
}

/// The first segment of a path, or of each path of a `{a::b, c}` group.
fn first_segments(token: &TokenTree) -> Vec<String> {
    match token {
        TokenTree::Ident(id) => vec![id.to_string()],
        TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {
            let mut names = Vec::new();
            let mut starts = true;
            for t in g.stream() {
                match &t {
                    TokenTree::Punct(p) if p.as_char() == ',' => starts = true,
                    TokenTree::Ident(id) if starts && id != "self" => {
                        names.push(id.to_string());
                        starts = false;
                    }
                    _ => starts = false,
                }
            }
            names
        }
        _ => Vec::new(),
    }
}

fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    match (tokens.get(i), tokens.get(i + 1)) {
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) => {
            a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
        }
        _ => false,
    }
}

/// `#[cfg(test)]` at the start of `tokens`.
fn is_cfg_test(tokens: &[TokenTree]) -> bool {
    match tokens {
        [TokenTree::Punct(p), TokenTree::Group(g), ..] => {
            p.as_char() == '#'
                && g.delimiter() == Delimiter::Bracket
                && g.stream().to_string().replace(' ', "") == "cfg(test)"
        }
        _ => false,
    }
}

/// The index just past the item that starts at `from`: its `;` or its body in braces.
fn skip_item(tokens: &[TokenTree], from: usize) -> usize {
    let end = tokens[from..].iter().position(|t| match t {
        TokenTree::Punct(p) => p.as_char() == ';',
        TokenTree::Group(g) => g.delimiter() == Delimiter::Brace,
        _ => false,
    });
    end.map_or(tokens.len(), |e| from + e + 1)
}

/// `mod name { ... }` at the start of `tokens`: the name and the body.
fn inline_module(tokens: &[TokenTree]) -> Option<(String, TokenStream)> {
    match tokens {
        [TokenTree::Ident(kw), TokenTree::Ident(name), TokenTree::Group(g), ..]
            if kw == "mod" && g.delimiter() == Delimiter::Brace =>
        {
            Some((name.to_string(), g.stream()))
        }
        _ => None,
    }
}

/// The checker itself, on made-up files.
mod checker {
    use super::check;

    fn problems(file: &str, text: &str) -> Vec<String> {
        check(&[(file.to_string(), text.to_string())], &[])
    }

    #[test]
    fn an_import_from_a_higher_layer_fails() {
        let found = problems("stix/rules.rs", "use crate::taxii::query::Query;");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("src/stix/rules.rs:1: stix names taxii"),
            "{found:?}"
        );
    }

    #[test]
    fn imports_from_lower_layers_and_the_own_module_pass() {
        let text = "use crate::service::Cairn;\nuse crate::taxii::media;\nuse super::error::E;";
        assert_eq!(problems("http/handlers.rs", text), Vec::<String>::new());
        assert_eq!(
            problems("cli.rs", "use crate::setup::plan;"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_barred_lower_layer_fails() {
        let found = problems("http/mod.rs", "fn f(r: &crate::storage::objects::Row) {}");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("only through service"), "{found:?}");
    }

    #[test]
    fn grouped_super_and_inline_paths_are_read() {
        let grouped = problems(
            "taxii/query.rs",
            "use crate::{stix::tlp, storage::Storage};",
        );
        assert_eq!(grouped.len(), 1, "{grouped:?}");
        assert_eq!(problems("policy/mod.rs", "use super::service::X;").len(), 1);
        assert_eq!(
            problems("policy/a/b.rs", "use super::super::super::http::X;").len(),
            1
        );
        assert!(problems("policy/a/b.rs", "use super::super::decision::X;").is_empty());
        let in_macro = "fn f() -> String { format!(\"{}\", crate::http::NAME) }";
        assert_eq!(problems("storage/mod.rs", in_macro).len(), 1);
        let same_layer = problems("setup.rs", "use crate::startup::Application;");
        assert_eq!(same_layer.len(), 1, "{same_layer:?}");
    }

    #[test]
    fn comments_strings_and_test_modules_do_not_count() {
        let text =
            "// use crate::http;\n/// [`crate::http`]\nconst S: &str = \"crate::http::x\";\n\
                    #[cfg(test)]\nmod tests { use crate::setup::parse; }\nuse crate::clock::Clock;";
        assert_eq!(problems("service/mod.rs", text), Vec::<String>::new());
    }

    #[test]
    fn confined_crates_stay_in_their_layer() {
        assert_eq!(
            problems("service/mod.rs", "use diesel::prelude::*;").len(),
            1
        );
        assert_eq!(
            problems("policy/mod.rs", "fn f() { actix_web::rt::spawn(x); }").len(),
            1
        );
        assert!(problems("storage/mod.rs", "use diesel::prelude::*;").is_empty());
        assert!(problems("http/mod.rs", "use actix_web::web;").is_empty());
    }

    #[test]
    fn unplaced_modules_and_stale_exceptions_fail() {
        assert_eq!(
            problems("brand_new.rs", "use crate::clock::Clock;").len(),
            1
        );
        let files = [("stix/mod.rs".to_string(), String::new())];
        let stale = check(&files, &[("stix/mod.rs", "taxii", "was fixed")]);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert!(stale[0].contains("matches nothing"), "{stale:?}");
    }
}
