// Run as a subprocess by config_test.ts with limited --allow-env: prints the resolved
// configuration (or the error) as one JSON line.
import { resolveConfig } from "../../transport/config.ts";

const options = JSON.parse(Deno.args[0] ?? "{}");
try {
  const config = resolveConfig(options);
  console.log(JSON.stringify({ ok: config.toJSON(), tokenLength: config.token.length }));
} catch (e) {
  console.log(JSON.stringify({ error: (e as Error).name, message: (e as Error).message }));
}
