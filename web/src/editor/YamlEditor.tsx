// The YAML editor (CodeMirror 6), loaded only when first used: it is the heaviest part of the
// console and most pages never need it. Syntax errors are marked as you type; `check` adds the
// page's own diagnostics (schema validation against the cluster's OpenAPI).
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, foldGutter, indentOnInput, syntaxHighlighting, defaultHighlightStyle } from '@codemirror/language';
import { forceLinting, linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { useEffect, useRef } from 'react';
import { parseAllDocuments } from 'yaml';

export interface Problem {
  /** Character offsets in the text. */
  from: number;
  to: number;
  message: string;
  severity?: 'error' | 'warning';
}

export interface YamlEditorProps {
  value: string;
  onChange?: (v: string) => void;
  readOnly?: boolean;
  /** Extra diagnostics for the text (called after YAML parses). */
  check?: (text: string) => Problem[];
  label: string;
  height?: string;
}

/** YAML syntax problems of a (multi-document) text. */
export function syntaxProblems(text: string): Problem[] {
  const out: Problem[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (!('errors' in doc)) continue;
    for (const e of doc.errors) {
      const [from, to] = e.pos;
      out.push({ from, to: Math.max(to, from + 1), message: e.message.split('\n')[0] ?? e.message });
    }
  }
  return out;
}

export default function YamlEditor({ value, onChange, readOnly, check, label, height = '60vh' }: YamlEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const checkRef = useRef(check);
  checkRef.current = check;

  useEffect(() => {
    if (!host.current) return;
    const lint = linter((v) => {
      const text = v.state.doc.toString();
      const len = text.length;
      let problems = syntaxProblems(text);
      if (problems.length === 0 && checkRef.current) problems = checkRef.current(text);
      return problems.map<Diagnostic>((p) => ({
        from: Math.min(p.from, len),
        to: Math.min(Math.max(p.to, p.from), len),
        message: p.message,
        severity: p.severity ?? 'error',
      }));
    });
    const state = EditorState.create({
      doc: value,
      extensions: [
        lineNumbers(),
        foldGutter(),
        history(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        syntaxHighlighting(defaultHighlightStyle),
        yaml(),
        lintGutter(),
        lint,
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorState.readOnly.of(!!readOnly),
        EditorView.editable.of(!readOnly),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) onChangeRef.current?.(u.state.doc.toString());
        }),
      ],
    });
    const v = new EditorView({ state, parent: host.current });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is made once; later `value` changes from outside are applied below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [readOnly, label]);

  // A check that arrives later (the schema loads after the editor) is applied at once.
  useEffect(() => {
    if (view.current) forceLinting(view.current);
  }, [check]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value) {
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
    }
  }, [value]);

  return <div className="yaml-editor" style={{ height }} ref={host} />;
}
