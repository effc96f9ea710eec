// flotctl rollout status|history|undo|restart|pause|resume TYPE/NAME, worded
// as kubectl's, for deployments and daemon sets (the per-kind parts are in
// rollout-kinds.ts). status follows the object until it is rolled out (or
// --timeout); history lists its revisions; undo puts the template of a
// revision (the previous one by default) back; restart stamps
// kubectl.kubernetes.io/restartedAt on the template; pause and resume set a
// deployment's spec.paused.
import type { Command } from 'commander';
import { stringify as stringifyYaml } from 'yaml';
import type { KubeObject } from '../../api/index.js';
import { action, type CliEnv } from '../command.js';
import { CliError } from '../errors.js';
import { resourcePath, type ResourceRef } from '../resources.js';
import { addGlobalFlags, type Session } from '../session.js';
import { ROLLOUT_KINDS, type RolloutKind } from './rollout-kinds.js';
import { qualifiedName, typeAndNames } from './scale.js';

interface RolloutOptions {
  watch?: boolean;
  timeout?: string;
  revision?: string;
  toRevision?: string;
}

type Verb = 'status' | 'history' | 'undo' | 'restart' | 'pause' | 'resume';

/** `ReplicaSet.apps`, `Pod`: the group-qualified kind kubectl names in its errors. */
const groupKind = (ref: ResourceRef) => (ref.group ? `${ref.kind}.${ref.group}` : ref.kind);
/** `replicasets.apps "web"`, as kubectl names an object it refuses. */
const resourceName = (ref: ResourceRef, name: string) => `${ref.plural}${ref.group ? `.${ref.group}` : ''} "${name}"`;

/** kubectl's words for a kind that has no such rollout verb. */
function unsupported(verb: Verb, ref: ResourceRef, name: string): CliError {
  switch (verb) {
    case 'status':
      return new CliError(`no status viewer has been implemented for ${groupKind(ref)}`);
    case 'history':
      return new CliError(`no history viewer has been implemented for "${groupKind(ref)}"`);
    case 'undo':
      return new CliError(`no rollbacker has been implemented for "${groupKind(ref)}"`);
    case 'restart':
      return new CliError(`${resourceName(ref, name)} restarting is not supported`);
    case 'pause':
      return new CliError(`${resourceName(ref, name)} pausing is not supported`);
    case 'resume':
      return new CliError(`${resourceName(ref, name)} resuming is not supported`);
  }
}

interface Target {
  ref: ResourceRef;
  name: string;
  kind: RolloutKind;
}

async function target(session: Session, args: string[], verb: Verb): Promise<Target> {
  const { type, names } = typeAndNames(args, `rollout ${verb}`);
  const ref = await session.resources.forArg(type);
  if (names.length !== 1) throw new CliError(`rollout ${verb} takes one object: flotctl rollout ${verb} ${type}/NAME`);
  const name = names[0]!;
  const kind = ROLLOUT_KINDS[ref.kind];
  if (!kind || (!kind.pausable && (verb === 'pause' || verb === 'resume'))) throw unsupported(verb, ref, name);
  return { ref, name, kind };
}

const getObject = (s: Session, t: Target) => s.client.requestJson<KubeObject>('GET', resourcePath(t.ref, s.namespace, t.name));

function parseDuration(s: string | undefined): number {
  if (s === undefined || s === '0' || s === '0s') return 0;
  const m = /^(\d+)(ms|s|m|h)?$/.exec(s);
  if (!m) throw new CliError(`invalid argument "${s}" for "--timeout" flag: time: invalid duration "${s}"`);
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000);
}

function parseRevision(value: string | undefined, flag: string): number {
  if (value === undefined) return 0;
  if (!/^-?\d+$/.test(value)) throw new CliError(`invalid argument "${value}" for "${flag}" flag: strconv.ParseInt: parsing "${value}": invalid syntax`);
  return Number(value);
}

