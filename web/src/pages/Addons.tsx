// A cluster's add-ons: the rows of clusters/{name}/addons (type, version, phase, reason, retries;
// read again every 5 s since the subresource cannot be watched), the catalogue of what may be
// installed (clusters/{name}/addontypes), install (create the add-on's object), upgrade (change
// its spec.version) and remove (delete it; the controller uninstalls).
import { useCallback, useEffect, useMemo, useState } from 'react';
import { useParams } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { PLATFORM } from '../api/kube';
import { useI18n } from '../i18n';
import { str, num } from '../resources';
import { Phase } from '../ui/bits';
import { ConfirmDialog, Dialog } from '../ui/Dialog';
import { FormError, SelectField, useApiForm } from '../ui/Form';
import { useToast } from '../ui/Toasts';
import { required } from '../ui/validation';

interface AddonRow {
  name: string;
  type: string;
  version: string;
  phase: string;
  reason: string;
  retryCount: number;
}
interface AddonType {
  type: string;
  latestVersion: string;
  description: string;
  level: string;
  versions: string[];
}

/** The add-on object's plural resource from its type: CronHPA → cronhpas, Prometheus → prometheuses. */
export function addonResource(type: string): string {
  const l = type.toLowerCase();
  return l.endsWith('s') ? `${l}es` : `${l}s`;
}

const POLL_MS = 5000;

