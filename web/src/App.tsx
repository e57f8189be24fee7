// The console's routes. Every page lives under /tkestack (the server answers index.html there);
// pages are grouped by component, each behind the shell.
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import { Shell } from './Shell';
import { SessionProvider } from './session';
import { AddonTypesPage } from './pages/AddonTypes';
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
      { path: 'addon-types', element: <AddonTypesPage /> },
      {
        path: 'clusters/:cluster',
        element: <ClusterLayout />,
        children: [
          { index: true, element: <ClusterOverviewPage /> },
          { path: 'nodes', element: <NodesPage /> },
          { path: 'r/:kind', element: <ClusterResourcesPage /> },
          { path: 'r/:kind/:namespace/:name', element: <ClusterObjectPage /> },
        ],
      },
      { path: '*', element: <NotFound /> },
    ],
  },
  { path: '*', element: <Navigate to="/tkestack" replace /> },
]);

export function App() {
  return <RouterProvider router={router} />;
}
