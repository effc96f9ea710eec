// flotctl cordon NODE | uncordon NODE | drain NODE [--ignore-daemonsets]
//   [--force] [--delete-emptydir-data] [--grace-period N] [--timeout D]
// cordon/uncordon set spec.unschedulable (the node controller adds the
// node.kubernetes.io/unschedulable taint); drain cordons, then evicts every pod
// of the node through pods/eviction (a PodDisruptionBudget's 429 is retried
// every 5 s until --timeout), skipping mirror pods and — with
// --ignore-daemonsets — DaemonSet pods, and refusing pods without a controller
// (unless --force) and pods with emptyDir volumes (unless
// --delete-emptydir-data), as kubectl words it; then waits until they are gone.
import type { Command } from 'commander';
import type { KubeList, Pod } from '../../api/index.js';
import { action, type CliEnv } from '../command.js';
import { ApiStatusError, CliError, isNotFound } from '../errors.js';
import { resourcePath } from '../resources.js';
import { addGlobalFlags, parseDuration, type Session } from '../session.js';
import { waitForDeletion } from './delete.js';

interface DrainOptions {
  ignoreDaemonsets?: boolean;
  force?: boolean;
  deleteEmptydirData?: boolean;
  gracePeriod?: string;
  timeout?: string;
}

const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
const RETRY_MS = 5000;

async function setUnschedulable(session: Session, node: string, value: boolean): Promise<void> {
  const ref = await session.resources.forArg('nodes');
  const path = resourcePath(ref, undefined, node);
  const n = await session.client.requestJson<{ spec?: { unschedulable?: boolean } }>('GET', path);
  const word = value ? 'cordoned' : 'uncordoned';
  if ((n.spec?.unschedulable === true) === value) {
    session.io.out(`node/${node} already ${word}\n`);
    return;
  }
  await session.client.requestJson('PATCH', path, { body: { spec: { unschedulable: value ? true : null } }, contentType: 'application/merge-patch+json' });
  session.io.out(`node/${node} ${word}\n`);
}

export interface DrainPlan {
  evict: Pod[];
  /** DaemonSet pods left alone with --ignore-daemonsets. */
  ignoredDaemonSet: Pod[];
  /** Pods without a controller, deleted with --force. */
  unmanaged: Pod[];
  errors: string[];
}

