import { randomBytes } from "node:crypto";

/**
 * A random lease id as containerd's server makes them: a timestamp, a dash,
 * and base64url of 3 random bytes (`1763875487123-q3_Z`).
 */
export function generateLeaseId(): string {
  return `${Date.now()}-${randomBytes(3).toString("base64url")}`;
}
