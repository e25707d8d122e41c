"""The same automation scenario against a real Prefect 3.9.1 server and against workbus.

    python tests/interop/automations_vs_prefect.py PREFECT_API_URL WORKBUS_API_URL

On each server: a work pool; a reactive automation on `prefect.work-pool.paused` (per
pool) that resumes the pool it names; a proactive one (`after: acme.start`, `expect:
acme.done`, within 10 s) whose actions do nothing. Then the pool is paused and an
`acme.start` event posted, and the script collects the `prefect.automation.*` events each
server emits. It checks that both emitted the same events, in the same order for each
automation, with the same resource labels, related roles and payload keys (ids and times
aside), and prints how long after its window closed each proactive firing came.
Exits non-zero on the first difference.
"""

import json
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def parse(ts):
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def automation_events(base, since):
    page = call(
        base,
        "POST",
        "/events/filter",
        {
            "filter": {
                "occurred": {"since": since},
                "event": {"prefix": ["prefect.automation."]},
                "order": "ASC",
            },
            "limit": 50,
        },
    )
    return page["events"]


def scenario(base, label):
    suffix = uuid.uuid4().hex[:8]
    since = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    pool = call(base, "POST", "/work_pools/", {"name": f"cmp-{suffix}", "type": "process"})
    reactive = call(
        base,
        "POST",
        "/automations/",
        {
            "name": f"resume-{suffix}",
            "trigger": {
                "type": "event",
                "match": {"prefect.resource.id": f"prefect.work-pool.{pool['id']}"},
                "expect": ["prefect.work-pool.paused"],
                "for_each": ["prefect.resource.id"],
                "posture": "Reactive",
                "threshold": 1,
                "within": 0,
            },
            "actions": [{"type": "resume-work-pool", "source": "inferred"}],
        },
    )
    proactive = call(
        base,
        "POST",
        "/automations/",
        {
            "name": f"silence-{suffix}",
            "trigger": {
                "type": "event",
                "match": {"prefect.resource.id": f"acme.job.{suffix}"},
                "after": ["acme.start"],
                "expect": ["acme.done"],
                "for_each": ["prefect.resource.id"],
                "posture": "Proactive",
                "threshold": 1,
                "within": 10,
            },
            "actions": [{"type": "do-nothing"}],
        },
    )
    time.sleep(3)  # Prefect loads automations from its database in the background.
    call(base, "PATCH", f"/work_pools/{pool['name']}", {"is_paused": True})
    started = datetime.now(timezone.utc)
    call(
        base,
        "POST",
        "/events",
        [
            {
                "occurred": started.isoformat(),
                "event": "acme.start",
                "resource": {"prefect.resource.id": f"acme.job.{suffix}"},
                "id": str(uuid.uuid4()),
            }
        ],
    )
    ids = {reactive["id"]: "reactive", proactive["id"]: "proactive"}
    deadline = time.time() + 60
    events = []
    while time.time() < deadline:
        events = [
            e
            for e in automation_events(base, since)
            if e["resource"]["prefect.resource.id"].split(".")[-1] in ids
        ]
        done = [
            e
            for e in events
            if e["event"] in ("prefect.automation.action.executed", "prefect.automation.action.failed")
        ]
        if len(done) >= 2:
            break
        time.sleep(0.5)
    by = {"reactive": [], "proactive": []}
    for e in events:
        by[ids[e["resource"]["prefect.resource.id"].split(".")[-1]]].append(e)
    late = None
    for e in by["proactive"]:
        if e["event"] == "prefect.automation.triggered":
            opened = parse(e["payload"]["triggering_event"]["occurred"])
            late = (parse(e["occurred"]) - (opened + timedelta(seconds=10))).total_seconds()
    print(f"[{label}] proactive firing {late if late is None else f'{late:.3f} s'} after its window closed")
    return by


def shape(e):
    return {
        "event": e["event"],
        "resource": sorted(k for k in e["resource"] if k not in ("prefect.resource.id", "prefect.resource.name")),
        "related": [r.get("prefect.resource.role") for r in e["related"]],
        "payload": sorted(e["payload"].keys()),
        "action_type": e["payload"].get("action_type"),
        "status_code": e["payload"].get("status_code"),
        "follows": e.get("follows") is not None,
    }


def main():
    prefect, workbus = sys.argv[1], sys.argv[2]
    ours = scenario(workbus, "workbus")
    theirs = scenario(prefect, "prefect")
    ok = True
    for which in ("reactive", "proactive"):
        a = [shape(e) for e in theirs[which]]
        b = [shape(e) for e in ours[which]]
        print(f"{which}: prefect {[s['event'] for s in a]}")
        print(f"{which}: workbus {[s['event'] for s in b]}")
        if a != b:
            ok = False
            for x, y in zip(a, b):
                if x != y:
                    print("  prefect:", x)
                    print("  workbus:", y)
            if len(a) != len(b):
                print("  different number of events")
    if not ok:
        sys.exit("the servers differ")
    print("ok: the same automation events from both servers")


if __name__ == "__main__":
    main()
