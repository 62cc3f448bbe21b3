//! The error reasons the protos document are the ones the code returns.
//!
//! Every error of the suite carries a `google.rpc.ErrorInfo` whose `reason`
//! clients switch on, so the proto comments naming reasons are contract. This
//! test reads both sides from the sources and fails listing every difference:
//!
//! - **Code**: the Rust sources under `services/*/src` and `shared/*/src`
//!   (comments and `#[cfg(test)]` items left out), tokenized, and the string
//!   literals in reason position: the argument named `reason` (of a `'static`
//!   type) of any function or closure — `CsmError::new(code, "X", …)`, the
//!   named constructors (`invalid_argument`, `failed_precondition`, …),
//!   `FieldErrors::add_with_reason`, helpers such as role's `unique_as`, the
//!   collision `finding(…)` closure —, a constant passed there
//!   (`INVALID_PAGE_TOKEN`), `reason: "X"` struct fields, `let reason = …`
//!   bindings, the arms of `fn reason(&self) -> &'static str` (`LinkRefusal`,
//!   `RateLimit`), `CsmError::not_found("kind", …)` as `<KIND>_NOT_FOUND`, and
//!   `ErrorCode::default_reason` when something calls it. A reason argument
//!   that is none of these must be listed in [`INDIRECT`], with what it can be.
//! - **Protos**: the `//` comments of `proto/csm/*/v1/*.proto`. A list of
//!   reasons starts right after the word `reason`/`reasons`: UPPER_SNAKE words
//!   joined by commas, "and" or "or", each maybe followed by a parenthesised
//!   explanation (skipped). Anything else ends it: a `;`, the end of a
//!   sentence, another word, or a gRPC code name that is not its first reason
//!   ("FAILED_PRECONDITION reason ROLE_COLLISION, NOT_FOUND reason
//!   ROLE_NOT_FOUND"; "INVALID_ARGUMENT reason INVALID_ARGUMENT"). A code
//!   name directly followed by a reason ("PERMISSION_DENIED ACCESS_DENIED")
//!   is refused, so that no reason is written where this test cannot read it.
//!
//! A reason of a service's sources must be named in that service's proto or
//! in `csm.common` (the suite conventions); a reason of a shared crate in
//! `csm.common` (or, for `shared/audit`, in `csm.audit`). A reason a proto
//! names must be one its service's sources or the shared crates return.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The gRPC code names: in a reason list they start another clause.
const GRPC_CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Reason arguments that are not a literal, a known constant or a reason the
/// other rules already collect: (file, argument, the reasons it can be).
const INDIRECT: &[(&str, &str, &[&str])] = &[
    // The CsmError constructors and FieldErrors::into_error pass their own
    // `reason` on; their callers' literals (and into_error's
    // `let reason = … "INVALID_ARGUMENT"`) are collected.
    ("shared/errors/src/lib.rs", "reason", &[]),
    // A peer that answers UNAVAILABLE keeps its reason (directory.rs
    // peer_error): a peer's own UNAVAILABLE reasons, all from shared crates
    // (server/lib.rs and audit.rs, db, server/timeout.rs, peers).
    (
        "shared/server/src/directory.rs",
        "reason",
        &["SERVICE_STARTING", "DATABASE_UNAVAILABLE", "OVERLOADED", "DEPENDENCY_UNAVAILABLE"],
    ),
    // csm_db::unique_as(error, reason, message): its callers' literals are collected.
    ("shared/db/src/lib.rs", "reason", &[]),
    // LinkRefusal::reason (collected from its `fn reason`).
    ("services/identity/src/app/consumers.rs", "refusal.reason()", &[]),
    // RateLimit::reason (collected from its `fn reason`).
    ("services/case-access/src/app/work/mod.rs", "limit.reason()", &[]),
    // AssetInUse::reason (collected from its `fn reason`).
    ("services/case-access/src/app/parties.rs", "in_use.reason()", &[]),
    // collisions::Finding::reason: the `finding("…")` closure and
    // `reason: "…"` fields of domain/collisions.rs (collected).
    ("services/role/src/app/catalog_admin.rs", "finding.reason", &[]),
    ("services/role/src/app/profiles.rs", "finding.reason", &[]),
    ("services/role/src/app/groups.rs", "finding.reason", &[]),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn is_reason_word(word: &str) -> bool {
    let mut parts = word.split('_');
    let letters = word.chars().filter(char::is_ascii_uppercase).count();
    letters >= 3
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && parts.all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
}

// ------------------------------------------------------------------ owners

/// Who documents a source's or a proto's reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    /// A service: its proto package directory (`proto/csm/<dir>/v1`).
    Service(&'static str),
    /// The shared crates: every service returns their reasons.
    Shared,
    /// shared/audit: the AuditService every service serves.
    Audit,
}

const SERVICES: &[(&str, &str)] = &[
    ("identity", "identity"),
    ("role", "role"),
    ("account-team", "account_team"),
    ("case-access", "case_access"),
    ("licensing", "licensing"),
];

/// The owner of a source under `services/<dir>` or `shared/<dir>`; `None`
/// for the `csm` command-line tool, which serves nothing.
fn source_owner(relative: &str) -> Option<Owner> {
    let mut parts = relative.split('/');
    match (parts.next(), parts.next()) {
        (Some("shared"), Some("audit")) => Some(Owner::Audit),
        (Some("shared"), Some(_)) => Some(Owner::Shared),
        (Some("services"), Some("csm")) => None,
        (Some("services"), Some(dir)) => Some(Owner::Service(
            SERVICES
                .iter()
                .find(|(source, _)| *source == dir)
                .unwrap_or_else(|| panic!("services/{dir}: add it to SERVICES"))
                .1,
        )),
        _ => panic!("{relative}: not a service or shared source"),
    }
}

/// The owner of `proto/csm/<dir>/v1/*.proto`; common is the suite's.
fn proto_owner(dir: &str) -> Owner {
    match dir {
        "common" => Owner::Shared,
        "audit" => Owner::Audit,
        _ => Owner::Service(
            SERVICES
                .iter()
                .find(|(_, proto)| *proto == dir)
                .unwrap_or_else(|| panic!("proto/csm/{dir}: add it to SERVICES"))
                .1,
        ),
    }
}

// ------------------------------------------------------------------ Rust sources

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Lifetime(String),
    Punct(char),
    /// Numbers and character literals.
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// A small Rust lexer: identifiers, string literals (raw ones too), lifetimes
/// and single-character punctuation; comments dropped.
fn lex(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        let mut push = |tok| tokens.push(Token { tok, line: start_line });
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(i + 1) == 'r')) && {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            while at(j) == '#' {
                j += 1;
            }
            at(j) == '"'
        } {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1;
            let begin = j;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (0..hashes).all(|k| at(j + 1 + k) == '#') {
                    break;
                }
                if chars[j] == '\n' {
                    line += 1;
                }
                j += 1;
            }
            push(Tok::Str(chars[begin..j.min(chars.len())].iter().collect()));
            i = j + 1 + hashes;
        } else if c == '"' || (c == 'b' && at(i + 1) == '"') {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let begin = j;
            while j < chars.len() && chars[j] != '"' {
                if chars[j] == '\\' {
                    j += 1;
                }
                if at(j) == '\n' {
                    line += 1;
                }
                j += 1;
            }
            push(Tok::Str(chars[begin..j.min(chars.len())].iter().collect()));
            i = j + 1;
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                // '\n', '\'', '\u{..}'
                let mut j = i + 3;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                push(Tok::Other);
                i = j + 1;
            } else if at(i + 2) == '\'' {
                push(Tok::Other);
                i += 3;
            } else {
                let mut j = i + 1;
                while at(j).is_alphanumeric() || at(j) == '_' {
                    j += 1;
                }
                push(Tok::Lifetime(chars[i + 1..j].iter().collect()));
                i = j;
            }
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while at(j).is_alphanumeric() || at(j) == '_' {
                j += 1;
            }
            push(Tok::Ident(chars[i..j].iter().collect()));
            i = j;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while at(j).is_alphanumeric() || at(j) == '_' || (at(j) == '.' && at(j + 1).is_ascii_digit()) {
                j += 1;
            }
            push(Tok::Other);
            i = j;
        } else {
            push(Tok::Punct(c));
            i += 1;
        }
    }
    tokens
}

