"""Prefect's own PrefectEventSubscriber, against workbus: writes one line per event received."""

import asyncio
import sys

from prefect.events.clients import PrefectEventSubscriber
from prefect.events.filters import EventFilter, EventNameFilter


async def main(out: str, seconds: float) -> None:
    event_filter = EventFilter(
        event=EventNameFilter(prefix=["prefect.work-pool.", "prefect.work-queue.", "prefect.worker."])
    )
    async with PrefectEventSubscriber(filter=event_filter) as subscriber:
        with open(out, "a") as fh:
            fh.write("subscribed\n")

        async def consume() -> None:
            async for event in subscriber:
                with open(out, "a") as fh:
                    fh.write(f"{event.event} {event.resource.get('prefect.resource.name')}\n")

        try:
            await asyncio.wait_for(consume(), seconds)
        except (asyncio.TimeoutError, TimeoutError):
            pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