export function AddonsPage() {
  const { cluster = '' } = useParams();
  const { t } = useI18n();
  const toast = useToast();
  const base = `/apis/${PLATFORM}/v1/clusters/${encodeURIComponent(cluster)}`;
  const [rows, setRows] = useState<AddonRow[] | null>(null);
  const [types, setTypes] = useState<AddonType[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [installing, setInstalling] = useState(false);
  const [upgrading, setUpgrading] = useState<AddonRow | null>(null);
  const [removing, setRemoving] = useState<AddonRow | null>(null);

  const load = useCallback(async () => {
    try {
      const list = await api.get<{ items?: unknown[] }>(`${base}/addons`);
      setRows(
        (list.items ?? []).map((a) => ({
          name: str(a, 'name'),
          type: str(a, 'type'),
          version: str(a, 'version'),
          phase: str(a, 'phase'),
          reason: str(a, 'reason'),
          retryCount: num(a, 'retryCount'),
        })),
      );
      setError(null);
    } catch (e) {
      setError(messageOf(e));
    }
  }, [base]);

  useEffect(() => {
    void load();
    const id = setInterval(() => void load(), POLL_MS);
    api
      .get<{ items?: unknown[] }>(`${base}/addontypes`)
      .then((l) =>
        setTypes(
          (l.items ?? []).map((x) => ({
            type: str(x, 'type'),
            latestVersion: str(x, 'latestVersion'),
            description: str(x, 'description'),
            level: str(x, 'level'),
            versions: Array.isArray((x as { versions?: unknown }).versions) ? ((x as { versions: string[] }).versions) : [str(x, 'latestVersion')],
          })),
        ),
      )
      .catch(() => setTypes([]));
    return () => clearInterval(id);
  }, [base, load]);

  const resources = useMemo(() => [...new Set(types.map((x) => addonResource(x.type)))], [types]);
  const checks = useMemo<Check[]>(
    () => resources.flatMap((r) => ['create', 'update', 'delete'].map((verb) => ({ verb, group: PLATFORM, resource: r }))),
    [resources],
  );
  const perms = usePermissions(checks);
  const can = (verb: string, type: string) => perms.can({ verb, group: PLATFORM, resource: addonResource(type) });
  const installed = new Set((rows ?? []).map((r) => r.type));
  const installable = types.filter((x) => !installed.has(x.type) && can('create', x.type));

  return (
    <div className="page">
      <div className="page-head">
        <h1 className="page-title">{t('cluster.addons')}</h1>
        {installable.length > 0 && (
          <button type="button" className="btn btn-primary" onClick={() => setInstalling(true)}>
            {t('addons.install')}
          </button>
        )}
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {rows === null ? (
        <p>{t('common.loading')}</p>
      ) : rows.length === 0 ? (
        <p>{t('addons.none')}</p>
      ) : (
        <table className="simple-table card">
          <thead>
            <tr>
              <th scope="col">{t('common.type')}</th>
              <th scope="col">{t('common.name')}</th>
              <th scope="col">{t('common.version')}</th>
              <th scope="col">{t('common.phase')}</th>
              <th scope="col">{t('common.reason')}</th>
              <th scope="col">{t('addons.retries')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.type}/${r.name}`}>
                <td>{r.type}</td>
                <td>{r.name}</td>
                <td>{r.version}</td>
                <td>
                  <Phase phase={r.phase} />
                </td>
                <td>{r.reason}</td>
                <td>{r.retryCount}</td>
                <td className="row-actions">
                  {can('update', r.type) && (
                    <button type="button" className="btn btn-small" onClick={() => setUpgrading(r)}>
                      {t('addons.upgrade')}
                    </button>
                  )}
                  {can('delete', r.type) && (
                    <button type="button" className="btn btn-small btn-danger-text" onClick={() => setRemoving(r)}>
                      {t('addons.remove')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {installing && (
        <VersionDialog
          title={t('addons.install')}
          types={installable}
          onClose={() => setInstalling(false)}
          onSubmit={async (type, version) => {
            await api.post(`/apis/${PLATFORM}/v1/${addonResource(type)}`, {
              apiVersion: `${PLATFORM}/v1`,
              kind: type,
              metadata: { generateName: `${type.toLowerCase()}-` },
              spec: { clusterName: cluster, version },
            });
            toast.success(t('addons.installing', { type }));
            void load();
          }}
        />
      )}
      {upgrading && (
        <VersionDialog
          title={t('addons.upgradeTitle', { name: upgrading.name })}
          types={types.filter((x) => x.type === upgrading.type)}
          onClose={() => setUpgrading(null)}
          onSubmit={async (type, version) => {
            await api.patch(`/apis/${PLATFORM}/v1/${addonResource(type)}/${encodeURIComponent(upgrading.name)}`, { spec: { version } });
            toast.success(t('addons.upgrading', { name: upgrading.name, version }));
            void load();
          }}
        />
      )}
      <ConfirmDialog
        open={removing !== null}
        title={t('addons.removeTitle')}
        message={t('addons.removeMessage', { name: removing?.name ?? '', type: removing?.type ?? '' })}
        confirmLabel={t('addons.remove')}
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          if (!removing) return;
          await api.del(`/apis/${PLATFORM}/v1/${addonResource(removing.type)}/${encodeURIComponent(removing.name)}`);
          toast.success(t('addons.removing', { name: removing.name }));
          void load();
        }}
      />
    </div>
  );
}

function VersionDialog({
  title,
  types,
  onClose,
  onSubmit,
}: {
  title: string;
  types: AddonType[];
  onClose: () => void;
  onSubmit: (type: string, version: string) => Promise<void>;
}) {
  const { t } = useI18n();
  const first = types[0];
  const form = useApiForm<'type' | 'version'>(
    { type: first?.type ?? '', version: first?.latestVersion ?? '' },
    { type: { validators: [required] }, version: { validators: [required] } },
    { 'spec.version': 'version', 'spec.clusterName': 'type' },
    async (v) => {
      await onSubmit(v.type, v.version);
      onClose();
    },
  );
  const chosen = types.find((x) => x.type === form.values.type);
  const versions = chosen ? [...new Set([...chosen.versions, chosen.latestVersion].filter(Boolean))] : [];
  return (
    <Dialog
      open
      title={title}
      onClose={onClose}
      footer={
        <>
          <button type="button" className="btn" onClick={onClose}>
            {t('common.cancel')}
          </button>
          <button type="submit" form="addon-form" className="btn btn-primary" disabled={form.busy}>
            {form.busy ? t('common.working') : t('common.confirm')}
          </button>
        </>
      }
    >
      <form
        id="addon-form"
        onSubmit={(e) => {
          e.preventDefault();
          void form.submit();
        }}
      >
        <SelectField
          label={t('common.type')}
          value={form.values.type}
          onChange={(v) => {
            form.set('type', v);
            form.set('version', types.find((x) => x.type === v)?.latestVersion ?? '');
          }}
          options={types.map((x) => ({ value: x.type, label: `${x.type} (${x.level})` }))}
          error={form.error('type')}
        />
        {chosen && <p className="hint">{chosen.description}</p>}
        <SelectField label={t('common.version')} value={form.values.version} onChange={(v) => form.set('version', v)} options={versions.map((v) => ({ value: v, label: v }))} error={form.error('version')} />
        <FormError message={form.error('')} />
      </form>
    </Dialog>
  );
}
