// API keys (auth.tkestack.io APIKey): the caller's keys, live; issue one for yourself
// (apikeys/default/token) — the token is shown ONCE, with a copy button and a warning, and
// dropped when its dialog closes; disable and enable (status.disabled); delete (revoke).
import { useMemo, useReducer, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { messageOf } from '../../api/errors';
import type { KubeObject } from '../../api/kube';
import { checkDescription, checkExpire, keyFlow, TOKEN_PATH } from '../../access/apikey';
import { AUTH } from '../../access/policy';
import { AUTH_V1, CopyButton } from '../../access/shared';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { field, str } from '../../resources';
import { Dialog, FormDialog } from '../../ui/Dialog';
import { FormError, TextField } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => `${str(o, 'spec', 'description')} ${str(o, 'spec', 'username')}`;

const R = 'apikeys';
const checks: Record<'issue' | 'status' | 'delete', Check> = {
  issue: { verb: 'create', group: AUTH, resource: R, name: 'default', subresource: 'token' },
  status: { verb: 'update', group: AUTH, resource: R, subresource: 'status' },
  delete: { verb: 'delete', group: AUTH, resource: R },
};

function keyState(o: KubeObject, now: number): 'disabled' | 'expired' | 'active' {
  if (field(o, 'status', 'disabled') === true) return 'disabled';
  const exp = Date.parse(str(o, 'spec', 'expire_at'));
  if (field(o, 'status', 'expired') === true || (!Number.isNaN(exp) && exp < now)) return 'expired';
  return 'active';
}

export function ApiKeysPage() {
  const { t } = useI18n();
  const toast = useToast();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [issuing, setIssuing] = useState(false);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canStatus = perms.can(checks.status);
  const canDelete = perms.can(checks.delete);
  const setDisabled = async (o: KubeObject, disabled: boolean) => {
    try {
      await api.patch(`${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}/status`, { status: { disabled } });
      toast.success(t(disabled ? 'apikeys.disabledMsg' : 'apikeys.enabledMsg', { name: o.metadata.name }));
    } catch (e) {
      toast.error(e);
    }
  };
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'name', header: t('common.name'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'description', header: t('common.description'), value: (o) => str(o, 'spec', 'description'), width: '1.5fr' },
      { id: 'user', header: t('users.username'), value: (o) => str(o, 'spec', 'username'), width: '0.8fr' },
      { id: 'issued', header: t('apikeys.issued'), value: (o) => str(o, 'spec', 'issue_at'), width: '1fr' },
      { id: 'expires', header: t('apikeys.expires'), value: (o) => str(o, 'spec', 'expire_at'), width: '1fr' },
      {
        id: 'state',
        header: t('common.status'),
        value: (o) => keyState(o, Date.now()),
        render: (o) => {
          const s = keyState(o, Date.now());
          return <span className={s === 'active' ? 'badge badge-ok' : 'badge badge-bad'}>{t(`apikeys.${s}`)}</span>;
        },
        width: '0.6fr',
      },
      {
        id: 'ops',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.2fr',
        render: (o) => (
          <span className="row-actions">
            {canStatus && (
              <button type="button" className="btn btn-small" onClick={() => void setDisabled(o, field(o, 'status', 'disabled') !== true)}>
                {field(o, 'status', 'disabled') === true ? t('apikeys.enable') : t('apikeys.disable')}
              </button>
            )}
            {canDelete && (
              <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)}>
                {t('apikeys.revoke')}
              </button>
            )}
          </span>
        ),
      },
    ],
    // setDisabled only closes over stable values.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [t, canStatus, canDelete],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('apikeys.title')}</h1>
      <LiveTable
        url={`${AUTH_V1}/${R}`}
        columns={columns}
        label={t('apikeys.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.issue) && (
            <button type="button" className="btn btn-primary" onClick={() => setIssuing(true)}>
              {t('apikeys.create')}
            </button>
          )
        }
      />
      {issuing && <IssueKey onClose={() => setIssuing(false)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => o.metadata.name}
        title={t('apikeys.revokeTitle')}
        message={(name) => t('apikeys.revokeMessage', { name })}
        confirmLabel={t('apikeys.revoke')}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

/** Issues a key and shows its token once. */
export function IssueKey({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const [flow, dispatch] = useReducer(keyFlow, { step: 'form' });
  const [expire, setExpire] = useState('720h');
  const [description, setDescription] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const close = () => {
    dispatch({ type: 'close' });
    onClose();
  };
  const issue = async () => {
    const local: Record<string, string> = {};
    const e1 = checkExpire(expire);
    const e2 = checkDescription(description);
    if (e1) local.expire = e1;
    if (e2) local.description = e2;
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setErrors({});
    dispatch({ type: 'issue' });
    try {
      const key = await api.post<KubeObject>(TOKEN_PATH, { expire, description });
      dispatch({ type: 'issued', key });
      if (!str(key, 'spec', 'apiKey')) setErrors({ '': t('apikeys.noToken') });
    } catch (e) {
      dispatch({ type: 'failed' });
      const m = messageOf(e);
      setErrors(/expire/.test(m) ? { expire: m } : /description/.test(m) ? { description: m } : { '': m });
    }
  };
  if (flow.step === 'shown') {
    return (
      <Dialog
        open
        wide
        title={t('apikeys.createdTitle')}
        onClose={close}
        footer={
          <button type="button" className="btn btn-primary" onClick={close}>
            {flow.copied ? t('apikeys.done') : t('apikeys.doneWithoutCopy')}
          </button>
        }
      >
        <p role="alert" className="warning">
          {t('apikeys.showOnce')}
        </p>
        <label className="field">
          <span>{t('apikeys.token', { name: flow.name })}</span>
          <textarea className="token" readOnly rows={4} value={flow.token} onFocus={(e) => e.currentTarget.select()} data-testid="api-key-token" />
        </label>
        <CopyButton text={flow.token} label={t('apikeys.copy')} onCopied={() => dispatch({ type: 'copied' })} />
        {flow.expireAt && <p className="field-hint">{t('apikeys.expiresAt', { time: flow.expireAt })}</p>}
      </Dialog>
    );
  }
  const busy = flow.step === 'issuing';
  return (
    <FormDialog
      id="key-form"
      title={t('apikeys.create')}
      onClose={close}
      busy={busy}
      submitLabel={t('apikeys.issue')}
      onSubmit={() => void issue()}
    >
      <TextField label={t('apikeys.expire')} value={expire} onChange={setExpire} error={errors.expire} hint={t('apikeys.expireHint')} />
      <TextField label={t('common.description')} value={description} onChange={setDescription} error={errors.description} />
      <FormError message={errors['']} />
    </FormDialog>
  );
}
