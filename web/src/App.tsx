// The console's routes. Every page lives under /tkestack (the server answers index.html there);
// pages are grouped by component, each behind the shell.
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import { Shell } from './Shell';
import { SessionProvider } from './session';
import { AddonTypesPage } from './pages/AddonTypes';
import { AddonsPage } from './pages/Addons';
import { ApplyYamlPage } from './pages/ApplyYaml';
import { ClusterImportPage } from './pages/ClusterImport';
import { ClusterCreatePage } from './pages/ClusterCreate';
import { ClusterLifecyclePage } from './pages/ClusterLifecycle';
import { TkeObjectPage, TkeResourcesPage } from './pages/TkeWorkloads';
import { MachinePage } from './pages/MachinePage';
import { MachinesPage } from './pages/Machines';
import { TerminalPage } from './pages/TerminalPage';
import { ClusterLayout } from './pages/ClusterLayout';
import { ClusterObjectPage } from './pages/ClusterObject';
import { ClusterOverviewPage } from './pages/ClusterOverview';
import { ClusterResourcesPage } from './pages/ClusterResources';
import { ClustersPage } from './pages/Clusters';
import { NodesPage } from './pages/Nodes';
import { NotFound } from './pages/NotFound';
import { Overview } from './pages/Overview';

const router = createBrowserRouter([
  { path: '/', element: <Navigate to="/tkestack" replace /> },
  {
    path: '/tkestack',
    element: (
      <SessionProvider>
        <Shell />
      </SessionProvider>
    ),
    children: [
      { index: true, element: <Overview /> },
      { path: 'clusters', element: <ClustersPage /> },
      { path: 'clusters/import', element: <ClusterImportPage /> },
      { path: 'clusters/create', element: <ClusterCreatePage /> },
      { path: 'machines/:name', element: <MachinePage /> },
      { path: 'addon-types', element: <AddonTypesPage /> },
      {
        path: 'clusters/:cluster',
        element: <ClusterLayout />,
        children: [
          { index: true, element: <ClusterOverviewPage /> },
          { path: 'nodes', element: <NodesPage /> },
          { path: 'machines', element: <MachinesPage /> },
          { path: 'addons', element: <AddonsPage /> },
          { path: 'terminal', element: <TerminalPage /> },
          { path: 'apply', element: <ApplyYamlPage /> },
          { path: 'r/:kind', element: <ClusterResourcesPage /> },
          { path: 'r/:kind/:namespace/:name', element: <ClusterObjectPage /> },
          { path: 'lifecycle', element: <ClusterLifecyclePage /> },
          { path: 'x/:kind', element: <TkeResourcesPage /> },
          { path: 'x/:kind/:namespace/:name', element: <TkeObjectPage /> },
          { path: 'alarms', lazy: async () => ({ Component: (await import('./monitor/AlarmPolicies')).AlarmPoliciesPage }) },
          { path: 'logs', lazy: async () => ({ Component: (await import('./logs/LogRules')).LogRulesPage }) },
        ],
      },
      // Identity & access, projects and the registry load when first opened.
      { path: 'access/users', lazy: async () => ({ Component: (await import('./pages/access/Users')).UsersPage }) },
      { path: 'access/groups', lazy: async () => ({ Component: (await import('./pages/access/Groups')).GroupsPage }) },
      { path: 'access/tenants', lazy: async () => ({ Component: (await import('./pages/access/Tenants')).TenantsPage }) },
      { path: 'access/policies', lazy: async () => ({ Component: (await import('./pages/access/Policies')).PoliciesPage }) },
      { path: 'access/roles', lazy: async () => ({ Component: (await import('./pages/access/Roles')).RolesPage }) },
      { path: 'access/apikeys', lazy: async () => ({ Component: (await import('./pages/access/ApiKeys')).ApiKeysPage }) },
      { path: 'projects', lazy: async () => ({ Component: (await import('./pages/business/Projects')).ProjectsPage }) },
      { path: 'projects/:name', lazy: async () => ({ Component: (await import('./pages/business/ProjectPage')).ProjectPage }) },
      { path: 'registry', lazy: async () => ({ Component: (await import('./pages/registry/Registry')).RegistryPage }) },
      { path: 'registry/:ns', lazy: async () => ({ Component: (await import('./pages/registry/Registry')).RegistryNamespacePage }) },
      { path: 'charts', lazy: async () => ({ Component: (await import('./pages/registry/Charts')).ChartGroupsPage }) },
      { path: 'charts/:group', lazy: async () => ({ Component: (await import('./pages/registry/Charts')).ChartGroupPage }) },
      { path: 'notify/inbox', lazy: async () => ({ Component: (await import('./pages/notify/Inbox')).InboxPage }) },
      { path: 'notify/channels', lazy: async () => ({ Component: (await import('./pages/notify/Channels')).ChannelsPage }) },
      { path: 'notify/templates', lazy: async () => ({ Component: (await import('./pages/notify/Templates')).TemplatesPage }) },
      { path: 'notify/receivers', lazy: async () => ({ Component: (await import('./pages/notify/Receivers')).ReceiversPage }) },
      { path: 'audit', lazy: async () => ({ Component: (await import('./pages/audit/Audit')).AuditPage }) },
      { path: '*', element: <NotFound /> },
    ],
  },
  { path: '*', element: <Navigate to="/tkestack" replace /> },
]);

export function App() {
  return <RouterProvider router={router} />;
}
