// flotctl rollout status|history|undo|restart|pause|resume deployment/NAME,
// worded as kubectl's. status follows the deployment until it is rolled out
// (or --timeout); history lists the revisions of its ReplicaSets; undo puts
// the template of a revision (the previous one by default) back, as kubectl
// 1.20+ does for apps/v1 (the controller gives it the next revision); restart
// stamps kubectl.kubernetes.io/restartedAt on the template; pause and resume
// set spec.paused.
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import { labelSelectorFromObject, formatLabelSelector, rolloutStatusMessage, type Deployment, type ReplicaSet } from '../../api/index.js';
import { action, type CliEnv } from '../command.js';
import { CliError } from '../errors.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';
import { qualifiedName, typeAndNames } from './scale.js';

const REVISION = 'deployment.kubernetes.io/revision';
const CHANGE_CAUSE = 'kubernetes.io/change-cause';
/** Annotations of a ReplicaSet an undo does not copy onto the deployment (kubectl's list). */
const SKIP_ANNOTATIONS = new Set([REVISION, 'deployment.kubernetes.io/revision-history', 'deployment.kubernetes.io/desired-replicas', 'deployment.kubernetes.io/max-replicas', 'kubectl.kubernetes.io/last-applied-configuration']);

interface RolloutOptions {
  watch?: boolean;
  timeout?: string;
  revision?: string;
  toRevision?: string;
}

async function target(session: Session, args: string[], verb: string): Promise<{ ref: ResourceRef; name: string }> {
  const { type, names } = typeAndNames(args, `rollout ${verb}`);
  const ref = await session.resources.forArg(type);
  if (ref.kind !== 'Deployment') throw new CliError(`no ${verb} support for ${ref.kind.toLowerCase()}: flotctl rollout works on deployments`);
  if (names.length !== 1) throw new CliError(`rollout ${verb} takes one deployment`);
  return { ref, name: names[0]! };
}

const getDeployment = (s: Session, ref: ResourceRef, name: string) => s.client.requestJson<Deployment>('GET', resourcePath(ref, s.namespace, name));

/** The ReplicaSets a deployment controls, by revision. */
async function replicaSetsOf(s: Session, d: Deployment): Promise<ReplicaSet[]> {
  const rsRef = await s.resources.forArg('replicasets');
  const selector = formatLabelSelector(labelSelectorFromObject(d.spec.selector));
  const list = await s.client.requestJson<{ items: ReplicaSet[] }>('GET', resourcePath(rsRef, s.namespace), { query: { labelSelector: selector } });
  return list.items
    .filter((rs) => rs.metadata.ownerReferences?.some((r) => r.controller && r.uid === d.metadata.uid))
    .sort((a, b) => revision(a) - revision(b));
}

const revision = (rs: ReplicaSet): number => Number(rs.metadata.annotations?.[REVISION] ?? '0') || 0;

function parseDuration(s: string | undefined): number {
  if (s === undefined || s === '0' || s === '0s') return 0;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new CliError(`invalid argument "${s}" for "--timeout" flag: time: invalid duration "${s}"`);
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000);
}

async function status(s: Session, o: RolloutOptions, args: string[]): Promise<number> {
  const { ref, name } = await target(s, args, 'status');
  const timeoutMs = parseDuration(o.timeout);
  const until = timeoutMs > 0 ? s.now() + timeoutMs : Infinity;
  let last = '';
  for (;;) {
    const d = await getDeployment(s, ref, name);
    const st = rolloutStatusMessage(d);
    if (st.error) throw new CliError(st.error);
    if (st.message !== last) s.io.out(`${st.message}\n`);
    last = st.message;
    if (st.done || o.watch === false) return 0;
    if (s.now() > until) throw new CliError('timed out waiting for the condition');
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function history(s: Session, o: RolloutOptions, args: string[]): Promise<number> {
  const { ref, name } = await target(s, args, 'history');
  const d = await getDeployment(s, ref, name);
  const sets = await replicaSetsOf(s, d);
  if (o.revision !== undefined && o.revision !== '0') {
    const rs = sets.find((x) => String(revision(x)) === o.revision);
    if (!rs) throw new CliError(`unable to find the specified revision`);
    s.io.out(`${qualifiedName(ref, name)} with revision #${o.revision}\nPod Template:\n`);
    s.io.out(stringifyYaml(rs.spec.template).replace(/^/gm, '  '));
    return 0;
  }
  s.io.out(`${qualifiedName(ref, name)} \nREVISION  CHANGE-CAUSE\n`);
  for (const rs of sets) {
    const rev = String(revision(rs));
    s.io.out(`${rev.padEnd(10)}${rs.metadata.annotations?.[CHANGE_CAUSE] ?? '<none>'}\n`);
  }
  s.io.out('\n');
  return 0;
}

function withoutHash(rs: ReplicaSet): unknown {
  const t = JSON.parse(JSON.stringify(rs.spec.template)) as { metadata?: { labels?: Record<string, string> } };
  if (t.metadata?.labels) delete t.metadata.labels['pod-template-hash'];
  return t;
}

async function undo(s: Session, o: RolloutOptions, args: string[]): Promise<number> {
  const { ref, name } = await target(s, args, 'undo');
  const d = await getDeployment(s, ref, name);
  if (d.spec.paused) throw new CliError("you cannot rollback a paused deployment; resume it first with 'flotctl rollout resume' and try again");
  const sets = await replicaSetsOf(s, d);
  const want = o.toRevision !== undefined ? Number(o.toRevision) : 0;
  let rs: ReplicaSet | undefined;
  if (want > 0) {
    rs = sets.find((x) => revision(x) === want);
    if (!rs) throw new CliError(`unable to find specified revision ${want} in history`);
  } else {
    const current = Math.max(0, ...sets.map(revision));
    rs = sets.filter((x) => revision(x) < current).pop();
    if (!rs) throw new CliError('no rollout history found for deployment "' + name + '"');
  }
  const template = withoutHash(rs);
  if (JSON.stringify(template) === JSON.stringify(d.spec.template)) {
    s.io.out(`${qualifiedName(ref, name)} skipped rollback (current template already matches revision ${revision(rs)})\n`);
    return 0;
  }
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.metadata.annotations ?? {})) if (SKIP_ANNOTATIONS.has(k)) annotations[k] = v;
  for (const [k, v] of Object.entries(rs.metadata.annotations ?? {})) if (!SKIP_ANNOTATIONS.has(k)) annotations[k] = v;
  await s.client.requestJson('PATCH', resourcePath(ref, s.namespace, name), {
    contentType: 'application/json-patch+json',
    body: [
      { op: 'replace', path: '/spec/template', value: template },
      { op: 'replace', path: '/metadata/annotations', value: annotations },
    ],
  });
  s.io.out(`${qualifiedName(ref, name)} rolled back\n`);
  return 0;
}

