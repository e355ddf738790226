// The worker's log sender keeps each attempt's lines in order, one request in flight at a time:
// this is its own cost per line, with an events port that answers at once.
import { createLogSender } from "../context/log_sender.ts";
import type { EventsPort } from "../transport/ports.ts";

const events: EventsPort = {
  push: () => Promise.resolve({ eventId: "e" }),
  putLog: () => Promise.resolve(),
  putStreamEvent: () => Promise.resolve(),
};

Deno.bench("LogSender.putLog() 1,000 lines of one attempt, delivered", async (b) => {
  const sender = createLogSender(events);
  b.start();
  for (let i = 0; i < 1_000; i++) {
    sender.putLog("run/0", {
      taskRunExternalId: "run",
      createdAt: new Date(),
      message: `line ${i}`,
      level: "INFO",
      taskRetryCount: 0,
    });
  }
  await sender.flush("run/0");
  b.end();
  await sender.close();
});
