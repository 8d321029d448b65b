// SDK-HMAC-SHA256, Huawei Cloud's AK/SK request signature, computed in the browser with
// WebCrypto. The same canonical request as src/signing.rs (and the official SDKs):
//   METHOD \n canonical URI \n canonical query \n signed headers (name:value\n each) \n
//   signed header names joined by ';' \n hex SHA-256 of the body
// string to sign = "SDK-HMAC-SHA256\n<X-Sdk-Date>\n<hex SHA-256 of the canonical request>",
// signature = hex HMAC-SHA256(secret key, string to sign).
// V11-HMAC-SHA256 (the SDKs' derived signer) differs only in the key and the scope line:
//   scope = "<yyyymmdd>/<region>/<service>", string to sign = "V11-HMAC-SHA256\n<date>\n
//   <scope>\n<hash>", key = hex HKDF-SHA256(salt = AK, SK, info = scope).
// WebCrypto has neither SM3 nor SM2, so the console cannot sign SDK-HMAC-SM3 or
// SDK-SM2-SM3; SDK-ECDSA-P256-SHA256 would need the SDK's key derivation and a private
// key import from a bare scalar, which the console does not do.

export const ALGORITHM = 'SDK-HMAC-SHA256';
export const DERIVED_ALGORITHM = 'V11-HMAC-SHA256';
/** The algorithms the console signs with. */
export const CONSOLE_ALGORITHMS = [ALGORITHM, DERIVED_ALGORITHM];

const utf8 = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Whether this page may use WebCrypto: only secure contexts (HTTPS, localhost) may. */
export function signingAvailable() {
  return Boolean(globalThis.crypto && globalThis.crypto.subtle);
}

export async function sha256Hex(text) {
  return hex(await crypto.subtle.digest('SHA-256', utf8.encode(text)));
}

export async function hmacSha256Hex(key, text) {
  const secret = await crypto.subtle.importKey(
    'raw', utf8.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'],
  );
  return hex(await crypto.subtle.sign('HMAC', secret, utf8.encode(text)));
}

/** Hex HKDF-SHA256(salt, key, info) of 32 bytes: the V11 signing key. */
export async function derivedKeyHex(accessKey, secretKey, info) {
  const ikm = await crypto.subtle.importKey('raw', utf8.encode(secretKey), 'HKDF', false, ['deriveBits']);
  return hex(await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: utf8.encode(accessKey), info: utf8.encode(info) }, ikm, 256,
  ));
}

/** Percent-encodes everything but A-Za-z0-9 - . _ ~ (upper-case hex), as the SDK does. */
export function encode(text) {
  let out = '';
  for (const byte of utf8.encode(text)) {
    const unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a)
      || (byte >= 0x61 && byte <= 0x7a) || byte === 0x2d || byte === 0x2e || byte === 0x5f
      || byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The path as signed: decoded, each segment re-encoded, with a trailing '/'. */
export function canonicalUri(rawPath) {
  const uri = decodeURIComponent(rawPath).split('/').map(encode).join('/');
  return uri.endsWith('/') ? uri : `${uri}/`;
}

function compareUtf8(a, b) {
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

/** `[[key, value], ...]` (decoded) -> the query as sent and signed: sorted, encoded. */
export function canonicalQuery(pairs) {
  return [...pairs]
    .map(([key, value]) => [String(key), String(value ?? '')])
    .sort(([k1, v1], [k2, v2]) => compareUtf8(k1, k2) || compareUtf8(v1, v2))
    .map(([key, value]) => `${encode(key)}=${encode(value)}`)
    .join('&');
}

/** `X-Sdk-Date` for a time: basic ISO 8601 in UTC, e.g. 20240315T081500Z. */
export function sdkDate(date = new Date()) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

/**
 * Signs a request. `headers` maps lower-case names to values and must include `host`
 * and `x-sdk-date`; every one of them is signed. `algorithm` is one of
 * CONSOLE_ALGORITHMS; V11 scopes its key to `region` and `service`. Returns the
 * Authorization value.
 */
export async function authorization({
  method, path, query = [], headers, body = '', accessKey, secretKey,
  algorithm = ALGORITHM, region = 'local', service = 'dli',
}) {
  if (!CONSOLE_ALGORITHMS.includes(algorithm)) {
    throw new Error(`the console cannot sign with ${algorithm}; it signs with ${CONSOLE_ALGORITHMS.join(' or ')}`);
  }
  const names = Object.keys(headers).map((name) => name.toLowerCase()).sort();
  if (!names.includes('host') || !names.includes('x-sdk-date')) {
    throw new Error('host and x-sdk-date must be signed');
  }
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const canonicalHeaders = names.map((name) => `${name}:${String(lower[name]).trim()}\n`).join('');
  const canonical = [
    method.toUpperCase(),
    canonicalUri(path),
    canonicalQuery(query),
    canonicalHeaders,
    names.join(';'),
    await sha256Hex(body),
  ].join('\n');
  const date = lower['x-sdk-date'];
  const hash = await sha256Hex(canonical);
  const signedNames = names.join(';');
  if (algorithm === DERIVED_ALGORITHM) {
    const scope = `${date.slice(0, 8)}/${region}/${service}`;
    const key = await derivedKeyHex(accessKey, secretKey, scope);
    const signature = await hmacSha256Hex(key, `${algorithm}\n${date}\n${scope}\n${hash}`);
    return `${algorithm} Credential=${accessKey}/${scope}, SignedHeaders=${signedNames}, Signature=${signature}`;
  }
  const signature = await hmacSha256Hex(secretKey, `${algorithm}\n${date}\n${hash}`);
  return `${algorithm} Access=${accessKey}, SignedHeaders=${signedNames}, Signature=${signature}`;
}
