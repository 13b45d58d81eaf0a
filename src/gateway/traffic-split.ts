// Which requests a ramping promotion sends to its candidate: a weighted round-robin per model and
// environment, so that the candidate's share matches the promotion's percent exactly rather than
// on average, and one model's traffic never moves another's share.

export class TrafficSplit {
  private readonly credit = new Map<string, number>();

  /** Whether this request to the model's environment goes to the ramping candidate. */
  takesCandidate(modelId: string, environment: string, percent: number): boolean {
    const key = `${modelId}\0${environment}`;
    const credit = (this.credit.get(key) ?? 0) + percent;
    const yes = credit >= 100;
    this.credit.set(key, yes ? credit - 100 : credit);
    return yes;
  }

  /** Forgets a model's splits (it was deleted, or its promotions ended). */
  forget(modelId: string): void {
    for (const key of this.credit.keys()) if (key.startsWith(`${modelId}\0`)) this.credit.delete(key);
  }

  get size(): number {
    return this.credit.size;
  }
}
