//! Fuzzing on stable: every decoder that takes outside input refuses bad input with an error,
//! never a panic, a stack overflow, or allocation out of proportion to its input.
//!
//! The decoders: `Event::from_json`, `EventFilter` JSON, the server's request bodies
//! (`CreatePoolBody`, `PoolUpdateBody`, `CreateQueueBody`, `QueueUpdateBody`), `Timestamp` parsing, and label pattern
//! matching. They get arbitrary bytes, arbitrary strings, structured JSON built from the
//! fields they know, mutations of valid inputs, the files of `tests/corpus/`, and generated
//! giants (100,000-deep nesting, a 10 MB string, hostile glob patterns).
//!
//! `PROPTEST_CASES` raises the number of generated inputs per property (default 256).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use workbus_events::Timestamp;
use workbus_events::{Event, EventFilter, LabelPattern};
use workbus_server::request::{CreatePoolBody, CreateQueueBody, PoolUpdateBody, QueueUpdateBody};

/// Feeds `input` to every JSON decoder. Whatever is accepted must survive a round trip.
fn decode_all(input: &[u8]) {
    if let Ok(e) = Event::from_json(input) {
        let again = Event::from_json(&e.to_json()).expect("an accepted event is accepted again");
        assert_eq!(again.to_json(), e.to_json(), "writing is stable");
    }
    if let Ok(f) = serde_json::from_slice::<EventFilter>(input) {
        let text = serde_json::to_vec(&f).expect("a filter serializes");
        serde_json::from_slice::<EventFilter>(&text).expect("a written filter reads back");
        // Matching must terminate quickly whatever the patterns.
        for e in sample_events() {
            let _ = f.matches(&e);
        }
    }
    let _ = serde_json::from_slice::<CreatePoolBody>(input);
    let _ = serde_json::from_slice::<PoolUpdateBody>(input);
    let _ = serde_json::from_slice::<CreateQueueBody>(input);
    let _ = serde_json::from_slice::<QueueUpdateBody>(input);
    let _ = serde_json::from_slice::<Timestamp>(input);
    if let Ok(s) = std::str::from_utf8(input) {
        parse_timestamp(s);
    }
}

fn parse_timestamp(s: &str) {
    if let Ok(t) = s.parse::<Timestamp>() {
        let text = t.to_string();
        let again: Timestamp = text.parse().expect("a written timestamp reads back");
        assert_eq!(again.to_string(), text);
    }
}

const VALID_EVENT: &str = r#"{"occurred":"2026-12-01T06:27:49.768505Z","event":"prefect.work-queue.updated","resource":{"prefect.resource.id":"prefect.work-queue.1f8c7147-849f-45d3-a4eb-48b5e25c00e3","prefect.resource.name":"q2","prefect.resource.role":"work-queue"},"related":[{"prefect.resource.id":"prefect.work-pool.dd18f2e4-7889-416c-a057-1e0867d1f37d","prefect.resource.name":"rs-pool","prefect.work-pool.type":"process","prefect.resource.role":"work-pool"}],"payload":{"updated_fields":["description","priority"],"updates":{"description":{"from":"","to":"x"},"priority":{"from":2,"to":5}}},"id":"01a23049-c189-7c5b-a5d1-ea326457d9ea","follows":null,"received":"2026-12-01T06:27:49.769914Z"}"#;

fn sample_events() -> Vec<Event> {
    let mut e = Event::from_json(VALID_EVENT.as_bytes()).unwrap();
    let mut out = vec![e.clone()];
    // A resource whose labels are long runs of one character: the worst case for globs.
    let long = "a".repeat(20_000);
    let v = json!({
        "occurred": "2026-12-01T06:27:49.768505Z", "event": long.clone(),
        "resource": {"prefect.resource.id": long.clone(), "prefect.resource.name": long},
        "id": "01a23049-c189-7c5b-a5d1-ea326457d9ea"
    });
    if let Ok(x) = serde_json::from_value::<Event>(v) {
        out.push(x);
    }
    e.follows = None;
    out.push(e);
    out
}

