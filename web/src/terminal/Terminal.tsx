// The web terminal (xterm.js, loaded only when opened): a shell in a container over the exec
// WebSocket through the cluster proxy, as the signed-in user. Typing and pasting go to stdin,
// the window's size follows the terminal's (resize channel), and closing the page closes the
// socket.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal as XTerm } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef, useState } from 'react';
import { useI18n } from '../i18n';
import { ERROR, STDERR, STDOUT, SUBPROTOCOLS, decode, errorMessage, execUrl, resizeFrame, stdinFrame } from './channel';

export interface TerminalProps {
  cluster: string;
  namespace: string;
  pod: string;
  container: string;
  command: string[];
}

type State = 'connecting' | 'open' | 'closed';

export default function Terminal({ cluster, namespace, pod, container, command }: TerminalProps) {
  const { t } = useI18n();
  const host = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<State>('connecting');
  const [reason, setReason] = useState('');
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const term = new XTerm({ cursorBlink: true, convertEol: false, fontSize: 13, scrollback: 5000 });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    term.focus();
    setState('connecting');
    setReason('');
    const ws = new WebSocket(execUrl(location, cluster, namespace, pod, container, command), SUBPROTOCOLS);
    ws.binaryType = 'arraybuffer';
    const send = (b: Uint8Array) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(b);
    };
    ws.onopen = () => {
      setState('open');
      send(resizeFrame(term.cols, term.rows));
    };
    ws.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      const d = typeof ev.data === 'string' ? null : decode(ev.data);
      if (!d) return;
      if (d.channel === STDOUT || d.channel === STDERR) term.write(d.data);
      else if (d.channel === ERROR) {
        const msg = errorMessage(d.data);
        if (msg) {
          setReason(msg);
          term.write(`\r\n\x1b[31m${msg}\x1b[0m\r\n`);
        }
      }
    };
    ws.onclose = (ev) => {
      setState('closed');
      if (ev.code !== 1000 && ev.reason) setReason(ev.reason);
      term.write(`\r\n\x1b[90m${t("terminal.closed")}\x1b[0m\r\n`);
    };
    ws.onerror = () => setReason(t('terminal.failed'));
    const input = term.onData((data) => send(stdinFrame(data)));
    const resized = term.onResize(({ cols, rows }) => send(resizeFrame(cols, rows)));
    const observer = new ResizeObserver(() => fit.fit());
    observer.observe(el);
    return () => {
      observer.disconnect();
      input.dispose();
      resized.dispose();
      ws.onclose = null;
      ws.close(1000);
      term.dispose();
    };
    // `t` only labels messages; a language switch must not reconnect.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [cluster, namespace, pod, container, command.join(' '), attempt]);

  return (
    <div>
      <div className="page-actions terminal-bar">
        <span role="status" className={state === 'open' ? 'badge badge-ok' : state === 'closed' ? 'badge badge-bad' : 'badge badge-wait'}>
          {t(state === 'open' ? 'terminal.connected' : state === 'closed' ? 'terminal.closed' : 'terminal.connecting')}
        </span>
        {reason && <span className="field-error">{reason}</span>}
        {state === 'closed' && (
          <button type="button" className="btn" onClick={() => setAttempt((a) => a + 1)}>
            {t('terminal.reconnect')}
          </button>
        )}
      </div>
      <div ref={host} className="terminal-host" aria-label={t('terminal.label', { pod, container })} />
    </div>
  );
}