async function status(s: Session, o: RolloutOptions, args: string[]): Promise<number> {
  const t = await target(s, args, 'status');
  const timeoutMs = parseDuration(o.timeout);
  const until = timeoutMs > 0 ? s.now() + timeoutMs : Infinity;
  let last = '';
  for (;;) {
    const st = t.kind.status(await getObject(s, t));
    if (st.error) throw new CliError(st.error);
    if (st.message !== last) s.io.out(`${st.message}\n`);
    last = st.message;
    if (st.done || o.watch === false) return 0;
    if (s.now() > until) throw new CliError('timed out waiting for the condition');
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function history(s: Session, o: RolloutOptions, args: string[]): Promise<number> {
  const t = await target(s, args, 'history');
  const revisions = await t.kind.history(s, await getObject(s, t));
  const wanted = parseRevision(o.revision, '--revision');
  if (wanted !== 0) {
    const rev = revisions.find((r) => r.revision === wanted);
    if (!rev) throw new CliError(`unable to find the specified revision`);
    s.io.out(`${qualifiedName(t.ref, t.name)} with revision #${wanted}\nPod Template:\n`);
    s.io.out(stringifyYaml(rev.template ?? {}).trimEnd().replace(/^/gm, '  ') + '\n');
    return 0;
  }
  s.io.out(`${qualifiedName(t.ref, t.name)} \nREVISION  CHANGE-CAUSE\n`);
  for (const r of revisions) s.io.out(`${String(r.revision).padEnd(10)}${r.changeCause ?? '<none>'}\n`);
  s.io.out('\n');
  return 0;
}

async function undo(s: Session, o: RolloutOptions, args: string[]): Promise<number> {
  const t = await target(s, args, 'undo');
  const outcome = await t.kind.undo(s, t.ref, await getObject(s, t), parseRevision(o.toRevision, '--to-revision'));
  s.io.out(`${qualifiedName(t.ref, t.name)} ${outcome}\n`);
  return 0;
}

async function setPaused(s: Session, args: string[], paused: boolean): Promise<number> {
  const t = await target(s, args, paused ? 'pause' : 'resume');
  const obj = (await getObject(s, t)) as KubeObject & { spec?: { paused?: boolean } };
  if ((obj.spec?.paused === true) === paused) throw new CliError(`${resourceName(t.ref, t.name)} is ${paused ? 'already paused' : 'not paused'}`);
  await s.client.requestJson('PATCH', resourcePath(t.ref, s.namespace, t.name), { contentType: 'application/merge-patch+json', body: { spec: { paused: paused ? true : null } } });
  s.io.out(`${qualifiedName(t.ref, t.name)} ${paused ? 'paused' : 'resumed'}\n`);
  return 0;
}

async function restart(s: Session, args: string[]): Promise<number> {
  const t = await target(s, args, 'restart');
  t.kind.checkRestart?.(await getObject(s, t), t.name);
  const at = new Date(s.now()).toISOString().replace(/\.\d+Z$/, 'Z');
  await s.client.requestJson('PATCH', resourcePath(t.ref, s.namespace, t.name), {
    contentType: 'application/merge-patch+json',
    body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } },
  });
  s.io.out(`${qualifiedName(t.ref, t.name)} restarted\n`);
  return 0;
}

export function register(program: Command, env: CliEnv): void {
  const rollout = program.command('rollout').description('manage the rollout of a deployment or daemon set: status, history, undo, restart, pause, resume');
  addGlobalFlags(
    rollout
      .command('status')
      .description('follow a rollout until it is done: rollout status deploy/web, ds/agent')
      .argument('[args...]', 'deployment/NAME or daemonset/NAME')
      .option('-w, --watch', 'follow until done (default)', true)
      .option('--no-watch', 'print the status once')
      .option('--timeout <duration>', 'give up after this long (e.g. 60s; 0: never)'),
  ).action(action<RolloutOptions>(env, (s, o, a) => status(s, o, a)));
  addGlobalFlags(
    rollout.command('history').description('list the revisions: rollout history deploy/web [--revision N]').argument('[args...]', 'deployment/NAME or daemonset/NAME').option('--revision <n>', 'print the pod template of one revision'),
  ).action(action<RolloutOptions>(env, (s, o, a) => history(s, o, a)));
  addGlobalFlags(
    rollout.command('undo').description('go back to the previous revision (or --to-revision N)').argument('[args...]', 'deployment/NAME or daemonset/NAME').option('--to-revision <n>', 'the revision to go back to (0: the previous one)'),
  ).action(action<RolloutOptions>(env, (s, o, a) => undo(s, o, a)));
  addGlobalFlags(rollout.command('restart').description('replace every pod, rolling: rollout restart deploy/web').argument('[args...]', 'deployment/NAME or daemonset/NAME')).action(
    action<RolloutOptions>(env, (s, _o, a) => restart(s, a)),
  );
  addGlobalFlags(rollout.command('pause').description('stop rolling out template changes').argument('[args...]', 'deployment/NAME')).action(action<RolloutOptions>(env, (s, _o, a) => setPaused(s, a, true)));
  addGlobalFlags(rollout.command('resume').description('roll out template changes again').argument('[args...]', 'deployment/NAME')).action(action<RolloutOptions>(env, (s, _o, a) => setPaused(s, a, false)));
  for (const sub of rollout.commands) {
    sub.exitOverride().configureOutput({ writeOut: (x) => env.io.out(x), writeErr: (x) => env.io.err(x) });
  }
}
