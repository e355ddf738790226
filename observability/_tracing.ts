// Spans through `@opentelemetry/api`. With no SDK registered (and no `OTEL_DENO=true`), the API
// would hand out non-recording spans; this module checks for a registered provider first and
// then does nothing at all, so tracing off costs one global lookup per task attempt, trigger and
// push, and nothing per log line. With a provider, a span that is not recording (sampled out)
// is dropped after one `isRecording()` check.
//
// Runs join a trace through the W3C `traceparent` in their additional metadata. This module
// reads and writes that header itself instead of through the global propagator, so it works the
// same whether Deno's built-in exporter, an SDK with or without a propagator, or nothing is set up.

import {
  type Context as OtelContext,
  context,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { JsonObject } from "../transport/types.ts";

/** The instrumentation scope of every span this SDK makes. */
export const TRACER_NAME = "@hatchet-deno/sdk";
/** The SDK version reported as the scope version. */
export const TRACER_VERSION = "0.1.0";
/** The additional-metadata key the engine and the SDKs carry the W3C trace context in. */
export const TRACEPARENT_KEY = "traceparent";

let cachedTracer: Tracer | undefined;
// What a ProxyTracerProvider delegates to while no SDK is registered (the API's no-op provider).
const NO_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * True when no tracer provider is registered with the API: nothing can record a span, so the
 * callers skip all tracing work. Costs a global lookup. A registered provider that samples
 * nothing still reads as on; its spans are then non-recording and dropped the same way.
 */
export function tracingOff(): boolean {
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider && provider.getDelegate() === NO_PROVIDER;
}

/** The SDK's tracer (a proxy that follows whatever provider is registered later). */
export function tracer(): Tracer {
  return cachedTracer ??= trace.getTracer(TRACER_NAME, TRACER_VERSION);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

/**
 * Parses a W3C `traceparent` header value.
 *
 * @param value The header value.
 * @returns The remote span context, or `undefined` when the value is not a valid traceparent.
 */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== "string") return undefined;
  const match = TRACEPARENT.exec(value.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === "ff" || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  // Version 00 has exactly four fields; later versions may append more.
  if (version === "00" && rest !== undefined) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & 1, isRemote: true };
}

/**
 * Formats a span context as a W3C `traceparent` header value.
 *
 * @param spanContext A valid span context.
 * @returns `00-<trace id>-<span id>-<flags>`.
 */
export function formatTraceparent(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 1).toString(16).padStart(2, "0");
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * The context a run's work continues in: the run's `traceparent` as a remote parent, else the
 * root context.
 */
export function contextFromMetadata(metadata: JsonObject | undefined): OtelContext {
  const parent = parseTraceparent(metadata?.[TRACEPARENT_KEY]);
  return parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
}

/**
 * A span around something that starts runs elsewhere (a trigger, an event push, a child spawn),
 * and the metadata to send with it.
 */
export interface OutgoingSpan {
  /** `metadata` with `traceparent` set to this span, or `metadata` as given when not tracing. */
  readonly metadata: JsonObject | undefined;
  /** Runs the call with this span active (so the transport's own spans nest under it). */
  run<T>(fn: () => T): T;
  /** Records the run or event id the engine answered with. */
  setId(key: string, id: string): void;
  /** Ends the span; with an error, records it and marks the span failed. */
  end(error?: unknown): void;
}

const NOT_TRACING = (metadata: JsonObject | undefined): OutgoingSpan => ({
  metadata,
  run: (fn) => fn(),
  setId() {},
  end() {},
});

/**
 * Starts a producer span for a call that starts runs, parented on the active span (else on a
 * `traceparent` the caller put in `metadata` itself), and injects it as `traceparent` into a copy
 * of `metadata` so the runs it starts join the trace. This is the function a child spawn calls
 * too: `startOutgoingSpan("spawn <workflow>", metadata, { "hatchet.parent_task_run_id": id })`.
 *
 * @param name The span name, e.g. `runs.trigger order`.
 * @param metadata The additional metadata the caller sends.
 * @param attributes Span attributes (set only while tracing).
 * @returns The span handle; `metadata` is the one to send.
 */
export function startOutgoingSpan(
  name: string,
  metadata: JsonObject | undefined,
  attributes?: Record<string, string | number>,
): OutgoingSpan {
  if (tracingOff()) return NOT_TRACING(metadata);
  let parent = context.active();
  if (trace.getSpan(parent) === undefined && metadata?.[TRACEPARENT_KEY] !== undefined) {
    parent = contextFromMetadata(metadata);
  }
  const span = tracer().startSpan(name, { kind: SpanKind.PRODUCER }, parent);
  if (!span.isRecording()) {
    span.end();
    return NOT_TRACING(metadata);
  }
  if (attributes !== undefined) span.setAttributes(attributes);
  return {
    metadata: { ...metadata, [TRACEPARENT_KEY]: formatTraceparent(span.spanContext()) },
    run: (fn) => context.with(trace.setSpan(parent, span), fn),
    setId(key, id) {
      span.setAttribute(key, id);
    },
    end(error) {
      if (error !== undefined) recordFailure(span, error);
      span.end();
    },
  };
}

