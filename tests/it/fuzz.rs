//! A mutation fuzzer for the two parsers of untrusted input, on the stable toolchain (CI has
//! no nightly, so no cargo-fuzz/libFuzzer): each execution takes a seed from
//! `tests/fuzz-corpus/TARGET/`, applies 1-8 random mutations (bit flips, interesting bytes,
//! insertions, deletions, duplications, splices with other seeds, dictionary tokens) and
//! checks properties, not just "no panic". It is not coverage-guided; the seeds and the
//! dictionaries carry it deep into both parsers.
//!
//! `ECR_LOGIN_FUZZ_EXECS` per target (CI: 20,000; `scripts/fuzz` runs 1,000,000), and
//! `ECR_LOGIN_FUZZ_SEED` (CI: a fixed seed, so a run is reproducible; `scripts/fuzz`: a new
//! one each time). A failing input is saved under `target/fuzz-crashes/` and named in the
//! panic message. A run in which too few inputs got past parsing fails: its properties
//! would have been checked on almost nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ecr_login::parsers::{
    Entry, Secret, Spec, auth_fingerprint, fingerprint, parse, parse_registry, remove_auth,
    serialize, set_auth,
};
use serde_json::Value;

const REGISTRY_DICT: &[&str] = &[
    "111122223333",
    ".",
    "dkr",
    "dkr-ecr",
    "dkr-ecr-fips",
    "ecr",
    "ecr-fips",
    "us-east-1",
    "us-gov-west-1",
    "cn-north-1",
    "eusc-de-east-1",
    "amazonaws.com",
    "amazonaws.com.cn",
    "on.aws",
    "on.amazonwebservices.com.cn",
    "c2s.ic.gov",
    "https://",
    "http://",
    "/",
    ":",
    "@",
    "public.ecr.aws",
    "-",
    "0",
    "\u{0}",
    "\u{130}",
    "\u{212a}",
    " ",
];

const CONFIG_DICT: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"auths\"",
    "\"auth\"",
    "\"credsStore\"",
    "\"credHelpers\"",
    "null",
    "true",
    "false",
    "1e999",
    "-0",
    "123456789012345678901234567890",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\\"\"",
    "\"111122223333.dkr.ecr.us-east-1.amazonaws.com\"",
    " ",
    "\n",
    "\u{feff}",
    "{}",
    "[]",
];

const HOST: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

#[test]
fn fuzz_registry_parser() {
    fuzz("registry", REGISTRY_DICT, MIN_DEEP_REGISTRY, |input| {
        let mut deep = false;
        let text = String::from_utf8_lossy(input);
        match parse_registry(&text) {
            Ok(Spec::Host(r)) => {
                deep = true;
                // The canonical host is lowercase ASCII and parses to itself.
                assert!(
                    r.host.bytes().all(|b| b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'.'
                        || b == b'-'),
                    "host {:?}",
                    r.host
                );
                assert_eq!(parse_registry(&r.host), Ok(Spec::Host(r.clone())));
            }
            Ok(Spec::Account(a)) => {
                assert!(
                    a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()),
                    "{a:?}"
                )
            }
            Err(e) => assert!(e.to_string().contains("accepted forms")),
        }
        deep
    });
}

#[test]
fn fuzz_config_merge() {
    let password = Secret::new("fuzz-password".into());
    let entry = Entry {
        host: HOST,
        username: "AWS",
        password: &password,
    };
    let want = fingerprint("AWS", &password);
    fuzz("config", CONFIG_DICT, MIN_DEEP_CONFIG, |input| {
        let Ok(original) = parse(Some(input), Path::new("config.json")) else {
            return false;
        };
        let mut merged = original.clone();
        if set_auth(&mut merged, &entry).is_err() {
            assert!(
                original.get("auths").is_some_and(|a| !a.is_object()),
                "set_auth refused a config whose auths is an object"
            );
            return false;
        }
        // What is written reads back; only auths[HOST] changed, order kept.
        let reread = parse(Some(&serialize(&merged)), Path::new("config.json"))
            .expect("our own output parses");
        let mut keys: Vec<&str> = original.keys().map(String::as_str).collect();
        if !original.contains_key("auths") {
            keys.push("auths");
        }
        let got: Vec<&str> = reread.keys().map(String::as_str).collect();
        assert_eq!(got, keys, "keys or their order changed");
        for (key, value) in &original {
            if key != "auths" {
                assert_eq!(reread.get(key), Some(value), "key {key:?} changed");
            }
        }
        let (before, after) = (
            original.get("auths").and_then(Value::as_object),
            reread["auths"].as_object().expect("auths is an object"),
        );
        for (host, value) in before.into_iter().flatten() {
            if host != HOST {
                assert_eq!(after.get(host), Some(value), "auths[{host:?}] changed");
            }
        }
        assert_eq!(auth_fingerprint(&reread, HOST), Some(want.clone()));
        assert_eq!(after[HOST].as_object().map(|o| o.len()), Some(1));

        let mut removed = reread.clone();
        remove_auth(&mut removed, HOST);
        assert!(removed["auths"].get(HOST).is_none());
        assert_eq!(removed["auths"].as_object().unwrap().len(), after.len() - 1);
        true
    });
}

/// The least share of mutated inputs that must get past parsing (a valid host; a merged
/// config) for a run to count: about half of what the seeds and mutations give.
const MIN_DEEP_REGISTRY: f64 = 0.06;
const MIN_DEEP_CONFIG: f64 = 0.08;
const CI_SEED: u64 = 0x00ec_4106_5eed;