fn is_punct(token: Option<&Token>, c: char) -> bool {
    matches!(token, Some(Token { tok: Tok::Punct(p), .. }) if *p == c)
}

fn is_ident(token: Option<&Token>, name: &str) -> bool {
    matches!(token, Some(Token { tok: Tok::Ident(i), .. }) if i == name)
}

/// The index of the token closing the bracket opened at `open`.
fn matching(tokens: &[Token], open: usize) -> usize {
    let (opening, closing) = match tokens[open].tok {
        Tok::Punct('(') => ('(', ')'),
        Tok::Punct('[') => ('[', ']'),
        Tok::Punct('{') => ('{', '}'),
        Tok::Punct('|') => return (open + 1..tokens.len()).find(|&j| is_punct(tokens.get(j), '|')).unwrap_or(open),
        ref other => panic!("not an opening bracket: {other:?}"),
    };
    let mut depth = 0usize;
    for (j, token) in tokens.iter().enumerate().skip(open) {
        match token.tok {
            Tok::Punct(c) if c == opening => depth += 1,
            Tok::Punct(c) if c == closing => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    tokens.len() - 1
}

/// Splits `tokens` at the commas outside brackets (angle brackets too when
/// `angles`, for parameter lists).
fn split_commas(tokens: &[Token], angles: bool) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (j, token) in tokens.iter().enumerate() {
        match token.tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => depth -= 1,
            Tok::Punct('<') if angles => depth += 1,
            // `->` in a parameter type is not a closing angle bracket.
            Tok::Punct('>') if angles && !is_punct(j.checked_sub(1).and_then(|k| tokens.get(k)), '-') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                parts.push(&tokens[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() {
        parts.push(&tokens[start..]);
    }
    parts
}

/// `tokens` without the items under `#[cfg(test)]`.
fn without_tests(tokens: Vec<Token>) -> Vec<Token> {
    let pattern = ["#", "[", "cfg", "(", "test", ")", "]"];
    let matches_at = |tokens: &[Token], i: usize| {
        pattern.iter().enumerate().all(|(k, want)| match tokens.get(i + k).map(|t| &t.tok) {
            Some(Tok::Punct(c)) => c.to_string() == *want,
            Some(Tok::Ident(name)) => name == want,
            _ => false,
        })
    };
    let mut kept = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if !matches_at(&tokens, i) {
            kept.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let mut j = i + pattern.len();
        loop {
            match tokens.get(j).map(|t| &t.tok) {
                None => break,
                Some(Tok::Punct(';')) => break,
                Some(Tok::Punct('{')) => {
                    j = matching(&tokens, j);
                    break;
                }
                Some(Tok::Punct('[' | '(')) => j = matching(&tokens, j) + 1,
                _ => j += 1,
            }
        }
        i = j + 1;
    }
    kept
}

fn text(tokens: &[Token]) -> String {
    let mut out = String::new();
    for token in tokens {
        match &token.tok {
            Tok::Ident(name) => {
                if out.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                    out.push(' ');
                }
                out.push_str(name);
            }
            Tok::Str(value) => out.push_str(&format!("{value:?}")),
            Tok::Lifetime(name) => out.push_str(&format!("'{name} ")),
            Tok::Punct(c) => out.push(*c),
            Tok::Other => out.push('…'),
        }
    }
    out
}

struct Source {
    /// Relative to the workspace root, with `/`.
    path: String,
    owner: Owner,
    tokens: Vec<Token>,
}

fn rust_sources() -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let root = root();
    let mut files = Vec::new();
    for group in ["services", "shared"] {
        let mut crates: Vec<_> = std::fs::read_dir(root.join(group)).unwrap().map(|e| e.unwrap().path()).collect();
        crates.sort();
        for krate in crates {
            if krate.join("src").is_dir() {
                walk(&krate.join("src"), &mut files);
            }
        }
    }
    files
        .into_iter()
        .filter_map(|file| {
            let path = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let owner = source_owner(&path)?;
            let tokens = without_tests(lex(&std::fs::read_to_string(&file).unwrap()));
            Some(Source { path, owner, tokens })
        })
        .collect()
}

/// A callable taking a reason: its name, the position of its `reason`
/// argument (self not counted) and the file defining it.
#[derive(Debug, PartialEq)]
struct ReasonTaker {
    name: String,
    index: usize,
    file: String,
    /// A closure parameter without a type (`|reason, rule| …`): only its
    /// literal arguments are reasons (a non-literal may be anything).
    untyped: bool,
}

/// The parameter name of a parameter's tokens (`mut x: T`, `x: T`, `x`).
fn parameter(tokens: &[Token]) -> Option<(&str, &[Token])> {
    let tokens = if is_ident(tokens.first(), "mut") { &tokens[1..] } else { tokens };
    match tokens.first().map(|t| &t.tok) {
        Some(Tok::Ident(name)) => Some((name, tokens.get(2..).unwrap_or(&[]))),
        _ => None,
    }
}

/// `self`, `&self`, `&'a mut self`, `self: Arc<Self>`…
fn is_self_parameter(tokens: &[Token]) -> bool {
    let name =
        tokens.iter().find(|t| !matches!(&t.tok, Tok::Punct('&') | Tok::Lifetime(_)) && !is_ident(Some(t), "mut"));
    is_ident(name, "self")
}

fn reason_takers(sources: &[Source]) -> Vec<ReasonTaker> {
    let mut takers = Vec::new();
    for source in sources {
        let tokens = &source.tokens;
        for i in 0..tokens.len() {
            // fn name<…>(params)
            if is_ident(tokens.get(i), "fn")
                && let Some(Tok::Ident(name)) = tokens.get(i + 1).map(|t| &t.tok)
            {
                let mut open = i + 2;
                if is_punct(tokens.get(open), '<') {
                    let mut depth = 0;
                    while open < tokens.len() {
                        match tokens[open].tok {
                            Tok::Punct('<') => depth += 1,
                            Tok::Punct('>') if !is_punct(tokens.get(open - 1), '-') => depth -= 1,
                            _ => {}
                        }
                        open += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
                if !is_punct(tokens.get(open), '(') {
                    continue;
                }
                let close = matching(tokens, open);
                let params: Vec<_> = split_commas(&tokens[open + 1..close], true)
                    .into_iter()
                    .filter(|p| !is_self_parameter(p))
                    .collect();
                for (index, param) in params.iter().enumerate() {
                    if let Some(("reason", ty)) = parameter(param)
                        && ty.iter().any(|t| t.tok == Tok::Lifetime("static".into()))
                    {
                        takers.push(ReasonTaker {
                            name: name.clone(),
                            index,
                            file: source.path.clone(),
                            untyped: false,
                        });
                    }
                }
            }
            // let name = [move] |params|
            if is_ident(tokens.get(i), "let")
                && let Some(Tok::Ident(name)) = tokens.get(i + 1).map(|t| &t.tok)
                && is_punct(tokens.get(i + 2), '=')
            {
                let open = if is_ident(tokens.get(i + 3), "move") { i + 4 } else { i + 3 };
                if !is_punct(tokens.get(open), '|') {
                    continue;
                }
                let close = matching(tokens, open);
                for (index, param) in split_commas(&tokens[open + 1..close], true).iter().enumerate() {
                    if let Some(("reason", ty)) = parameter(param)
                        && (ty.is_empty() || ty.iter().any(|t| t.tok == Tok::Lifetime("static".into())))
                    {
                        let taker = ReasonTaker {
                            name: name.clone(),
                            index,
                            file: source.path.clone(),
                            untyped: ty.is_empty(),
                        };
                        if !takers.contains(&taker) {
                            takers.push(taker);
                        }
                    }
                }
            }
        }
    }
    takers
}

/// Reasons the code returns, by owner, with where each was found.
#[derive(Debug, Default)]
struct CodeReasons {
    by_owner: BTreeMap<Owner, BTreeMap<String, BTreeSet<String>>>,
    /// Reason arguments of no known form (not in [`INDIRECT`]).
    unexplained: Vec<String>,
    /// Literals in reason position that are not UPPER_SNAKE.
    malformed: Vec<String>,
    /// [`INDIRECT`] entries that matched nothing.
    stale: Vec<String>,
}

impl CodeReasons {
    fn add(&mut self, owner: Owner, reason: &str, at: String) {
        if is_reason_word(reason) {
            self.by_owner.entry(owner).or_default().entry(reason.to_owned()).or_default().insert(at);
        } else {
            self.malformed.push(format!("{at}: {reason:?}"));
        }
    }

    fn of(&self, owner: Owner) -> BTreeSet<String> {
        self.by_owner.get(&owner).map(|reasons| reasons.keys().cloned().collect()).unwrap_or_default()
    }

    fn all(&self) -> BTreeSet<String> {
        self.by_owner.values().flat_map(|reasons| reasons.keys().cloned()).collect()
    }
}

/// The `Str` tokens of `tokens` that look like reasons.
fn upper_literals(tokens: &[Token]) -> impl Iterator<Item = (&str, usize)> {
    tokens.iter().filter_map(|t| match &t.tok {
        Tok::Str(value) if is_reason_word(value) => Some((value.as_str(), t.line)),
        _ => None,
    })
}

fn code_reasons() -> CodeReasons {
    let sources = rust_sources();
    let takers = reason_takers(&sources);
    // Every `const NAME: &[']static] str = "…"`, by name.
    let mut constants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // The same, by owner: a kind constant (`T::KIND`) means its own crate's values.
    let mut owned_constants: BTreeMap<(Owner, String), BTreeSet<String>> = BTreeMap::new();
    for source in &sources {
        let tokens = &source.tokens;
        for i in 0..tokens.len() {
            if is_ident(tokens.get(i), "const")
                && let Some(Tok::Ident(name)) = tokens.get(i + 1).map(|t| &t.tok)
                && is_punct(tokens.get(i + 2), ':')
                && is_punct(tokens.get(i + 3), '&')
            {
                let mut j = i + 4;
                if matches!(tokens.get(j).map(|t| &t.tok), Some(Tok::Lifetime(_))) {
                    j += 1;
                }
                if is_ident(tokens.get(j), "str")
                    && is_punct(tokens.get(j + 1), '=')
                    && let Some(Tok::Str(value)) = tokens.get(j + 2).map(|t| &t.tok)
                {
                    constants.entry(name.clone()).or_default().insert(value.clone());
                    owned_constants.entry((source.owner, name.clone())).or_default().insert(value.clone());
                }
            }
        }
    }
    let default_reason_called = sources.iter().any(|source| {
        source.tokens.iter().enumerate().any(|(i, t)| {
            t.tok == Tok::Ident("default_reason".into()) && !is_ident(i.checked_sub(1).map(|k| &source.tokens[k]), "fn")
        })
    });

    let mut found = CodeReasons::default();
    let mut indirect_used = vec![false; INDIRECT.len()];
    for source in &sources {
        let tokens = &source.tokens;
        let owner = source.owner;
        let at = |line: usize| format!("{}:{line}", source.path);
        for i in 0..tokens.len() {
            let previous = i.checked_sub(1).and_then(|k| tokens.get(k));
            let Tok::Ident(name) = &tokens[i].tok else { continue };
            let called = is_punct(tokens.get(i + 1), '(') && !is_ident(previous, "fn");
            // Calls of a function or closure taking a reason.
            if called {
                for taker in takers.iter().filter(|taker| &taker.name == name) {
                    // `new` is everybody's: only CsmError's (or Self's in its file).
                    if name == "new" {
                        let qualifier = i.checked_sub(3).and_then(|k| tokens.get(k));
                        let qualified = is_punct(previous, ':')
                            && (is_ident(qualifier, "CsmError")
                                || (is_ident(qualifier, "Self") && source.path == taker.file));
                        if !qualified {
                            continue;
                        }
                    }
                    let close = matching(tokens, i + 1);
                    let args = split_commas(&tokens[i + 2..close], false);
                    let Some(arg) = args.get(taker.index) else { continue };
                    match arg {
                        [Token { tok: Tok::Str(value), line }] => found.add(owner, value, at(*line)),
                        _ if taker.untyped => {}
                        _ => {
                            let expression = text(arg);
                            let line = arg.first().map_or(tokens[i].line, |t| t.line);
                            // A constant: `INVALID_PAGE_TOKEN`, `csm_db::paging::INVALID_PAGE_TOKEN`.
                            if let Some(Token { tok: Tok::Ident(last), .. }) = arg.last()
                                && arg.iter().all(|t| matches!(t.tok, Tok::Ident(_) | Tok::Punct(':')))
                                && let Some(values) = constants.get(last)
                            {
                                for value in values {
                                    found.add(owner, value, at(line));
                                }
                                continue;
                            }
                            match INDIRECT.iter().position(|(file, arg, _)| *file == source.path && *arg == expression)
                            {
                                Some(k) => {
                                    indirect_used[k] = true;
                                    for reason in INDIRECT[k].2 {
                                        found.add(owner, reason, at(line));
                                    }
                                }
                                None => found
                                    .unexplained
                                    .push(format!("{}: {name}(…) with reason `{expression}`", at(line))),
                            }
                        }
                    }
                }
            }
            // CsmError::not_found("kind", …) → KIND_NOT_FOUND.
            if name == "not_found" && called {
                let close = matching(tokens, i + 1);
                match split_commas(&tokens[i + 2..close], false).first() {
                    Some([Token { tok: Tok::Str(kind), line }]) => found.add(
                        owner,
                        &format!("{}_NOT_FOUND", kind.to_ascii_uppercase().replace([' ', '-'], "_")),
                        at(*line),
                    ),
                    // A kind constant (`T::KIND`, `SeatPlan::KIND`): every value
                    // a constant of that name is given.
                    Some(arg)
                        if arg.iter().all(|t| matches!(t.tok, Tok::Ident(_) | Tok::Punct(':')))
                            && let Some(Token { tok: Tok::Ident(last), line }) = arg.last()
                            && let Some(values) = owned_constants.get(&(owner, last.clone())) =>
                    {
                        for kind in values {
                            found.add(
                                owner,
                                &format!("{}_NOT_FOUND", kind.to_ascii_uppercase().replace([' ', '-'], "_")),
                                at(*line),
                            );
                        }
                    }
                    other => found.unexplained.push(format!(
                        "{}: not_found(…) with kind `{}`",
                        at(tokens[i].line),
                        other.map(|arg| text(arg)).unwrap_or_default()
                    )),
                }
            }
            // `reason: "X"` (a field of a struct literal such as collisions::Finding).
            if name == "reason"
                && is_punct(tokens.get(i + 1), ':')
                && !is_punct(tokens.get(i + 2), ':')
                && let Some(Token { tok: Tok::Str(value), line }) = tokens.get(i + 2)
            {
                found.add(owner, value, at(*line));
            }
            // `let reason = …;`
            if name == "reason" && is_ident(previous, "let") && is_punct(tokens.get(i + 1), '=') {
                let end = (i..tokens.len()).find(|&j| is_punct(tokens.get(j), ';')).unwrap_or(tokens.len());
                for (value, line) in upper_literals(&tokens[i..end]) {
                    found.add(owner, value, at(line));
                }
            }
            // `fn reason(&self) -> &'static str { … }` of a domain refusal, and
            // ErrorCode::default_reason when something calls it.
            if (name == "reason" || (name == "default_reason" && default_reason_called))
                && is_ident(previous, "fn")
                && let Some(open) = (i..tokens.len()).find(|&j| is_punct(tokens.get(j), '{'))
                && tokens[i..open].iter().any(|t| t.tok == Tok::Lifetime("static".into()))
            {
                let close = matching(tokens, open);
                for (value, line) in upper_literals(&tokens[open..close]) {
                    found.add(owner, value, at(line));
                }
            }
        }
    }
    found.stale = INDIRECT
        .iter()
        .zip(indirect_used)
        .filter(|(_, used)| !used)
        .map(|((file, arg, _), _)| format!("{file}: `{arg}`"))
        .collect();
    found
}

// ------------------------------------------------------------------ protos

/// One comment block of a proto file (consecutive `//` lines).
struct Comment {
    /// `proto/csm/<dir>/v1/<file>.proto`.
    file: String,
    /// The line of the block's first line.
    line: usize,
    text: String,
}

impl Comment {
    /// `file:line` of the `offset`-th line of the block.
    fn at(&self, offset: usize) -> String {
        format!("{}:{}", self.file, self.line + offset)
    }
}

struct Proto {
    owner: Owner,
    comments: Vec<Comment>,
}

fn protos() -> Vec<Proto> {
    let root = root();
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("proto/csm")).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let mut protos = Vec::new();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let owner = proto_owner(&name);
        let mut files: Vec<_> = std::fs::read_dir(dir.join("v1")).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.into_iter().filter(|f| f.extension().is_some_and(|ext| ext == "proto")) {
            let relative = file.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
            let mut comments: Vec<Comment> = Vec::new();
            let mut open = false;
            for (number, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
                match line.find("//") {
                    Some(start) => {
                        let body = &line[start + 2..];
                        let whole_line = line[..start].trim().is_empty();
                        match comments.last_mut() {
                            Some(last) if open && whole_line => {
                                last.text.push('\n');
                                last.text.push_str(body);
                            }
                            _ => comments.push(Comment {
                                file: relative.clone(),
                                line: number + 1,
                                text: body.to_owned(),
                            }),
                        }
                        open = whole_line;
                    }
                    None => open = false,
                }
            }
            protos.push(Proto { owner, comments });
        }
    }
    protos
}

#[derive(Debug, PartialEq)]
enum Piece {
    Word(String),
    Quoted(String),
    /// `;`, or a `.` ending a sentence.
    Stop,
    Comma,
    Open,
    Close,
}

/// The words of a comment with the line (from the comment's first) each is
/// on: `.` inside a word (`R2.11`, `csm.access-suite`) stays in it, `:` and
/// backticks are dropped, quoted text is one word.
fn words(text: &str) -> Vec<(Piece, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or(' ');
    let word_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '<' | '>' | '-');
    let mut out: Vec<(Piece, usize)> = Vec::new();
    let (mut i, mut line) = (0, 0);
    while i < chars.len() {
        let c = chars[i];
        if word_char(c) {
            let mut j = i;
            while word_char(at(j)) || (at(j) == '.' && word_char(at(j + 1))) {
                j += 1;
            }
            out.push((Piece::Word(chars[i..j].iter().collect()), line));
            i = j;
        } else if c == '"' {
            let end = (i + 1..chars.len()).find(|&j| chars[j] == '"').unwrap_or(chars.len());
            out.push((Piece::Quoted(chars[i + 1..end].iter().collect()), line));
            line += chars[i..end].iter().filter(|&&c| c == '\n').count();
            i = end + 1;
        } else {
            // "e.g." and "i.e." do not end a sentence.
            let abbreviation =
                matches!(out.last(), Some((Piece::Word(w), _)) if matches!(w.as_str(), "e.g" | "i.e" | "etc" | "vs"));
            match c {
                '\n' => line += 1,
                ';' => out.push((Piece::Stop, line)),
                ',' => out.push((Piece::Comma, line)),
                '.' if !abbreviation => out.push((Piece::Stop, line)),
                '(' => out.push((Piece::Open, line)),
                ')' => out.push((Piece::Close, line)),
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// The reasons a comment names, with their line in it. A list starts right
/// after `reason`/`reasons`: reasons joined by commas, "and" or "or", each
/// maybe followed by a parenthesised explanation (skipped); anything else ends
/// it (a `;`, a sentence end, another word, a gRPC code name that is not the
/// first reason, the `)` closing parentheses the list started in).
fn named_reasons(text: &str) -> Vec<(String, usize)> {
    let mut reasons = Vec::new();
    // The parenthesis depth the current list started at, if in a list.
    let mut list: Option<usize> = None;
    let mut first = false;
    let mut depth = 0usize;
    // The depth of an explanation being skipped.
    let mut skipping: Option<usize> = None;
    for (word, line) in words(text) {
        match word {
            Piece::Open => {
                depth += 1;
                if list.is_some() && skipping.is_none() {
                    skipping = Some(depth);
                }
            }
            Piece::Close => {
                if skipping == Some(depth) {
                    skipping = None;
                } else if skipping.is_none() && list == Some(depth) {
                    list = None;
                }
                depth = depth.saturating_sub(1);
            }
            Piece::Comma => {}
            _ if skipping.is_some() => {}
            Piece::Stop | Piece::Quoted(_) => list = None,
            Piece::Word(word) => {
                let lower = word.to_ascii_lowercase();
                if matches!(lower.as_str(), "reason" | "reasons") || lower.ends_with(".reason") {
                    list = Some(depth);
                    first = true;
                } else if list.is_none() || (!first && matches!(word.as_str(), "and" | "or")) {
                } else if is_reason_word(&word) && (first || !GRPC_CODES.contains(&word.as_str())) {
                    reasons.push((word, line));
                    first = false;
                } else {
                    list = None;
                }
            }
        }
    }
    reasons
}

/// Reasons the protos name, by owner, with where.
fn proto_reasons() -> BTreeMap<Owner, BTreeMap<String, BTreeSet<String>>> {
    let mut by_owner: BTreeMap<Owner, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for proto in protos() {
        for comment in &proto.comments {
            for (reason, line) in named_reasons(&comment.text) {
                by_owner.entry(proto.owner).or_default().entry(reason).or_default().insert(comment.at(line));
            }
        }
    }
    by_owner
}

fn names(map: Option<&BTreeMap<String, BTreeSet<String>>>) -> BTreeSet<String> {
    map.map(|reasons| reasons.keys().cloned().collect()).unwrap_or_default()
}

fn owner_name(owner: Owner) -> String {
    match owner {
        Owner::Service(dir) => format!("csm.{dir}.v1"),
        Owner::Shared => "shared crates / csm.common.v1".to_owned(),
        Owner::Audit => "shared/audit / csm.audit.v1".to_owned(),
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn the_reason_extraction_finds_what_it_should() {
    let code = code_reasons();
    assert!(
        code.unexplained.is_empty(),
        "reason arguments of no known form (add them to INDIRECT):\n{}",
        code.unexplained.join("\n")
    );
    assert!(code.malformed.is_empty(), "reasons that are not UPPER_SNAKE:\n{}", code.malformed.join("\n"));
    assert!(code.stale.is_empty(), "INDIRECT entries that match nothing:\n{}", code.stale.join("\n"));
    // One of each way a reason is written, so a broken extraction cannot pass quietly.
    for (owner, reason) in [
        (Owner::Service("role"), "ROLE_COLLISION"), // failed_precondition, Finding
        (Owner::Service("role"), "PROXY_CONTRIBUTOR_CONFLICT"), // the finding(…) closure
        (Owner::Service("role"), "GROUP_ROLE_EXISTS"), // unique_as(error, "…", …)
        (Owner::Service("identity"), "USER_TYPE_NOT_ALLOWED"), // LinkRefusal::reason
        (Owner::Service("case_access"), "CASE_CREATION_RATE_LIMITED"), // RateLimit::reason
        (Owner::Service("case_access"), "CASE_TASK_NOT_FOUND"), // not_found("case task", …)
        (Owner::Service("licensing"), "LICENSE_POOL_EXHAUSTED"),
        (Owner::Shared, "INVALID_PAGE_TOKEN"), // a constant
        (Owner::Shared, "INVALID_ARGUMENT"),   // let reason = …
        (Owner::Shared, "INTERNAL"),           // Self::new(ErrorCode::Internal, …)
        (Owner::Shared, "OVERLOADED"),
        (Owner::Shared, "MALFORMED_REQUEST"),
        (Owner::Shared, "REQUEST_ID_CONFLICT"),
    ] {
        assert!(code.of(owner).contains(reason), "{reason} of {} not found in the code", owner_name(owner));
    }
    // Not reasons: metadata keys, enum names, outcomes, metric labels.
    let all = code.all();
    for not_a_reason in
        ["CASE_CREATED", "WRITE_FULL", "AWAITING_INFO", "IDLE_TIMEOUT", "SERVICENOW_CSM", "CSM_DATABASE_URL"]
    {
        assert!(!all.contains(not_a_reason), "{not_a_reason} taken for a reason");
    }
    let named: Vec<String> = named_reasons(
        "Errors: UNAUTHENTICATED reasons INVALID_CREDENTIALS, LOGIN_DISABLED, NO_CHANNEL_CREDENTIAL (R1.7, SOME_NOTE), \
         PROFILE_INACTIVE; INVALID_ARGUMENT reason INVALID_ARGUMENT (bad id) or INVALID_PAGE_TOKEN. FAILED_PRECONDITION \
         reason ROLE_COLLISION, NOT_FOUND reason ROLE_NOT_FOUND. Reasons: MISSING_ROLE and INTERNAL \
         reason INTERNAL. DENY is a policy. FAILED_PRECONDITION reason NOT_A_PARTNER when it is not in PCUST. \
         Force needs admin (else PERMISSION_DENIED reason FORCE_REQUIRES_ADMIN) and WARN (R2.15, ROLE_X).",
    )
    .into_iter()
    .map(|(reason, _)| reason)
    .collect();
    assert_eq!(
        named,
        [
            "INVALID_CREDENTIALS",
            "LOGIN_DISABLED",
            "NO_CHANNEL_CREDENTIAL",
            "PROFILE_INACTIVE",
            "INVALID_ARGUMENT",
            "INVALID_PAGE_TOKEN",
            "ROLE_COLLISION",
            "ROLE_NOT_FOUND",
            "MISSING_ROLE",
            "INTERNAL",
            "NOT_A_PARTNER",
            "FORCE_REQUIRES_ADMIN"
        ]
    );
}

#[test]
fn every_reason_a_proto_names_is_returned_by_the_code() {
    let code = code_reasons();
    let shared = code.of(Owner::Shared);
    let mut differences = Vec::new();
    for (owner, reasons) in proto_reasons() {
        let returnable: BTreeSet<String> = match owner {
            Owner::Service(_) => code.of(owner).union(&shared).cloned().collect(),
            Owner::Audit => code.of(owner).union(&shared).cloned().collect(),
            // The suite conventions may name any service's reasons.
            Owner::Shared => code.all(),
        };
        for (reason, at) in reasons {
            if !returnable.contains(&reason) {
                differences.push(format!(
                    "{reason}: named in {} ({}), never returned",
                    owner_name(owner),
                    at.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} reasons named in protos but not in code:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn every_reason_the_code_returns_is_named_in_a_proto() {
    let code = code_reasons();
    let protos = proto_reasons();
    let common = names(protos.get(&Owner::Shared));
    let mut differences = Vec::new();
    for (owner, reasons) in &code.by_owner {
        let documented: BTreeSet<String> = common.union(&names(protos.get(owner))).cloned().collect();
        for (reason, at) in reasons {
            if !documented.contains(reason) {
                let proto = match owner {
                    Owner::Service(dir) => format!("proto/csm/{dir}"),
                    Owner::Shared => "proto/csm/common".to_owned(),
                    Owner::Audit => "proto/csm/audit or common".to_owned(),
                };
                differences.push(format!(
                    "{reason}: returned by {} ({}), not named in {proto}",
                    owner_name(*owner),
                    at.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} reasons returned but not documented:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
fn proto_comments_name_only_the_suite_error_domain() {
    let errors = std::fs::read_to_string(root().join("shared/errors/src/lib.rs")).unwrap();
    let domain = errors
        .lines()
        .find_map(|line| line.strip_prefix("pub const ERROR_DOMAIN: &str = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .expect("ERROR_DOMAIN in shared/errors/src/lib.rs");
    let mut wrong = Vec::new();
    for proto in protos() {
        for comment in &proto.comments {
            let words = words(&comment.text);
            for (k, (word, line)) in words.iter().enumerate() {
                let Piece::Word(word) = word else { continue };
                if !word.eq_ignore_ascii_case("domain") && !word.to_ascii_lowercase().ends_with(".domain") {
                    continue;
                }
                // The value after "domain" (quoted, or a dotted name).
                match words.get(k + 1).map(|(word, _)| word) {
                    Some(Piece::Quoted(value)) if value != domain => {
                        wrong.push(format!("{}: domain {value:?}", comment.at(*line)))
                    }
                    Some(Piece::Word(value)) if value.starts_with("csm.") && value != domain => {
                        wrong.push(format!("{}: domain {value}", comment.at(*line)))
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(wrong.is_empty(), "proto comments naming an error domain other than {domain:?}:\n{}", wrong.join("\n"));
}

/// "PERMISSION_DENIED ACCESS_DENIED" names a reason the extraction above would
/// not see: reasons are written after the word `reason` ("PERMISSION_DENIED
/// reason ACCESS_DENIED").
#[test]
fn proto_comments_name_reasons_after_the_word_reason() {
    let mut unmarked = Vec::new();
    for proto in protos() {
        for comment in &proto.comments {
            let words = words(&comment.text);
            for pair in words.windows(2) {
                if let [(Piece::Word(code), _), (Piece::Word(next), line)] = pair
                    && GRPC_CODES.contains(&code.as_str())
                    && is_reason_word(next)
                    && !GRPC_CODES.contains(&next.as_str())
                {
                    unmarked.push(format!("{}: \"{code} {next}\"", comment.at(*line)));
                }
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "reasons written without the word `reason` (write \"CODE reason X\"):\n{}",
        unmarked.join("\n")
    );
}
