// One Machine: its steps (conditions) live, and the generic YAML view and delete.
import { useParams } from 'react-router';
import { platformKind } from '../resources';
import { DetailPage } from './DetailPage';
import { str } from '../resources';

const ref = platformKind('machines')!.ref;

export function MachinePage() {
  const { name = '' } = useParams();
  return (
    <DetailPage
      key={name}
      ref_={ref}
      kind="Machine"
      name={name}
      backTo="/tkestack/clusters"
      extra={(o) => (
        <dl className="props">
          <dt>IP</dt>
          <dd>{str(o, 'spec', 'ip')}</dd>
          <dt>Cluster</dt>
          <dd>{str(o, 'spec', 'clusterName')}</dd>
          <dt>Phase</dt>
          <dd>{str(o, 'status', 'phase') || '-'}</dd>
        </dl>
      )}
    />
  );
}