/// Replay every seed, then `ECR_LOGIN_FUZZ_EXECS` mutated inputs through `check`.
/// `check` returns whether the input got past parsing (a valid host; a merged config).
fn fuzz(target: &str, dict: &[&str], min_deep: f64, check: impl Fn(&[u8]) -> bool) {
    let execs: u64 = env_number("ECR_LOGIN_FUZZ_EXECS").unwrap_or(20_000);
    let seed = env_number("ECR_LOGIN_FUZZ_SEED").unwrap_or(CI_SEED);
    let corpus = load_corpus(target);
    assert!(!corpus.is_empty(), "no seeds in tests/fuzz-corpus/{target}");
    let started = std::time::Instant::now();
    for input in &corpus {
        run_one(target, seed, input, &check);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut longest, mut deep) = (0, 0u64);
    for _ in 0..execs {
        let input = mutate(&mut rng, &corpus, dict);
        longest = longest.max(input.len());
        deep += u64::from(run_one(target, seed, &input, &check));
    }
    let secs = started.elapsed().as_secs_f64();
    let share = deep as f64 / execs.max(1) as f64;
    eprintln!(
        "fuzz {target}: {} seeds + {execs} mutated inputs in {secs:.1} s ({:.0}/s), {deep} past parsing \
         ({:.1}%), seed {seed}, longest {longest} bytes, 0 failures",
        corpus.len(),
        execs as f64 / secs,
        share * 100.0
    );
    assert!(
        share >= min_deep,
        "fuzz {target}: only {:.1}% of inputs got past parsing (at least {:.0}% expected): the \
         properties were checked on almost nothing",
        share * 100.0,
        min_deep * 100.0
    );
}

fn run_one(target: &str, seed: u64, input: &[u8], check: &impl Fn(&[u8]) -> bool) -> bool {
    let result = catch_unwind(AssertUnwindSafe(|| check(input)));
    if let Ok(deep) = result {
        return deep;
    }
    if let Err(panic) = result {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{target}-{seed}-{:016x}", hash(input)));
        std::fs::write(&path, input).unwrap();
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "fuzz {target} failed on {} ({what}); add it to tests/fuzz-corpus/{target}/ once fixed",
            path.display()
        );
    }
    false
}

fn load_corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutate(rng: &mut fastrand::Rng, corpus: &[Vec<u8>], dict: &[&str]) -> Vec<u8> {
    let mut data = corpus[rng.usize(..corpus.len())].clone();
    // Mostly one or two mutations: more of the inputs stay parseable and reach the merge.
    for _ in 0..[1, 1, 1, 1, 2, 2, 3, 8][rng.usize(..8)] {
        let len = data.len();
        match rng.usize(..13) {
            0 if len > 0 => {
                let i = rng.usize(..len);
                data[i] ^= 1 << rng.usize(..8);
            }
            1 if len > 0 => {
                let i = rng.usize(..len);
                data[i] = [0, 0x7f, 0x80, 0xff, b'"', b'\\', b'.', b'/'][rng.usize(..8)];
            }
            2 => {
                let at = rng.usize(..len + 1);
                data.insert(at, rng.usize(..256) as u8);
            }
            3 if len > 0 => {
                let from = rng.usize(..len);
                let to = (from + 1 + rng.usize(..16)).min(len);
                data.drain(from..to);
            }
            4 if len > 0 => {
                let from = rng.usize(..len);
                let to = (from + 1 + rng.usize(..32)).min(len);
                let chunk = data[from..to].to_vec();
                let at = rng.usize(..data.len() + 1);
                data.splice(at..at, chunk);
            }
            5 => {
                let other = &corpus[rng.usize(..corpus.len())];
                if !other.is_empty() {
                    let from = rng.usize(..other.len());
                    let to = (from + 1 + rng.usize(..64)).min(other.len());
                    let at = rng.usize(..len + 1);
                    data.splice(at..at, other[from..to].iter().copied());
                }
            }
            // Structure-keeping: one dot-separated part (a hostname label, a JSON number's
            // digits) replaced by a dictionary token or by a part of another seed.
            8 | 9 if len > 0 => {
                let parts: Vec<&[u8]> = data.split(|b| *b == b'.').collect();
                let at = rng.usize(..parts.len());
                let replacement: Vec<u8> = if rng.usize(..2) == 0 {
                    dict[rng.usize(..dict.len())].as_bytes().to_vec()
                } else {
                    let other = &corpus[rng.usize(..corpus.len())];
                    let theirs: Vec<&[u8]> = other.split(|b| *b == b'.').collect();
                    theirs[rng.usize(..theirs.len())].to_vec()
                };
                let mut rebuilt: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
                rebuilt[at] = replacement;
                data = rebuilt.join(&b'.');
            }
            // Changes a valid name survives (case, a scheme, a path, spaces): they reach the
            // parser's normalisation rather than its first check.
            10 if len > 0 => {
                let from = rng.usize(..len);
                let to = (from + 1 + rng.usize(..32)).min(len);
                data[from..to].make_ascii_uppercase();
            }
            11 => {
                let tail = [&b"/"[..], b"/team/app", b"/a:tag", b"/\xff", b"/@"][rng.usize(..5)];
                data.extend_from_slice(tail);
            }
            12 => {
                let head = [&b"https://"[..], b"http://", b" ", b"\t"][rng.usize(..4)];
                data.splice(0..0, head.iter().copied());
            }
            6 | 7 => {
                let token = dict[rng.usize(..dict.len())].as_bytes();
                let at = rng.usize(..len + 1);
                if rng.usize(..2) == 0 || len == 0 {
                    data.splice(at..at, token.iter().copied());
                } else {
                    let end = (at + token.len()).min(len);
                    data.splice(at..end, token.iter().copied());
                }
            }
            _ => {}
        }
        data.truncate(4096);
    }
    data
}

fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}
