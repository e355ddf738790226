// The durable event log (`/v1.V1Dispatcher/DurableTask`, engines >= v0.80.0): per durable task
// a log file (invocation count, latest node, satisfied order) and its entries (WAIT_FOR, MEMO,
// RUN) keyed by node; per open stream a session (the tasks routed to it, ordered-release
// buffers). It owns that state only: matching conditions, spawning children, freeing slots and
// requeueing go through the DurableHost the core gives it. See durable-event-log.md §2-§5.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type DurableEventListenerConditions,
  DurableTaskErrorType,
  type DurableTaskRequest,
  type DurableTaskResponse,
  DurableTaskResponseSchema,
  type TriggerWorkflowRequest,
} from "../../transport/services.ts";
import type { JsonObject, JsonValue } from "../../transport/types.ts";
import { StreamQueue } from "../_stream_queue.ts";
import { isUuid } from "../_validate.ts";

/** A wait condition as the room hands it to the core's matcher. */
export interface DurableWaitCondition {
  kind: "SLEEP" | "USER_EVENT";
  orGroupId: string;
  readableDataKey: string;
  expression: string;
  sleepFor?: string;
  eventKey?: string;
  scope?: string;
}

/** What the room needs from the rest of the engine. */
export interface DurableHost {
  /** Engine time in ms. */
  now(): number;
  /** The task run, if it exists and is durable. */
  durableTask(
    taskId: string,
  ): { workflowRunId: string; running: boolean; workerId: string | undefined } | undefined;
  /** Registers a signal match; `onSatisfied` gets `{ CREATE: {...} }` once it fires. */
  registerWait(
    taskId: string,
    signalKey: string,
    conditions: DurableWaitCondition[],
    onSatisfied: (data: JsonObject) => void,
    lookback?: { since: number },
  ): void;
  /** Creates a child run of the durable task; `onDone` fires when it finishes. */
  spawnChild(
    parentTaskId: string,
    trigger: {
      name: string;
      input: JsonObject;
      additionalMetadata: JsonObject | undefined;
      priority: number | undefined;
      childIndex: number | undefined;
      childKey: string | undefined;
    },
    onDone: (result: { output: JsonValue } | { error: string }) => void,
  ): string;
  /** Evicts a running task: frees its slot, stops its timeout. False if not running. */
  evict(taskId: string): boolean;
  /** Whether the task is evicted. */
  isEvicted(taskId: string): boolean;
  /** Requeues an evicted task (it is re-assigned with the next invocation count). */
  restore(taskId: string, reason: string): void;
  /** Records a line in the engine's notes. */
  note(message: string): void;
  /** Marks engine activity (for settle()). */
  touch(): void;
}

/** The kind of an event-log entry. */
export type DurableLogEntryKind = "RUN" | "WAIT_FOR" | "MEMO";
type Kind = DurableLogEntryKind;

/** One entry of a durable task's event log, as `MockEngine.durableEventLog()` reports it. */
export interface DurableLogEntry {
  /** `WAIT_FOR` (a wait or sleep), `MEMO` (a memoized value, `now()`), `RUN` (a child run). */
  kind: DurableLogEntryKind;
  /** Its position; node ids restart at 1 on every invocation, which replays from node 1. */
  nodeId: number;
  /** Whether its result is recorded. */
  satisfied: boolean;
  /** What it records, e.g. `sleep(10s)`, `event(order:paid)`, `memo`, `run(child)`. */
  description: string;
}

interface Entry {
  kind: Kind;
  nodeId: number;
  branchId: number;
  key: string;
  description: string;
  satisfied: boolean;
  satisfiedOrder: number | undefined;
  result: Uint8Array;
  isFailure: boolean;
  errorMessage: string | undefined;
  childRunId: string | undefined;
}