const nsName = (p: Pod) => `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;

/** Which of the node's pods go, and what kubectl would refuse (pure). */
export function planDrain(pods: readonly Pod[], o: DrainOptions): DrainPlan {
  const plan: DrainPlan = { evict: [], ignoredDaemonSet: [], unmanaged: [], errors: [] };
  const ds: Pod[] = [];
  const bare: Pod[] = [];
  const local: Pod[] = [];
  for (const p of pods) {
    if (p.metadata.annotations?.[MIRROR_ANNOTATION] !== undefined) continue;
    const finished = p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
    const ctl = p.metadata.ownerReferences?.find((r) => r.controller);
    if (ctl?.kind === 'DaemonSet' && !finished) {
      if (o.ignoreDaemonsets) plan.ignoredDaemonSet.push(p);
      else ds.push(p);
      continue;
    }
    if (!ctl && !finished) {
      if (o.force) plan.unmanaged.push(p);
      else bare.push(p);
    }
    if ((p.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined) && !finished && !o.deleteEmptydirData) local.push(p);
    plan.evict.push(p);
  }
  const list = (ps: Pod[]) => ps.map(nsName).join(', ');
  if (bare.length > 0) plan.errors.push(`cannot delete Pods that declare no controller (use --force to override): ${list(bare)}`);
  if (ds.length > 0) plan.errors.push(`cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): ${list(ds)}`);
  if (local.length > 0) plan.errors.push(`cannot delete Pods with local storage (use --delete-emptydir-data to override): ${list(local)}`);
  return plan;
}

async function evictOne(session: Session, p: Pod, grace: number | undefined, deadline: number | undefined): Promise<void> {
  const ref = await session.resources.forArg('pods');
  const ns = p.metadata.namespace ?? '';
  const name = p.metadata.name ?? '';
  for (;;) {
    try {
      await session.client.requestJson('POST', `${resourcePath(ref, ns, name)}/eviction`, {
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns }, ...(grace !== undefined ? { deleteOptions: { gracePeriodSeconds: grace } } : {}) },
      });
      return;
    } catch (e) {
      if (isNotFound(e)) return;
      if (!(e instanceof ApiStatusError) || e.httpCode !== 429) throw e;
      if (deadline !== undefined && session.now() + RETRY_MS > deadline) throw new CliError(`error when evicting pods/"${name}" -n "${ns}": global timeout reached`);
      session.io.err(`error when evicting pods/"${name}" -n "${ns}" (will retry after 5s): ${e.message}\n`);
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}

export async function runDrain(session: Session, o: DrainOptions, node: string): Promise<number> {
  let grace: number | undefined;
  if (o.gracePeriod !== undefined) {
    if (!/^-?\d+$/.test(o.gracePeriod)) throw new CliError(`invalid argument "${o.gracePeriod}" for "--grace-period" flag: must be an integer`);
    const g = Number(o.gracePeriod);
    if (g >= 0) grace = g;
  }
  const timeoutMs = o.timeout ? parseDuration(o.timeout, '--timeout') : 0;
  const deadline = timeoutMs > 0 ? session.now() + timeoutMs : undefined;
  await setUnschedulable(session, node, true);
  const podRef = await session.resources.forArg('pods');
  const list = await session.client.requestJson<KubeList<Pod>>('GET', resourcePath(podRef, undefined), { query: { fieldSelector: `spec.nodeName=${node}` } });
  const plan = planDrain(list.items ?? [], o);
  if (plan.errors.length > 0) {
    const why = plan.errors.length === 1 ? plan.errors[0] : `[${plan.errors.join(', ')}]`;
    session.io.err(`error: unable to drain node "${node}" due to error: ${why}, continuing command...\nThere are pending nodes to be drained:\n ${node}\n${plan.errors.join('\n')}\n`);
    return 1;
  }
  if (plan.ignoredDaemonSet.length > 0) session.io.err(`Warning: ignoring DaemonSet-managed Pods: ${plan.ignoredDaemonSet.map(nsName).join(', ')}\n`);
  if (plan.unmanaged.length > 0) session.io.err(`Warning: deleting Pods that declare no controller: ${plan.unmanaged.map(nsName).join(', ')}\n`);
  const failures: string[] = [];
  await Promise.all(
    plan.evict.map(async (p) => {
      session.io.out(`evicting pod ${nsName(p)}\n`);
      try {
        await evictOne(session, p, grace, deadline);
        await waitForDeletion(session, { ref: podRef, namespace: p.metadata.namespace, name: p.metadata.name ?? '' }, deadline);
        session.io.out(`pod/${p.metadata.name} evicted\n`);
      } catch (e) {
        if (!(e instanceof CliError) && !(e instanceof ApiStatusError)) throw e;
        failures.push(e.message);
      }
    }),
  );
  if (failures.length > 0) {
    session.io.err(`error: unable to drain node "${node}" due to error: ${failures.length === 1 ? failures[0] : `[${failures.join(', ')}]`}, continuing command...\nThere are pending nodes to be drained:\n ${node}\n${failures.join('\n')}\n`);
    return 1;
  }
  session.io.out(`node/${node} drained\n`);
  return 0;
}

const oneNode = (args: string[]): string => {
  if (args.length !== 1) throw new CliError('exactly one NODE is required');
  return args[0]!;
};

export function register(program: Command, env: CliEnv): void {
  addGlobalFlags(program.command('cordon').description('mark a node unschedulable').argument('[node...]', 'NODE')).action(
    action<object>(env, async (s, _o, a) => void (await setUnschedulable(s, oneNode(a), true))),
  );
  addGlobalFlags(program.command('uncordon').description('mark a node schedulable again').argument('[node...]', 'NODE')).action(
    action<object>(env, async (s, _o, a) => void (await setUnschedulable(s, oneNode(a), false))),
  );
  addGlobalFlags(
    program
      .command('drain')
      .description('cordon a node and evict its pods (honouring PodDisruptionBudgets)')
      .argument('[node...]', 'NODE')
      .option('--ignore-daemonsets', 'leave DaemonSet-managed pods alone')
      .option('--force', 'also delete pods that declare no controller')
      .option('--delete-emptydir-data', 'also delete pods with emptyDir volumes (their data is lost)')
      .option('--grace-period <seconds>', "seconds each pod gets to terminate (-1: the pod's own)")
      .option('--timeout <duration>', 'give up after this long (0: no limit)'),
  ).action(action<DrainOptions>(env, (s, o, a) => runDrain(s, o, oneNode(a))));
}
