import { writeFileSync } from 'node:fs';
import { clientCloud } from '../src/client-suites.ts';
const t: any = { teardown() {} };
const c = await clientCloud(t, process.argv[2] ?? 'dbg');
writeFileSync(process.argv[3] ?? '/tmp/flt-clients-env', Object.entries(c.env).map(([k, v]) => `export ${k}='${v}'`).join('\n') + '\n');
console.log('ready');
setInterval(() => {}, 1 << 30);
