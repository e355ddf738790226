// An OpenTelemetry SDK set up in-process for the tracing tests: an in-memory exporter behind a
// simple span processor, and a context manager on AsyncLocalStorage so the active span follows
// `await` (as Deno's built-in one does). Registered once per test file; `spans()` drains it.

import { AsyncLocalStorage } from "node:async_hooks";
import {
  type Context as OtelContext,
  context,
  type ContextManager,
  ROOT_CONTEXT,
  trace,
} from "@opentelemetry/api";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

class AsyncLocalContextManager implements ContextManager {
  #storage = new AsyncLocalStorage<OtelContext>();
  active(): OtelContext {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: OtelContext,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(ctx: OtelContext, target: T): T {
    if (typeof target !== "function") return target;
    const fn = target as (...args: unknown[]) => unknown;
    return ((...args: unknown[]) => this.with(ctx, () => fn(...args))) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

const exporter = new InMemorySpanExporter();
let installed = false;

/** Registers the in-memory SDK with `@opentelemetry/api` (once per process). */
export function installTracing(): void {
  if (installed) return;
  installed = true;
  const provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalContextManager());
}

/** The spans ended since the last call, in the order they ended. */
export function takeSpans(): ReadableSpan[] {
  const spans = exporter.getFinishedSpans();
  exporter.reset();
  return spans;
}

/** The id of a span's parent, or `undefined` for a root. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/**
 * The spans as indented text, children by name (then start time): a tree a test can compare
 * whole.
 */
export function treeOf(spans: ReadableSpan[]): string {
  const byParent = new Map<string | undefined, ReadableSpan[]>();
  const ids = new Set(spans.map((s) => s.spanContext().spanId));
  for (const span of spans) {
    const parent = parentOf(span);
    const key = parent !== undefined && ids.has(parent) ? parent : undefined;
    byParent.set(key, [...byParent.get(key) ?? [], span]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    const children = [...byParent.get(parent) ?? []].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : compareTime(a.startTime, b.startTime)
    );
    for (const child of children) {
      lines.push(`${"  ".repeat(depth)}${child.name}`);
      walk(child.spanContext().spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join("\n");
}

function compareTime(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}