async function setPaused(s: Session, args: string[], paused: boolean): Promise<number> {
  const verb = paused ? 'pause' : 'resume';
  const { ref, name } = await target(s, args, verb);
  const d = await getDeployment(s, ref, name);
  if ((d.spec.paused === true) === paused) throw new CliError(`deployments.apps "${name}" is ${paused ? 'already paused' : 'not paused'}`);
  await s.client.requestJson('PATCH', resourcePath(ref, s.namespace, name), { contentType: 'application/merge-patch+json', body: { spec: { paused: paused ? true : null } } });
  s.io.out(`${qualifiedName(ref, name)} ${paused ? 'paused' : 'resumed'}\n`);
  return 0;
}

async function restart(s: Session, args: string[]): Promise<number> {
  const { ref, name } = await target(s, args, 'restart');
  const d = await getDeployment(s, ref, name);
  if (d.spec.paused) throw new CliError(`deployments.apps "${name}" can't restart paused deployment (run rollout resume first)`);
  const at = new Date(s.now()).toISOString().replace(/\.\d+Z$/, 'Z');
  await s.client.requestJson('PATCH', resourcePath(ref, s.namespace, name), {
    contentType: 'application/merge-patch+json',
    body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } },
  });
  s.io.out(`${qualifiedName(ref, name)} restarted\n`);
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  const rollout = program.command('rollout').description('manage the rollout of a deployment: status, history, undo, restart, pause, resume');
  addGlobalFlags(
    rollout
      .command('status')
      .description('follow a rollout until it is done: rollout status deploy/web')
      .argument('[args...]', 'deployment/NAME')
      .option('-w, --watch', 'follow until done (default)', true)
      .option('--no-watch', 'print the status once')
      .option('--timeout <duration>', 'give up after this long (e.g. 60s; 0: never)'),
  ).action(action<RolloutOptions>(env, (s, o, a) => status(s, o, a)));
  addGlobalFlags(
    rollout.command('history').description('list the revisions: rollout history deploy/web [--revision N]').argument('[args...]', 'deployment/NAME').option('--revision <n>', 'print the pod template of one revision'),
  ).action(action<RolloutOptions>(env, (s, o, a) => history(s, o, a)));
  addGlobalFlags(
    rollout.command('undo').description('go back to the previous revision (or --to-revision N)').argument('[args...]', 'deployment/NAME').option('--to-revision <n>', 'the revision to go back to (0: the previous one)'),
  ).action(action<RolloutOptions>(env, (s, o, a) => undo(s, o, a)));
  addGlobalFlags(rollout.command('restart').description('replace every pod, rolling: rollout restart deploy/web').argument('[args...]', 'deployment/NAME')).action(
    action<RolloutOptions>(env, (s, _o, a) => restart(s, a)),
  );
  addGlobalFlags(rollout.command('pause').description('stop rolling out template changes').argument('[args...]', 'deployment/NAME')).action(action<RolloutOptions>(env, (s, _o, a) => setPaused(s, a, true)));
  addGlobalFlags(rollout.command('resume').description('roll out template changes again').argument('[args...]', 'deployment/NAME')).action(action<RolloutOptions>(env, (s, _o, a) => setPaused(s, a, false)));
  for (const sub of rollout.commands) {
    sub.exitOverride().configureOutput({ writeOut: (x) => env.io.out(x), writeErr: (x) => env.io.err(x) });
  }
}
