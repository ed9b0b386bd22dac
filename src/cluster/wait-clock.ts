// How long a cluster kept the run waiting for it to become ready (rollouts, a
// webhook that answers, a certificate issued, entries registered). Waits that
// overlap (every workload of a phase at once) count once, so this is the
// cluster's readiness critical path as the run saw it; the rest of the run's
// wall time is the action's own work and the API's answers.
export class WaitClock {
  private active = 0;
  private since = 0;
  private total = 0;

  async during<T>(wait: () => Promise<T>): Promise<T> {
    if (this.active++ === 0) this.since = Date.now();
    try {
      return await wait();
    } finally {
      if (--this.active === 0) this.total += Date.now() - this.since;
    }
  }

  /** Milliseconds waited so far, a wait still under way included. */
  ms(): number {
    return this.total + (this.active > 0 ? Date.now() - this.since : 0);
  }
}
