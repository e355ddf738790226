// The worker's log sender keeps each attempt's lines in order, one request in flight at a time,
// and merges lines that wait behind it: its own cost per line, with an events port that answers
// at once, for a flood (merged rows) and for lines awaited one by one (one request each).
import { createLogSender } from "../context/log_sender.ts";
import type { EventsPort, PutLogInput } from "../transport/ports.ts";

let requests = 0;
const events: EventsPort = {
  push: () => Promise.resolve({ eventId: "e" }),
  bulkPush: () => Promise.resolve([]),
  putLog: () => {
    requests++;
    return Promise.resolve();
  },
  putStreamEvent: () => Promise.resolve(),
};

function line(i: number): PutLogInput {
  return {
    taskRunExternalId: "run",
    createdAt: new Date(),
    message: `line ${i}`,
    level: "INFO",
    taskRetryCount: 0,
  };
}

Deno.bench(
  "LogSender.putLog() 1,000 lines of one attempt at once, delivered (merged)",
  async (b) => {
    const sender = createLogSender(events);
    requests = 0;
    b.start();
    for (let i = 0; i < 1_000; i++) sender.putLog("run/0", line(i));
    await sender.flush("run/0");
    b.end();
    if (requests >= 1_000) throw new Error(`expected merged requests, sent ${requests}`);
    await sender.close();
  },
);

Deno.bench(
  "LogSender.putLog() 1,000 lines of one attempt, each awaited (one request each)",
  async (b) => {
    const sender = createLogSender(events);
    requests = 0;
    b.start();
    for (let i = 0; i < 1_000; i++) await sender.putLog("run/0", line(i));
    b.end();
    if (requests !== 1_000) throw new Error(`expected 1,000 requests, sent ${requests}`);
    await sender.close();
  },
);
