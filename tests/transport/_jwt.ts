// Unsigned JWTs for the transport and config tests: the client reads claims without verifying.

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Builds `header.claims.signature` with the given claims and a fake signature. */
export function testToken(claims: Record<string, unknown>, signature = "c2lnbmF0dXJl"): string {
  return `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${
    base64url(JSON.stringify(claims))
  }.${signature}`;
}

/** Base64url of arbitrary text, for hand-made broken tokens. */
export function b64url(text: string): string {
  return base64url(text);
}
