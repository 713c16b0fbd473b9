//! Property tests for the two parsers of untrusted input: registry names and config.json.
//! `PROPTEST_CASES` sets the number of cases: CI runs the default 256 per property;
//! `PROPTEST_CASES=100000 cargo test --test properties` ran 100,000 per property in 8 minutes.

use std::path::Path;

use ecr_login::docker_config::{Entry, parse, serialize, set_auth};
use ecr_login::registry::{self, Spec};
use ecr_login::secret::Secret;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Strings shaped like registry names, so most cases get deep into the parser.
fn registry_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        Just("111122223333".to_string()),
        "[0-9]{1,13}",
        Just("dkr".to_string()),
        Just("dkr-ecr".to_string()),
        Just("dkr-ecr-fips".to_string()),
        Just("ecr".to_string()),
        Just("ecr-fips".to_string()),
        "[a-z]{2,5}(-[a-z]{1,8}){1,2}-[0-9]{1,2}",
        Just("amazonaws".to_string()),
        Just("com".to_string()),
        Just("cn".to_string()),
        Just("on".to_string()),
        Just("aws".to_string()),
        "\\PC{0,6}",
    ];
    (
        prop_oneof![Just(""), Just("https://"), Just("http://"), Just("ftp://")],
        prop::collection::vec(part, 0..8),
        prop_oneof![Just(""), Just("/"), Just("/team/app"), Just(":443")],
    )
        .prop_map(|(scheme, parts, tail)| format!("{scheme}{}{tail}", parts.join(".")))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("\\PC{0,8}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn registry_parser_never_panics(input in prop_oneof![registry_like(), "\\PC{0,80}"]) {
        let _ = registry::parse(&input);
    }

    #[test]
    fn a_parsed_host_parses_to_itself(input in registry_like()) {
        if let Ok(Spec::Host(registry)) = registry::parse(&input) {
            prop_assert_eq!(registry::parse(&registry.host), Ok(Spec::Host(registry.clone())));
            prop_assert!(registry.host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'));
        }
    }

    #[test]
    fn config_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(Some(&bytes), Path::new("config.json"));
    }

    #[test]
    fn merge_changes_only_its_own_entry(
        others in prop::collection::vec(("\\PC{0,10}", json_value()), 0..6),
        auths in prop::collection::vec(("\\PC{1,10}", json_value()), 0..4),
        host in "[a-z0-9.-]{1,30}",
        password in "\\PC{1,20}",
    ) {
        let mut original: Map<String, Value> = others.into_iter().filter(|(k, _)| k != "auths").collect();
        original.insert("auths".into(), Value::Object(auths.into_iter().collect()));
        let text = serialize(&original);
        let mut merged = parse(Some(&text), Path::new("config.json")).unwrap();
        let secret = Secret::new(password);
        set_auth(&mut merged, &Entry { host: &host, username: "AWS", password: &secret }).unwrap();
        let merged: Map<String, Value> = parse(Some(&serialize(&merged)), Path::new("config.json")).unwrap();

        // Every other key, in order, with its value; every other auths entry likewise.
        let without = |m: &Map<String, Value>| m.iter().filter(|(k, _)| *k != "auths").map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
        prop_assert_eq!(without(&merged), without(&original));
        let other_auths = |m: &Map<String, Value>| m["auths"].as_object().unwrap().iter().filter(|(k, _)| **k != host).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
        prop_assert_eq!(other_auths(&merged), other_auths(&original));
        prop_assert_eq!(merged["auths"][&host].as_object().map(|o| o.len()), Some(1));
    }
}
