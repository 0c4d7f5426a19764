/**
 * The undo steps of a benchmark's setup (a daemon to stop, a directory to
 * remove), run last-added first by {@link Teardown.run}, which a setup
 * hands out as its `teardown` and also calls itself when it fails halfway.
 */
export class Teardown {
  readonly #steps: (() => Promise<unknown>)[];
  readonly #bestEffort: boolean;

  /**
   * `steps` are the first undo steps. With `bestEffort` a failing step is
   * ignored; otherwise the first failure ends the run and is thrown.
   */
  constructor(
    steps: readonly (() => Promise<unknown>)[] = [],
    options: { bestEffort?: boolean } = {},
  ) {
    this.#steps = [...steps];
    this.#bestEffort = options.bestEffort === true;
  }

  /** Adds a step, to run before the steps added earlier. */
  add(step: () => Promise<unknown>): void {
    this.#steps.push(step);
  }

  /** Runs and forgets the steps, last added first. */
  readonly run = async (): Promise<void> => {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop() as () => Promise<unknown>;
      if (this.#bestEffort) await step().catch(() => {});
      else await step();
    }
  };
}
