"""Prefect 3.9.1's own client saves blocks to a running workbus and an automation
made with them calls a receiver on 127.0.0.1.

    PREFECT_API_URL=http://127.0.0.1:PORT/api python tests/interop/blocks.py

Exits non-zero on the first difference.
"""

import json
import os
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prefect.automations import Automation
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.blocks.webhook import Webhook
from prefect.events.actions import CallWebhook, SendNotification
from prefect.events.schemas.automations import EventTrigger, Posture

API = os.environ["PREFECT_API_URL"]
RECEIVED: list[tuple[str, dict, str]] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        RECEIVED.append((self.path, dict(self.headers), self.rfile.read(length).decode()))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def api(method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return r.status, (json.loads(text) if text else None)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    Webhook(url=url + "/hook", headers={"x-token": "t0k"}).save("ops-hook")
    Webhook(url=url + "/hook", headers={"x-token": "t0k2"}).save("ops-hook", overwrite=True)
    hook = Webhook.load("ops-hook")
    assert hook.url.get_secret_value() == url + "/hook", hook
    assert hook.headers.get_secret_value() == {"x-token": "t0k2"}, hook.headers
    # The schema Prefect's client looks up by its own checksum is the one saved.
    checksum = Webhook._calculate_schema_checksum()
    status, schema = api("GET", f"/block_schemas/checksum/{checksum}")
    assert status == 200 and schema["checksum"] == checksum, schema
    print("saved, overwrote and loaded a Webhook block; checksum", checksum)

    CustomWebhookNotificationBlock(
        name="ops", url=url + "/notify",
        json_data={"text": "{{subject}}: {{body}}", "token": "{{token}}"},
        secrets={"token": "s3cret"},
    ).save("ops-notify")
    notify = CustomWebhookNotificationBlock.load("ops-notify")
    print("saved and loaded a CustomWebhookNotificationBlock")

    automation = Automation(
        name="interop: page on alarm",
        trigger=EventTrigger(expect={"acme.alarm"}, posture=Posture.Reactive, threshold=1),
        actions=[
            CallWebhook(block_document_id=hook._block_document_id,
                        payload='{"event": "{{ event.event }}", "by": "{{ automation.name }}"}'),
            SendNotification(block_document_id=notify._block_document_id,
                             subject="alarm", body="{{ event.resource.id }}"),
        ],
    ).create()
    read = Automation.read(id=automation.id)
    assert isinstance(read.actions[0], CallWebhook) and isinstance(read.actions[1], SendNotification), read.actions

    now = datetime.now(timezone.utc).isoformat()
    api("POST", "/events", [{"occurred": now, "event": "acme.alarm", "id": str(uuid.uuid4()),
                             "resource": {"prefect.resource.id": "acme.alarm.1"}}])
    for _ in range(100):
        if len(RECEIVED) >= 2:
            break
        time.sleep(0.1)
    assert len(RECEIVED) == 2, RECEIVED
    (path1, headers1, body1), (path2, _, body2) = RECEIVED
    assert path1 == "/hook" and headers1.get("x-token") == "t0k2", RECEIVED[0]
    assert json.loads(body1) == {"event": "acme.alarm", "by": "interop: page on alarm"}, body1
    assert path2 == "/notify" and json.loads(body2) == {"text": "alarm: acme.alarm.1", "token": "s3cret"}, body2
    automation.delete()
    print("ok: Prefect's client saved blocks to workbus, and an automation called the webhook and sent the notification")


if __name__ == "__main__":
    main()
