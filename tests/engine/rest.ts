// The few REST reads the conformance suite needs to check what only the engine knows: a task's
// log rows and a workflow run as the engine stored it. The API token is also a bearer token.

import type { ClientConfig } from "../../mod.ts";

/** One log row as the engine stores it. */
export interface LogRow {
  message: string;
  level: string;
  createdAt: string;
  attempt?: number;
}

/** One task of a workflow run, as `GET /api/v1/stable/workflow-runs/{id}` lists it. */
export interface RestTask {
  taskExternalId: string;
  displayName: string;
  actionId?: string;
  status: string;
  retryCount?: number;
  attempt?: number;
  errorMessage?: string;
  additionalMetadata?: Record<string, unknown>;
}

/** A workflow run with its tasks. */
export interface RestWorkflowRun {
  run: {
    status: string;
    displayName: string;
    additionalMetadata?: Record<string, unknown>;
    input?: unknown;
    output?: unknown;
  };
  tasks: RestTask[];
}

/** The suite's REST client. */
export interface Rest {
  /** The REST base URL, or undefined when neither the env nor the token names one. */
  readonly baseUrl: string | undefined;
  /** A task run's log rows, oldest first. */
  taskLogs(taskRunId: string, signal?: AbortSignal): Promise<LogRow[]>;
  /** A workflow run and its tasks. */
  workflowRun(workflowRunId: string, signal?: AbortSignal): Promise<RestWorkflowRun>;
}

/** A REST client for the engine `config` points at. */
export function createRest(config: ClientConfig): Rest {
  const baseUrl = config.serverUrl?.replace(/\/+$/, "");
  const get = async (path: string, signal?: AbortSignal): Promise<unknown> => {
    if (baseUrl === undefined) {
      throw new Error("No REST URL: set HATCHET_CLIENT_SERVER_URL or use a token with server_url");
    }
    const response = await fetch(`${baseUrl}${path}`, {
      headers: { authorization: `Bearer ${config.token}`, accept: "application/json" },
      signal,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`GET ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text);
  };
  return {
    baseUrl,
    async taskLogs(taskRunId, signal) {
      const body = await get(
        `/api/v1/stable/tasks/${encodeURIComponent(taskRunId)}/logs?limit=1000`,
        signal,
      ) as { rows?: LogRow[] };
      // Rows are stored in insert order; sort by it so the API's page order does not matter.
      return [...body.rows ?? []].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    },
    async workflowRun(workflowRunId, signal) {
      return await get(
        `/api/v1/stable/workflow-runs/${encodeURIComponent(workflowRunId)}`,
        signal,
      ) as RestWorkflowRun;
    },
  };
}
