// The events about one object of a business cluster (involvedObject field selector), live.
import { useMemo } from 'react';
import { age, collectionPath, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { useNow } from '../list/useLiveList';
import { str } from '../resources';

export function ObjectEvents({ cluster, kind, name, namespace }: { cluster: string; kind: string; name: string; namespace: string }) {
  const { t } = useI18n();
  const now = useNow();
  const query = useMemo(() => ({ fieldSelector: `involvedObject.kind=${kind},involvedObject.name=${name}` }), [kind, name]);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'type', header: t('common.type'), value: (o) => str(o, 'type'), width: '0.5fr' },
      { id: 'reason', header: t('common.reason'), value: (o) => str(o, 'reason'), width: '0.8fr' },
      { id: 'message', header: t('col.message'), value: (o) => str(o, 'message'), width: '3fr' },
      {
        id: 'last',
        header: t('events.last'),
        value: (o) => -Date.parse(str(o, 'lastTimestamp') || str(o, 'eventTime') || o.metadata.creationTimestamp || '') || 0,
        render: (o) => age(str(o, 'lastTimestamp') || str(o, 'eventTime') || o.metadata.creationTimestamp, now),
        width: '0.5fr',
      },
    ],
    [t, now],
  );
  return (
    <section className="card" aria-labelledby="object-events">
      <h2 id="object-events">{t('kind.events')}</h2>
      <LiveTable
        url={collectionPath({ group: '', version: 'v1', resource: 'events', namespaced: true, cluster }, namespace)}
        query={query}
        columns={columns}
        label={t('kind.events')}
        emptyText={t('events.none')}
        rowHeight={34}
        defaultSort={{ id: 'last', desc: false }}
      />
    </section>
  );
}