/// Valid bodies of every decoder, to mutate.
fn seeds() -> Vec<Value> {
    vec![
        serde_json::from_str(VALID_EVENT).unwrap(),
        json!({"name": "etl", "type": "process", "description": "d", "is_paused": false,
               "concurrency_limit": 3, "base_job_template": {"job_configuration": {}},
               "storage_configuration": {"bundle_upload_step": {}, "default_result_storage_block_id": null}}),
        json!({"description": null, "is_paused": true, "concurrency_limit": null,
               "base_job_template": {}, "storage_configuration": {}}),
        json!({"name": "q", "description": "x", "is_paused": false, "concurrency_limit": 1, "priority": 2}),
        json!({"name": "q", "priority": 1, "last_polled": "2026-12-01T00:00:00Z", "is_paused": false}),
        json!({"occurred": {"since": "2026-12-01T00:00:00Z", "until": "2026-12-02T00:00:00Z"},
               "event": {"prefix": ["prefect.work-pool."], "exclude_prefix": ["x"], "name": ["a"], "exclude_name": []},
               "resource": {"id": ["r"], "id_prefix": ["prefect."], "labels": {"prefect.resource.name": ["q*", "!x"]}},
               "related": {"role": ["work-pool"], "labels": {"prefect.work-pool.type": ["proc[a-z]ss"]}},
               "any_resource": {"id_prefix": ["prefect.work-queue."]},
               "id": {"id": ["01a23049-c189-7c5b-a5d1-ea326457d9ea"]}, "text": {"query": "ready -paused"},
               "order": "ASC"}),
    ]
}

