// Vite configuration: the production build (assets under /assets/, no inline scripts so the
// server's strict Content-Security-Policy holds) and the development server, which proxies the
// platform's API to a running `tke up` (TKE_DEV_URL) and, before the gateway's login exists,
// may add a bearer token (TKE_DEV_TOKEN) to every proxied request.
import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import type { Plugin } from 'vite';

const target = process.env.TKE_DEV_URL ?? 'https://127.0.0.1:9550';
const token = process.env.TKE_DEV_TOKEN;

const proxied = ['/apis', '/api', '/auth', '/oidc', '/openapi', '/callback', '/version'];

/**
 * Development only, with TKE_DEV_TOKEN set (no gateway login): answers the gateway's session
 * and sysinfo endpoints itself, as the token's user, so the pages can be worked on.
 */
function devGateway(): Plugin {
  return {
    name: 'tke-dev-gateway',
    apply: 'serve',
    configureServer(server) {
      if (!token) return;
      server.middlewares.use((req, res, next) => {
        const send = (body: unknown) => {
          res.setHeader('Content-Type', 'application/json');
          res.end(JSON.stringify(body));
        };
        const gv = '/apis/gateway.tkestack.io/v1';
        if (req.url === `${gv}/tokens/info` || req.url === `${gv}/tokens/renew`) {
          return send({ name: 'admin', uid: 'admin', groups: ['system:masters'], extra: {}, expiresAt: Math.floor(Date.now() / 1000) + 3600 });
        }
        if (req.url === `${gv}/sysinfo`) {
          return send({ platform: { groupName: 'platform.tkestack.io', version: 'v1' }, auth: { groupName: 'auth.tkestack.io', version: 'v1' } });
        }
        next();
      });
    },
  };
}

export default defineConfig({
  plugins: [react(), devGateway()],
  base: '/',
  build: {
    target: 'es2022',
    // Keep every script an external file: the CSP forbids inline scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 900,
  },
  server: {
    proxy: Object.fromEntries(
      proxied.map((p) => [
        p,
        {
          target,
          changeOrigin: true,
          secure: false,
          ws: true,
          headers: token ? { Authorization: `Bearer ${token}` } : {},
        },
      ]),
    ),
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
  },
});
