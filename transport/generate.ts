/**
 * Regenerates `transport/gen/` from `transport/proto/` with buf and protoc-gen-es, both run by
 * this Deno binary, so the output is the same on every machine (`deno task generate`).
 *
 * @module
 */

const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();
const template = JSON.stringify({
  version: "v2",
  plugins: [{
    local: [deno, "run", "-A", "npm:@bufbuild/protoc-gen-es@2.17.0"],
    out: "transport/gen",
    opt: ["target=ts", "import_extension=ts"],
    include_imports: false,
  }],
});

await Deno.remove(`${root}transport/gen`, { recursive: true }).catch(() => {});
const { code } = await new Deno.Command(deno, {
  args: [
    "run",
    "-A",
    "npm:@bufbuild/buf@1.75.0",
    "generate",
    "transport/proto",
    "--template",
    template,
  ],
  cwd: root,
  stdout: "inherit",
  stderr: "inherit",
}).output();
if (code !== 0) Deno.exit(code);
