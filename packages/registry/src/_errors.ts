import {
  ConflictError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  OutOfRangeError,
  PermissionDeniedError,
  ResourceExhaustedError,
  type StrataError,
  UnauthenticatedError,
  UnavailableError,
  UnknownError,
} from "@strata/errdefs";

const MAX_ERROR_BODY = 64 * 1024;

/** Reads at most 64 KiB of an error body as text, then drops the rest. */
export async function readErrorBody(res: Response): Promise<string> {
  if (res.body === null) return "";
  const decoder = new TextDecoder();
  let text = "";
  try {
    for await (const chunk of res.body) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      if (text.length >= MAX_ERROR_BODY) break;
    }
  } catch {
    // The body is only there to enrich the message.
  } finally {
    await res.body.cancel().catch(() => {});
  }
  return text.slice(0, MAX_ERROR_BODY);
}

/** The registry's `errors[]` as `CODE: message; …`, or a trimmed body, or "". */
export function describeErrorBody(text: string): string {
  if (text === "") return "";
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    if (Array.isArray(doc.errors) && doc.errors.length > 0) {
      return doc.errors
        .map((e) => [e.code, e.message].filter((x) => typeof x === "string" && x !== "").join(": "))
        .join("; ");
    }
  } catch {
    // Not JSON: show the start of the text.
  }
  const trimmed = text.trim().replace(/\s+/g, " ");
  return trimmed.length > 200 ? `${trimmed.slice(0, 200)}…` : trimmed;
}

/** Maps an HTTP status to the errdefs class, naming the request and the registry's words. */
export function errorForStatus(
  method: string,
  url: string,
  status: number,
  statusText: string,
  body: string,
): StrataError {
  const detail = describeErrorBody(body);
  const message = `${method} ${redactUrl(url)}: ${status}${statusText === "" ? "" : ` ${statusText}`}${detail === "" ? "" : `: ${detail}`}`;
  switch (status) {
    case 400:
      return new InvalidArgumentError(message);
    case 401:
      return new UnauthenticatedError(message);
    case 403:
      return new PermissionDeniedError(message);
    case 404:
      return new NotFoundError(message);
    case 405:
      return new NotImplementedError(message);
    case 409:
      return new ConflictError(message);
    case 412:
      return new FailedPreconditionError(message);
    case 413:
    case 429:
      return new ResourceExhaustedError(message);
    case 416:
      return new OutOfRangeError(message);
    default:
      return status >= 500 ? new UnavailableError(message) : new UnknownError(message);
  }
}

/** Drops query strings (upload state, signed storage URLs) from URLs put in messages. */
export function redactUrl(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}
