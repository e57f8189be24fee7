// The session and platform facts every page reads: the user (tokens/info, renewed in the
// background), the enabled components (sysinfo). The console renders nothing else until both
// are known; a 401 on the first call leaves for the login page.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { messageOf } from './api/errors';
import { fetchUserInfo, keepAlive, type UserInfo } from './api/session';
import { fetchSysInfo, type SysInfo } from './api/sysinfo';
import { useI18n } from './i18n';

interface SessionCtx {
  user: UserInfo;
  sysinfo: SysInfo;
}

const Ctx = createContext<SessionCtx | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const { t } = useI18n();
  const [user, setUser] = useState<UserInfo | null>(null);
  const [sysinfo, setSysinfo] = useState<SysInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    let stop: (() => void) | undefined;
    Promise.all([fetchUserInfo(), fetchSysInfo()])
      .then(([u, s]) => {
        if (!live) return;
        setUser(u);
        setSysinfo(s);
        stop = keepAlive(u, (next) => live && setUser(next));
      })
      .catch((e: unknown) => live && setError(messageOf(e)));
    return () => {
      live = false;
      stop?.();
    };
  }, []);
  if (error) {
    return (
      <main className="boot">
        <h1>{t('app.title')}</h1>
        <p role="alert">{t('app.bootFailed', { message: error })}</p>
        <button type="button" className="btn btn-primary" onClick={() => location.reload()}>
          {t('common.retry')}
        </button>
      </main>
    );
  }
  if (!user || !sysinfo) {
    return (
      <main className="boot" aria-busy="true">
        <p>{t('common.loading')}</p>
      </main>
    );
  }
  return <Ctx.Provider value={{ user, sysinfo }}>{children}</Ctx.Provider>;
}

export function useSession(): SessionCtx {
  const s = useContext(Ctx);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}
