// The caller's inbox: the Messages sent to them (spec.username), live, newest first, with the
// unread count; opening one shows it and marks it read (status subresource).
import { useCallback, useMemo, useState } from 'react';
import { api } from '../../api/client';
import type { KubeObject } from '../../api/kube';
import { useI18n } from '../../i18n';
import { ageColumn } from '../../list/columns';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { NOTIFY_V1, unreadCount } from '../../notify/objects';
import { str } from '../../resources';
import { useSession } from '../../session';
import { Dialog } from '../../ui/Dialog';
import { useToast } from '../../ui/Toasts';

export function InboxPage() {
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const { user } = useSession();
  const query = useMemo(() => ({ fieldSelector: `spec.username=${user.name}` }), [user.name]);
  const live = useLiveList(`${NOTIFY_V1}/messages`, query);
  const list = useMemo(() => [...(live.state?.items.values() ?? [])], [live.state, live.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const [open, setOpen] = useState<KubeObject | null>(null);
  const markRead = useCallback(
    async (m: KubeObject) => {
      if (str(m, 'status', 'phase') === 'Read') return;
      try {
        await api.patch(`${NOTIFY_V1}/messages/${encodeURIComponent(m.metadata.name)}/status`, { status: { phase: 'Read' } });
      } catch (e) {
        toast.error(e);
      }
    },
    [toast],
  );
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'state',
        header: t('common.status'),
        value: (o) => str(o, 'status', 'phase'),
        render: (o) => {
          const phase = str(o, 'status', 'phase') === 'Read' ? 'Read' : 'Unread';
          return <span className={phase === 'Read' ? 'badge' : 'badge badge-wait'}>{t(`notify.state.${phase}`)}</span>;
        },
        width: '0.6fr',
      },
      { id: 'subject', header: t('notify.subject'), value: (o) => str(o, 'spec', 'header') || str(o, 'spec', 'body').slice(0, 80), width: '2fr' },
      { id: 'policy', header: t('notify.alarmPolicy'), value: (o) => str(o, 'spec', 'alarmPolicyName'), width: '1fr' },
      { id: 'cluster', header: t('common.cluster'), value: (o) => str(o, 'spec', 'clusterID'), width: '0.8fr' },
      { id: 'alert', header: t('notify.alertStatus'), value: (o) => str(o, 'status', 'alertStatus'), width: '0.6fr' },
      ageColumn(t('common.age'), now),
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '0.8fr',
        render: (o) => (
          <button
            type="button"
            className="btn btn-small"
            onClick={() => {
              setOpen(o);
              void markRead(o);
            }}
          >
            {t('notify.open')}
          </button>
        ),
      },
    ],
    [t, now, markRead],
  );
  const unread = unreadCount(list);
  return (
    <div className="page">
      <h1 className="page-title">
        {t('notify.inbox')}{' '}
        <span className="badge badge-wait" aria-live="polite" data-testid="unread-count">
          {t('notify.unread', { count: unread })}
        </span>
      </h1>
      <LiveTable url={`${NOTIFY_V1}/messages`} query={query} columns={columns} label={t('notify.inbox')} searchText={(o) => `${str(o, 'spec', 'header')} ${str(o, 'spec', 'body')}`} />
      {open && (
        <Dialog open title={str(open, 'spec', 'header') || open.metadata.name} onClose={() => setOpen(null)} footer={<button type="button" className="btn" onClick={() => setOpen(null)}>{t('pages.close')}</button>}>
          <pre className="message-body">{str(open, 'spec', 'body')}</pre>
        </Dialog>
      )}
    </div>
  );
}
