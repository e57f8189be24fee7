// The generic page of one object: its summary (name, namespace, age, labels, annotations,
// conditions), live through a watch of that one name; its YAML to read, edit (PUT, the API's
// error shown) and delete with confirmation. Kind-specific pages add sections as children.
import { useMemo, useState, type ReactNode } from 'react';
import { useNavigate } from 'react-router';
import { usePermissions, type Check } from '../api/authz';
import { api } from '../api/client';
import { messageOf } from '../api/errors';
import { collectionPath, objectPath, type KubeObject, type ResourceRef } from '../api/kube';
import { YamlEditor, useSchemaCheck } from '../editor';
import { useI18n } from '../i18n';
import { useLiveList } from '../list/useLiveList';
import { conditions } from '../resources';
import { ConfirmDialog } from '../ui/Dialog';
import { useToast } from '../ui/Toasts';
import { parseOne, toYaml } from '../yamlText';
import { Conditions, Labels, Timestamp } from '../ui/bits';

interface Props {
  ref_: ResourceRef;
  kind: string;
  name: string;
  namespace?: string;
  /** Where to go after deleting. */
  backTo: string;
  /** Kind-specific sections, given the live object. */
  extra?: (o: KubeObject) => ReactNode;
  /** How the read-only YAML view shows the object (a Secret's values masked). */
  viewTransform?: (o: KubeObject) => KubeObject;
  /** Extra action buttons, given the live object. */
  actions?: (o: KubeObject) => ReactNode;
}

/** One object kept live: a watch of its name in its collection. */
export function useLiveObject(ref: ResourceRef, name: string, namespace?: string) {
  const query = useMemo(() => ({ fieldSelector: `metadata.name=${name}` }), [name]);
  const { state, version } = useLiveList(collectionPath(ref, namespace ?? ''), query);
  const obj = state ? [...state.items.values()][0] : undefined;
  return { obj, state, version };
}

export function DetailPage({ ref_, kind, name, namespace, backTo, extra, actions, viewTransform }: Props) {
  const { t } = useI18n();
  const toast = useToast();
  const navigate = useNavigate();
  const { obj, state } = useLiveObject(ref_, name, namespace);
  const checks = useMemo<Check[]>(
    () => [
      { verb: 'update', group: ref_.group, resource: ref_.resource, namespace: namespace ?? '', name },
      { verb: 'delete', group: ref_.group, resource: ref_.resource, namespace: namespace ?? '', name },
    ],
    [ref_, namespace, name],
  );
  const perms = usePermissions(checks, ref_.cluster);
  const [tab, setTab] = useState<'summary' | 'yaml'>('summary');
  const [editing, setEditing] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const path = objectPath(ref_, name, namespace ?? '');
  const schemaCheck = useSchemaCheck(ref_.cluster, editing !== null);

  const save = async () => {
    if (editing === null) return;
    setSaving(true);
    setSaveError(null);
    try {
      const body = parseOne(editing);
      await api.put(path, body);
      toast.success(t('detail.saved', { kind, name }));
      setEditing(null);
    } catch (e) {
      setSaveError(messageOf(e));
    } finally {
      setSaving(false);
    }
  };

  const canUpdate = perms.can(checks[0] as Check);
  const canDelete = perms.can(checks[1] as Check);
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <div className="page-kind">{kind}</div>
          <h1 className="page-title">{name}</h1>
          {namespace && <div className="page-sub">{t('common.namespace')}: {namespace}</div>}
        </div>
        <div className="page-actions">
          {obj && actions?.(obj)}
          {canDelete && (
            <button type="button" className="btn btn-danger" onClick={() => setConfirmDelete(true)} disabled={!obj}>
              {t('common.delete')}
            </button>
          )}
        </div>
      </div>
      {state?.error && (
        <p className="form-error" role="alert">
          {state.error.message}
        </p>
      )}
      {!obj && !state?.loading && !state?.error && <p>{t('detail.gone', { kind, name })}</p>}
      {obj && (
        <>
          <div className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={tab === 'summary'} className="tab" onClick={() => setTab('summary')}>
              {t('detail.summary')}
            </button>
            <button type="button" role="tab" aria-selected={tab === 'yaml'} className="tab" onClick={() => setTab('yaml')}>
              YAML
            </button>
          </div>
          {tab === 'summary' && (
            <div role="tabpanel">
              <dl className="props">
                <dt>{t('common.created')}</dt>
                <dd>
                  <Timestamp ts={obj.metadata.creationTimestamp} />
                </dd>
                {obj.metadata.deletionTimestamp && (
                  <>
                    <dt>{t('detail.deleting')}</dt>
                    <dd>
                      <Timestamp ts={obj.metadata.deletionTimestamp} />
                    </dd>
                  </>
                )}
                <dt>{t('common.labels')}</dt>
                <dd>
                  <Labels map={obj.metadata.labels} />
                </dd>
                <dt>{t('common.annotations')}</dt>
                <dd>
                  <Labels map={obj.metadata.annotations} />
                </dd>
              </dl>
              {conditions(obj).length > 0 && <Conditions items={conditions(obj)} />}
              {extra?.(obj)}
            </div>
          )}
          {tab === 'yaml' && (
            <div role="tabpanel">
              <div className="editor-actions">
                {editing === null ? (
                  canUpdate && (
                    <button type="button" className="btn btn-primary" onClick={() => setEditing(toYaml(obj))}>
                      {t('common.edit')}
                    </button>
                  )
                ) : (
                  <>
                    <button type="button" className="btn btn-primary" onClick={save} disabled={saving}>
                      {saving ? t('common.working') : t('common.save')}
                    </button>
                    <button type="button" className="btn" onClick={() => (setEditing(null), setSaveError(null))}>
                      {t('common.cancel')}
                    </button>
                  </>
                )}
              </div>
              {saveError && (
                <p className="form-error" role="alert">
                  {saveError}
                </p>
              )}
              {editing === null ? (
                <YamlEditor value={toYaml(viewTransform ? viewTransform(obj) : obj)} readOnly label={t('detail.yamlOf', { kind, name })} />
              ) : (
                <YamlEditor value={editing} onChange={setEditing} check={schemaCheck} label={t('detail.yamlOf', { kind, name })} />
              )}
            </div>
          )}
        </>
      )}
      <ConfirmDialog
        open={confirmDelete}
        title={t('detail.deleteTitle', { kind })}
        message={t('detail.deleteMessage', { kind, name })}
        confirmLabel={t('common.delete')}
        onClose={() => setConfirmDelete(false)}
        onConfirm={async () => {
          await api.del(path);
          toast.success(t('detail.deleted', { kind, name }));
          navigate(backTo);
        }}
      />
    </div>
  );
}
