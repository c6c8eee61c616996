// How a change to a network's addresses or rules is made: written and validated in one
// transaction — the network's WHOLE resulting firewall is checked with the very function the
// router's compiler enforces (validateFirewallSpec), conflicts answer 537, anything else wrong
// 431, and nothing is written — then the router is sent its new spec. If the router refuses or
// cannot be reached, the change is undone and the router re-synced, so the API never reports a
// rule the router does not have.
import { validateFirewallSpec } from '@flotilla/protocol/firewall';
import type { Context } from '../../api/context.ts';
import { apiError, paramError } from '../../api/errors.ts';
import type { Sql } from '../../db/sql.ts';
import { agentFailure } from '../../orchestrator/compute.ts';
import { RouterApplyError, firewallOf, netInfo, networkIps, networkRules, serialized, syncRouter } from '../../orchestrator/router.ts';
import { checkLb } from '../../orchestrator/lb.ts';

export async function checkFirewall(sql: Sql, networkId: string): Promise<void> {
  await checkLb(sql, networkId);
  const net = await netInfo(sql, networkId);
  const diags = validateFirewallSpec(firewallOf(net, await networkIps(sql, networkId), await networkRules(sql, networkId)));
  if (!diags.length) return;
  const conflicts = diags.filter((d) => d.kind === 'conflict');
  const text = (conflicts.length ? conflicts : diags).map((d) => d.message).join('; ');
  throw conflicts.length ? apiError('NETWORK_RULE_CONFLICT', `The rule conflicts with an existing rule or NAT of network ${net.name}: ${text}`, conflicts.flatMap((d) => (d.ruleId ? [d.ruleId] : [])))
    : paramError(`The rule is not valid for network ${net.name}: ${text}`);
}

export async function changeNetwork(ctx: Context, networkId: string, write: (sql: Sql) => Promise<void>, undo: (sql: Sql) => Promise<void>): Promise<void> {
  const s = ctx.services;
  await serialized(`rules:${networkId}`, async () => {
    await s.db.tx(async (sql) => { await write(sql); await checkFirewall(sql, networkId); });
    try {
      await syncRouter(s, networkId);
    } catch (e) {
      await s.db.tx(undo).catch((ue) => s.log.error({ err: ue, networkId }, 'undoing a refused rule change failed'));
      await syncRouter(s, networkId).catch(() => undefined);
      if (e instanceof RouterApplyError) throw apiError('INTERNAL_ERROR', `The router of the network refused the change (${e.code}): ${e.errors.slice(0, 5).join('; ')}`);
      throw agentFailure(e, 'Applying the rules on the router');
    }
  });
}
