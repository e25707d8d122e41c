//! The logger's tracing events: structured fields, and `not-ready` as a warning,
//! read back through tracing-subscriber's JSON layer.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use workbus_core::{Bus, CreatePool, CreateQueue, PoolUpdate};
use workbus_subscribers::logger::{Logger, LoggerConfig};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn events_are_logged_with_structured_fields_and_not_ready_is_a_warning() {
    let out = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(out.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    actix::System::new().block_on(async {
        let bus = Bus::start();
        let logger = Logger::subscribe(&bus, LoggerConfig::tracing())
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("etl", "process"))
            .await
            .unwrap();
        bus.create_queue("etl", CreateQueue::new("high"))
            .await
            .unwrap();
        let update = PoolUpdate {
            description: Some(Some("nightly".into())),
            concurrency_limit: Some(Some(3)),
            ..Default::default()
        };
        bus.update_pool("etl", update).await.unwrap();
        logger.shutdown().await;
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["target"] == "workbus::events")
        .collect();
    let find = |name: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["event"] == name)
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };

    let not_ready = find("prefect.work-pool.not-ready");
    assert_eq!(not_ready["level"], "WARN");
    assert_eq!(not_ready["fields"]["resource_name"], "etl");
    assert_eq!(not_ready["fields"]["pool_name"], "etl");
    assert_eq!(not_ready["fields"]["message"], "workbus event");

    let created = find("prefect.work-pool.created");
    assert_eq!(created["level"], "INFO");
    assert!(created["fields"]["resource_id"]
        .as_str()
        .unwrap()
        .starts_with("prefect.work-pool."));
    assert!(created["fields"]["event_id"].is_string());

    let queue = lines
        .iter()
        .find(|l| {
            l["fields"]["event"] == "prefect.work-queue.created"
                && l["fields"]["resource_name"] == "high"
        })
        .unwrap();
    assert_eq!(queue["fields"]["pool_name"], "etl");
    assert_eq!(queue["level"], "INFO");

    let updated = find("prefect.work-pool.updated");
    assert_eq!(
        updated["fields"]["updated_fields"],
        "description,concurrency_limit"
    );
    let updates: serde_json::Value =
        serde_json::from_str(updated["fields"]["updates"].as_str().unwrap()).unwrap();
    assert_eq!(updates["concurrency_limit"]["to"], 3);
}
