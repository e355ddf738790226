// Durations are parsed on every declaration, refreshTimeout() and sleepFor(): one parser for all.
import { formatDuration, parseDuration } from "../transport/duration.ts";

Deno.bench("parseDuration() of a single unit", { group: "duration", baseline: true }, () => {
  parseDuration("90s");
});

Deno.bench("parseDuration() of a compound duration", { group: "duration" }, () => {
  parseDuration("1h30m15s500ms");
});

Deno.bench("formatDuration() of milliseconds", { group: "duration" }, () => {
  formatDuration(5_415_500);
});
