# The official Python SDK's side of test:engine's "durable wake: ours vs official SDKs"
# (official_scenarios.ts), run with the venv that tests/official/install.ts makes and
# HATCHET_CLIENT_* pointing at the real engine:
#
#   python official_wake.py <workflow name prefix> <event key> <wake samples> <sleep samples>
#
# Starts a worker with two durable tasks and measures, with the SDK's own client, the same two
# things as our side: event push -> the durable task resumed from its wait (one run at a time,
# the push sent once the task has waited for a while), and how late a 2 s durable sleep resumes
# (runs started evenly over two periods of the engine's 1 s sleep poll). Prints its samples, in
# milliseconds, as one line `RESULT {"wake": [...], "push": [...], "sleep": [...]}` on stdout.

import json
import os
import sys
import threading
import time
from datetime import timedelta

from hatchet_sdk import DurableContext, Hatchet, UserEventCondition
from pydantic import BaseModel

PREFIX, KEY = sys.argv[1], sys.argv[2]
WAKES, SLEEPS = int(sys.argv[3]), int(sys.argv[4])
SLEEP_S = 2

hatchet = Hatchet()


class Sample(BaseModel):
    id: str


waiting: dict[str, float] = {}
resumed: dict[str, float] = {}
late: dict[str, float] = {}

wake_wf = hatchet.workflow(name=f"{PREFIX}-wake", input_validator=Sample)
sleep_wf = hatchet.workflow(name=f"{PREFIX}-sleep", input_validator=Sample)


@wake_wf.durable_task(execution_timeout=timedelta(minutes=10))
async def wake(input: Sample, ctx: DurableContext) -> dict[str, bool]:
    waiting[input.id] = time.perf_counter()
    await ctx.aio_wait_for(
        "wake", UserEventCondition(event_key=KEY, expression=f"input.id == '{input.id}'")
    )
    resumed[input.id] = time.perf_counter()
    return {"woke": True}


@sleep_wf.durable_task(execution_timeout=timedelta(minutes=10))
async def nap(input: Sample, ctx: DurableContext) -> dict[str, bool]:
    before = time.perf_counter()
    await ctx.aio_sleep_for(timedelta(seconds=SLEEP_S))
    late[input.id] = (time.perf_counter() - before - SLEEP_S) * 1000
    return {"slept": True}


def drive() -> None:
    try:
        # A run triggered before the worker has registered its workflows may never start: give
        # the worker a moment, and trigger again if the first run does not start.
        time.sleep(3)
        wake_ms, push_ms = [], []
        for i in range(WAKES):
            sample = f"w{i}"
            for _attempt in range(4):
                ref = wake_wf.run(Sample(id=sample), wait_for_result=False)
                deadline = time.time() + 15
                while sample not in waiting and time.time() < deadline:
                    time.sleep(0.005)
                if sample in waiting:
                    break
            else:
                raise RuntimeError(f"run {sample} did not start (4 triggers, 15 s each)")
            time.sleep(1.0)
            pushed = time.perf_counter()
            hatchet.event.push(KEY, {"id": sample})
            push_ms.append((time.perf_counter() - pushed) * 1000)
            ref.result()
            wake_ms.append((resumed[sample] - pushed) * 1000)
        refs = []
        for i in range(SLEEPS):
            refs.append(sleep_wf.run(Sample(id=f"s{i}"), wait_for_result=False))
            time.sleep(2.0 / SLEEPS)
        for ref in refs:
            ref.result()
        sleep_ms = [late[f"s{i}"] for i in range(SLEEPS)]
        print("RESULT " + json.dumps({"wake": wake_ms, "push": push_ms, "sleep": sleep_ms}), flush=True)
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 - reported to the driver, then exit
        print(f"official_wake.py failed: {err!r}", file=sys.stderr, flush=True)
        os._exit(1)


if __name__ == "__main__":
    threading.Thread(target=drive, daemon=True).start()
    hatchet.worker(f"{PREFIX}-worker", workflows=[wake_wf, sleep_wf]).start()
