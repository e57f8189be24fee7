// Tenants (IdentityProvider, one per tenant): where a tenant's people live — kept by the
// platform (tke), an LDAP directory or an upstream OpenID provider — and its administrators.
// Live list; create, edit (the type is fixed once created) with the provider's settings, whose
// secrets are write-only (left empty = kept); delete.
import { useMemo, useState } from 'react';
import { usePermissions, type Check } from '../../api/authz';
import { api } from '../../api/client';
import { type KubeObject } from '../../api/kube';
import { AUTH } from '../../access/policy';
import { AUTH_V1, nameList } from '../../access/shared';
import { CONFIG_FIELDS, configText, configValues, parseConfig, type TenantType } from '../../access/tenant';
import { useI18n, type Key } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useNow } from '../../list/useLiveList';
import { arr, str } from '../../resources';
import { FormDialog } from '../../ui/Dialog';
import { FormError, SelectField, TextField } from '../../ui/Form';
import { useToast } from '../../ui/Toasts';
import { ApiError, messageOf } from '../../api/errors';
import { dnsLabel, required } from '../../ui/validation';
import { ageColumn } from '../../list/columns';
import { DeleteDialog } from '../../ui/DeleteDialog';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => str(o, 'spec', 'name');

const R = 'identityproviders';
const checks: Record<'create' | 'update' | 'delete', Check> = {
  create: { verb: 'create', group: AUTH, resource: R },
  update: { verb: 'update', group: AUTH, resource: R },
  delete: { verb: 'delete', group: AUTH, resource: R },
};

