// Users of the caller's tenant (LocalIdentity): live list; create with a password (sent as
// base64 in spec.hashedPassword, as the API takes it, and never shown again); edit display
// name, e-mail, phone, password and group membership (through the groups' binding
// subresources, since the platform keeps spec.groups from them); lock and unlock (status);
// delete. The buttons follow one batchauthz call.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api, requestJson } from '../../api/client';
import { type KubeObject } from '../../api/kube';
import { AUTH_V1, b64, subjectsOf, type Subject } from '../../access/shared';
import { AUTH } from '../../access/policy';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useLiveList, useNow } from '../../list/useLiveList';
import { arr, field, str } from '../../resources';
import { FormDialog } from '../../ui/Dialog';
import { FormError, TextField, useApiForm } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { required, type Validator } from '../../ui/validation';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => `${str(o, 'spec', 'username')} ${str(o, 'spec', 'displayName')} ${str(o, 'spec', 'email')}`;

const R = 'localidentities';
const checks: Record<'create' | 'update' | 'delete' | 'status' | 'bind', Check> = {
  create: { verb: 'create', group: AUTH, resource: R },
  update: { verb: 'update', group: AUTH, resource: R },
  delete: { verb: 'delete', group: AUTH, resource: R },
  status: { verb: 'update', group: AUTH, resource: R, subresource: 'status' },
  bind: { verb: 'create', group: AUTH, resource: 'localgroups', subresource: 'binding' },
};

/** The username rule of the auth API: what a login name may be. */
export const username: Validator = (v) =>
  /^[A-Za-z0-9][-A-Za-z0-9_.@]{0,127}$/.test(v)
    ? null
    : `Invalid value: "${v}": a username must be 1 to 128 characters: letters, digits, '.', '_', '-' and '@', starting with a letter or digit`;
export const email: Validator = (v) =>
  v === '' || /^[^\s@]+@[^\s@.][^\s@]*\.[^\s@]*[^\s@.]$/.test(v) ? null : `Invalid value: "${v}": must be an e-mail address such as alice@example.org`;

