// start/stop/reboot/destroy of an appliance VM (a virtual router, a console proxy or secondary
// storage VM) as data: a kind says how to find one, how to show it and how to act on it, and
// the four async commands come from it. Each refuses a VM in the wrong state before any job is
// queued (431, CloudStack's InvalidParameterValueException), and acts in its job; a job that
// finds the VM already where it was asked to go (a resumed run, a race) does nothing.
import { command, type ResponseDef, type Role, type AnyCommand } from '../api/registry.ts';
import { paramError } from '../api/errors.ts';
import type { Context } from '../api/context.ts';
import type { EntityKind } from '../api/entities.ts';

export interface ApplianceVm { id: string; state: string; name: string }

export interface ApplianceKind {
  /** How messages name it: "Router r-12-VM is Starting", "System VM s-3-VM …". */
  readonly label: string;
  readonly entity: EntityKind;
  readonly idDescription: string;
  readonly roles: readonly Role[];
  readonly response: ResponseDef;
  /** jobinstancetype and the resource type of its events (DomainRouter, SystemVm). */
  readonly instanceType: string;
  /** CloudStack's event type prefix (ROUTER, SYSTEMVM). */
  readonly eventPrefix: string;
  /** A VM that is not destroyed, or the notFound 431 of ctx.command. */
  readonly find: (ctx: Context, id: string) => Promise<ApplianceVm>;
  readonly view: (ctx: Context, id: string) => Promise<Record<string, unknown>>;
  /** Starting a Running one: CloudStack answers routers with the router, system VMs with an error. */
  readonly startRunning: 'answer' | 'refuse';
  readonly start: (ctx: Context, vm: ApplianceVm) => Promise<void>;
  readonly stop: (ctx: Context, vm: ApplianceVm, forced: boolean) => Promise<void>;
  readonly reboot: (ctx: Context, vm: ApplianceVm, forced: boolean) => Promise<void>;
  readonly destroy: (ctx: Context, vm: ApplianceVm) => Promise<void>;
}

/** Per command: CloudStack's name, description, since, and the `forced` text where it has one. */
export interface LifecycleNames {
  readonly start: { name: string; description: string; since: string };
  readonly stop: { name: string; description: string; since: string; forced: string };
  readonly reboot: { name: string; description: string; since: string; forced: string };
  readonly destroy: { name: string; description: string; since: string };
}

const STARTABLE = new Set(['Stopped', 'Error', 'Starting']);

export function applianceLifecycle(k: ApplianceKind, n: LifecycleNames): Record<'start' | 'stop' | 'reboot' | 'destroy', AnyCommand> {
  const ID = { id: { type: 'uuid', entity: k.entity, required: true, description: k.idDescription } } as const;
  const base = { roles: k.roles, response: k.response, shape: 'object', isAsync: true, transactional: false } as const;
  const instance = { type: k.instanceType, param: 'id' } as const;
  const done = async (ctx: Context, id: string) => { ctx.setResource(k.instanceType, id); return k.view(ctx, id); };

  const start = command({
    ...n.start, ...base, event: `${k.eventPrefix}.START`, instance, params: ID,
    async create(ctx, a) {
      const v = await k.find(ctx, a.id);
      if (v.state === 'Running' && k.startRunning === 'refuse') throw paramError(`${k.label} ${v.name} is already Running`);
      if (v.state !== 'Running' && !STARTABLE.has(v.state)) throw paramError(`${k.label} ${v.name} is ${v.state}; only a Stopped ${k.label.toLowerCase()} can be started`);
    },
    async handler(ctx, a) {
      const v = await k.find(ctx, a.id);
      if (v.state !== 'Running') await k.start(ctx, v);
      return done(ctx, v.id);
    },
  });

  const stop = command({
    ...n.stop, ...base, event: `${k.eventPrefix}.STOP`, instance,
    params: { ...ID, forced: { type: 'boolean', description: n.stop.forced } },
    async create(ctx, a) {
      const v = await k.find(ctx, a.id);
      if (v.state === 'Stopped') throw paramError(`${k.label} ${v.name} is already Stopped`);
    },
    async handler(ctx, a) {
      const v = await k.find(ctx, a.id);
      // Stopped by an admin: the monitors leave it so (start brings it back).
      if (v.state !== 'Stopped') await k.stop(ctx, v, a.forced ?? false);
      return done(ctx, v.id);
    },
  });

  const reboot = command({
    ...n.reboot, ...base, event: `${k.eventPrefix}.REBOOT`, instance,
    params: { ...ID, forced: { type: 'boolean', description: n.reboot.forced } },
    async create(ctx, a) {
      const v = await k.find(ctx, a.id);
      if (v.state !== 'Running') throw paramError(`${k.label} ${v.name} is ${v.state}; only a Running ${k.label.toLowerCase()} can be rebooted`);
    },
    async handler(ctx, a) {
      const v = await k.find(ctx, a.id);
      await k.reboot(ctx, v, a.forced ?? false);
      return done(ctx, v.id);
    },
  });

  const destroy = command({
    ...n.destroy, ...base, event: `${k.eventPrefix}.DESTROY`, instance, params: ID,
    async create(ctx, a) { await k.find(ctx, a.id); },
    async handler(ctx, a) {
      const v = await k.find(ctx, a.id);
      const before = await k.view(ctx, v.id);
      await k.destroy(ctx, v);
      ctx.setResource(k.instanceType, v.id);
      return { ...before, state: 'Destroyed', hostid: undefined, hostname: undefined };
    },
  });

  return { start, stop, reboot, destroy };
}
