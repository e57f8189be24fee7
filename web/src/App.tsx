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
import { ApiKeysPage } from './pages/access/ApiKeys';
import { GroupsPage } from './pages/access/Groups';
import { PoliciesPage } from './pages/access/Policies';
import { RolesPage } from './pages/access/Roles';
import { TenantsPage } from './pages/access/Tenants';
import { UsersPage } from './pages/access/Users';
import { ProjectPage } from './pages/business/ProjectPage';
import { ProjectsPage } from './pages/business/Projects';
import { ChartGroupPage, ChartGroupsPage } from './pages/registry/Charts';
import { RegistryNamespacePage, RegistryPage } from './pages/registry/Registry';

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
        ],
      },
      { path: 'access/users', element: <UsersPage /> },
      { path: 'access/groups', element: <GroupsPage /> },
      { path: 'access/tenants', element: <TenantsPage /> },
      { path: 'access/policies', element: <PoliciesPage /> },
      { path: 'access/roles', element: <RolesPage /> },
      { path: 'access/apikeys', element: <ApiKeysPage /> },
      { path: 'projects', element: <ProjectsPage /> },
      { path: 'projects/:name', element: <ProjectPage /> },
      { path: 'registry', element: <RegistryPage /> },
      { path: 'registry/:ns', element: <RegistryNamespacePage /> },
      { path: 'charts', element: <ChartGroupsPage /> },
      { path: 'charts/:group', element: <ChartGroupPage /> },
      { path: '*', element: <NotFound /> },
    ],
  },
  { path: '*', element: <Navigate to="/tkestack" replace /> },
]);

export function App() {
  return <RouterProvider router={router} />;
}
