import { MemoryLeaseManager } from "./memory_lease_manager.ts";
import { leaseSuite } from "./testsuite/mod.ts";

leaseSuite("MemoryLeaseManager", async () => ({
  manager: new MemoryLeaseManager(),
  cleanup: async () => {},
}));
