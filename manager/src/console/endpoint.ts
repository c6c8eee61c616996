// createConsoleEndpoint (CloudStack 4.18, CreateConsoleEndpointCmd): a URL and websocket
// details for one VM's console, carrying a sealed single-use token. Only the VM's owner or an
// admin over its domain gets one (vmById); a VM that is not running is refused with 431.
import { ALL_ROLES, command, field } from '../api/registry.ts';
import { paramError } from '../api/errors.ts';
import { vmById } from '../commands/compute/lookup.ts';
import { makeEndpoint } from './index.ts';

const CONSOLE_ENDPOINT = {
  name: 'consoleendpoint',
  fields: {
    success: field('boolean', 'true if the console endpoint is generated properly'),
    details: field('string', 'details in case of an error'),
    url: field('string', 'the console url'),
    websocket: field('object', 'the console websocket options'),
  },
} as const;

export const createConsoleEndpoint = command({
  name: 'createConsoleEndpoint', description: 'Create a console endpoint to connect to a VM console', since: '4.18.0',
  roles: ALL_ROLES, response: CONSOLE_ENDPOINT, shape: 'object', event: 'VM.CONSOLE.ENDPOINT',
  params: {
    virtualmachineid: { type: 'uuid', entity: 'vm', required: true, description: 'ID of the VM' },
    token: { type: 'string', length: 255, description: '(optional) extra security token, valid when the extra validation is enabled' },
  },
  async handler(ctx, a) {
    const v = await vmById(ctx, a.virtualmachineid, 'virtualmachineid');
    if (v.state !== 'Running' || !v.host_id) throw paramError(`Virtual machine ${v.name} is ${v.state}: a console is only available while it is Running`);
    const ep = await makeEndpoint(ctx.services, ctx.sql, ctx.caller, { id: v.id, name: v.display_name ?? v.name, instance_name: v.instance_name, host_id: v.host_id, zone_id: v.zone_id }, a.token);
    return { success: true, url: ep.url, websocket: ep.websocket };
  },
});
