// The manager's client of a secondary storage service (its control API; see server.ts).
import { controlToken } from './signature.ts';
import type { ImageRequest, ImageState } from './store.ts';

export class StorageClient {
  private token: string;
  constructor(readonly url: string, key: Buffer) { this.token = controlToken(key); }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method, headers: { authorization: `Bearer ${this.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(10_000),
    });
    const json = await res.json() as T & { error?: string };
    if (!res.ok) throw Object.assign(new Error(`storage service: ${json.error ?? res.status}`), { status: res.status });
    return json;
  }

  download(req: ImageRequest, url: string): Promise<ImageState> { return this.call('POST', `/v1/images/${req.id}/download`, { ...req, url }); }
  async get(id: string): Promise<ImageState | undefined> {
    try { return await this.call<ImageState>('GET', `/v1/images/${id}`); } catch (e) { if ((e as { status?: number }).status === 404) return undefined; throw e; }
  }
  async list(): Promise<ImageState[]> { return (await this.call<{ images: ImageState[] }>('GET', '/v1/images')).images; }
  async delete(id: string): Promise<boolean> { return (await this.call<{ deleted: boolean }>('DELETE', `/v1/images/${id}`)).deleted; }
}
