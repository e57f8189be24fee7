// The add-on catalogue (ClusterAddonTypes: list and get only, so listed again every 30 s).
import { useMemo } from 'react';
import { PLATFORM, type KubeObject } from '../api/kube';
import { useI18n } from '../i18n';
import { LiveTable, type Column } from '../list/LiveTable';
import { str } from '../resources';

export function AddonTypesPage() {
  const { t } = useI18n();
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      { id: 'name', header: t('common.name'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'type', header: t('common.type'), value: (o) => str(o, 'type') || str(o, 'spec', 'type'), width: '1fr' },
      { id: 'version', header: t('common.version'), value: (o) => str(o, 'latestVersion'), width: '0.6fr' },
      { id: 'level', header: t('addons.level'), value: (o) => str(o, 'level'), width: '0.6fr' },
      { id: 'desc', header: t('common.description'), value: (o) => str(o, 'description') || str(o, 'spec', 'description'), width: '3fr' },
    ],
    [t],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('menu.addonTypes')}</h1>
      <LiveTable url={`/apis/${PLATFORM}/v1/clusteraddontypes`} columns={columns} label={t('menu.addonTypes')} pollMs={30000} />
    </div>
  );
}
