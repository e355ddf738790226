// Traces, health and metrics of workers and clients.

export { type HealthcheckOptions } from "./healthcheck.ts";
