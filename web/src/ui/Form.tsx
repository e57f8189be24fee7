// The form kit: labelled fields that show their error (client-side check or the API's own field
// cause) under the input with aria-invalid/aria-describedby, and `useApiForm`, which validates,
// submits, and puts a refused request's Status causes back on the fields.
import { useId, useState, type ReactNode } from 'react';
import { ApiError, messageOf } from '../api/errors';
import { mergeErrors, validateAll, type Rules } from './validation';

interface FieldProps {
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
}

export function Field({ label, error, hint, children }: FieldProps) {
  const id = useId();
  const errId = `${id}-err`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errId : '', hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={error ? 'field field-invalid' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children({ id, describedBy, invalid: !!error })}
      {hint && (
        <div id={hintId} className="field-hint">
          {hint}
        </div>
      )}
      {error && (
        <div id={errId} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

interface TextFieldProps {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string | undefined;
  hint?: string;
  type?: string;
  placeholder?: string;
  required?: boolean;
  autoComplete?: string;
  multiline?: boolean;
  rows?: number;
}

export function TextField({ label, value, onChange, error, hint, type = 'text', placeholder, required, autoComplete, multiline, rows }: TextFieldProps) {
  return (
    <Field label={label} error={error} hint={hint}>
      {({ id, describedBy, invalid }) =>
        multiline ? (
          <textarea
            id={id}
            value={value}
            rows={rows ?? 6}
            placeholder={placeholder}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            required={required}
            spellCheck={false}
            onChange={(e) => onChange(e.target.value)}
          />
        ) : (
          <input
            id={id}
            type={type}
            value={value}
            placeholder={placeholder}
            aria-describedby={describedBy}
            aria-invalid={invalid}
            required={required}
            autoComplete={autoComplete}
            onChange={(e) => onChange(e.target.value)}
          />
        )
      }
    </Field>
  );
}

interface SelectFieldProps {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  error?: string | undefined;
}

export function SelectField({ label, value, onChange, options, error }: SelectFieldProps) {
  return (
    <Field label={label} error={error}>
      {({ id, describedBy, invalid }) => (
        <select id={id} value={value} aria-describedby={describedBy} aria-invalid={invalid} onChange={(e) => onChange(e.target.value)}>
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export interface ApiForm<F extends string> {
  values: Record<F, string>;
  set: (f: F, v: string) => void;
  /** The error to show at a field, '' for the form-wide one. */
  error: (f: F | '') => string | undefined;
  busy: boolean;
  submit: () => Promise<boolean>;
}

/**
 * A form's state: `rules` are checked before sending; `send` does the request; when the server
 * refuses with field causes, `fieldMap` (API path → form field) puts them at their fields.
 */
export function useApiForm<F extends string>(
  initial: Record<F, string>,
  rules: Rules<F>,
  fieldMap: Record<string, F>,
  send: (values: Record<F, string>) => Promise<void>,
): ApiForm<F> {
  const [values, setValues] = useState(initial);
  const [errors, setErrors] = useState<Partial<Record<F | '', string>>>({});
  const [busy, setBusy] = useState(false);
  return {
    values,
    set: (f, v) => {
      setValues((old) => ({ ...old, [f]: v }));
      setErrors((old) => ({ ...old, [f]: undefined }));
    },
    error: (f) => errors[f],
    busy,
    submit: async () => {
      const local = validateAll(values, rules);
      if (Object.keys(local).length > 0) {
        setErrors(local as Partial<Record<F | '', string>>);
        return false;
      }
      setBusy(true);
      setErrors({});
      try {
        await send(values);
        return true;
      } catch (e) {
        if (e instanceof ApiError) {
          const merged = mergeErrors(e.fieldErrors(), fieldMap);
          if (!merged['']) merged[''] = e.message;
          setErrors(merged);
        } else {
          setErrors({ '': messageOf(e) } as Partial<Record<F | '', string>>);
        }
        return false;
      } finally {
        setBusy(false);
      }
    },
  };
}

export function FormError({ message }: { message: string | undefined }) {
  if (!message) return null;
  return (
    <p className="form-error" role="alert">
      {message}
    </p>
  );
}
