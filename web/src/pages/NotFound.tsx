// A path under /tkestack that no page answers.
import { Link } from 'react-router';
import { useI18n } from '../i18n';

export function NotFound() {
  const { t } = useI18n();
  return (
    <div className="page">
      <h1 className="page-title">{t('common.notFound')}</h1>
      <Link to="/tkestack">{t('menu.overview')}</Link>
    </div>
  );
}