export function TenantsPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => Object.values(checks), []));
  const [form, setForm] = useState<{ idp?: KubeObject } | null>(null);
  const [deleting, setDeleting] = useState<KubeObject | null>(null);
  const canUpdate = perms.can(checks.update);
  const canDelete = perms.can(checks.delete);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'name', header: t('tenants.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'display', header: t('pages.displayName'), value: (o) => str(o, 'spec', 'name'), width: '1.2fr' },
      { id: 'type', header: t('common.type'), value: (o) => str(o, 'spec', 'type'), width: '0.6fr' },
      { id: 'admins', header: t('tenants.administrators'), value: (o) => arr(o, 'spec', 'administrators').join(', '), width: '1.4fr' },
      ageColumn(t('common.age'), now),
      {
        id: 'ops',
        header: t('common.actions'),
        sortable: false,
        value: () => '',
        width: '1.1fr',
        render: (o) => (
          <span className="row-actions">
            {canUpdate && (
              <button type="button" className="btn btn-small" onClick={() => setForm({ idp: o })}>
                {t('common.edit')}
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
    [t, now, canUpdate, canDelete],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('tenants.title')}</h1>
      <LiveTable
        url={`${AUTH_V1}/${R}`}
        columns={columns}
        label={t('tenants.title')}
        searchText={searchText}
        toolbar={
          perms.can(checks.create) && (
            <button type="button" className="btn btn-primary" onClick={() => setForm({})}>
              {t('tenants.create')}
            </button>
          )
        }
      />
      {form && <TenantForm idp={form.idp} onClose={() => setForm(null)} />}
      <DeleteDialog
        target={deleting}
        url={(o) => `${AUTH_V1}/${R}/${encodeURIComponent(o.metadata.name)}`}
        shownName={(o) => o.metadata.name}
        title={t('tenants.deleteTitle')}
        message={(name) => t('tenants.deleteMessage', { name })}
        onClose={() => setDeleting(null)}
      />
    </div>
  );
}

const fieldLabel: Record<string, Key> = {
  host: 'tenants.ldapHost',
  insecureNoSSL: 'tenants.insecureNoSSL',
  bindDN: 'tenants.bindDN',
  bindPW: 'tenants.bindPW',
  userBaseDN: 'tenants.userBaseDN',
  userFilter: 'tenants.userFilter',
  userAttr: 'tenants.userAttr',
  groupBaseDN: 'tenants.groupBaseDN',
  groupFilter: 'tenants.groupFilter',
  issuer: 'tenants.issuer',
  clientID: 'tenants.clientID',
  clientSecret: 'tenants.clientSecret',
  redirectURI: 'tenants.redirectURI',
  scopes: 'tenants.scopes',
};

function TenantForm({ idp, onClose }: { idp?: KubeObject; onClose: () => void }) {
  const { t } = useI18n();
  const toast = useToast();
  const base = useMemo(() => parseConfig(str(idp, 'spec', 'config')), [idp]);
  const [type, setType] = useState<TenantType>((str(idp, 'spec', 'type') || 'tke') as TenantType);
  const [name, setName] = useState(idp?.metadata.name ?? '');
  const [display, setDisplay] = useState(str(idp, 'spec', 'name'));
  const [admins, setAdmins] = useState(arr(idp, 'spec', 'administrators').join(', '));
  const [config, setConfig] = useState<Record<string, string>>(() => ({
    ...configValues('ldap', base),
    ...configValues('oidc', base),
  }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const save = async () => {
    const local: Record<string, string> = {};
    const nameErr = idp ? null : (required(name) ?? dnsLabel(name));
    if (nameErr) local.name = nameErr;
    if (Object.keys(local).length) {
      setErrors(local);
      return;
    }
    setBusy(true);
    setErrors({});
    const spec = {
      ...((idp?.spec as Record<string, unknown>) ?? {}),
      name: display,
      type,
      administrators: nameList(admins),
      config: configText(type, config, base),
    };
    delete (spec as { secrets?: unknown }).secrets;
    try {
      if (idp) await api.put(`${AUTH_V1}/${R}/${encodeURIComponent(idp.metadata.name)}`, { ...idp, spec });
      else await api.post(`${AUTH_V1}/${R}`, { apiVersion: 'auth.tkestack.io/v1', kind: 'IdentityProvider', metadata: { name }, spec });
      toast.success(t(idp ? 'pages.saved' : 'pages.createdNamed', { name: idp?.metadata.name ?? name }));
      onClose();
    } catch (e) {
      const out: Record<string, string> = {};
      if (e instanceof ApiError) {
        for (const [f, m] of Object.entries(e.fieldErrors())) {
          const key =
            f === 'metadata.name'
              ? 'name'
              : f === 'spec.name'
                ? 'display'
                : f.startsWith('spec.administrators')
                  ? 'admins'
                  : f === 'spec.type'
                    ? 'type'
                    : f.startsWith('spec.config')
                      ? 'config'
                      : '';
          out[key] = out[key] ? `${out[key]}; ${m}` : m;
        }
        if (!out['']) out[''] = e.message;
      } else out[''] = messageOf(e);
      setErrors(out);
    } finally {
      setBusy(false);
    }
  };
  return (
    <FormDialog
      id="tenant-form"
      title={idp ? t('tenants.edit', { name: idp.metadata.name }) : t('tenants.create')}
      onClose={onClose}
      wide
      busy={busy}
      submitLabel={idp ? t('common.save') : t('common.create')}
      onSubmit={() => void save()}
    >
      {!idp && <TextField label={t('tenants.id')} value={name} onChange={setName} error={errors.name} hint={t('tenants.idHint')} required />}
      <TextField label={t('pages.displayName')} value={display} onChange={setDisplay} error={errors.display} />
      {idp ? (
        <p className="field-hint">
          {t('common.type')}: {type}
        </p>
      ) : (
        <SelectField
          label={t('common.type')}
          value={type}
          onChange={(v) => setType(v as TenantType)}
          error={errors.type}
          options={[
            { value: 'tke', label: t('tenants.typeTke') },
            { value: 'ldap', label: t('tenants.typeLdap') },
            { value: 'oidc', label: t('tenants.typeOidc') },
          ]}
        />
      )}
      <TextField label={t('tenants.administrators')} value={admins} onChange={setAdmins} error={errors.admins} hint={t('bind.namesHint')} />
      {type !== 'tke' && (
        <fieldset className="config-fields">
          <legend>{t('tenants.config')}</legend>
          {CONFIG_FIELDS[type].map((f) =>
            f.bool ? (
              <label key={f.key} className="check">
                <input type="checkbox" checked={config[f.key] === 'true'} onChange={(e) => setConfig((c) => ({ ...c, [f.key]: String(e.target.checked) }))} />
                {t(fieldLabel[f.key] as Key)}
              </label>
            ) : (
              <TextField
                key={f.key}
                label={t(fieldLabel[f.key] as Key)}
                type={f.secret ? 'password' : 'text'}
                autoComplete={f.secret ? 'new-password' : 'off'}
                hint={f.secret ? (idp ? t('tenants.secretKeep') : t('tenants.secretWriteOnly')) : undefined}
                value={config[f.key] ?? ''}
                onChange={(v) => setConfig((c) => ({ ...c, [f.key]: v }))}
              />
            ),
          )}
          {errors.config && <div className="field-error">{errors.config}</div>}
        </fieldset>
      )}
      <FormError message={errors['']} />
    </FormDialog>
  );
}
