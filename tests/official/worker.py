# A worker of the official Hatchet Python SDK (hatchet-sdk, the version pinned in
# requirements.txt) for `deno task test:official`. The driver (run.ts) starts it with
# HATCHET_CLIENT_* pointing at a MockEngine and talks to it in JSON lines: it writes commands on
# stdin ({"id", "op", ...}) and reads one answer per command on stdout ({"id", "ok", ...}).
# Commands use the SDK's own client (trigger, result, push, REST calls, stream subscription);
# "open" releases a gate that a task awaits, so the driver decides when a task may finish.

import asyncio
import json
import sys
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from hatchet_sdk import (
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    DesiredWorkerLabel,
    DurableContext,
    EmptyModel,
    Hatchet,
    ParentCondition,
    SleepCondition,
    TriggerWorkflowOptions,
    UserEventCondition,
    or_,
)
from hatchet_sdk.clients.events import PushEventOptions

hatchet = Hatchet()

# Durable tasks here set eviction_policy=None: with the default policy, against an engine before
# v0.80.0 (the mock's default v0.79.0) hatchet-sdk 1.43.1 refuses to start one time in five, a
# deprecation it enforces at random since 2026-08-30 (deprecated/deprecation.py).
gates: dict[str, threading.Event] = {}
gates_lock = threading.Lock()
out_lock = threading.Lock()
executions: dict[str, int] = {}


def gate(name: str) -> threading.Event:
    with gates_lock:
        return gates.setdefault(name, threading.Event())


async def wait_gate(name: str) -> None:
    event = gate(name)
    while not event.is_set():
        await asyncio.sleep(0.01)


def data(input: EmptyModel) -> dict[str, Any]:
    return input.model_dump()


# --- workflows --------------------------------------------------------------------------

simple = hatchet.workflow(name="simple")


@simple.task()
def hello(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"message": f"hello {data(input).get('name')}"}


dag = hatchet.workflow(name="dag")


@dag.task()
def first(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"n": 1}


@dag.task(parents=[first])
def middle(input: EmptyModel, ctx: Context) -> None:
    return None


@dag.task(parents=[middle])
def last(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"fromGrandparent": ctx.task_output(first), "fromParent": ctx.task_output(middle)}


skip = hatchet.workflow(name="skip")


@skip.task()
def decide(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"go": False}


@skip.task(
    parents=[decide],
    skip_if=[ParentCondition(parent=decide, expression="output.go == false")],
)
def maybe(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"ran": True}


logs = hatchet.workflow(name="logs")


