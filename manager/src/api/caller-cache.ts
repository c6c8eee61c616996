// A short-lived cache of API key → caller and secret. Every signed request resolved its key with a
// database query and an AES-GCM open of the secret; on PGlite that query was about half of a
// simple list's cost. The signature is still verified on every request with the cached secret.
//
// Staleness is bounded two ways: any mutating command of this manager clears the whole cache when
// it ends (a user disabled, a key regenerated or an account deleted is seen by the next request),
// and an entry lives at most `ttlMs` (1 s), which bounds what another manager process sharing
// the database can change behind this one's back. Unknown keys are never cached.
export class CallerCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  constructor(private readonly ttlMs = 1000, private readonly max = 10_000) {}

  get(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= Date.now()) { this.entries.delete(key); return undefined; }
    return e.value;
  }

  set(key: string, value: T): void {
    if (this.entries.size >= this.max) this.entries.clear(); // bounded memory under many distinct keys
    this.entries.set(key, { value, until: Date.now() + this.ttlMs });
  }

  clear(): void { this.entries.clear(); }
}
