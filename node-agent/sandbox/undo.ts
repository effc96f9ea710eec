// Undo right after acquire: each step of building a sandbox or container
// registers how to give back what it just took, and a failure later on runs
// those undos newest first. Undo failures are collected, not thrown over the
// original error, so the caller sees why the build failed and can log what leaked.
export class UndoStack {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];

  push(what: string, undo: () => Promise<void> | void): void {
    this.steps.push({ what, undo });
  }

  /** Forget the undos: the build succeeded and its resources now belong to the pod. */
  commit(): void {
    this.steps.length = 0;
  }

  /** Runs every undo, newest first; returns the ones that failed. */
  async rollback(): Promise<{ what: string; error: unknown }[]> {
    const failed: { what: string; error: unknown }[] = [];
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      try {
        await s.undo();
      } catch (error) {
        failed.push({ what: s.what, error });
      }
    }
    return failed;
  }
}