/** A new, unsatisfied entry (a memo passes its payload, satisfied when not empty). */
function freshEntry(
  kind: Kind,
  key: string,
  description: string,
  result: Uint8Array = new Uint8Array(),
): Omit<Entry, "nodeId" | "branchId"> {
  return {
    kind,
    key,
    description,
    satisfied: result.length > 0,
    satisfiedOrder: undefined,
    result,
    isFailure: false,
    errorMessage: undefined,
    childRunId: undefined,
  };
}

interface LogFile {
  taskId: string;
  invocationCount: number;
  latestNodeId: number;
  latestSatisfiedOrder: number;
  entries: Map<number, Entry>;
  /** Spawn key (`<parent>.0.<key|index>`) -> node of the entry that spawned that child. */
  spawnKeys: Map<string, number>;
  /** Invocation -> the highest satisfied order released to any stream. */
  released: Map<number, number>;
}

interface Release {
  max: number;
  buffered: Map<number, DurableTaskResponse>;
}

/** One open `DurableTask` stream. */
export interface DurableTaskSession {
  readonly queue: StreamQueue<DurableTaskResponse>;
  tasks: Set<string>;
  releases: Map<string, Release>;
  workerId: string | undefined;
}

const encoder = new TextEncoder();
const BRANCH = 1;

/** The durable event log of the mock engine. */
export class DurableTaskRoom {
  readonly #host: DurableHost;
  readonly #logs = new Map<string, LogFile>();
  readonly #routes = new Map<string, DurableTaskSession>();
  readonly #sessions = new Set<DurableTaskSession>();
  /** Worker id -> the last stream that sent its register_worker. */
  readonly #workerSessions = new Map<string, DurableTaskSession>();

  constructor(host: DurableHost) {
    this.#host = host;
  }

