// Columns many lists share.
import { age, type KubeObject } from '../api/kube';
import type { Column } from './LiveTable';

/** How long ago the object was created, sorted newest first ("3m", "2d"), as of `now`. */
export function ageColumn<T extends KubeObject>(header: string, now: number, width = '0.5fr'): Column<T> {
  return {
    id: 'age',
    header,
    value: (o) => -Date.parse(o.metadata.creationTimestamp ?? '') || 0,
    render: (o) => age(o.metadata.creationTimestamp, now),
    width,
  };
}
