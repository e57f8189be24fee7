// The frame around every page: a header (title, language, user menu with logout) and the side
// menu, whose entries show only when their component is enabled and the platform says the user
// may use them (one batchauthz call for the whole menu).
import { useMemo, useState } from 'react';
import { NavLink, Outlet, useLocation } from 'react-router';
import { usePermissions } from './api/authz';
import { logout } from './api/session';
import { useI18n, type Lang } from './i18n';
import { allMenuChecks, menu } from './menu';
import { useSession } from './session';
import { ProjectSwitcher } from './business/ProjectSwitcher';

export function Shell() {
  const { t, lang, setLang } = useI18n();
  const { user, sysinfo } = useSession();
  const checks = useMemo(allMenuChecks, []);
  const perms = usePermissions(checks);
  const [userOpen, setUserOpen] = useState(false);
  const loc = useLocation();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        {t('app.skipToContent')}
      </a>
      <header className="header">
        <NavLink to="/tkestack" className="brand">
          {t('app.title')}
        </NavLink>
        <div className="header-right">
          <ProjectSwitcher />
          <label className="lang-switch">
            <span className="visually-hidden">{t('app.language')}</span>
            <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} aria-label={t('app.language')}>
              <option value="en">English</option>
              <option value="zh">中文</option>
            </select>
          </label>
          <div
            className="user-menu"
            onKeyDown={(e) => e.key === 'Escape' && setUserOpen(false)}
            onBlur={(e) => {
              if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setUserOpen(false);
            }}
          >
            <button
              type="button"
              className="btn btn-ghost"
              aria-haspopup="menu"
              aria-expanded={userOpen}
              onClick={() => setUserOpen((o) => !o)}
            >
              {user.name}
            </button>
            {userOpen && (
              <div className="user-popup" role="menu">
                <div className="user-groups">{user.groups.join(', ')}</div>
                <button type="button" role="menuitem" className="btn btn-ghost" onClick={logout}>
                  {t('app.logout')}
                </button>
              </div>
            )}
          </div>
        </div>
      </header>
      <nav className="sidebar" aria-label={t('app.mainMenu')}>
        {menu.map((section) => {
          const entries = section.entries.filter((e) => sysinfo[e.component] !== undefined && perms.can(e.check));
          if (entries.length === 0) return null;
          return (
            <div key={section.label} className="menu-section">
              <div className="menu-title">{t(section.label)}</div>
              <ul>
                {entries.map((e) => (
                  <li key={e.path}>
                    <NavLink
                      to={e.path}
                      end={!e.prefix}
                      className={({ isActive }) => (isActive || (e.prefix && loc.pathname.startsWith(e.path)) ? 'active' : '')}
                    >
                      {t(e.label)}
                      {e.badge && <e.badge />}
                    </NavLink>
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
        {perms.error && <p className="menu-error">{perms.error}</p>}
      </nav>
      <main id="main" className="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
