// Event (core/v1): the descriptor.
import { isPlainObject } from '../helpers.js';
import { ANY, column, defineKind, fieldPath } from '../kind.js';
import { age } from '../printers/age.js';
import type { Event } from '../types.js';
import { FieldErrors, nonNegative, obj, oneOf, str, timestamp } from '../validation-core.js';
import { FALLBACK } from './common.js';

type Obj = Record<string, unknown>;

function validateEvent(e: FieldErrors, o: Obj, md: Obj): void {
  const ref = obj(e, o, 'involvedObject', 'involvedObject', true);
  if (ref) {
    for (const k of ['kind', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) str(e, ref, k, `involvedObject.${k}`);
    const ns = str(e, ref, 'namespace', 'involvedObject.namespace');
    const kind = ref.kind;
    const clusterScoped = kind === 'Node' || kind === 'Namespace';
    if (!clusterScoped && ns && typeof md.namespace === 'string' && md.namespace !== '' && ns !== md.namespace) {
      e.invalid('involvedObject.namespace', ns, 'does not match event.namespace');
    }
  }
  str(e, o, 'reason', 'reason');
  str(e, o, 'message', 'message');
  oneOf(e, o, 'type', 'type', ['Normal', 'Warning']);
  nonNegative(e, o, 'count', 'count');
  timestamp(e, o, 'firstTimestamp', 'firstTimestamp');
  timestamp(e, o, 'lastTimestamp', 'lastTimestamp');
  if (o.eventTime !== null) timestamp(e, o, 'eventTime', 'eventTime');
  const source = obj(e, o, 'source', 'source');
  if (source) {
    str(e, source, 'component', 'source.component');
    str(e, source, 'host', 'source.host');
  }
  str(e, o, 'reportingComponent', 'reportingComponent');
  str(e, o, 'reportingInstance', 'reportingInstance');
  str(e, o, 'action', 'action');
}


/** The most recent time an event was seen. */
export function eventLastSeen(ev: Event): string | undefined {
  return ev.lastTimestamp || ev.eventTime || ev.firstTimestamp || ev.metadata.creationTimestamp || undefined;
}

/** `pod/web` for an event's involvedObject. */
export function eventObject(ev: Event): string {
  const kind = (ev.involvedObject?.kind ?? '').toLowerCase();
  const name = ev.involvedObject?.name ?? '';
  return kind === '' ? name : `${kind}/${name}`;
}

export const eventKind = defineKind(
  {
    group: '',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    shortNames: ['ev'],
    namespaced: true,
    defaults(ev) {
      // involvedObject.namespace follows the event's namespace when omitted
      const md = ev.metadata;
      const ref = ev.involvedObject;
      if (isPlainObject(md) && isPlainObject(ref) && ref.namespace === undefined && ref.kind !== 'Node' && ref.kind !== 'Namespace') {
        if (typeof md.namespace === 'string') ref.namespace = md.namespace;
      }
      ev.type ??= 'Normal';
    },
    validate: validateEvent,
    schema: {
      involvedObject: { kind: ANY, namespace: ANY, name: ANY, uid: ANY, apiVersion: ANY, resourceVersion: ANY, fieldPath: ANY },
      reason: ANY,
      message: ANY,
      source: { component: ANY, host: ANY },
      firstTimestamp: ANY,
      lastTimestamp: ANY,
      count: ANY,
      type: ANY,
      eventTime: ANY,
      series: ANY,
      action: ANY,
      related: ANY,
      reportingComponent: ANY,
      reportingInstance: ANY,
    },
    fieldLabels: {
      'involvedObject.kind': fieldPath('involvedObject', 'kind'),
      'involvedObject.namespace': fieldPath('involvedObject', 'namespace'),
      'involvedObject.name': fieldPath('involvedObject', 'name'),
      'involvedObject.uid': fieldPath('involvedObject', 'uid'),
      'involvedObject.apiVersion': fieldPath('involvedObject', 'apiVersion'),
      'involvedObject.resourceVersion': fieldPath('involvedObject', 'resourceVersion'),
      'involvedObject.fieldPath': fieldPath('involvedObject', 'fieldPath'),
      reason: fieldPath('reason'),
      reportingComponent: fieldPath('reportingComponent'),
      source: fieldPath('source', 'component'),
      type: fieldPath('type'),
    },
    printer: {
      columns: [
        column('Last Seen'),
        column('Type'),
        column('Reason'),
        column('Object'),
        column('Subobject', { priority: 1 }),
        column('Source', { priority: 1 }),
        column('Message'),
        column('First Seen', { priority: 1 }),
        column('Count', { priority: 1 }),
        column('Name', { priority: 1, format: 'name' }),
      ],
      cells(o, now) {
        const ev = o as unknown as Event;
        return [
          age(eventLastSeen(ev), now),
          ev.type ?? '',
          ev.reason ?? '',
          eventObject(ev),
          ev.involvedObject?.fieldPath ?? '',
          [ev.source?.component || ev.reportingComponent, ev.source?.host].filter(Boolean).join(', '),
          (ev.message ?? '').trim().replace(/\n/g, ' '),
          age(ev.firstTimestamp || ev.eventTime || ev.metadata.creationTimestamp, now),
          String(ev.count ?? 1),
          ev.metadata.name ?? '',
        ];
      },
    },
  },
  FALLBACK,
);
