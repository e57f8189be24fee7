// The header's project switcher for business users (not administrators): the projects the
// portal lists, the chosen one remembered; choosing one opens that project's page.
import { useNavigate } from 'react-router';
import { useI18n } from '../i18n';
// The new pages' styles, in the first bundle with the header that uses some of them.
import '../styles/pages.css';
import { useSession } from '../session';
import { setCurrentProject, useCurrentProject, usePortal } from './portal';

export function ProjectSwitcher() {
  const { t } = useI18n();
  const { sysinfo } = useSession();
  const navigate = useNavigate();
  const { portal } = usePortal(sysinfo.business !== undefined);
  const current = useCurrentProject();
  if (!portal || portal.administrator) return null;
  const ids = Object.keys(portal.projects).sort();
  if (ids.length === 0) return <span className="project-switch field-hint">{t('portal.noProject')}</span>;
  return (
    <label className="project-switch">
      <span className="visually-hidden">{t('portal.project')}</span>
      <select
        aria-label={t('portal.project')}
        value={current}
        onChange={(e) => {
          setCurrentProject(e.target.value);
          navigate(`/tkestack/projects/${encodeURIComponent(e.target.value)}`);
        }}
      >
        {ids.map((id) => (
          <option key={id} value={id}>
            {portal.projects[id] || id}
          </option>
        ))}
      </select>
    </label>
  );
}
