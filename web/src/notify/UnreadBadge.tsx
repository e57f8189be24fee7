// The unread count beside the menu's Inbox entry: the caller's unread Messages, watched live
// (nothing shown at zero).
import { useMemo } from 'react';
import { useI18n } from '../i18n';
import { useLiveList } from '../list/useLiveList';
import { useSession } from '../session';
import { NOTIFY_V1, unreadCount } from './objects';

export function UnreadBadge() {
  const { t } = useI18n();
  const { user } = useSession();
  const query = useMemo(() => ({ fieldSelector: `spec.username=${user.name},status.phase=Unread` }), [user.name]);
  const live = useLiveList(`${NOTIFY_V1}/messages`, query);
  const count = useMemo(() => unreadCount([...(live.state?.items.values() ?? [])]), [live.state, live.version]); // eslint-disable-line react-hooks/exhaustive-deps
  if (count === 0) return null;
  return (
    <span className="badge badge-wait menu-badge" data-testid="menu-unread" aria-label={t('notify.unread', { count })}>
      {count}
    </span>
  );
}