/** Records `error` on `span` and marks it failed. */
export function recordFailure(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  else span.recordException(String(error));
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
}

/**
 * The JSON metadata a log line carries while tracing: the trace and span ids of the active span
 * (a span the task made itself), else of `fallback` (the attempt's span).
 *
 * @param fallback The attempt's span.
 * @returns `{"trace_id":"…","span_id":"…"}`.
 */
export function logTraceMetadata(fallback: Span): string {
  const active = trace.getActiveSpan();
  const { traceId, spanId } = (active ?? fallback).spanContext();
  return `{"trace_id":"${traceId}","span_id":"${spanId}"}`;
}

/** What an attempt span is named after and tagged with. */
export interface AttemptInfo {
  workflowName: string;
  taskName: string;
  workflowRunId: string;
  taskRunId: string;
  actionId: string;
  retryCount: number;
  tenantId: string;
  workerId: string;
  workerName: string;
  durable: boolean;
  additionalMetadata: JsonObject | undefined;
  parentWorkflowRunId: string | undefined;
  triggeringEventKey: string | undefined;
}

/** How an attempt ended, as its span records it. */
export type AttemptOutcome = "completed" | "failed" | "cancelled";

/** The span of one task attempt while tracing. */
export interface AttemptTrace {
  /** Runs `fn` with the attempt span active, so spans the task makes (and its triggers) nest. */
  run<T>(fn: () => T): T;
  /** The metadata of a log line: the trace and span ids. */
  logMetadata(): string;
  /** Starts the child span of a durable wait; the returned function ends it. */
  wait(signalKey: string): (error?: unknown) => void;
  /** Ends the attempt span with its outcome (and the error of a failure). */
  end(outcome: AttemptOutcome, error?: string): void;
}

/**
 * Starts the span of one task attempt, named after the task and parented on the run's
 * `traceparent` (a root span when the run has none).
 *
 * @param info The attempt.
 * @returns The attempt's trace, or `undefined` when nothing records spans.
 */
export function startAttemptSpan(info: AttemptInfo): AttemptTrace | undefined {
  if (tracingOff()) return undefined;
  const parent = contextFromMetadata(info.additionalMetadata);
  const span = tracer().startSpan(info.taskName, { kind: SpanKind.CONSUMER }, parent);
  if (!span.isRecording()) {
    span.end();
    return undefined;
  }
  span.setAttributes({
    "hatchet.workflow_name": info.workflowName,
    "hatchet.task_name": info.taskName,
    "hatchet.workflow_run_id": info.workflowRunId,
    "hatchet.task_run_id": info.taskRunId,
    "hatchet.action_name": info.actionId,
    "hatchet.retry_count": info.retryCount,
    "hatchet.attempt_number": info.retryCount + 1,
    "hatchet.tenant_id": info.tenantId,
    "hatchet.worker_id": info.workerId,
    "hatchet.worker_name": info.workerName,
    "hatchet.durable": info.durable,
  });
  if (info.parentWorkflowRunId !== undefined) {
    span.setAttribute("hatchet.parent_workflow_run_id", info.parentWorkflowRunId);
  }
  if (info.triggeringEventKey !== undefined) {
    span.setAttribute("hatchet.event_key", info.triggeringEventKey);
  }
  const active = trace.setSpan(parent, span);
  return {
    run: (fn) => context.with(active, fn),
    logMetadata: () => logTraceMetadata(span),
    wait(signalKey) {
      const started = performance.now();
      const child = tracer().startSpan(`waitFor ${signalKey}`, {
        kind: SpanKind.INTERNAL,
        attributes: { "hatchet.signal_key": signalKey },
      }, active);
      return (error) => {
        child.setAttribute("hatchet.wait_ms", Math.round(performance.now() - started));
        if (error !== undefined) recordFailure(child, error);
        child.end();
      };
    },
    end(outcome, error) {
      span.setAttribute("hatchet.outcome", outcome);
      if (error !== undefined) {
        span.recordException({ name: "TaskError", message: error });
        span.setStatus({ code: SpanStatusCode.ERROR, message: error });
      } else if (outcome === "completed") {
        span.setStatus({ code: SpanStatusCode.OK });
      }
      span.end();
    },
  };
}
