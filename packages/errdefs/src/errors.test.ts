import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "./codes.ts";
import {
  ConflictError,
  ERROR_BRAND,
  errorFromCode,
  NotFoundError,
  StrataError,
  UnavailableError,
} from "./errors.ts";

describe("errorFromCode", () => {
  it("makes an error of the right class and name for every code", () => {
    for (const code of ERROR_CODES) {
      const err = errorFromCode(code, `failed with ${code}`);
      expect(err).toBeInstanceOf(StrataError);
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(code);
      expect(err.message).toBe(`failed with ${code}`);
      expect(err.name).toMatch(/Error$/);
      expect(err.name).not.toBe("StrataError");
    }
  });

  it("gives each code a distinct class", () => {
    const names = new Set(ERROR_CODES.map((c) => errorFromCode(c, "x").name));
    expect(names.size).toBe(ERROR_CODES.length);
  });

  it("keeps the cause it wraps", () => {
    const cause = new Error("disk on fire");
    const err = errorFromCode("internal", "cannot write", { cause });
    expect(err.cause).toBe(cause);
  });
});

describe("StrataError", () => {
  it("carries the brand as a hidden registered-symbol property", () => {
    const err = new NotFoundError("missing");
    expect(Object.keys(err)).not.toContain(String(ERROR_BRAND));
    expect((err as unknown as Record<symbol, unknown>)[Symbol.for("@strata/errdefs.code")]).toBe(
      "not_found",
    );
  });

  it("names subclasses for stack traces", () => {
    expect(String(new ConflictError("busy"))).toBe("ConflictError: busy");
    expect(new UnavailableError("locked").stack).toContain("UnavailableError: locked");
  });

  it("has no cause property when none is given", () => {
    expect("cause" in new NotFoundError("x")).toBe(false);
  });
});
