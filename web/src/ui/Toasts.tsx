// Short notices after an action ("Deployment scaled", or the server's error): an aria-live
// region so screen readers announce them; errors stay until dismissed, others leave after 5 s.
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from 'react';
import { messageOf } from '../api/errors';
import { useI18n } from '../i18n';

type Kind = 'success' | 'error' | 'info';
interface Toast {
  id: number;
  kind: Kind;
  text: string;
}
interface Toaster {
  success: (text: string) => void;
  info: (text: string) => void;
  /** Shows an error's message (a Status message when the API answered one). */
  error: (e: unknown) => void;
}

const Ctx = createContext<Toaster>({ success: () => {}, info: () => {}, error: () => {} });

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const { t } = useI18n();
  const dismiss = useCallback((id: number) => setToasts((ts) => ts.filter((x) => x.id !== id)), []);
  const push = useCallback(
    (kind: Kind, text: string) => {
      const id = next.current++;
      setToasts((ts) => [...ts.slice(-4), { id, kind, text }]);
      if (kind !== 'error') setTimeout(() => dismiss(id), 5000);
    },
    [dismiss],
  );
  const api = useMemo<Toaster>(
    () => ({
      success: (text) => push('success', text),
      info: (text) => push('info', text),
      error: (e) => push('error', messageOf(e)),
    }),
    [push],
  );
  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="toasts" role="status" aria-live="polite">
        {toasts.map((x) => (
          <div key={x.id} className={`toast toast-${x.kind}`} role={x.kind === 'error' ? 'alert' : undefined}>
            <span className="toast-text">{x.text}</span>
            <button type="button" className="btn-icon" aria-label={t('common.dismiss')} onClick={() => dismiss(x.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}

export function useToast(): Toaster {
  return useContext(Ctx);
}
