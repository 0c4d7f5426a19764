import type { ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponse_ServingStatus as Serving } from "@strata/api/health";

/** Whether the server serves: flips to NOT_SERVING when shutdown begins. */
export class HealthState {
  #serving = true;
  /** Marks the server as shutting down. */
  drain(): void {
    this.#serving = false;
  }
  /** Whether the server still serves. */
  get serving(): boolean {
    return this.#serving;
  }
}

/** grpc.health.v1.Health for the whole server ("" or "strata"). */
export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  const status = (service: string) =>
    service !== "" && service !== "strata"
      ? Serving.SERVICE_UNKNOWN
      : state.serving
        ? Serving.SERVING
        : Serving.NOT_SERVING;
  return {
    async check(req) {
      return { status: status(req.service) };
    },
    async *watch(req, ctx) {
      yield { status: status(req.service) };
      // One answer per change is all a watcher needs; stratad changes at most once.
      while (!ctx.signal.aborted && state.serving) {
        await new Promise((r) => setTimeout(r, 1000));
      }
      if (!ctx.signal.aborted) yield { status: status(req.service) };
    },
  };
}
