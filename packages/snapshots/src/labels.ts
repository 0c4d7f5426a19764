/**
 * Label with the true disk use, in bytes, of a snapshot built by merge:
 * files hardlinked from other snapshots are not counted, which a plain walk
 * of the directory cannot know. Snapshotters report it as the usage.
 */
export const LABEL_MERGE_USAGE_SIZE = "strata.io/merge.usage.size";

/** Label with the inode count that goes with {@link LABEL_MERGE_USAGE_SIZE}. */
export const LABEL_MERGE_USAGE_INODES = "strata.io/merge.usage.inodes";
