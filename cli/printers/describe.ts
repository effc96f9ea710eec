// `describe` layouts, kubectl's: `Key:<tab>value` lines aligned by the
// tabwriter (2 spaces of padding), nested sections indented by two spaces, and
// the object's Events at the end. Pure functions of (object, events, now).
import type { ConfigMap, Container, ContainerState, ContainerStatus, Event, KubeObject, Namespace, Node, Pod, PodSpec, Probe, Secret, Toleration, Volume } from '../../api/index.js';
import { age, humanDuration } from './age.js';
import { eventLastSeen, nodeRoles, podStatusReason } from './columns.js';
import { formatYaml } from './output.js';
import { DESCRIBE_TABS, tabwrite } from './tabwriter.js';

export class Lines {
  readonly lines: string[] = [];
  add(level: number, ...cells: string[]): this {
    this.lines.push('  '.repeat(level) + cells.join('\t'));
    return this;
  }
  text(): string {
    return tabwrite(this.lines, DESCRIBE_TABS).map((l) => l.replace(/\s+$/, '')).join('\n') + '\n';
  }
}

/** `Mon, 23 Nov 2026 02:10:37 +0000`, as kubectl prints times in describe. */
export function describeTime(ts: string | undefined | null): string {
  if (!ts) return '<unset>';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return ts;
  return d.toUTCString().replace('GMT', '+0000');
}

export function mapLines(out: Lines, level: number, title: string, m: Record<string, string> | undefined, skip: string[] = []): void {
  const entries = Object.entries(m ?? {}).filter(([k]) => !skip.includes(k)).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) {
    out.add(level, `${title}:`, '<none>');
    return;
  }
  entries.forEach(([k, v], i) => {
    if (i === 0) out.add(level, `${title}:`, `${k}=${v}`);
    else out.add(level, '', `${k}=${v}`);
  });
}