  /** Messages written but not yet read, over every session (for settle()). */
  get pending(): number {
    let n = 0;
    for (const s of this.#sessions) n += s.queue.pending;
    return n;
  }

  /**
   * Called on every assignment of a durable task: creates or bumps its log file and returns the
   * invocation count to send.
   */
  assign(taskId: string): number {
    let lf = this.#logs.get(taskId);
    if (!lf) {
      lf = {
        taskId,
        invocationCount: 0,
        latestNodeId: 0,
        latestSatisfiedOrder: 0,
        entries: new Map(),
        spawnKeys: new Map(),
        released: new Map(),
      };
      this.#logs.set(taskId, lf);
    }
    lf.invocationCount++;
    lf.latestNodeId = 0;
    return lf.invocationCount;
  }

  /** The current invocation count of a task (0 if it has no log). */
  invocationCount(taskId: string): number {
    return this.#logs.get(taskId)?.invocationCount ?? 0;
  }

  /** The task's log, by node (for tests). */
  entries(taskId: string): DurableLogEntry[] {
    const lf = this.#logs.get(taskId);
    if (!lf) return [];
    return [...lf.entries.values()].sort((a, b) => a.nodeId - b.nodeId).map((e) => ({
      kind: e.kind,
      nodeId: e.nodeId,
      satisfied: e.satisfied,
      description: e.description,
    }));
  }

  open(): DurableTaskSession {
    const session: DurableTaskSession = {
      queue: new StreamQueue(),
      tasks: new Set(),
      releases: new Map(),
      workerId: undefined,
    };
    this.#sessions.add(session);
    this.#host.touch();
    return session;
  }

  close(session: DurableTaskSession): void {
    if (!this.#sessions.delete(session)) return;
    for (const task of session.tasks) {
      if (this.#routes.get(task) === session) this.#routes.delete(task);
    }
    if (session.workerId !== undefined && this.#workerSessions.get(session.workerId) === session) {
      this.#workerSessions.delete(session.workerId);
    }
    session.queue.end();
    this.#host.touch();
  }

  /** Ends every session (engine shutdown, dropStreams). */
  abortAll(error?: unknown): void {
    for (const s of [...this.#sessions]) {
      s.queue.abort(error);
      this.close(s);
    }
  }

  /** Handles one request. Errors the real engine swallows are noted and answered by nothing. */
  handle(session: DurableTaskSession, req: DurableTaskRequest): void {
    this.#host.touch();
    const m = req.message;
    switch (m.case) {
      case "registerWorker":
        if (!isUuid(m.value.workerId)) {
          return this.#swallow(`invalid worker id: ${m.value.workerId}`);
        }
        session.workerId = m.value.workerId;
        this.#workerSessions.set(m.value.workerId, session);
        this.#send(session, { case: "registerWorker", value: { workerId: m.value.workerId } });
        return;
      case "memo":
        return this.#memo(session, m.value);
      case "waitFor":
        return this.#waitFor(session, m.value);
      case "triggerRuns":
        return this.#triggerRuns(session, m.value);
      case "completeMemo":
        return this.#completeMemo(m.value);
      case "evictInvocation":
        return this.#evictInvocation(session, m.value);
      case "workerStatus":
        return this.#workerStatus(session, m.value);
      default:
        return this.#swallow("unknown message type: <nil>");
    }
  }

  #swallow(message: string): void {
    this.#host.note(`DurableTask: ${message} (no response, as the engine)`);
  }

  #send(
    session: DurableTaskSession,
    message: MessageInitShape<typeof DurableTaskResponseSchema>["message"],
  ): void {
    session.queue.push(create(DurableTaskResponseSchema, { message }));
    this.#host.touch();
  }

  // The common prelude of memo / trigger_runs / wait_for: route, find the log, check staleness.
  #prelude(
    session: DurableTaskSession,
    taskId: string,
    invocationCount: number,
  ): LogFile | undefined {
    if (!isUuid(taskId)) {
      this.#swallow(`invalid durable_task_external_id: ${taskId}`);
      return undefined;
    }
    this.#routes.set(taskId, session);
    session.tasks.add(taskId);
    const lf = this.#logs.get(taskId);
    if (!this.#host.durableTask(taskId)) {
      this.#swallow(`task not found: ${taskId}`);
      return undefined;
    }
    if (!lf) {
      this.#swallow(`failed to ingest event: no log file for task ${taskId}`);
      return undefined;
    }
    if (invocationCount !== lf.invocationCount) {
      this.#send(session, {
        case: "serverEvict",
        value: {
          durableTaskExternalId: taskId,
          invocationCount,
          reason:
            `invocation count mismatch for task ${taskId}: server has ${lf.invocationCount}, worker sent ${invocationCount}`,
        },
      });
      return undefined;
    }
    return lf;
  }

  #ref(lf: LogFile, invocationCount: number, entry: Entry) {
    return {
      durableTaskExternalId: lf.taskId,
      invocationCount,
      branchId: BigInt(entry.branchId),
      nodeId: BigInt(entry.nodeId),
    };
  }

  // Finds or creates the entry at `nodeId`; a different key there is non-determinism.
  #entryAt(
    session: DurableTaskSession,
    lf: LogFile,
    invocationCount: number,
    nodeId: number,
    fresh: Omit<Entry, "nodeId" | "branchId">,
  ): { entry: Entry; existed: boolean } | undefined {
    const existing = lf.entries.get(nodeId);
    if (existing) {
      if (existing.key !== fresh.key) {
        this.#send(session, {
          case: "error",
          value: {
            ref: this.#ref(lf, invocationCount, existing),
            errorType: DurableTaskErrorType.NONDETERMINISM,
            errorMessage:
              `non-determinism error in task ${lf.taskId} at node ${nodeId}:${existing.branchId}\n  expected: ${existing.description}\n  received: ${fresh.description}`,
          },
        });
        return undefined;
      }
      return { entry: existing, existed: true };
    }
    const entry: Entry = { ...fresh, nodeId, branchId: BRANCH };
    lf.entries.set(nodeId, entry);
    return { entry, existed: false };
  }

  #memo(
    session: DurableTaskSession,
    req: Extract<DurableTaskRequest["message"], { case: "memo" }>["value"],
  ): void {
    const lf = this.#prelude(session, req.durableTaskExternalId, req.invocationCount);
    if (!lf) return;
    const payload = req.payload ?? new Uint8Array();
    const nodeId = lf.latestNodeId + 1;
    const found = this.#entryAt(
      session,
      lf,
      req.invocationCount,
      nodeId,
      freshEntry("MEMO", `MEMO|${hex(req.key)}`, "memo", payload),
    );
    if (!found) return;
    lf.latestNodeId = Math.max(lf.latestNodeId, nodeId);
    const { entry, existed } = found;
    const ref = this.#ref(lf, req.invocationCount, entry);
    this.#send(session, {
      case: "memoAck",
      value: {
        ref,
        memoAlreadyExisted: existed,
        memoResultPayload: entry.result.length > 0 ? entry.result : undefined,
      },
    });
    if (entry.satisfied) {
      this.#send(session, { case: "entryCompleted", value: { ref, payload: entry.result } });
    }
  }

  #completeMemo(
    req: Extract<DurableTaskRequest["message"], { case: "completeMemo" }>["value"],
  ): void {
    const ref = req.ref;
    if (!ref) return this.#swallow("ref is required");
    const lf = this.#logs.get(ref.durableTaskExternalId);
    const entry = lf?.entries.get(Number(ref.nodeId));
    if (!entry) return this.#swallow(`failed to complete memo entry: not found`);
    if (entry.satisfied) return;
    entry.satisfied = true;
    if (req.payload.length > 0) entry.result = req.payload;
  }

  #waitFor(
    session: DurableTaskSession,
    req: Extract<DurableTaskRequest["message"], { case: "waitFor" }>["value"],
  ): void {
    const lf = this.#prelude(session, req.durableTaskExternalId, req.invocationCount);
    if (!lf) return;
    const parsed = waitConditions(req.waitForConditions);
    if (typeof parsed === "string") return this.#swallow(parsed);
    const { conditions, key, description, since } = parsed;
    const nodeId = lf.latestNodeId + 1;
    const found = this.#entryAt(
      session,
      lf,
      req.invocationCount,
      nodeId,
      freshEntry("WAIT_FOR", key, description),
    );
    if (!found) return;
    lf.latestNodeId = Math.max(lf.latestNodeId, nodeId);
    const { entry, existed } = found;
    if (!existed && conditions.length > 0) {
      // Lookback only for scoped waits, as the engine.
      const lookback = since !== undefined && conditions.some((c) => c.scope !== undefined)
        ? { since }
        : undefined;
      this.#host.registerWait(
        lf.taskId,
        `durable:${lf.taskId}:${nodeId}`,
        conditions,
        (data) => this.#satisfy(lf, entry, encoder.encode(JSON.stringify(data))),
        lookback,
      );
    }
    const ref = this.#ref(lf, req.invocationCount, entry);
    this.#send(session, { case: "waitForAck", value: { ref } });
    if (entry.satisfied) this.#deliver(session, lf, req.invocationCount, entry);
  }

  #triggerRuns(
    session: DurableTaskSession,
    req: Extract<DurableTaskRequest["message"], { case: "triggerRuns" }>["value"],
  ): void {
    const lf = this.#prelude(session, req.durableTaskExternalId, req.invocationCount);
    if (!lf) return;
    if (req.triggerOpts.length === 0) {
      return this.#swallow("failed to ingest trigger runs event: no trigger options");
    }
    const task = this.#host.durableTask(lf.taskId)!;
    const items: { trigger: TriggerWorkflowRequest; input: JsonObject; meta?: JsonObject }[] = [];
    for (const t of req.triggerOpts) {
      const input = parseObject(t.input);
      const meta = t.additionalMetadata ? parseObject(t.additionalMetadata) : {};
      if (input === undefined || meta === undefined) {
        return this.#swallow("failed to create trigger options: input is not a JSON object");
      }
      if (t.priority !== undefined && (t.priority < 1 || t.priority > 3)) {
        return this.#swallow(
          `failed to create trigger options: priority ${t.priority} not in 1..3`,
        );
      }
      items.push({ trigger: t, input, meta: t.additionalMetadata ? meta : undefined });
    }
    let next = lf.latestNodeId + 1;
    const out: Entry[] = [];
    const fresh: { entry: Entry; item: (typeof items)[number] }[] = [];
    for (const item of items) {
      const t = item.trigger;
      const key = `RUN|${t.input}|${t.name}`;
      const spawnKey = t.childIndex === undefined && t.childKey === undefined
        ? undefined
        : `${task.workflowRunId}.0.${t.childKey ?? t.childIndex}`;
      const known = spawnKey === undefined ? undefined : lf.spawnKeys.get(spawnKey);
      const existing = known === undefined ? undefined : lf.entries.get(known);
      if (existing) {
        if (t.childKey === undefined && existing.key !== key) {
          this.#entryAt(session, lf, req.invocationCount, existing.nodeId, {
            ...existing,
            key,
            description: `run(${t.name})`,
          });
          return;
        }
        out.push(existing);
        continue;
      }
      const found = this.#entryAt(
        session,
        lf,
        req.invocationCount,
        next,
        freshEntry("RUN", key, `run(${t.name})`),
      );
      if (!found) return;
      next++;
      if (spawnKey !== undefined) lf.spawnKeys.set(spawnKey, found.entry.nodeId);
      out.push(found.entry);
      if (!found.existed) fresh.push({ entry: found.entry, item });
    }
    for (const e of out) lf.latestNodeId = Math.max(lf.latestNodeId, e.nodeId);
    for (const { entry, item } of fresh) {
      const t = item.trigger;
      try {
        entry.childRunId = this.#host.spawnChild(lf.taskId, {
          name: t.name,
          input: item.input,
          additionalMetadata: item.meta,
          priority: t.priority,
          childIndex: t.childIndex,
          childKey: t.childKey,
        }, (result) => {
          if ("error" in result) {
            entry.isFailure = true;
            entry.errorMessage = result.error;
            this.#satisfy(lf, entry, new Uint8Array());
          } else this.#satisfy(lf, entry, encoder.encode(JSON.stringify(result.output)));
        });
      } catch (err) {
        lf.entries.delete(entry.nodeId);
        return this.#swallow(`failed to create trigger options: ${(err as Error).message}`);
      }
    }
    this.#send(session, {
      case: "triggerRunsAck",
      value: {
        durableTaskExternalId: lf.taskId,
        invocationCount: req.invocationCount,
        runEntries: out.map((e) => ({
          nodeId: BigInt(e.nodeId),
          branchId: BigInt(e.branchId),
          workflowRunExternalId: e.childRunId ?? "",
        })),
      },
    });
    for (const e of out) if (e.satisfied) this.#deliver(session, lf, req.invocationCount, e);
  }

  #evictInvocation(
    session: DurableTaskSession,
    req: Extract<DurableTaskRequest["message"], { case: "evictInvocation" }>["value"],
  ): void {
    const taskId = req.durableTaskExternalId;
    const fail = (message: string) =>
      this.#send(session, {
        case: "error",
        value: {
          ref: { durableTaskExternalId: taskId, invocationCount: req.invocationCount },
          errorType: DurableTaskErrorType.UNSPECIFIED,
          errorMessage: message,
        },
      });
    if (!isUuid(taskId)) return fail(`invalid durable_task_external_id: ${taskId}`);
    if (!this.#host.durableTask(taskId)) return fail(`task not found: ${taskId}`);
    if (this.#host.evict(taskId)) {
      this.#host.note(
        `task ${taskId} evicted: ${req.reason || "Task paused and evicted from worker"}`,
      );
    }
    this.#send(session, {
      case: "evictionAck",
      value: { invocationCount: req.invocationCount, durableTaskExternalId: taskId },
    });
  }

  #workerStatus(
    session: DurableTaskSession,
    req: Extract<DurableTaskRequest["message"], { case: "workerStatus" }>["value"],
  ): void {
    const seen = new Map<string, number>();
    for (const w of req.waitingEntries) {
      if (!isUuid(w.durableTaskExternalId)) continue;
      if (w.nodeId === 0n || w.branchId === 0n) {
        return this.#swallow("worker_status: node_id and branch_id are required");
      }
      seen.set(w.durableTaskExternalId, w.invocationCount);
    }
    for (const [taskId, count] of seen) {
      const lf = this.#logs.get(taskId);
      if (lf && count < lf.invocationCount) {
        this.#send(session, {
          case: "serverEvict",
          value: {
            durableTaskExternalId: taskId,
            invocationCount: count,
            reason: `stale invocation: server has ${lf.invocationCount}, worker sent ${count}`,
          },
        });
      }
    }
    for (const w of req.waitingEntries) {
      const lf = this.#logs.get(w.durableTaskExternalId);
      const entry = lf?.entries.get(Number(w.nodeId));
      if (lf && entry?.satisfied) this.#deliver(session, lf, lf.invocationCount, entry);
    }
  }

  // An entry became satisfied: number it, then restore the evicted task, or push the result to
  // the stream the task is routed to (or drop it: worker_status will fetch it).
  #satisfy(lf: LogFile, entry: Entry, payload: Uint8Array): void {
    if (entry.satisfied) return;
    entry.satisfied = true;
    entry.satisfiedOrder = ++lf.latestSatisfiedOrder;
    entry.result = payload;
    this.#host.touch();
    if (this.#host.isEvicted(lf.taskId)) {
      this.#host.restore(lf.taskId, "callback satisfied while task evicted");
      return;
    }
    // Deviation, knowingly: where the engine drops a push for a task no stream has mentioned
    // yet (after a reconnect) and leaves it to the worker's next worker_status poll, the mock
    // pushes it to the stream its worker registered, so tests need not wait for a poll.
    const workerId = this.#host.durableTask(lf.taskId)?.workerId;
    const session = this.#routes.get(lf.taskId) ??
      (workerId === undefined ? undefined : this.#workerSessions.get(workerId));
    if (session) this.#deliver(session, lf, lf.invocationCount, entry);
  }

  #deliver(session: DurableTaskSession, lf: LogFile, invocationCount: number, entry: Entry): void {
    const response = create(DurableTaskResponseSchema, {
      message: {
        case: "entryCompleted",
        value: {
          ref: this.#ref(lf, invocationCount, entry),
          payload: entry.isFailure ? new Uint8Array() : entry.result,
          isFailure: entry.isFailure,
          errorMessage: entry.isFailure ? entry.errorMessage : undefined,
        },
      },
    });
    this.#host.touch();
    const order = entry.satisfiedOrder;
    if (order === undefined) return session.queue.push(response);
    const key = `${lf.taskId}:${invocationCount}`;
    let rel = session.releases.get(key);
    if (!rel) {
      for (const k of [...session.releases.keys()]) {
        const [task, inv] = k.split(":");
        if (task === lf.taskId && Number(inv) < invocationCount) session.releases.delete(k);
      }
      // Deviation, knowingly: v0.104.7 starts a new stream's release at 0, so after a reconnect
      // mid-invocation a later completion stalls until its 60 s stall eviction; the mock resumes
      // from what was released before (as newer engines do with received_satisfied_orders).
      rel = { max: lf.released.get(invocationCount) ?? 0, buffered: new Map() };
      session.releases.set(key, rel);
    }
    if (order <= rel.max) return session.queue.push(response);
    if (order === rel.max + 1) {
      session.queue.push(response);
      rel.max++;
      while (rel.buffered.has(rel.max + 1)) {
        session.queue.push(rel.buffered.get(rel.max + 1)!);
        rel.buffered.delete(rel.max + 1);
        rel.max++;
      }
      lf.released.set(invocationCount, Math.max(lf.released.get(invocationCount) ?? 0, rel.max));
      return;
    }
    if (!rel.buffered.has(order)) rel.buffered.set(order, response);
  }

  /** A summary of a request for the RPC log. */
  static summary(req: DurableTaskRequest): Record<string, string | number> {
    const m = req.message;
    switch (m.case) {
      case "registerWorker":
        return { kind: "register_worker" };
      case "memo":
        return {
          kind: "memo",
          taskRunId: m.value.durableTaskExternalId,
          invocation: m.value.invocationCount,
        };
      case "waitFor":
        return {
          kind: "wait_for",
          taskRunId: m.value.durableTaskExternalId,
          invocation: m.value.invocationCount,
        };
      case "triggerRuns":
        return {
          kind: "trigger_runs",
          taskRunId: m.value.durableTaskExternalId,
          invocation: m.value.invocationCount,
        };
      case "completeMemo":
        return { kind: "complete_memo", taskRunId: m.value.ref?.durableTaskExternalId ?? "" };
      case "evictInvocation":
        return {
          kind: "evict_invocation",
          taskRunId: m.value.durableTaskExternalId,
          invocation: m.value.invocationCount,
        };
      case "workerStatus":
        return { kind: "worker_status", entries: m.value.waitingEntries.length };
      default:
        return { kind: "unknown" };
    }
  }
}

