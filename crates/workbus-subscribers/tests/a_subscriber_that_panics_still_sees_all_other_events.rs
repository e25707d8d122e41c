//! Supervision: a subscriber that panics on every third event is restarted
//! each time and still sees all the other events; a built-in one (the logger,
//! whose writer panics on every third line) too, with the panics counted.
//! On paused tokio time.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use prometheus_parse::{Scrape, Value};
use support::{paused_system, workload};
use workbus_core::{Bus, SharedEvent};
use workbus_subscribers::logger::{JsonTarget, LoggerConfig};
use workbus_subscribers::{install, EventHandler, Feed, Guarded, SubscribersConfig};

struct EveryThird {
    n: usize,
    seen: Arc<Mutex<Vec<SharedEvent>>>,
    restarts: Arc<Mutex<usize>>,
}

impl EventHandler for EveryThird {
    fn handle(&mut self, event: &SharedEvent) {
        self.n += 1;
        if self.n.is_multiple_of(3) {
            panic!("event number {} is one too many", self.n);
        }
        self.seen.lock().unwrap().push(event.clone());
    }

    fn restarting(&mut self) {
        *self.restarts.lock().unwrap() += 1;
    }
}

/// Keeps whole lines; every third line panics while being flushed, and is lost.
#[derive(Clone, Default)]
struct PanickyWriter {
    pending: Vec<u8>,
    flushes: usize,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Write for PanickyWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.flushes += 1;
        let line = String::from_utf8(std::mem::take(&mut self.pending)).unwrap();
        if self.flushes.is_multiple_of(3) {
            panic!("the disk caught fire");
        }
        self.lines.lock().unwrap().push(line.trim_end().to_owned());
        Ok(())
    }
}

#[test]
fn a_subscriber_that_panics_on_every_third_event_still_sees_all_the_others() {
    paused_system().block_on(async {
        let bus = Bus::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let restarts = Arc::new(Mutex::new(0));
        let fragile = EveryThird {
            n: 0,
            seen: seen.clone(),
            restarts: restarts.clone(),
        };
        let recorder = support::Recorder::default();
        let rec = Guarded::subscribe(&bus, "recorder", recorder.clone(), Feed::default())
            .await
            .unwrap();
        let handle = Guarded::subscribe(&bus, "fragile", fragile, Feed::default())
            .await
            .unwrap();

        // And a built-in subscriber whose output panics on every third line.
        let writer = PanickyWriter::default();
        let lines = writer.lines.clone();
        let mut config = SubscribersConfig::none();
        config.metrics = Some(Default::default());
        config.logger = Some(LoggerConfig::json_lines(JsonTarget::writer(writer)));
        let subscribers = install(&bus, config).await.unwrap();
        let metrics = subscribers.metrics().unwrap().clone();

        workload(&bus, 3).await;
        handle.shutdown().await;
        rec.shutdown().await;
        subscribers.shutdown().await;

        let all = recorder.events();
        assert!(all.len() >= 30);
        let expected: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % 3 != 0)
            .map(|(_, e)| e.id.to_string())
            .collect();
        let got: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.id.to_string())
            .collect();
        assert_eq!(
            got, expected,
            "every event but the ones it panicked on, in order"
        );
        assert_eq!(
            *restarts.lock().unwrap(),
            all.len() / 3,
            "restarted once per panic"
        );

        // The logger lost exactly the lines it panicked on, and wrote the others in order.
        let expected_lines: Vec<String> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % 3 != 0)
            .map(|(_, e)| String::from_utf8(e.json().to_vec()).unwrap())
            .collect();
        assert_eq!(*lines.lock().unwrap(), expected_lines);

        // ...and said so in the metrics.
        let scrape = Scrape::parse(metrics.render().lines().map(|l| Ok(l.to_owned()))).unwrap();
        let get = |name: &str, labels: &[(&str, &str)]| {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
                })
                .map(|s| match s.value {
                    Value::Counter(v) => v,
                    _ => panic!("{name} is a counter"),
                })
        };
        let panics = (all.len() / 3) as f64;
        assert_eq!(
            get(
                "workbus_subscriber_restarts_total",
                &[("subscriber", "logger")]
            ),
            Some(panics)
        );
        assert_eq!(
            get(
                "workbus_events_dropped_total",
                &[("subscriber", "logger"), ("reason", "panic")]
            ),
            Some(panics)
        );
    });
}
