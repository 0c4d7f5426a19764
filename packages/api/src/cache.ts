/**
 * strata.services.cache.v1: Strata's own cache service, generated.
 *
 * @module
 */
export * from "./gen/strata/services/cache/v1/cache_pb.ts";
