/** One change at a time: while `running`, a screen disables its controls and ignores further
 *  clicks, so a second quick click cannot race the first (the core would refuse it as stale
 *  anyway; this keeps the user from seeing that). */
export class Busy {
  running = $state(false);

  async run(action: () => Promise<void>): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await action();
    } finally {
      this.running = false;
    }
  }
}
