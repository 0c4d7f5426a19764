import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "./codes.ts";
import {
  AlreadyExistsError,
  ConflictError,
  errorFromCode,
  NotFoundError,
  NotModifiedError,
} from "./errors.ts";
import { fromGrpcStatus, GRPC_STATUS, grpcCodeOf, toGrpcStatus } from "./grpc.ts";
import { codeOf, isCanceled, isConflict, isDeadlineExceeded, isNotModified } from "./guards.ts";

describe("grpcCodeOf", () => {
  it("matches containerd's table", () => {
    expect(grpcCodeOf("not_found")).toBe(5);
    expect(grpcCodeOf("already_exists")).toBe(6);
    expect(grpcCodeOf("failed_precondition")).toBe(9);
    expect(grpcCodeOf("conflict")).toBe(9);
    expect(grpcCodeOf("not_modified")).toBe(9);
    expect(grpcCodeOf("unavailable")).toBe(14);
    expect(grpcCodeOf("not_implemented")).toBe(12);
    expect(grpcCodeOf("invalid_argument")).toBe(3);
    expect(grpcCodeOf("data_loss")).toBe(15);
  });
});

describe("toGrpcStatus / fromGrpcStatus", () => {
  it("round-trip every code with its message", () => {
    for (const code of ERROR_CODES) {
      const back = fromGrpcStatus(toGrpcStatus(errorFromCode(code, `ref "x" ${code}`)));
      expect(codeOf(back), code).toBe(code);
      expect(back.message).toBe(`ref "x" ${code}`);
    }
  });

  it("sends conflict as FailedPrecondition with containerd's suffix", () => {
    expect(toGrpcStatus(new ConflictError("lease in use"))).toEqual({
      code: GRPC_STATUS.FAILED_PRECONDITION,
      message: "lease in use: conflict",
    });
    expect(toGrpcStatus(new NotModifiedError("same labels")).message).toBe(
      "same labels: not modified",
    );
    // No doubled suffix when the message already has it.
    expect(toGrpcStatus(new ConflictError("x: conflict")).message).toBe("x: conflict");
  });

  it("reads what containerd's server sends for conflict and not modified", () => {
    const conflict = fromGrpcStatus({ code: 9, message: "ref abc locked: conflict" });
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict.message).toBe("ref abc locked");
    expect(isConflict(fromGrpcStatus({ code: 9, message: "conflict" }))).toBe(true);
    expect(isNotModified(fromGrpcStatus({ code: 9, message: "x: not modified" }))).toBe(true);
    expect(codeOf(fromGrpcStatus({ code: 9, message: "snapshot has children" }))).toBe(
      "failed_precondition",
    );
    // Only a suffix counts, not the word anywhere.
    expect(codeOf(fromGrpcStatus({ code: 9, message: "conflict resolution failed" }))).toBe(
      "failed_precondition",
    );
  });

  it("maps plain statuses to their classes", () => {
    expect(fromGrpcStatus({ code: 5, message: "x" })).toBeInstanceOf(NotFoundError);
    expect(fromGrpcStatus({ code: 6, message: "x" })).toBeInstanceOf(AlreadyExistsError);
    expect(codeOf(fromGrpcStatus({ code: 99, message: "x" }))).toBe("unknown");
  });

  it("carries cancellation and deadlines as AbortSignal reasons", () => {
    const ac = new AbortController();
    ac.abort();
    expect(toGrpcStatus(ac.signal.reason).code).toBe(GRPC_STATUS.CANCELLED);
    expect(toGrpcStatus(new DOMException("late", "TimeoutError")).code).toBe(
      GRPC_STATUS.DEADLINE_EXCEEDED,
    );
    expect(isCanceled(fromGrpcStatus({ code: 1, message: "gone" }))).toBe(true);
    expect(isDeadlineExceeded(fromGrpcStatus({ code: 4, message: "late" }))).toBe(true);
  });

  it("sends errors without a code as Unknown, and non-errors by their text", () => {
    expect(toGrpcStatus(new Error("boom"))).toEqual({ code: 2, message: "boom" });
    expect(toGrpcStatus("boom")).toEqual({ code: 2, message: "boom" });
  });

  it("uses the code found in a cause chain", () => {
    const err = new Error("cannot open", { cause: new NotFoundError("no blob") });
    expect(toGrpcStatus(err)).toEqual({ code: 5, message: "cannot open" });
  });
});
