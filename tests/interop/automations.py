"""Prefect 3.9.1's own client manages automations against a running workbus.

    PREFECT_API_URL=http://127.0.0.1:PORT/api python tests/interop/automations.py

Creates an automation with `prefect.automations.Automation`, reads it back by id
and by name, disables and enables it, updates it, and deletes it; each step
checks what Prefect's client then reads. Exits non-zero on the first difference.
"""

from datetime import timedelta

from prefect.automations import Automation
from prefect.events.actions import PauseWorkPool
from prefect.events.schemas.automations import EventTrigger, Posture


def main() -> None:
    trigger = EventTrigger(
        match={"prefect.resource.id": "prefect.work-pool.*"},
        after={"prefect.work-pool.not-ready"},
        expect={"prefect.work-pool.ready"},
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(minutes=5),
    )
    automation = Automation(
        name="interop: not ready for five minutes",
        trigger=trigger,
        actions=[PauseWorkPool(source="inferred")],
    ).create()
    print("created", automation.id)

    by_id = Automation.read(id=automation.id)
    assert by_id.name == automation.name, by_id
    assert by_id.enabled is True
    assert by_id.trigger.within == timedelta(minutes=5), by_id.trigger
    assert by_id.trigger.posture == Posture.Proactive
    assert isinstance(by_id.actions[0], PauseWorkPool), by_id.actions
    by_name = Automation.read(name=automation.name)
    assert by_name.id == automation.id

    assert automation.disable() is True
    assert Automation.read(id=automation.id).enabled is False
    assert automation.enable() is True
    assert Automation.read(id=automation.id).enabled is True

    automation.description = "changed by the interop script"
    automation.update()
    assert Automation.read(id=automation.id).description == "changed by the interop script"

    assert automation.delete() is True
    try:
        Automation.read(id=automation.id)
    except ValueError as e:
        print("read after delete:", e)
    else:
        raise AssertionError("the automation is still there after delete")
    print("ok: Prefect's client created, read, disabled, enabled, updated and deleted an automation")


if __name__ == "__main__":
    main()
