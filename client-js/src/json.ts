/**
 * The JSON payload codec (`Hello.codec` = json, PROTOCOL.md section 7): a payload is the
 * UTF-8 text of exactly one JSON value, or binary data: the byte `00` and the bytes.
 *
 * @module
 */

import { PayloadError } from "./errors.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes a value as a JSON payload. `undefined` (and anything else `JSON.stringify` drops,
 * such as a function) becomes `null`, as an emit with no data carries `null`. Throws a
 * {@link PayloadError} for what JSON cannot hold (a `bigint`, a cycle).
 */
export function encodeJson(value: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new PayloadError(`cannot encode payload as json: ${errorMessage(err)}`, { cause: err });
  }
  return encoder.encode(text ?? "null");
}

/** Decodes a JSON payload; throws a {@link PayloadError} when it is not UTF-8 JSON. */
export function decodeJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch (err) {
    throw new PayloadError(`cannot decode json payload: ${errorMessage(err)}`, { cause: err });
  }
}

/** The first byte of a binary payload (PROTOCOL.md section 7): JSON text never starts with it. */
const BINARY_MARKER = 0x00;

/**
 * Encodes an event's or a reply's data: a `Uint8Array` (or any other `ArrayBufferView`, or an
 * `ArrayBuffer`) as binary, the byte `00` and the bytes; anything else as JSON.
 */
export function encodePayload(value: unknown): Uint8Array {
  const bytes = binaryOf(value);
  if (!bytes) return encodeJson(value);
  const payload = new Uint8Array(bytes.length + 1);
  payload[0] = BINARY_MARKER;
  payload.set(bytes, 1);
  return payload;
}

/** Decodes an event's or a reply's data: binary as a `Uint8Array` (a copy), else JSON. */
export function decodePayload(bytes: Uint8Array): unknown {
  if (bytes[0] === BINARY_MARKER) return bytes.slice(1);
  return decodeJson(bytes);
}

function binaryOf(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The most UTF-8 bytes of an ack error message: small enough for any frame limit. */
const MAX_MESSAGE_BYTES = 1024;

/**
 * A message that always encodes: lone surrogates become U+FFFD (they have no UTF-8 form) and
 * it is cut to {@link MAX_MESSAGE_BYTES} bytes on a character boundary.
 */
export function sendableMessage(message: string): string {
  const lone = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
  return truncateUtf8(message.replace(lone, "\uFFFD"), MAX_MESSAGE_BYTES);
}

/** Cuts `text` to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, max: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= max) return text;
  let out = "";
  let size = 0;
  for (const ch of text) {
    size += encoder.encode(ch).length;
    if (size > max) break;
    out += ch;
  }
  return out;
}
