// A throwaway certificate authority and a leaf for 127.0.0.1 / localhost, made with the
// openssl command line, for `MockEngine.listen({ tls: true })`. Generated once per process.
// createCa and signLeaf also serve the transport tests, which need a client leaf too.

/** PEM material for a TLS listener and the CA its clients trust. */
export interface TestCertificates {
  caPem: string;
  certPem: string;
  keyPem: string;
}

let cached: Promise<TestCertificates> | undefined;

/** Returns the process's test certificates, generating them on first use. */
export function testCertificates(): Promise<TestCertificates> {
  cached ??= generate().catch((err) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(
      `Cannot create test certificates: openssl ${args[0]} failed: ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes a self-signed CA in `dir` as `ca.pem` and `ca.key`, valid for two days.
 *
 * @param dir A directory to write into.
 * @param subject The CA's subject, e.g. `"/CN=test CA"`.
 */
export async function createCa(dir: string, subject: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-sha256",
    "-subj",
    subject,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

/**
 * Makes `<name>.pem` and `<name>.key` in `dir`, signed by the CA that {@link createCa} made
 * there, valid for two days.
 *
 * @param dir The CA's directory.
 * @param name The file name stem.
 * @param subject The leaf's subject, e.g. `"/CN=localhost"`.
 * @param extensions An openssl extensions file's text (SANs, key usage).
 */
export async function signLeaf(
  dir: string,
  name: string,
  subject: string,
  extensions: string,
): Promise<void> {
  await Deno.writeTextFile(`${dir}/${name}.ext`, extensions);
  await openssl(dir, [
    "req",
    "-new",
    ...EC_KEY,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    subject,
  ]);
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-sha256",
    "-out",
    `${name}.pem`,
    "-extfile",
    `${name}.ext`,
  ]);
}

async function generate(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "hatchet-mock-tls-" });
  try {
    await createCa(dir, "/CN=hatchet-deno mock engine CA");
    await signLeaf(
      dir,
      "leaf",
      "/CN=localhost",
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    return {
      caPem: await Deno.readTextFile(`${dir}/ca.pem`),
      certPem: await Deno.readTextFile(`${dir}/leaf.pem`),
      keyPem: await Deno.readTextFile(`${dir}/leaf.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
