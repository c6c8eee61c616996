// What deleteAccount removes before the account itself (CloudStack's AccountManagerImpl
// cleanupAccount): its VMs (expunged, their files on the hosts), its networks (routers taken
// down), its public IPs and rules, its detached volumes, templates and certificates. Each step
// goes through the command that owns that object, so hosts are cleaned as a user's own delete
// would clean them; the area modules are loaded when needed (they import the accounts area).
import type { Context } from '../../api/context.ts';

type Handler = (ctx: Context, a: never) => Promise<unknown>;
const run = (cmd: { handler: unknown }, ctx: Context, a: Record<string, unknown>) => (cmd.handler as Handler)(ctx, a as never);

export async function cleanUpAccountResources(ctx: Context, accountId: string): Promise<void> {
  const db = ctx.services.db;
  const { destroyVirtualMachine } = await import('../compute/vms.ts');
  const { deleteNetwork } = await import('../compute/networks.ts');
  const { deleteVolume } = await import('../volumes/volumes.ts');
  for (const v of await db.query<{ id: string }>(`SELECT id FROM vm_instances WHERE account_id = $1 AND type = 'User' ORDER BY created`, [accountId])) {
    await run(destroyVirtualMachine, ctx, { id: v.id, expunge: true });
  }
  // Load balancer rules go with their networks' routers (taken down next).
  await db.query('DELETE FROM lb_rules WHERE account_id = $1', [accountId]);
  for (const n of await db.query<{ id: string }>('SELECT id FROM networks WHERE account_id = $1 ORDER BY created', [accountId])) {
    await run(deleteNetwork, ctx, { id: n.id, forced: true });
  }
  for (const v of await db.query<{ id: string }>('SELECT id FROM volumes WHERE account_id = $1 AND vm_id IS NULL ORDER BY id', [accountId])) {
    await run(deleteVolume, ctx, { id: v.id });
  }
  await db.tx(async (sql) => {
    // What is left has no host objects: rules and addresses of other accounts' networks, records.
    await sql.query('DELETE FROM network_rules WHERE account_id = $1', [accountId]);
    await sql.query('DELETE FROM public_ip_addresses WHERE account_id = $1', [accountId]);
    await sql.query('DELETE FROM vm_instances WHERE account_id = $1 AND type <> $2', [accountId, 'User']);
    await sql.query('DELETE FROM templates WHERE account_id = $1', [accountId]);
    await sql.query('DELETE FROM ssl_certs WHERE account_id = $1', [accountId]);
  });
}