export function annotationLines(out: Lines, level: number, m: Record<string, string> | undefined): void {
  const entries = Object.entries(m ?? {})
    .filter(([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration')
    .sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) {
    out.add(level, 'Annotations:', '<none>');
    return;
  }
  entries.forEach(([k, v], i) => out.add(level, i === 0 ? 'Annotations:' : '', `${k}: ${v}`));
}

function stateLines(out: Lines, level: number, title: string, state: ContainerState | undefined): void {
  if (state?.running) {
    out.add(level, `${title}:`, 'Running');
    out.add(level + 1, 'Started:', describeTime(state.running.startedAt));
  } else if (state?.waiting) {
    out.add(level, `${title}:`, 'Waiting');
    if (state.waiting.reason) out.add(level + 1, 'Reason:', state.waiting.reason);
    if (state.waiting.message) out.add(level + 1, 'Message:', state.waiting.message);
  } else if (state?.terminated) {
    const t = state.terminated;
    out.add(level, `${title}:`, 'Terminated');
    if (t.reason) out.add(level + 1, 'Reason:', t.reason);
    if (t.message) out.add(level + 1, 'Message:', t.message);
    out.add(level + 1, 'Exit Code:', String(t.exitCode));
    if (t.signal) out.add(level + 1, 'Signal:', String(t.signal));
    out.add(level + 1, 'Started:', describeTime(t.startedAt));
    out.add(level + 1, 'Finished:', describeTime(t.finishedAt));
  } else {
    out.add(level, `${title}:`, 'Waiting');
  }
}

/** A probe as kubectl describe shows it: `http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3`. */
function describeProbe(p: Probe): string {
  const port = (v: number | string | undefined) => String(v ?? '');
  let handler = 'unknown';
  if (p.exec) handler = `exec [${(p.exec.command ?? []).join(' ')}]`;
  else if (p.httpGet) handler = `http-get ${(p.httpGet.scheme ?? 'HTTP').toLowerCase()}://${p.httpGet.host ?? ''}:${port(p.httpGet.port)}${p.httpGet.path ?? ''}`;
  else if (p.tcpSocket) handler = `tcp-socket ${p.tcpSocket.host ?? ''}:${port(p.tcpSocket.port)}`;
  else if (p.grpc) handler = `grpc <pod>:${p.grpc.port} ${p.grpc.service ?? ''}`;
  return `${handler} delay=${p.initialDelaySeconds ?? 0}s timeout=${p.timeoutSeconds ?? 1}s period=${p.periodSeconds ?? 10}s #success=${p.successThreshold ?? 1} #failure=${p.failureThreshold ?? 3}`;
}

/**
 * The containers of a pod (with their statuses) or of a pod template
 * (`statuses` undefined: no IDs, state, readiness or restarts, as kubectl
 * prints a template). Details sit at level 2 either way; a template's names
 * are one space further in (`   web:`), kubectl's quirk.
 */
function containerLines(out: Lines, containers: Container[], statuses: ContainerStatus[] | undefined, namePrefix = ''): void {
  for (const c of containers) {
    const st = statuses?.find((s) => s.name === c.name);
    out.add(1, `${namePrefix}${c.name}:`);
    if (statuses) out.add(2, 'Container ID:', st?.containerID ?? '');
    out.add(2, 'Image:', c.image ?? '');
    if (statuses) out.add(2, 'Image ID:', st?.imageID ?? '');
    const ports = c.ports ?? [];
    if (ports.length === 0) out.add(2, 'Port:', '<none>');
    else out.add(2, ports.length > 1 ? 'Ports:' : 'Port:', ports.map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`).join(', '));
    if (ports.length === 0) out.add(2, 'Host Port:', '<none>');
    else out.add(2, ports.length > 1 ? 'Host Ports:' : 'Host Port:', ports.map((p) => `${p.hostPort ?? 0}/${p.protocol ?? 'TCP'}`).join(', '));
    if (c.command?.length) {
      out.add(2, 'Command:');
      for (const a of c.command) out.add(3, a);
    }
    if (c.args?.length) {
      out.add(2, 'Args:');
      for (const a of c.args) out.add(3, a);
    }
    if (statuses) {
      stateLines(out, 2, 'State', st?.state);
      if (st?.lastState && Object.keys(st.lastState).length > 0) stateLines(out, 2, 'Last State', st.lastState);
      out.add(2, 'Ready:', st?.ready ? 'True' : 'False');
      out.add(2, 'Restart Count:', String(st?.restartCount ?? 0));
    }
    for (const [title, list] of [['Limits', c.resources?.limits], ['Requests', c.resources?.requests]] as const) {
      const entries = Object.entries(list ?? {}).sort(([a], [b]) => a.localeCompare(b));
      if (entries.length === 0) continue;
      out.add(2, `${title}:`);
      for (const [k, v] of entries) out.add(3, `${k}:`, v);
    }
    for (const [title, probe] of [['Liveness', c.livenessProbe], ['Readiness', c.readinessProbe], ['Startup', c.startupProbe]] as const) {
      if (probe) out.add(2, `${title}:`, describeProbe(probe));
    }
    if (!c.env?.length) out.add(2, 'Environment:', '<none>');
    else {
      out.add(2, 'Environment:');
      for (const e of c.env) out.add(3, `${e.name}:`, e.value ?? '');
    }
    if (!c.volumeMounts?.length) out.add(2, 'Mounts:', '<none>');
    else {
      out.add(2, 'Mounts:');
      for (const m of c.volumeMounts) out.add(3, `${m.mountPath} from ${m.name} (${m.readOnly ? 'ro' : 'rw'})`);
    }
  }
}

/** `Volumes:` at `level`; each volume's name at level 1 (a template's one space further in, as kubectl prints it). */
function volumeLines(out: Lines, level: number, volumes: Volume[], namePrefix = ''): void {
  if (volumes.length === 0) {
    out.add(level, 'Volumes:', '<none>');
    return;
  }
  out.add(level, 'Volumes:');
  for (const v of volumes) {
    out.add(1, `${namePrefix}${v.name}:`);
    if (v.hostPath) {
      out.add(2, 'Type:', 'HostPath (bare host directory volume)');
      out.add(2, 'Path:', v.hostPath.path);
      out.add(2, 'HostPathType:', v.hostPath.type ?? '');
    } else if (v.emptyDir) {
      out.add(2, 'Type:', 'EmptyDir (a temporary directory that shares a pod\'s lifetime)');
      out.add(2, 'Medium:', v.emptyDir.medium ?? '');
      out.add(2, 'SizeLimit:', v.emptyDir.sizeLimit ?? '<unset>');
    }
  }
}

function tolerationLines(out: Lines, level: number, tolerations: Toleration[]): void {
  if (tolerations.length === 0) {
    out.add(level, 'Tolerations:', '<none>');
    return;
  }
  tolerations.forEach((t, i) => {
    let text = t.key ?? '';
    if (t.value) text += `=${t.value}`;
    if (t.effect) text += `:${t.effect}`;
    if (t.operator === 'Exists' && !t.key) text = 'op=Exists';
    else if (t.operator === 'Exists') text += ' op=Exists';
    if (t.tolerationSeconds !== undefined) text += ` for ${t.tolerationSeconds}s`;
    out.add(level, i === 0 ? 'Tolerations:' : '', text);
  });
}

/** A pod template as kubectl's describers of workloads print it: `Pod Template:` and its spec one level in. */
export function podTemplateLines(out: Lines, template: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: PodSpec } | undefined): void {
  out.add(0, 'Pod Template:');
  if (!template) {
    out.add(1, '<unset>');
    return;
  }
  const spec: Partial<PodSpec> = template.spec ?? {};
  mapLines(out, 1, 'Labels', template.metadata?.labels);
  if (Object.keys(template.metadata?.annotations ?? {}).length > 0) annotationLines(out, 1, template.metadata?.annotations);
  if (spec.serviceAccountName) out.add(1, 'Service Account:', spec.serviceAccountName);
  if (spec.initContainers?.length) {
    out.add(1, 'Init Containers:');
    containerLines(out, spec.initContainers, undefined, ' ');
  }
  out.add(1, 'Containers:');
  containerLines(out, spec.containers ?? [], undefined, ' ');
  volumeLines(out, 1, spec.volumes ?? [], ' ');
  mapLines(out, 1, 'Node-Selectors', spec.nodeSelector);
  tolerationLines(out, 1, spec.tolerations ?? []);
}

/** The Events section: `<none>` or a Type/Reason/Age/From/Message table. */
export function eventsSection(events: Event[], now: number, level = 0): string[] {
  const out = new Lines();
  if (events.length === 0) {
    out.add(level, 'Events:', '<none>');
    return out.lines;
  }
  out.add(level, 'Events:');
  out.add(level + 1, 'Type', 'Reason', 'Age', 'From', 'Message');
  out.add(level + 1, '----', '------', '----', '----', '-------');
  const sorted = [...events].sort((a, b) => Date.parse(eventLastSeen(a) ?? '') - Date.parse(eventLastSeen(b) ?? ''));
  for (const ev of sorted) {
    const last = age(eventLastSeen(ev), now);
    const first = ev.firstTimestamp || ev.eventTime || ev.metadata.creationTimestamp;
    const ageText = (ev.count ?? 1) > 1 && first ? `${last} (x${ev.count} over ${age(first, now)})` : last;
    const from = ev.source?.component || ev.reportingComponent || '';
    out.add(level + 1, ev.type ?? '', ev.reason ?? '', ageText, from, (ev.message ?? '').trim());
  }
  return out.lines;
}

export function describePod(pod: Pod, events: Event[], now: number): string {
  const out = new Lines();
  const m = pod.metadata;
  const s = pod.status ?? {};
  out.add(0, 'Name:', m.name ?? '');
  out.add(0, 'Namespace:', m.namespace ?? '');
  out.add(0, 'Node:', pod.spec?.nodeName ? `${pod.spec.nodeName}${s.hostIP ? `/${s.hostIP}` : ''}` : '<none>');
  if (s.startTime) out.add(0, 'Start Time:', describeTime(s.startTime));
  mapLines(out, 0, 'Labels', m.labels);
  annotationLines(out, 0, m.annotations);
  if (m.deletionTimestamp) {
    out.add(0, 'Status:', `Terminating (lasts ${humanDuration(now - Date.parse(m.deletionTimestamp))})`);
    if (m.deletionGracePeriodSeconds !== undefined) out.add(0, 'Termination Grace Period:', `${m.deletionGracePeriodSeconds}s`);
  } else {
    out.add(0, 'Status:', s.phase ?? 'Pending');
  }
  if (s.reason) out.add(0, 'Reason:', s.reason);
  if (s.message) out.add(0, 'Message:', s.message);
  out.add(0, 'IP:', s.podIP ?? '');
  const ips = s.podIPs ?? (s.podIP ? [{ ip: s.podIP }] : []);
  if (ips.length === 0) out.add(0, 'IPs:', '<none>');
  else {
    out.add(0, 'IPs:');
    for (const ip of ips) out.add(1, 'IP:', ip.ip);
  }
  if (pod.spec?.initContainers?.length) {
    out.add(0, 'Init Containers:');
    containerLines(out, pod.spec.initContainers, s.initContainerStatuses ?? []);
  }
  out.add(0, 'Containers:');
  containerLines(out, pod.spec?.containers ?? [], s.containerStatuses ?? []);
  const conditions = s.conditions ?? [];
  if (conditions.length > 0) {
    out.add(0, 'Conditions:');
    out.add(1, 'Type', 'Status');
    for (const c of conditions) out.add(1, c.type, c.status);
  }
  volumeLines(out, 0, pod.spec?.volumes ?? []);
  out.add(0, 'QoS Class:', s.qosClass ?? 'BestEffort');
  mapLines(out, 0, 'Node-Selectors', pod.spec?.nodeSelector);
  tolerationLines(out, 0, pod.spec?.tolerations ?? []);
  out.lines.push(...eventsSection(events, now));
  void podStatusReason;
  return out.text();
}

export function describeNode(node: Node, events: Event[], now: number, pods: Pod[] = []): string {
  const out = new Lines();
  const m = node.metadata;
  out.add(0, 'Name:', m.name ?? '');
  out.add(0, 'Roles:', nodeRoles(node));
  mapLines(out, 0, 'Labels', m.labels);
  annotationLines(out, 0, m.annotations);
  out.add(0, 'CreationTimestamp:', describeTime(m.creationTimestamp));
  const taints = node.spec?.taints ?? [];
  if (taints.length === 0) out.add(0, 'Taints:', '<none>');
  else taints.forEach((t, i) => out.add(0, i === 0 ? 'Taints:' : '', `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`));
  out.add(0, 'Unschedulable:', node.spec?.unschedulable ? 'true' : 'false');
  const conditions = node.status?.conditions ?? [];
  if (conditions.length > 0) {
    out.add(0, 'Conditions:');
    out.add(1, 'Type', 'Status', 'LastHeartbeatTime', 'LastTransitionTime', 'Reason', 'Message');
    out.add(1, '----', '------', '-----------------', '------------------', '------', '-------');
    for (const c of conditions) {
      out.add(1, c.type, c.status, describeTime(c.lastHeartbeatTime), describeTime(c.lastTransitionTime), c.reason ?? '', c.message ?? '');
    }
  }
  const addresses = node.status?.addresses ?? [];
  out.add(0, 'Addresses:');
  for (const a of addresses) out.add(1, `${a.type}:`, a.address);
  for (const [title, list] of [['Capacity', node.status?.capacity], ['Allocatable', node.status?.allocatable]] as const) {
    const entries = Object.entries(list ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) continue;
    out.add(0, `${title}:`);
    for (const [k, v] of entries) out.add(1, `${k}:`, v);
  }
  const info = node.status?.nodeInfo ?? {};
  out.add(0, 'System Info:');
  out.add(1, 'Machine ID:', info.machineID ?? '');
  out.add(1, 'Boot ID:', info.bootID ?? '');
  out.add(1, 'Kernel Version:', info.kernelVersion ?? '');
  out.add(1, 'OS Image:', info.osImage ?? '');
  out.add(1, 'Operating System:', info.operatingSystem ?? '');
  out.add(1, 'Architecture:', info.architecture ?? '');
  out.add(1, 'Container Runtime Version:', info.containerRuntimeVersion ?? '');
  out.add(1, 'Kubelet Version:', info.kubeletVersion ?? '');
  const cidrs = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  out.add(0, 'PodCIDR:', node.spec?.podCIDR ?? '');
  out.add(0, 'PodCIDRs:', cidrs.join(','));
  out.add(0, `Non-terminated Pods:`, `(${pods.length} in total)`);
  if (pods.length > 0) {
    out.add(1, 'Namespace', 'Name', 'Age');
    out.add(1, '---------', '----', '---');
    for (const p of pods) out.add(1, p.metadata.namespace ?? '', p.metadata.name ?? '', age(p.metadata.creationTimestamp, now));
  }
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

export function describeNamespace(ns: Namespace, events: Event[], now: number): string {
  const out = new Lines();
  out.add(0, 'Name:', ns.metadata.name ?? '');
  mapLines(out, 0, 'Labels', ns.metadata.labels);
  annotationLines(out, 0, ns.metadata.annotations);
  out.add(0, 'Status:', ns.metadata.deletionTimestamp ? 'Terminating' : ns.status?.phase ?? 'Active');
  out.lines.push('');
  out.add(0, 'No resource quota.');
  out.lines.push('');
  out.add(0, 'No LimitRange resource.');
  void events;
  void now;
  return out.text();
}

/** Kinds without a layout of their own: the envelope, then the rest as YAML. */
export function describeGeneric(obj: KubeObject, events: Event[], now: number): string {
  const out = new Lines();
  const m = obj.metadata;
  out.add(0, 'Name:', m.name ?? '');
  if (m.namespace) out.add(0, 'Namespace:', m.namespace);
  mapLines(out, 0, 'Labels', m.labels);
  annotationLines(out, 0, m.annotations);
  out.add(0, 'API Version:', obj.apiVersion ?? '');
  out.add(0, 'Kind:', obj.kind ?? '');
  const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = obj as KubeObject & Record<string, unknown>;
  for (const line of formatYaml(rest).trimEnd().split('\n')) if (line !== '{}') out.lines.push(line);
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

/** kubectl's layout of a ConfigMap: each key, a `====` rule, its value. */
export function describeConfigMap(cm: ConfigMap, events: Event[], now: number): string {
  const out = new Lines();
  const m = cm.metadata;
  out.add(0, 'Name:', m.name ?? '');
  out.add(0, 'Namespace:', m.namespace ?? '');
  mapLines(out, 0, 'Labels', m.labels);
  annotationLines(out, 0, m.annotations);
  out.lines.push('', 'Data', '====');
  for (const k of Object.keys(cm.data ?? {}).sort()) out.lines.push(`${k}:`, '----', cm.data![k]!, '');
  out.lines.push('', 'BinaryData', '====');
  for (const k of Object.keys(cm.binaryData ?? {}).sort()) out.lines.push(`${k}: ${Buffer.from(cm.binaryData![k]!, 'base64').length} bytes`);
  out.lines.push('');
  out.lines.push(...eventsSection(events, now));
  return out.text();
}

/** kubectl's layout of a Secret: its type and the size of each value, never the values. */
export function describeSecret(s: Secret, events: Event[], now: number): string {
  const out = new Lines();
  const m = s.metadata;
  out.add(0, 'Name:', m.name ?? '');
  out.add(0, 'Namespace:', m.namespace ?? '');
  mapLines(out, 0, 'Labels', m.labels);
  annotationLines(out, 0, m.annotations);
  out.lines.push('');
  out.add(0, 'Type:', s.type || 'Opaque');
  out.lines.push('', 'Data', '====');
  for (const k of Object.keys(s.data ?? {}).sort()) out.add(0, `${k}:`, `${Buffer.from(s.data![k]!, 'base64').length} bytes`);
  if (events.length > 0) out.lines.push('', ...eventsSection(events, now));
  return out.text();
}