@logs.task()
def chatty(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    ctx.log("line 1")
    ctx.log("line 2")
    ctx.put_stream("chunk-1")
    ctx.put_stream("chunk-2")
    return {"done": True}


retry = hatchet.workflow(name="retry")


@retry.task(retries=2)
def flaky(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    if ctx.retry_count < 1:
        raise Exception(f"attempt {ctx.retry_count} fails")
    return {"retryCount": ctx.retry_count}


failing = hatchet.workflow(name="failing")


@failing.task()
def fine(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"ok": 1}


@failing.task(parents=[fine])
def broken(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    raise Exception("boom")


@failing.on_failure_task()
def report(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"errors": ctx.task_run_errors, "fine": ctx.task_output(fine)}


timeout = hatchet.workflow(name="timeout")


@timeout.task(execution_timeout=timedelta(seconds=5))
async def stuck(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    while True:
        await asyncio.sleep(0.01)


refresh = hatchet.workflow(name="refresh")


@refresh.task(execution_timeout=timedelta(seconds=5))
async def extend(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    ctx.refresh_timeout("30s")
    ctx.log("refreshed")
    await wait_gate("refresh")
    return {"refreshed": True}


holder = hatchet.workflow(name="holder")


@holder.task(execution_timeout=timedelta(minutes=10))
async def hold(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    if data(input).get("release"):
        ctx.release_slot()
    ctx.log("holding")
    await wait_gate(f"hold-{data(input).get('gate')}")
    return {"held": True}


durable_sleep = hatchet.workflow(name="durable-sleep")


@durable_sleep.durable_task(execution_timeout=timedelta(hours=2), eviction_policy=None)
async def nap(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
    await ctx.aio_sleep_for(timedelta(hours=1))
    return {"slept": True}


durable_event = hatchet.workflow(name="durable-event")


@durable_event.durable_task(execution_timeout=timedelta(hours=2), eviction_policy=None)
async def approval(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.aio_wait_for(
        "approval",
        UserEventCondition(event_key="official:approved", expression="input.orderId == 'o-1'"),
    )
    return {"result": result}


durable_or = hatchet.workflow(name="durable-or")


@durable_or.durable_task(execution_timeout=timedelta(hours=48), eviction_policy=None)
async def either(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
    result = await ctx.aio_wait_for(
        "either",
        or_(SleepCondition(timedelta(hours=24)), UserEventCondition(event_key="official:never")),
    )
    return {"result": result}


on_event = hatchet.workflow(name="on-event", on_events=["official:order"])


@on_event.task()
def triggered(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    meta = {k: v for k, v in ctx.additional_metadata.items() if not k.startswith("hatchet__")}
    return {"input": data(input), "meta": meta}


cancel_me = hatchet.workflow(name="cancel-me")


@cancel_me.task(execution_timeout=timedelta(minutes=10))
async def wait_for_cancel(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    ctx.log("waiting")
    while not ctx.exit_flag:
        await asyncio.sleep(0.01)
    ctx.log("saw cancel")
    return {"cancelled": False}


self_cancel = hatchet.workflow(name="self-cancel")


@self_cancel.task(execution_timeout=timedelta(minutes=10))
async def quit(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    await ctx.aio_cancel()
    while True:
        await asyncio.sleep(0.01)


child = hatchet.workflow(name="child")


@child.task()
def double(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"doubled": data(input).get("n", 0) * 2}


parent = hatchet.workflow(name="parent")


@parent.task(execution_timeout=timedelta(minutes=10))
async def spawn(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    result = await child.aio_run(EmptyModel(n=21))
    return {"child": result}


replayed = hatchet.workflow(name="replayed")


@replayed.task()
def once_broken(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    executions["replayed"] = executions.get("replayed", 0) + 1
    if executions["replayed"] == 1:
        raise Exception("first execution fails")
    return {"executions": executions["replayed"]}


streamer = hatchet.workflow(name="streamer")


@streamer.task(execution_timeout=timedelta(minutes=10))
async def emit(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    await wait_gate("stream")
    ctx.put_stream("a")
    ctx.put_stream("b")
    # The result must not overtake the chunks: the driver opens this gate once the engine has both.
    await wait_gate("stream-sent")
    return {"streamed": 2}


# One run per input.group at a time; a second while one runs is cancelled.
limited = hatchet.workflow(
    name="limited",
    concurrency=ConcurrencyExpression(
        expression="input.group",
        max_runs=1,
        limit_strategy=ConcurrencyLimitStrategy.CANCEL_NEWEST,
    ),
)


@limited.task(execution_timeout=timedelta(minutes=10))
async def one_at_a_time(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    ctx.log("admitted")
    await wait_gate(f"limited-{data(input).get('gate')}")
    return {"gate": data(input).get("gate")}


# The worker carries the label gpu=yes and not tpu.
labelled = hatchet.workflow(name="labelled")


@labelled.task(desired_worker_labels=[DesiredWorkerLabel(key="gpu", value="yes", required=True)])
def on_gpu(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"ran": "gpu"}


unmatched = hatchet.workflow(name="unmatched")


@unmatched.task(desired_worker_labels=[DesiredWorkerLabel(key="tpu", value="yes", required=True)])
def on_tpu(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"ran": "tpu"}


WORKFLOWS = [
    simple, dag, skip, logs, retry, failing, timeout, refresh, holder, durable_sleep,
    durable_event, durable_or, on_event, cancel_me, self_cancel, child, parent, replayed, streamer,
    limited, labelled, unmatched,
]
BY_NAME = {w.name: w for w in WORKFLOWS}


# --- commands ---------------------------------------------------------------------------


_commands_client: Hatchet | None = None


def commands_client() -> Hatchet:
    global _commands_client
    if _commands_client is None:
        _commands_client = Hatchet()
    return _commands_client


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


async def run_command(cmd: dict[str, Any]) -> Any:
    op = cmd["op"]
    if op == "run":
        options = TriggerWorkflowOptions(additional_metadata=cmd.get("meta") or {})
        ref = await BY_NAME[cmd["workflow"]].aio_run_no_wait(
            EmptyModel(**cmd.get("input", {})), options=options
        )
        return {"runId": ref.workflow_run_id}
    if op == "result":
        # The synchronous result() polls GetRunDetails; aio_result() subscribes to the run.
        ref = hatchet.runs.get_run_ref(cmd["runId"])
        return {"result": await asyncio.to_thread(ref.result)}
    if op == "aio_result":
        # A client of its own, as another process would have: the SDK's pooled run listener
        # belongs to the event loop that first used it, and tasks (a child's parent) use the
        # worker's loop, not this one.
        ref = commands_client().runs.get_run_ref(cmd["runId"])
        return {"result": await ref.aio_result()}
    if op == "push":
        hatchet.event.push(
            cmd["key"],
            cmd.get("payload", {}),
            options=PushEventOptions(additional_metadata=cmd.get("meta") or {}),
        )
        return {}
    if op == "get":
        details = await hatchet.runs.aio_get(cmd["runId"])
        return {
            "status": details.run.status.value,
            "tasks": {t.display_name: t.status.value for t in details.tasks},
            "output": details.run.output,
        }
    if op == "status":
        return {"status": (await hatchet.runs.aio_get_status(cmd["runId"])).value}
    if op == "cancel":
        await hatchet.runs.aio_cancel(cmd["runId"])
        return {}
    if op == "replay":
        await hatchet.runs.aio_replay(cmd["runId"])
        return {}
    if op == "schedule":
        at = datetime.fromisoformat(cmd["at"].replace("Z", "+00:00")).astimezone(timezone.utc)
        await BY_NAME[cmd["workflow"]].aio_schedule(at, EmptyModel(**cmd.get("input", {})))
        return {}
    if op == "stream":
        chunks = []
        async for chunk in hatchet.runs.subscribe_to_stream(cmd["runId"]):
            chunks.append(chunk)
        return {"chunks": chunks}
    if op == "open":
        gate(cmd["gate"]).set()
        return {}
    raise ValueError(f"unknown op {op!r}")


def describe(err: BaseException) -> str:
    # A gRPC error's str() spans lines; its status code and details say it in one.
    code, details = getattr(err, "code", None), getattr(err, "details", None)
    if callable(code) and callable(details):
        return f"{type(err).__name__}: {code().name} {details()}"
    return f"{type(err).__name__}: {err}"


def answer(message: dict[str, Any]) -> None:
    with out_lock:
        sys.stdout.write(json.dumps(jsonable(message)) + "\n")
        sys.stdout.flush()


def serve_commands() -> None:
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)

        def done(fut: "asyncio.Future[Any]", cmd: dict[str, Any] = cmd) -> None:
            try:
                answer({"id": cmd["id"], "ok": True, **fut.result()})
            except BaseException as err:  # noqa: BLE001 - every failure goes to the driver
                answer({"id": cmd["id"], "ok": False, "error": describe(err)})

        asyncio.run_coroutine_threadsafe(run_command(cmd), loop).add_done_callback(done)


def main() -> None:
    threading.Thread(target=serve_commands, daemon=True).start()
    worker = hatchet.worker("official-python", slots=2, labels={"gpu": "yes"}, workflows=WORKFLOWS)
    worker.start()


if __name__ == "__main__":
    main()
