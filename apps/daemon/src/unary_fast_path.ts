import type http2 from "node:http2";
import { create, type DescService, toBinary } from "@bufbuild/protobuf";
import { createHandlerContext } from "@connectrpc/connect";
import { envelope } from "@strata/api/grpc-wire";
import {
  closeSignal,
  endCall,
  isPlainGrpcCall,
  readSingleMessage,
  startResponse,
} from "./_plain_grpc.ts";
import { LEASE_HEADER, NAMESPACE_HEADER } from "./services/_context.ts";

type Unary = (req: unknown, ctx: ReturnType<typeof createHandlerContext>) => Promise<unknown>;

/** A unary method the fast path serves: its descriptors and implementation. */
interface UnaryRoute {
  service: DescService;
  method: DescService["methods"][number];
  impl: Unary;
}

/**
 * The unary methods of `services`, by gRPC path, for {@link unaryFastPath}.
 * Streaming methods are left to the general handler.
 */
export function unaryRoutes(
  services: readonly (readonly [DescService, object])[],
): Map<string, UnaryRoute> {
  const routes = new Map<string, UnaryRoute>();
  for (const [service, impl] of services) {
    for (const method of service.methods) {
      const fn = (impl as Record<string, unknown>)[method.localName];
      if (method.methodKind !== "unary" || typeof fn !== "function") continue;
      routes.set(`/${service.typeName}/${method.name}`, {
        service,
        method,
        impl: (fn as Unary).bind(impl),
      });
    }
  }
  return routes;
}

/**
 * The route of a request the unary fast path can serve: a plain gRPC call
 * (no compression) to a known unary method, without a deadline (calls with
 * `grpc-timeout` go to the general handler, which enforces it).
 */
export function fastUnaryRoute(
  req: http2.Http2ServerRequest,
  routes: ReadonlyMap<string, UnaryRoute>,
): UnaryRoute | undefined {
  const route = routes.get(req.url);
  if (route === undefined || req.headers["grpc-timeout"] !== undefined) return undefined;
  return isPlainGrpcCall(req, req.url) ? route : undefined;
}

/**
 * Serves a unary call with the service's own implementation, without the
 * general handler's machinery: the request decoded, the method called with
 * a context that has the call's signal and its namespace and lease headers,
 * the reply encoded in one envelope, the status in the trailers. The
 * general handler aborts every call's signal when it ends, and Node makes a
 * DOMException with a stack trace for each: under 64 concurrent Info
 * clients that alone took a quarter of the daemon's time.
 */
export async function unaryFastPath(
  route: UnaryRoute,
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  options: { maxMessageBytes: number },
): Promise<void> {
  const closed = closeSignal(res, "unary");
  try {
    const input = await readSingleMessage(req, route.method.input, options.maxMessageBytes);
    const headers: Record<string, string> = {};
    for (const name of [NAMESPACE_HEADER, LEASE_HEADER]) {
      const value = req.headers[name];
      if (value !== undefined) headers[name] = String(value);
    }
    const ctx = createHandlerContext({
      service: route.service,
      method: route.method,
      protocolName: "grpc",
      requestMethod: "POST",
      url: req.url,
      requestHeader: headers,
      requestSignal: closed.signal,
    } as Parameters<typeof createHandlerContext>[0]);
    const output = await route.impl(input, ctx);
    const message = create(route.method.output, output as never);
    startResponse(res);
    res.write(envelope(toBinary(route.method.output, message)));
    endCall(res);
  } catch (err) {
    endCall(res, err);
  } finally {
    closed.dispose();
  }
}
