// Pieces the identity, project and registry pages share: base64 of text as the auth API takes
// passwords, a copy-to-clipboard button, subjects (users and groups) as text, and the dialog
// that binds users and groups to a policy, role or group through its `binding` / `unbinding`
// subresources (the API checks each name exists in the tenant and answers which one did not).
import { useMemo, useState } from 'react';
import { requestJson } from '../api/client';
import { ApiError, messageOf } from '../api/errors';
import type { KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { useLiveList } from '../list/useLiveList';
import { arr, str } from '../resources';
import { Dialog } from '../ui/Dialog';
import { FormError, TextField } from '../ui/Form';
import { useToast } from '../ui/Toasts';

export const AUTH_V1 = '/apis/auth.tkestack.io/v1';
export const BUSINESS_V1 = '/apis/business.tkestack.io/v1';
export const REGISTRY_V1 = '/apis/registry.tkestack.io/v1';

/** Base64 of UTF-8 text (btoa alone takes only Latin-1). */
export function b64(text: string): string {
  let bin = '';
  for (const byte of new TextEncoder().encode(text)) bin += String.fromCharCode(byte);
  return btoa(bin);
}

export interface Subject {
  id: string;
  name: string;
}

export function subjectsOf(o: unknown, ...path: string[]): Subject[] {
  return arr(o, ...path).map((s) => ({ id: str(s, 'id'), name: str(s, 'name') }));
}

/** "alice, bob": names (or ids) of subjects. */
export function subjectNames(subjects: Subject[]): string {
  return subjects.map((s) => s.name || s.id).join(', ');
}

/** Comma- or newline-separated names, trimmed, blanks and repeats dropped. */
export function nameList(text: string): string[] {
  return [...new Set(text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean))];
}

export function CopyButton({ text, label, onCopied }: { text: string; label?: string; onCopied?: () => void }) {
  const { t } = useI18n();
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-small"
      onClick={() => {
        void navigator.clipboard
          ?.writeText(text)
          .then(() => {
            setDone(true);
            onCopied?.();
          })
          .catch(() => setDone(false));
      }}
    >
      {done ? t('pages.copied') : (label ?? t('pages.copy'))}
    </button>
  );
}

interface BindProps {
  /** The object's path; `binding` / `unbinding` are appended. */
  path: string;
  title: string;
  /** Current members (when not `live`). */
  users?: Subject[];
  groups?: Subject[];
  /** Watch the object (its collection and name) and read its members from it, so they update live. */
  live?: { collection: string; name: string; users: string[]; groups?: string[] };
  /** Whether groups can be bound too (not for a group's own members). */
  withGroups: boolean;
  canEdit: boolean;
  /** For a project-scoped policy: the subresources and the project header. */
  project?: string;
  onClose: () => void;
}

/** Shows who is bound and binds or unbinds users (by username) and groups (by name). */
export function BindDialog({ path, title, users: givenUsers = [], groups: givenGroups = [], live, withGroups, canEdit, project, onClose }: BindProps) {
  const { t } = useI18n();
  const liveName = live?.name;
  const query = useMemo(() => (liveName ? { fieldSelector: `metadata.name=${liveName}` } : undefined), [liveName]);
  const watched = useLiveList(live ? live.collection : null, query);
  const obj = watched.state ? [...watched.state.items.values()][0] : undefined;
  const users = live ? subjectsOf(obj, ...live.users) : givenUsers;
  const groups = live ? (live.groups ? subjectsOf(obj, ...live.groups) : []) : givenGroups;
  const toast = useToast();
  const [userText, setUserText] = useState('');
  const [groupText, setGroupText] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const sub = (bind: boolean) => (project ? (bind ? 'projectbinding' : 'projectunbinding') : bind ? 'binding' : 'unbinding');
  const send = (bind: boolean, body: { users: Subject[]; groups: Subject[] }) =>
    requestJson<KubeObject>(`${path}/${sub(bind)}`, {
      method: 'POST',
      body: { apiVersion: 'auth.tkestack.io/v1', kind: 'Binding', ...body },
      headers: project ? { 'X-TKE-ProjectName': project } : {},
    });
  const add = async () => {
    const body = {
      users: nameList(userText).map((name) => ({ id: '', name })),
      groups: withGroups ? nameList(groupText).map((name) => ({ id: '', name })) : [],
    };
    if (body.users.length === 0 && body.groups.length === 0) {
      setErrors({ users: t('bind.nothing') });
      return;
    }
    setBusy(true);
    setErrors({});
    try {
      await send(true, body);
      toast.success(t('bind.bound'));
      setUserText('');
      setGroupText('');
    } catch (e) {
      const out: Record<string, string> = {};
      if (e instanceof ApiError) {
        for (const [f, m] of Object.entries(e.fieldErrors())) {
          const i = /^(users|groups)\[(\d+)\]/.exec(f);
          const key = i ? (i[1] as string) : '';
          const who = i ? (i[1] === 'users' ? body.users : body.groups)[Number(i[2])] : undefined;
          const text = who ? `${who.name || who.id}: ${m}` : m;
          out[key] = out[key] ? `${out[key]}; ${text}` : text;
        }
        if (Object.keys(out).length === 0) out[''] = e.message;
      } else out[''] = messageOf(e);
      setErrors(out);
    } finally {
      setBusy(false);
    }
  };
  const remove = async (kind: 'users' | 'groups', s: Subject) => {
    try {
      await send(false, kind === 'users' ? { users: [s], groups: [] } : { users: [], groups: [s] });
      toast.success(t('bind.unbound', { name: s.name || s.id }));
    } catch (e) {
      toast.error(e);
    }
  };
  const list = (kind: 'users' | 'groups', items: Subject[]) => (
    <section>
      <h3>{kind === 'users' ? t('bind.users') : t('bind.groups')}</h3>
      {items.length === 0 ? (
        <p className="field-hint">{t('bind.none')}</p>
      ) : (
        <ul className="member-list">
          {items.map((s) => (
            <li key={`${s.id}/${s.name}`}>
              <span>{s.name || s.id}</span>
              {canEdit && (
                <button type="button" className="btn btn-small btn-danger-text" onClick={() => void remove(kind, s)}>
                  {t('bind.remove')}
                  <span className="visually-hidden"> {s.name || s.id}</span>
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
  return (
    <Dialog
      open
      wide
      title={title}
      onClose={onClose}
      footer={
        <button type="button" className="btn" onClick={onClose}>
          {t('pages.close')}
        </button>
      }
    >
      {list('users', users)}
      {withGroups && list('groups', groups)}
      {canEdit && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void add();
          }}
        >
          <TextField label={t('bind.addUsers')} hint={t('bind.namesHint')} value={userText} onChange={setUserText} error={errors.users} />
          {withGroups && (
            <TextField label={t('bind.addGroups')} hint={t('bind.groupsHint')} value={groupText} onChange={setGroupText} error={errors.groups} />
          )}
          <FormError message={errors['']} />
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.working') : t('bind.add')}
          </button>
        </form>
      )}
    </Dialog>
  );
}
