//! A payload's numbers leave the bus as they came in: reading a float is exact, so an event
//! written, read and written again is the same bytes (CI once caught `8.225615842419683e-200`
//! read one ULP off).

use workbus_events::Event;

#[test]
fn payload_floats_round_trip_exactly() {
    let floats: [f64; 6] = [
        8.225615842419683e-200,
        2.2250738585072014e-308,
        1.7976931348623157e308,
        5e-324,
        0.1,
        0.30000000000000004,
    ];
    let body = format!(
        r#"{{"occurred":"2026-12-01T06:27:49.768505Z","event":"prefect.work-queue.updated","resource":{{"prefect.resource.id":"prefect.work-queue.1f8c7147-849f-45d3-a4eb-48b5e25c00e3"}},"related":[],"payload":{{"x":[{}]}},"id":"01a23049-c189-7c5b-a5d1-ea326457d9ea","follows":null}}"#,
        floats.map(|f| format!("{f:e}")).join(",")
    );
    let event = Event::from_json(body.as_bytes()).expect("a valid event");
    let read: Vec<f64> = event.payload["x"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number"))
        .collect();
    for (got, want) in read.iter().zip(floats) {
        assert_eq!(got.to_bits(), want.to_bits(), "{want:e} read exactly");
    }
    let once = event.to_json();
    let twice = Event::from_json(&once).expect("reads back").to_json();
    assert_eq!(once, twice, "writing is stable");
}
