//! A library user's own actor as an action: an actix recipient attached to an
//! automation receives each firing, with its labels, its triggering event and its
//! `triggered` event. Paused time.

mod support;

use std::sync::{Arc, Mutex};

use actix::prelude::*;
use support::*;
use workbus_automations::{AutomationSpec, EventTrigger, Fired, Posture};
use workbus_core::testing::paused;
use workbus_core::{CreatePool, PoolUpdate};

struct Pager(Arc<Mutex<Vec<Fired>>>);

impl Actor for Pager {
    type Context = Context<Self>;
}

impl Handler<Fired> for Pager {
    type Result = ();

    fn handle(&mut self, fired: Fired, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(fired);
    }
}

#[test]
fn each_firing_reaches_the_recipient() {
    paused(|| async {
        let (bus, automations) = bus().await;
        let pages = Arc::new(Mutex::new(Vec::new()));
        let pager = Pager(pages.clone()).start();
        let automation = automations
            .create(AutomationSpec::new(
                "page on pause",
                EventTrigger::new(Posture::Reactive)
                    .expect(["prefect.work-pool.paused"])
                    .for_each(["prefect.resource.name"]),
                vec![],
            ))
            .await
            .unwrap();
        automations
            .on_fire(automation.id, pager.recipient())
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("a", "process"))
            .await
            .unwrap();
        bus.create_pool(CreatePool::new("b", "process"))
            .await
            .unwrap();
        bus.update_pool("a", PoolUpdate::pause()).await.unwrap();
        bus.update_pool("b", PoolUpdate::pause()).await.unwrap();
        settle_all(&bus).await;

        let pages = pages.lock().unwrap();
        let names: Vec<&str> = pages.iter().map(|f| f.labels[0].1.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(pages[0].automation.id, automation.id);
        assert_eq!(
            pages[0].triggering_event.as_ref().unwrap().event,
            "prefect.work-pool.paused"
        );
        assert_eq!(pages[0].triggered.event, "prefect.automation.triggered");
    });
}
