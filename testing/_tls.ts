// A throwaway certificate authority and a leaf for 127.0.0.1 / localhost, made with the
// openssl command line, for `MockEngine.listen({ tls: true })`. Generated once per process.

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

async function generate(): Promise<TestCertificates> {
  const dir = await Deno.makeTempDir({ prefix: "hatchet-mock-tls-" });
  try {
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    await openssl(dir, [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "2",
      "-subj",
      "/CN=hatchet-deno mock engine CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    await openssl(dir, [
      "req",
      "-new",
      ...ec,
      "-keyout",
      "leaf.key",
      "-out",
      "leaf.csr",
      "-subj",
      "/CN=localhost",
    ]);
    await Deno.writeTextFile(
      `${dir}/leaf.ext`,
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n" +
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    await openssl(dir, [
      "x509",
      "-req",
      "-in",
      "leaf.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "leaf.pem",
      "-days",
      "2",
      "-extfile",
      "leaf.ext",
    ]);
    return {
      caPem: await Deno.readTextFile(`${dir}/ca.pem`),
      certPem: await Deno.readTextFile(`${dir}/leaf.pem`),
      keyPem: await Deno.readTextFile(`${dir}/leaf.key`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
