import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "./codes.ts";
import { ConflictError, errorFromCode, NotFoundError } from "./errors.ts";
import * as guards from "./guards.ts";

const GUARD_OF = {
  unknown: guards.isUnknown,
  invalid_argument: guards.isInvalidArgument,
  not_found: guards.isNotFound,
  already_exists: guards.isAlreadyExists,
  permission_denied: guards.isPermissionDenied,
  resource_exhausted: guards.isResourceExhausted,
  failed_precondition: guards.isFailedPrecondition,
  conflict: guards.isConflict,
  not_modified: guards.isNotModified,
  aborted: guards.isAborted,
  out_of_range: guards.isOutOfRange,
  not_implemented: guards.isNotImplemented,
  internal: guards.isInternal,
  unavailable: guards.isUnavailable,
  data_loss: guards.isDataLoss,
  unauthenticated: guards.isUnauthenticated,
};

describe("guards", () => {
  it("recognise exactly their own code", () => {
    for (const code of ERROR_CODES) {
      const err = errorFromCode(code, "x");
      for (const [other, guard] of Object.entries(GUARD_OF)) {
        expect(guard(err), `${other} guard on ${code}`).toBe(other === code);
      }
    }
  });

  it("work on an error made by another installed copy (brand only, no shared class)", () => {
    // What a second copy of @strata/errdefs produces: its own classes, same registered symbol.
    class ForeignError extends Error {}
    const foreign = new ForeignError("blob missing");
    Object.defineProperty(foreign, Symbol.for("@strata/errdefs.code"), { value: "not_found" });
    expect(foreign).not.toBeInstanceOf(NotFoundError);
    expect(guards.isNotFound(foreign)).toBe(true);
    expect(guards.codeOf(foreign)).toBe("not_found");
  });

  it("look through cause chains, nearest code first", () => {
    const inner = new NotFoundError("no such lease");
    const outer = new Error("cannot delete", { cause: inner });
    expect(guards.isNotFound(outer)).toBe(true);
    const both = new ConflictError("in use", { cause: inner });
    expect(guards.codeOf(both)).toBe("conflict");
  });

  it("end on a cyclic cause chain", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(guards.codeOf(a)).toBeUndefined();
  });

  it("reject non-errors and forged brands with unknown codes", () => {
    for (const value of [undefined, null, 0, "not_found", {}, []]) {
      expect(guards.codeOf(value)).toBeUndefined();
    }
    const forged = { [Symbol.for("@strata/errdefs.code")]: "no_such_code" };
    expect(guards.codeOf(forged)).toBeUndefined();
  });

  it("treat AbortSignal reasons as cancellation and deadlines", async () => {
    const ac = new AbortController();
    ac.abort();
    expect(guards.isCanceled(ac.signal.reason)).toBe(true);
    expect(guards.isDeadlineExceeded(ac.signal.reason)).toBe(false);
    const timeout = AbortSignal.timeout(1);
    await new Promise((r) => setTimeout(r, 20));
    expect(guards.isDeadlineExceeded(timeout.reason)).toBe(true);
    expect(guards.isCanceled(new Error("x", { cause: ac.signal.reason }))).toBe(true);
    expect(guards.isCanceled(new NotFoundError("x"))).toBe(false);
  });
});