const KEYS: &[&str] = &[
    "occurred",
    "event",
    "resource",
    "related",
    "payload",
    "id",
    "follows",
    "received",
    "prefect.resource.id",
    "prefect.resource.role",
    "prefect.resource.name",
    "name",
    "type",
    "description",
    "is_paused",
    "concurrency_limit",
    "priority",
    "base_job_template",
    "storage_configuration",
    "bundle_upload_step",
    "default_result_storage_block_id",
    "last_polled",
    "prefix",
    "exclude_prefix",
    "exclude_name",
    "labels",
    "id_prefix",
    "role",
    "any_resource",
    "since",
    "until",
    "order",
    "text",
    "query",
    "",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(i64::MIN)),
        Just(json!(u64::MAX)),
        Just(json!("2026-12-01T06:27:49.768505Z")),
        Just(json!("01a23049-c189-7c5b-a5d1-ea326457d9ea")),
        Just(json!("ASC")),
        Just(json!("prefect.work-pool.*")),
        "[a-z*?!\\[\\]./%&<>-]{0,24}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
                        1 => any::<String>(),
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Replaces, removes or adds one field somewhere in a valid body.
fn mutate(mut v: Value, path: &[usize], key: usize, new: Option<Value>) -> Value {
    // Walk down (reading) to find the JSON pointer of an object, then change it.
    let mut pointer = String::new();
    let mut cur = &v;
    for &i in path {
        let next = match cur {
            Value::Object(m) if !m.is_empty() => m
                .iter()
                .nth(i % m.len())
                .map(|(k, x)| (k.replace('~', "~0").replace('/', "~1"), x)),
            Value::Array(a) if !a.is_empty() => {
                let n = i % a.len();
                Some((n.to_string(), &a[n]))
            }
            _ => None,
        };
        match next {
            Some((k, x)) if x.is_object() || x.is_array() => {
                pointer.push('/');
                pointer.push_str(&k);
                cur = x;
            }
            _ => break,
        }
    }
    if let Some(Value::Object(m)) = v.pointer_mut(&pointer) {
        let k = KEYS[key % KEYS.len()].to_owned();
        match new {
            Some(x) => {
                m.insert(k, x);
            }
            None => {
                m.remove(&k);
            }
        }
    }
    v
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        decode_all(&bytes);
    }

    #[test]
    fn arbitrary_strings(s in any::<String>()) {
        decode_all(s.as_bytes());
        parse_timestamp(&s);
        let p = LabelPattern::new(&s);
        let _ = p.matches(Some(&s));
        let _ = p.matches(None);
    }

    #[test]
    fn structured_json(v in json_value()) {
        decode_all(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn mutated_valid_bodies(
        seed in 0usize..6,
        path in prop::collection::vec(any::<usize>(), 0..4),
        key in any::<usize>(),
        new in prop::option::weighted(0.8, json_value()),
    ) {
        let v = mutate(seeds().swap_remove(seed), &path, key, new);
        decode_all(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn near_timestamps(
        digits in prop::collection::vec(0u8..10, 20),
        seps in prop::collection::vec(prop::sample::select(vec!['-', 'T', ':', '.', 'Z', '+', ' ', 'z', 'x']), 6),
        frac in 0usize..12,
        tail in "(Z|z|[+-][0-9]{2}:?[0-9]{2}|)",
    ) {
        let d: Vec<char> = digits.iter().map(|c| char::from(b'0' + c)).collect();
        let s = format!(
            "{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}{}",
            d[0], d[1], d[2], d[3], seps[0], d[4], d[5], seps[1], d[6], d[7], seps[2],
            d[8], d[9], seps[3], d[10], d[11], seps[4], d[12], d[13],
        );
        let s = format!("{s}{}{}{tail}", seps[5], d[14..].iter().cycle().take(frac).collect::<String>());
        parse_timestamp(&s);
        decode_all(format!("\"{s}\"").as_bytes());
    }

    #[test]
    fn label_patterns_of_globs_match_in_bounded_time(
        pattern in "[a*?\\[\\]!-]{0,64}",
        value in "[ab\\]-]{0,256}",
    ) {
        let p = LabelPattern::new(&pattern);
        let _ = p.matches(Some(&value));
    }
}

// ---------------------------------------------------------------------------------------
// The corpus and the giants.

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x != "md"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 20, "the corpus is there");
    out
}

#[test]
fn the_corpus_is_refused_or_read_without_panic() {
    for (name, bytes) in corpus() {
        let start = Instant::now();
        decode_all(&bytes);
        if name.ends_with(".txt") {
            for line in bytes.split(|&b| b == b'\n') {
                decode_all(line);
                if let Ok(s) = std::str::from_utf8(line) {
                    assert!(s.parse::<Timestamp>().is_err() || !s.is_empty());
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            start.elapsed()
        );
    }
    // A few of them have one right answer.
    let read = |f: &str| {
        corpus()
            .into_iter()
            .find(|(n, _)| n.ends_with(f))
            .unwrap()
            .1
    };
    assert!(
        Event::from_json(&read("many-labels.json")).is_err(),
        "over 500 labels"
    );
    assert!(
        Event::from_json(&read("many-related.json")).is_err(),
        "over 100 related"
    );
    assert!(
        Event::from_json(&read("long-name.json")).is_err(),
        "name over 1024"
    );
    assert!(
        Event::from_json(&read("huge-numbers.json")).is_err(),
        "1e999999"
    );
    assert!(
        Event::from_json(&read("deep-127-payload.json")).is_ok(),
        "120 deep is fine"
    );
    assert!(
        serde_json::from_slice::<CreatePoolBody>(&read("invalid-utf8-in-string.json")).is_err()
    );
    assert!(serde_json::from_slice::<CreatePoolBody>(&read("huge-limits.json")).is_err());
}

/// `n` levels of `open`, then `close` as many times.
fn nested(open: &str, close: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (open.len() + close.len()));
    for _ in 0..n {
        s.push_str(open);
    }
    for _ in 0..n {
        s.push_str(close);
    }
    s
}

#[test]
fn nesting_100000_deep_is_refused_by_every_decoder_at_every_field() {
    let deep = [
        nested("[", "]", 100_000),
        nested("{\"a\":", "}", 100_000),
        nested("{\"prefix\":[", "]}", 50_000),
    ];
    let fields: Vec<&str> = KEYS.iter().copied().filter(|k| !k.is_empty()).collect();
    // The stack a test thread has (2 MiB) is the budget: no decoder may need more.
    for d in &deep {
        let start = Instant::now();
        decode_all(d.as_bytes());
        for f in &fields {
            let body = format!("{{\"{f}\":{d}}}");
            decode_all(body.as_bytes());
            let mut event: Value = serde_json::from_str(VALID_EVENT).unwrap();
            event[*f] = json!(null);
            let text = serde_json::to_string(&event).unwrap();
            let text = text.replacen("null", d, 1);
            assert!(Event::from_json(text.as_bytes()).is_err());
        }
        for (name, body) in [
            (
                "CreatePool",
                format!("{{\"name\":\"p\",\"base_job_template\":{{\"x\":{d}}}}}"),
            ),
            (
                "PoolUpdate",
                format!("{{\"base_job_template\":{{\"x\":{d}}}}}"),
            ),
            ("QueueUpdate", format!("{{\"description\":{d}}}")),
            (
                "EventFilter",
                format!("{{\"resource\":{{\"labels\":{{\"x\":{d}}}}}}}"),
            ),
        ] {
            let b = body.as_bytes();
            let refused = match name {
                "CreatePool" => serde_json::from_slice::<CreatePoolBody>(b).is_err(),
                "PoolUpdate" => serde_json::from_slice::<PoolUpdateBody>(b).is_err(),
                "QueueUpdate" => serde_json::from_slice::<QueueUpdateBody>(b).is_err(),
                _ => serde_json::from_slice::<EventFilter>(b).is_err(),
            };
            assert!(refused, "{name} refuses nesting past serde_json's limit");
        }
        assert!(start.elapsed() < Duration::from_secs(30));
    }
    // Just under serde_json's recursion limit (128) is accepted where a value may nest.
    let ok = nested("[", "]", 120);
    let body = format!("{{\"name\":\"p\",\"base_job_template\":{{\"x\":{ok}}}}}");
    assert!(serde_json::from_slice::<CreatePoolBody>(body.as_bytes()).is_ok());
}

#[test]
fn a_10_mb_string_in_any_field_is_read_or_refused_in_proportion() {
    let big = "x".repeat(10 * 1024 * 1024);
    assert!(
        Event::from_json(format!("\"{big}\"").as_bytes()).is_err(),
        "over 1.5 MB is refused before parsing"
    );
    let start = Instant::now();
    for f in KEYS.iter().filter(|k| !k.is_empty()) {
        decode_all(format!("{{\"{f}\":\"{big}\"}}").as_bytes());
    }
    // A body limit belongs to whoever reads the body (the server refuses 1 MiB and more);
    // the decoders themselves take time in proportion to the input.
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let p = LabelPattern::new(&big);
    assert!(p.matches(Some(&big)));
}

#[test]
fn hostile_glob_patterns_are_not_exponential() {
    let value = "a".repeat(20_000);
    let cases = [
        // Backtracking matchers go exponential on these; this one is O(pattern × value).
        format!("{}b", "*a".repeat(200)),
        format!("{}b", "a*".repeat(200)),
        format!("{}?b", "*?".repeat(200)),
        format!("!{}", "*".repeat(100_000)),
        "[".repeat(10_000),
        format!("{}]", "[!".repeat(5_000)),
        format!("{}b", "[a]*".repeat(200)),
    ];
    for pattern in &cases {
        let p = LabelPattern::new(pattern);
        let start = Instant::now();
        let _ = p.matches(Some(&value));
        let took = start.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "{}… took {took:?}",
            &pattern[..pattern.len().min(20)]
        );
    }
    // And through a filter parsed from JSON, as a client would send it.
    let f: EventFilter = serde_json::from_value(json!({
        "resource": {"labels": {"prefect.resource.name": [format!("{}b", "*a".repeat(200))]}}
    }))
    .unwrap();
    for e in sample_events() {
        let start = Instant::now();
        assert!(!f.matches(&e));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
