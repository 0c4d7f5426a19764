import { InvalidArgumentError, NotImplementedError } from "@strata/errdefs";
import { RESOURCE_CONTENT, RESOURCE_INGESTS, RESOURCE_SNAPSHOTS_PREFIX } from "./labels.ts";

const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;

/**
 * Checks a lease resource as containerd does: `content` ids must be digests,
 * `ingests` and `snapshots/<snapshotter>` ids must not be empty.
 *
 * @throws {InvalidArgumentError} on an empty id or a content id that is not a digest.
 * @throws {NotImplementedError} on any other type.
 */
export function validateResource(resource: { id: string; type: string }): void {
  const what = `lease resource ${resource.type}/${JSON.stringify(resource.id)}`;
  if (resource.id === "") throw new InvalidArgumentError(`${what}: empty id`);
  if (resource.type === RESOURCE_CONTENT) {
    if (!DIGEST.test(resource.id)) throw new InvalidArgumentError(`${what}: id is not a digest`);
    return;
  }
  if (resource.type === RESOURCE_INGESTS) return;
  if (
    resource.type.startsWith(RESOURCE_SNAPSHOTS_PREFIX) &&
    resource.type.length > RESOURCE_SNAPSHOTS_PREFIX.length
  ) {
    return;
  }
  throw new NotImplementedError(`${what}: resource type not supported`);
}