export function UsersPage() {
  const { t } = useI18n();
  const toast = useToast();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<KubeObject | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const canLock = perms.can(checks.status);
  // Membership lives in the groups (status.users), so the groups column is read from them.
  const groupList = useLiveList(`${AUTH_V1}/localgroups`);
  const memberOf = useMemo(() => groupsByUser(groupList.state ? [...groupList.state.items.values()] : []), [groupList.state, groupList.version]);
  const setLock = async (o: KubeObject, locked: boolean) => {
    try {
      await api.patch(`${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}/status`, { status: { locked, lockedUntil: null } });
      toast.success(t(locked ? 'users.lockedMsg' : 'users.unlockedMsg', { name: str(o, 'spec', 'username') }));
    } catch (e) {
      toast.error(e);
    }
  };
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'username', header: t('users.username'), value: (o) => str(o, 'spec', 'username'), width: '1.2fr' },
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'displayName'), width: '1.2fr' },
      { id: 'email', header: t('users.email'), value: (o) => str(o, 'spec', 'email'), width: '1.4fr' },
      {
        id: 'groups',
        header: t('users.groups'),
        value: (o) => [...new Set([...arr(o, 'spec', 'groups').map(String), ...(memberOf.get(o.metadata.name) ?? [])])].join(', '),
        width: '1.2fr',
      },
      {
        id: 'locked',
        header: t('users.status'),
        value: (o) => (field(o, 'status', 'locked') === true ? 1 : 0),
        render: (o) =>
          field(o, 'status', 'locked') === true ? (
            <span className="badge badge-bad">{t('users.locked')}</span>
          ) : (
            <span className="badge badge-ok">{t('users.active')}</span>
          ),
        width: '0.7fr',
      },
      ageColumn(t('common.age'), now),
      {
        id: 'actions',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.6fr',
        render: (o) => (
          <span className="row-actions">
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setEditing(o)}>
                {t('common.edit')}
              </button>
            )}
            {canLock && (
              <button type="button" className="btn btn-small" onClick={() => void setLock(o, field(o, 'status', 'locked') !== true)}>
                {field(o, 'status', 'locked') === true ? t('users.unlock') : t('users.lock')}
              </button>
            )}
            {canDelete && (
              <button type="button" className="btn btn-small btn-danger-text" onClick={() => setDeleting(o)}>
                {t('common.delete')}
              </button>
            )}
          </span>
        ),
      },
    ],
    // setLock only closes over stable values.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [t, now, canUpdate, canDelete, canLock, memberOf],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('users.title')}</h1>
      <LiveTable
        url={`${AUTH_V1}/${R}`}
        columns={columns}
        label={t('users.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              {t('users.create')}
            </button>
          )
        }
      />
      {creating && <UserForm onClose={() => setCreating(false)} canBind={perms.can(checks.bind)} />}
      {editing && <UserForm user={editing} onClose={() => setEditing(null)} canBind={perms.can(checks.bind)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => str(o, 'spec', 'username')}
        title={t('users.deleteTitle')}
        message={(name) => t('users.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

/** Group display names by member (LocalIdentity name). */
export function groupsByUser(groups: KubeObject[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const g of groups) {
    for (const s of subjectsOf(g, 'status', 'users')) {
      const list = out.get(s.id) ?? [];
      list.push(str(g, 'spec', 'displayName') || g.metadata.name);
      out.set(s.id, list);
    }
  }
  return out;
}

type UF = 'username' | 'displayName' | 'email' | 'phoneNumber' | 'password' | 'confirm';

function UserForm({ user, onClose, canBind }: { user?: KubeObject; onClose: () => void; canBind: boolean }) {
  const { t } = useI18n();
  const toast = useToast();
  const groupsList = useLiveList(`${AUTH_V1}/localgroups`);
  const groups = groupsList.state ? [...groupsList.state.items.values()] : [];
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  // The groups the user is a member of when the form opened (read once the groups are listed).
  const [initialGroups, setInitialGroups] = useState<Set<string> | null>(null);
  if (initialGroups === null && groupsList.state && !groupsList.state.loading) {
    const mine = new Set(user ? groups.filter((g) => subjectsOf(g, 'status', 'users').some((s) => s.id === user.metadata.name)).map((g) => g.metadata.name) : []);
    setInitialGroups(mine);
    setChosen(mine);
  }

  const [confirmMismatch, setConfirmMismatch] = useState<string | undefined>();
  const form = useApiForm<UF>(
    {
      username: str(user, 'spec', 'username'),
      displayName: str(user, 'spec', 'displayName'),
      email: str(user, 'spec', 'email'),
      phoneNumber: str(user, 'spec', 'phoneNumber'),
      password: '',
      confirm: '',
    },
    {
      username: { validators: [required, username] },
      email: { validators: [email], optional: true },
      ...(user ? {} : { password: { validators: [required] } }),
    },
    { 'spec.username': 'username', 'spec.displayName': 'displayName', 'spec.email': 'email', 'spec.phoneNumber': 'phoneNumber', 'spec.hashedPassword': 'password' },
    async (v) => {
      if (v.password !== v.confirm) {
        setConfirmMismatch(t('users.passwordMismatch'));
        throw new Error(t('users.passwordMismatch'));
      }
      setConfirmMismatch(undefined);
      const spec: Record<string, unknown> = {
        ...((user?.spec as Record<string, unknown>) ?? {}),
        username: v.username.trim(),
        displayName: v.displayName,
        email: v.email.trim(),
        phoneNumber: v.phoneNumber.trim(),
      };
      delete spec.hashedPassword;
      if (v.password) spec.hashedPassword = b64(v.password);
      const saved = user
        ? await api.put<KubeObject>(`${AUTH_V1}/${R}/${encodeURIComponent(user.metadata.name)}`, { ...user, spec })
        : await api.post<KubeObject>(`${AUTH_V1}/${R}`, {
            apiVersion: 'auth.tkestack.io/v1',
            kind: 'LocalIdentity',
            metadata: { generateName: 'usr-' },
            spec,
          });
      // Membership lives in the groups: bind to the groups added, unbind from those removed.
      if (canBind) {
        const me: Subject = { id: saved.metadata.name, name: str(saved, 'spec', 'username') };
        for (const g of groups) {
          const name = g.metadata.name;
          const was = initialGroups?.has(name) ?? false;
          const now = chosen.has(name);
          if (was === now) continue;
          await requestJson(`${AUTH_V1}/localgroups/${encodeURIComponent(name)}/${now ? 'binding' : 'unbinding'}`, {
            method: 'POST',
            body: { apiVersion: 'auth.tkestack.io/v1', kind: 'Binding', users: [me] },
          });
        }
      }
      toast.success(t(user ? 'pages.saved' : 'pages.createdNamed', { name: str(saved, 'spec', 'username') }));
      onClose();
    },
  );
  const title = user ? t('users.edit', { name: str(user, 'spec', 'username') }) : t('users.create');
  return (
    <FormDialog
      id="user-form"
      title={title}
      onClose={onClose}
      busy={form.busy}
      submitLabel={user ? t('common.save') : t('common.create')}
      onSubmit={() => void form.submit()}
    >
      {user ? (
        <p className="field-hint">
          {t('users.username')}: {str(user, 'spec', 'username')}
        </p>
      ) : (
        <TextField label={t('users.username')} value={form.values.username} onChange={(v) => form.set('username', v)} error={form.error('username')} required autoComplete="off" />
      )}
      <TextField label={t('pages.displayName')} value={form.values.displayName} onChange={(v) => form.set('displayName', v)} error={form.error('displayName')} />
      <TextField label={t('users.email')} type="email" value={form.values.email} onChange={(v) => form.set('email', v)} error={form.error('email')} />
      <TextField label={t('users.phone')} value={form.values.phoneNumber} onChange={(v) => form.set('phoneNumber', v)} error={form.error('phoneNumber')} />
      <TextField
        label={user ? t('users.newPassword') : t('users.password')}
        hint={user ? t('users.keepPassword') : undefined}
        type="password"
        autoComplete="new-password"
        value={form.values.password}
        onChange={(v) => form.set('password', v)}
        error={form.error('password')}
        required={!user}
      />
      <TextField label={t('users.confirmPassword')} type="password" autoComplete="new-password" value={form.values.confirm} onChange={(v) => form.set('confirm', v)} error={confirmMismatch} />
      {canBind && groups.length > 0 && (
        <fieldset className="checks">
          <legend>{t('users.groups')}</legend>
          {groups.map((g) => {
            const name = g.metadata.name;
            const on = chosen.has(name);
            return (
              <label key={name} className="check">
                <input
                  type="checkbox"
                  checked={on}
                  onChange={() =>
                    setChosen((old) => {
                      const next = new Set(old);
                      if (on) next.delete(name);
                      else next.add(name);
                      return next;
                    })
                  }
                />
                {str(g, 'spec', 'displayName') || name}
              </label>
            );
          })}
        </fieldset>
      )}
      <FormError message={form.error('')} />
    </FormDialog>
  );
}
