// The status strings listTemplates shows (pure), as CloudStack's secondary storage reports them
// (TemplateResponse.status): "42% Downloaded" while a download runs, "Download Complete" when
// the template is ready, "Uploaded" … and a readable error otherwise.

export type TransferState = 'Downloading' | 'Uploading' | 'NotUploaded' | 'Ready' | 'Error';

export interface Progress { state: TransferState; bytes: number; total?: number; error?: string }

export function percent(p: Pick<Progress, 'bytes' | 'total'>): number {
  if (!p.total) return 0;
  return Math.min(100, Math.floor((p.bytes * 100) / p.total));
}

export function statusText(p: Progress): string {
  switch (p.state) {
    case 'Downloading': return p.total ? `${percent(p)}% Downloaded` : `${p.bytes} bytes Downloaded`;
    case 'Uploading': return p.total ? `${percent(p)}% Uploaded` : `${p.bytes} bytes Uploaded`;
    case 'NotUploaded': return 'Not Uploaded';
    case 'Ready': return 'Download Complete';
    case 'Error': return p.error ?? 'Download Failed';
  }
}

/** Error texts (each names what failed; never a tenant's URL or file contents). */
export const failure = {
  http: (code: number, message: string) => `Download Failed: the server answered HTTP ${code} ${message}`.trim(),
  network: (why: string) => `Download Failed: ${why}`,
  truncated: (got: number, total: number) => `Download Failed: the connection ended after ${got} of ${total} bytes`,
  tooLarge: (limit: number) => `Download Failed: the file is larger than the limit of ${limit} bytes`,
  checksum: (algorithm: string, expected: string, got: string) => `Download Failed: checksum mismatch (${algorithm} expected ${expected}, got ${got})`,
  notTar: (why: string) => `Download Failed: not a TAR root filesystem: ${why}`,
  tooManyRedirects: () => 'Download Failed: too many redirects',
  cancelled: () => 'Download Failed: cancelled',
} as const;
