// Projects (business.tkestack.io Project): live list with phase, clusters, members and parent;
// create for users allowed to. Each project opens its page (quota, members, sub-projects,
// namespaces).
import { useMemo, useState } from 'react';
import { Link } from 'react-router';
import { usePermissions, type Check } from '../../api/authz';
import { type KubeObject } from '../../api/kube';
import { BUSINESS_V1 } from '../../access/shared';
import { BUSINESS } from '../../business/quota';
import { useI18n } from '../../i18n';
import { LiveTable, type Column } from '../../list/LiveTable';
import { useNow } from '../../list/useLiveList';
import { arr, field, str } from '../../resources';
import { Phase } from '../../ui/bits';
import { ProjectForm } from './ProjectForm';
import { ageColumn } from '../../list/columns';

/** What the search box matches besides the object's name. */
const searchText = (o: KubeObject) => str(o, 'spec', 'displayName');

const createCheck: Check = { verb: 'create', group: BUSINESS, resource: 'projects' };

export function projectClusters(o: KubeObject): string[] {
  const c = field(o, 'spec', 'clusters');
  return c && typeof c === 'object' ? Object.keys(c) : [];
}

export function ProjectsPage() {
  const { t } = useI18n();
  const now = useNow();
  const perms = usePermissions(useMemo(() => [createCheck], []));
  const [creating, setCreating] = useState(false);
  const columns = useMemo<Column<KubeObject>[]>(
    () => [
      {
        id: 'display',
        header: t('pages.displayName'),
        value: (o) => str(o, 'spec', 'displayName'),
        render: (o) => <Link to={`/tkestack/projects/${encodeURIComponent(o.metadata.name)}`}>{str(o, 'spec', 'displayName') || o.metadata.name}</Link>,
        width: '1.4fr',
      },
      { id: 'name', header: t('pages.id'), value: (o) => o.metadata.name, width: '1fr' },
      { id: 'phase', header: t('common.phase'), value: (o) => str(o, 'status', 'phase'), render: (o) => <Phase phase={str(o, 'status', 'phase')} />, width: '0.7fr' },
      { id: 'clusters', header: t('projects.clusters'), value: (o) => projectClusters(o).join(', '), width: '1.2fr' },
      { id: 'members', header: t('projects.members'), value: (o) => arr(o, 'spec', 'members').join(', '), width: '1.2fr' },
      { id: 'parent', header: t('projects.parent'), value: (o) => str(o, 'spec', 'parentProjectName'), width: '0.8fr' },
      ageColumn(t('common.age'), now),
    ],
    [t, now],
  );
  return (
    <div className="page">
      <h1 className="page-title">{t('projects.title')}</h1>
      <LiveTable
        url={`${BUSINESS_V1}/projects`}
        columns={columns}
        label={t('projects.title')}
        searchText={searchText}
        toolbar={
          perms.can(createCheck) && (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              {t('projects.create')}
            </button>
          )
        }
      />
      {creating && <ProjectForm onClose={() => setCreating(false)} />}
    </div>
  );
}
