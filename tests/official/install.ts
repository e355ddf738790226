// Installs the official Hatchet SDKs that `deno task test:official` (run.ts) and the real-engine
// suite's side-by-side durable measurement (tests/engine/official_scenarios.ts) run: the
// TypeScript SDK with `npm ci` from package-lock.json here, the Python SDK from requirements.txt
// here in a virtual environment made with `python3 -m venv`.

/** This directory: package.json, requirements.txt and the installed node_modules. */
export const HERE = new URL(".", import.meta.url).pathname;
/** The pinned official TypeScript SDK (package.json). */
export const TS_SDK_VERSION = "1.33.2";
/** The pinned official Python SDK (requirements.txt). */
export const PY_SDK_VERSION = "1.43.1";

async function exec(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) +
      new TextDecoder().decode(out.stdout);
    throw new Error(
      `${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text.slice(-4000)}`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Installs the pinned official TypeScript SDK into tests/official/node_modules (`npm ci`) unless it is there. */
export async function ensureTypeScriptSdk(): Promise<void> {
  const manifest = `${HERE}node_modules/@hatchet-dev/typescript-sdk/package.json`;
  if (await exists(manifest)) {
    const { version } = JSON.parse(await Deno.readTextFile(manifest));
    if (version === TS_SDK_VERSION) return;
  }
  console.log(
    `installing @hatchet-dev/typescript-sdk ${TS_SDK_VERSION} (npm ci)`,
  );
  await exec(
    "npm",
    ["ci", "--no-audit", "--no-fund", "--ignore-scripts"],
    HERE,
  );
}

/** The venv's python; made once per requirements.txt content, in the system temp directory. */
export async function ensurePythonSdk(): Promise<string> {
  const requirements = await Deno.readTextFile(`${HERE}requirements.txt`);
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(requirements),
    ),
  );
  const tag = [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
  const venv = Deno.env.get("HATCHET_OFFICIAL_VENV") ??
    `${tmp}/hatchet-deno-official-${tag}`;
  const python = `${venv}/bin/python`;
  if (await exists(`${venv}/.complete`)) return python;
  console.log(
    `installing hatchet-sdk ${PY_SDK_VERSION} (python3 -m venv ${venv})`,
  );
  await Deno.remove(venv, { recursive: true }).catch(() => {});
  await exec("python3", ["-m", "venv", venv]);
  await exec(python, [
    "-m",
    "pip",
    "install",
    "--quiet",
    "--disable-pip-version-check",
    "--no-deps",
    "-r",
    `${HERE}requirements.txt`,
  ]);
  await Deno.writeTextFile(`${venv}/.complete`, requirements);
  return python;
}
