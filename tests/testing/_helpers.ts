// Raw typed Connect clients and a scripted "worker" for driving the mock engine in tests.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  AdminService,
  type AssignedAction,
  type CreateTaskOpts,
  CreateTaskOptsSchema,
  Dispatcher,
  EventsService,
  StepActionEventType,
  V1Dispatcher,
} from "../../transport/services.ts";
import type { MockEngine } from "../../testing/mod.ts";

export interface Clients {
  dispatcher: Client<typeof Dispatcher>;
  events: Client<typeof EventsService>;
  durable: Client<typeof V1Dispatcher>;
  admin: Client<typeof AdminService>;
}

export function clientsOf(transport: Transport): Clients {
  return {
    dispatcher: createClient(Dispatcher, transport),
    events: createClient(EventsService, transport),
    durable: createClient(V1Dispatcher, transport),
    admin: createClient(AdminService, transport),
  };
}

export function task(
  workflow: string,
  name: string,
  init?: MessageInitShape<typeof CreateTaskOptsSchema>,
): CreateTaskOpts {
  return create(CreateTaskOptsSchema, {
    readableId: name,
    action: `${workflow}:${name}`,
    timeout: "60s",
    inputs: "{}",
    scheduleTimeout: "5m",
    slotRequests: { default: 1 },
    ...init,
  });
}

/** A scripted worker: registered, listening on ListenV2, collecting actions in order. */
export interface FakeWorker {
  id: string;
  actions: AssignedAction[];
  /** Resolves with the next action not yet taken by `next`. */
  next(): Promise<AssignedAction>;
  complete(action: AssignedAction, output?: unknown): Promise<void>;
  fail(action: AssignedAction, error: string, shouldNotRetry?: boolean): Promise<void>;
  /** The stream's end: undefined when it ended cleanly, else the error. */
  ended: Promise<unknown>;
  close(): Promise<void>;
}

export async function startWorker(
  engine: MockEngine,
  c: Clients,
  name: string,
  actions: string[],
  slotConfig: Record<string, number> = { default: 10 },
): Promise<FakeWorker> {
  const { workerId } = await c.dispatcher.register({
    workerName: name,
    actions,
    services: ["default"],
    slotConfig,
  });
  const abort = new AbortController();
  const received: AssignedAction[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  const ended = (async () => {
    try {
      for await (const a of c.dispatcher.listenV2({ workerId }, { signal: abort.signal })) {
        received.push(a);
        wake?.();
      }
      return undefined;
    } catch (err) {
      return err;
    } finally {
      wake?.();
    }
  })();
  let done = false;
  ended.then(() => done = true);
  // The stream opens when the client starts reading; wait until the engine has it.
  await until(engine, () => engine.workers().find((w) => w.id === workerId)?.active === true);
  const send = (a: AssignedAction, type: StepActionEventType, payload: string, noRetry?: boolean) =>
    c.dispatcher.sendStepActionEvent({
      workerId,
      jobId: a.jobId,
      jobRunId: a.jobRunId,
      taskId: a.taskId,
      taskRunExternalId: a.taskRunExternalId,
      actionId: a.actionId,
      eventType: type,
      eventPayload: payload,
      retryCount: a.retryCount,
      shouldNotRetry: noRetry,
    }).then(() => {});
  return {
    id: workerId,
    actions: received,
    async next() {
      while (received.length <= taken) {
        if (done) throw new Error("listen stream ended");
        await new Promise<void>((r) => wake = r);
      }
      return received[taken++];
    },
    complete: (a, output) =>
      send(
        a,
        StepActionEventType.STEP_EVENT_TYPE_COMPLETED,
        output === undefined ? "" : JSON.stringify(output),
      ),
    fail: (a, error, noRetry) =>
      send(a, StepActionEventType.STEP_EVENT_TYPE_FAILED, error, noRetry),
    ended,
    async close() {
      abort.abort();
      await ended;
    },
  };
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

export function json(bytes: Uint8Array): unknown {
  return JSON.parse(dec.decode(bytes));
}

/** Triggers a run and returns its id. */
export async function trigger(
  c: Clients,
  workflowName: string,
  input: unknown = {},
  more?: { additionalMetadata?: unknown; priority?: number },
): Promise<string> {
  const res = await c.admin.triggerWorkflowRun({
    workflowName,
    input: enc.encode(JSON.stringify(input)),
    additionalMetadata: more?.additionalMetadata === undefined
      ? new Uint8Array()
      : enc.encode(JSON.stringify(more.additionalMetadata)),
    priority: more?.priority,
  });
  return res.externalId;
}

export type { MockEngine };

/** A client side of ListenForDurableEvent: subscribe keys, await events in order. */
export interface DurableListener {
  subscribe(taskId: string, signalKey: string): void;
  next(): Promise<{ taskId: string; signalKey: string; data: unknown }>;
  received: { taskId: string; signalKey: string; data: unknown }[];
  /** Ends the request side; resolves when the response stream ended (with its error, if any). */
  close(): Promise<unknown>;
}

export function listenDurable(c: Clients): DurableListener {
  const pending: { taskId: string; signalKey: string }[] = [];
  let wakeRequests: (() => void) | undefined;
  let closed = false;
  async function* requests() {
    for (;;) {
      while (pending.length > 0) yield pending.shift()!;
      if (closed) return;
      await new Promise<void>((r) => wakeRequests = r);
    }
  }
  const received: { taskId: string; signalKey: string; data: unknown }[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  let done = false;
  const ended = (async () => {
    try {
      for await (const e of c.durable.listenForDurableEvent(requests())) {
        received.push({ taskId: e.taskId, signalKey: e.signalKey, data: json(e.data) });
        wake?.();
      }
      return undefined;
    } catch (err) {
      return err;
    } finally {
      done = true;
      wake?.();
    }
  })();
  return {
    received,
    subscribe(taskId, signalKey) {
      pending.push({ taskId, signalKey });
      wakeRequests?.();
    },
    async next() {
      while (received.length <= taken) {
        if (done) throw new Error("durable stream ended");
        await new Promise<void>((r) => wake = r);
      }
      return received[taken++];
    },
    close() {
      closed = true;
      wakeRequests?.();
      return ended;
    },
  };
}

/** Waits (in engine-quiet steps, not wall-clock sleeps) until `condition` holds. */
export async function until(engine: MockEngine, condition: () => boolean): Promise<void> {
  for (let i = 0; !condition(); i++) {
    if (i > 10_000) throw new Error("condition never became true");
    await engine.settle();
  }
}
