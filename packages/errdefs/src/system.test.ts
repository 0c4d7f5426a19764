import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NotFoundError } from "./errors.ts";
import {
  codeOf,
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from "./guards.ts";
import { fromSystemError, isSystemError, SYSTEM_ERROR_CODES } from "./system.ts";

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("fromSystemError", () => {
  it("maps real system errors from the file system", async () => {
    const dir = await mkdtemp(join(tmpdir(), "errdefs-"));
    try {
      const enoent = await caught(readFile(join(dir, "missing")));
      const wrapped = fromSystemError(enoent, "cannot read blob");
      expect(isNotFound(wrapped)).toBe(true);
      expect(wrapped.message).toMatch(/^cannot read blob: ENOENT/);
      expect(wrapped.cause).toBe(enoent);

      await mkdir(join(dir, "d"));
      expect(isAlreadyExists(fromSystemError(await caught(mkdir(join(dir, "d")))))).toBe(true);

      await writeFile(join(dir, "d", "f"), "x");
      expect(isFailedPrecondition(fromSystemError(await caught(rmdir(join(dir, "d")))))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("maps the codes the issue names", () => {
    expect(SYSTEM_ERROR_CODES.ENOSPC).toBe("resource_exhausted");
    expect(SYSTEM_ERROR_CODES.EACCES).toBe("permission_denied");
    expect(SYSTEM_ERROR_CODES.EEXIST).toBe("already_exists");
    const fake = Object.assign(new Error("ELOOP: too many links"), { code: "ELOOP" });
    expect(isInvalidArgument(fromSystemError(fake))).toBe(true);
  });

  it("leaves errors that already have a code alone", () => {
    const err = new NotFoundError("x");
    expect(fromSystemError(err, "ctx")).toBe(err);
  });

  it("makes unmapped and non-error values Unknown", () => {
    expect(codeOf(fromSystemError(Object.assign(new Error("odd"), { code: "EWHAT" })))).toBe(
      "unknown",
    );
    expect(fromSystemError("text").message).toBe("text");
  });
});

describe("isSystemError", () => {
  it("tests the code of a system error", () => {
    const err = Object.assign(new Error("x"), { code: "ENOENT" });
    expect(isSystemError(err, "ENOENT")).toBe(true);
    expect(isSystemError(err, "EEXIST")).toBe(false);
    expect(isSystemError(null, "ENOENT")).toBe(false);
  });
});
