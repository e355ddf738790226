// Events: the Events service; owns no state. PushEvent validates the event, triggers a run of
// every workflow listening to its key, then offers it to the user-event conditions of the open
// matches.

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Event, EventSchema, type PushEventRequest } from "../../transport/services.ts";
import type { JsonObject } from "../../transport/types.ts";
import { isObject, jsonbError, parseObject } from "../_validate.ts";
import { invalid } from "./errors.ts";
import type { Matches } from "./matches.ts";
import type { Queue } from "./queue.ts";
import type { Records } from "./records.ts";
import type { Runs } from "./runs.ts";
import type { EngineState } from "./types.ts";
import type { Workflows } from "./workflows.ts";

/** What the events room uses of the other rooms. */
export interface EventsLinks {
  readonly workflows: Pick<Workflows, "all">;
  readonly runs: Pick<Runs, "trigger">;
  readonly matches: Pick<Matches, "userEvent">;
  readonly queue: Pick<Queue, "flush">;
  readonly records: Pick<Records, "note">;
}

/** A pushed event kept for durable lookback windows. */
interface PastEvent {
  key: string;
  scope: string | undefined;
  payload: JsonObject;
  /** Wall time: a lookback is measured from the worker's clock (DurableContext.now()). */
  wallMs: number;
}

// Enough for tests and benchmarks; the oldest fall out first.
const HISTORY = 10_000;

/** Pushed events. */
export class Events {
  #state: EngineState;
  #links: EventsLinks;
  #history: PastEvent[] = [];

  constructor(state: EngineState, links: EventsLinks) {
    this.#state = state;
    this.#links = links;
  }

  push(req: PushEventRequest): Event {
    if (req.key === "") throw invalid("event key is required");
    const payloadError = jsonbError(req.payload, "payload");
    if (payloadError) throw invalid(payloadError);
    if (req.additionalMetadata !== undefined) {
      const metaError = jsonbError(req.additionalMetadata, "additionalMetadata");
      if (metaError) throw invalid(metaError);
    }
    if (req.priority !== undefined && (req.priority < 1 || req.priority > 3)) {
      throw invalid(`priority must be between 1 and 3, got ${req.priority}`);
    }
    const eventId = crypto.randomUUID();
    const now = this.#state.clock.now();
    const payload = req.payload === "" ? {} : JSON.parse(req.payload);
    const meta = req.additionalMetadata ? parseObject(req.additionalMetadata) : undefined;
    for (const version of this.#links.workflows.all()) {
      if (!version.eventTriggers.includes(req.key)) continue;
      const runMeta: JsonObject = {};
      for (const [k, v] of Object.entries(meta ?? {})) {
        if (!k.startsWith("hatchet__")) runMeta[k] = v;
      }
      runMeta["hatchet__event_id"] = eventId;
      runMeta["hatchet__event_key"] = req.key;
      this.#links.runs.trigger(version, {
        input: isObject(payload) ? payload : {},
        additionalMetadata: runMeta,
        priority: req.priority,
        triggeringEvent: { id: eventId, key: req.key },
      });
    }
    if (isObject(payload)) {
      this.#history.push({ key: req.key, scope: req.scope, payload, wallMs: Date.now() });
      if (this.#history.length > HISTORY) this.#history.splice(0, this.#history.length - HISTORY);
      this.#links.matches.userEvent(req.key, payload, req.scope);
    } else {this.#links.records.note(
        `event ${eventId} (${req.key}): payload is not a JSON object, matches nothing`,
      );}
    this.#links.queue.flush();
    return create(EventSchema, {
      tenantId: this.#state.tenantId,
      eventId,
      key: req.key,
      payload: req.payload,
      eventTimestamp: req.eventTimestamp ?? timestampFromMs(now),
      additionalMetadata: req.additionalMetadata,
      scope: req.scope,
    });
  }

  /** Events with `key` pushed at or after `sinceWallMs` (and with `scope`, if given), newest first. */
  since(key: string, scope: string | undefined, sinceWallMs: number): PastEvent[] {
    const out: PastEvent[] = [];
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const e = this.#history[i];
      if (e.wallMs < sinceWallMs) break;
      if (e.key === key && (scope === undefined || e.scope === scope)) out.push(e);
    }
    return out;
  }
}
