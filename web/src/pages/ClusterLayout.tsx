// A cluster's pages share this frame: the cluster's name and phase, and its sub-menu (overview,
// nodes, machines, add-ons, the Kubernetes kinds reached through the cluster proxy).
import { NavLink, Outlet, useParams } from 'react-router';
import { useI18n } from '../i18n';
import { clusterKinds, platformKinds, str } from '../resources';
import { Phase } from '../ui/bits';
import { useLiveObject } from './DetailPage';
import { tkeKinds } from './TkeWorkloads';

const clusterRef = platformKinds[0]!.ref;

export function ClusterLayout() {
  const { t } = useI18n();
  const { cluster = '' } = useParams();
  const { obj } = useLiveObject(clusterRef, cluster);
  const base = `/tkestack/clusters/${encodeURIComponent(cluster)}`;
  return (
    <div className="cluster-layout">
      <nav className="subnav" aria-label={t('cluster.menu')}>
        <div className="subnav-head">
          <div className="subnav-name">{cluster}</div>
          {obj && <Phase phase={str(obj, 'status', 'phase')} />}
        </div>
        <ul>
          <li>
            <NavLink to={base} end>
              {t('cluster.overview')}
            </NavLink>
          </li>
          <li>
            <NavLink to={`${base}/nodes`}>{t('cluster.nodes')}</NavLink>
          </li>
          <li>
            <NavLink to={`${base}/machines`}>{t('cluster.machines')}</NavLink>
          </li>
          <li>
            <NavLink to={`${base}/lifecycle`}>{t('cluster.lifecycle')}</NavLink>
          </li>
          <li>
            <NavLink to={`${base}/addons`}>{t('cluster.addons')}</NavLink>
          </li>
          <li>
            <NavLink to={`${base}/apply`}>{t('apply.title')}</NavLink>
          </li>
          <li>
            <NavLink to={`${base}/alarms`}>{t('cluster.alarms')}</NavLink>
          </li>
          <li>
            <NavLink to={`${base}/logs`}>{t('cluster.logs')}</NavLink>
          </li>
        </ul>
        <div className="menu-title">{t('cluster.workloads')}</div>
        <ul>
          {clusterKinds
            .filter((k) => k.id !== 'nodes')
            .map((k) => (
              <li key={k.id}>
                <NavLink to={`${base}/r/${k.id}`}>{t(`kind.${k.id}` as 'kind.pods')}</NavLink>
              </li>
            ))}
        </ul>
        <div className="menu-title">{t('cluster.tkeKinds')}</div>
        <ul>
          {tkeKinds.map((k) => (
            <li key={k.id}>
              <NavLink to={`${base}/x/${k.id}`}>{t(`tke.${k.id}`)}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <div className="cluster-content">
        <Outlet />
      </div>
    </div>
  );
}