function waitConditions(
  c: DurableEventListenerConditions | undefined,
):
  | { conditions: DurableWaitCondition[]; key: string; description: string; since?: number }
  | string {
  const conditions: DurableWaitCondition[] = [];
  let since: number | undefined;
  for (const s of c?.sleepConditions ?? []) {
    if (!s.base || !isUuid(s.base.orGroupId)) {
      return `or group id is not a valid uuid: ${s.base?.orGroupId ?? ""}`;
    }
    conditions.push({
      kind: "SLEEP",
      orGroupId: s.base.orGroupId.toLowerCase(),
      readableDataKey: s.base.readableDataKey,
      expression: s.base.expression,
      sleepFor: s.sleepFor,
    });
  }
  for (const u of c?.userEventConditions ?? []) {
    if (!u.base || !isUuid(u.base.orGroupId)) {
      return `or group id is not a valid uuid: ${u.base?.orGroupId ?? ""}`;
    }
    conditions.push({
      kind: "USER_EVENT",
      orGroupId: u.base.orGroupId.toLowerCase(),
      readableDataKey: u.base.readableDataKey,
      expression: u.base.expression,
      eventKey: u.userEventKey,
      scope: u.eventScope,
    });
    if (u.considerEventsSince) {
      const t = timestampDate(u.considerEventsSince).getTime();
      since = since === undefined ? t : Math.min(since, t);
    }
  }
  // The engine's idempotency key covers neither or-group ids, scope, lookback nor labels.
  const parts = conditions.map((x) =>
    [
      x.expression,
      x.readableDataKey,
      x.kind === "SLEEP" ? "SLEEP" : "USER_EVENT",
      x.sleepFor ?? "",
      x.eventKey ?? "",
    ]
      .join("\u0000")
  ).sort();
  const description = conditions.map((x) =>
    x.kind === "SLEEP" ? `sleep(${x.sleepFor})` : `event(${x.eventKey})`
  ).join(" and ");
  return { conditions, key: `WAIT_FOR|${parts.join("\u0001")}`, description, since };
}

function parseObject(text: string): JsonObject | undefined {
  if (text === "") return {};
  try {
    const v = JSON.parse(text) as JsonValue;
    return v !== null && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
