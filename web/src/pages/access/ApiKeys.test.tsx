import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { I18nProvider } from '../../i18n';
import { IssueKey } from './ApiKeys';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.payload.signature';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

function answer(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('issuing an API key', () => {
  it('shows the key once, copies it, and forgets it when closed', async () => {
    const fetchMock = vi.fn(async () =>
      answer(201, { kind: 'APIKey', metadata: { name: 'apk-1' }, spec: { apiKey: TOKEN, expire_at: '2027-01-01T00:00:00Z' } }),
    );
    vi.stubGlobal('fetch', fetchMock);
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    const onClose = vi.fn();
    const { container } = render(
      <I18nProvider>
        <IssueKey onClose={onClose} />
      </I18nProvider>,
    );
    fireEvent.change(screen.getByLabelText('Valid for'), { target: { value: 'soon' } });
    fireEvent.click(screen.getByRole('button', { name: 'Issue key', hidden: true }));
    expect(await screen.findByText('expire "soon" is not a duration such as 24h, 30m or 90d')).toBeTruthy();
    expect(fetchMock).not.toHaveBeenCalled();

    fireEvent.change(screen.getByLabelText('Valid for'), { target: { value: '24h' } });
    fireEvent.click(screen.getByRole('button', { name: 'Issue key', hidden: true }));
    const field = (await screen.findByTestId('api-key-token')) as HTMLTextAreaElement;
    expect(field.value).toBe(TOKEN);
    expect(screen.getByText(/shown only this once/)).toBeTruthy();
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/apis/auth.tkestack.io/v1/apikeys/default/token');
    expect(JSON.parse(String(init.body))).toEqual({ expire: '24h', description: '' });

    expect(screen.getByRole('button', { name: 'I have saved the key', hidden: true })).toBeTruthy();
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Copy key', hidden: true }));
    });
    expect(writeText).toHaveBeenCalledWith(TOKEN);
    await waitFor(() => expect(screen.getByRole('button', { name: 'Done', hidden: true })).toBeTruthy());

    fireEvent.click(screen.getByRole('button', { name: 'Done', hidden: true }));
    expect(onClose).toHaveBeenCalled();
    expect(container.innerHTML).not.toContain(TOKEN);
  });

  it("shows the API's refusal and no key", async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => answer(400, { kind: 'Status', status: 'Failure', code: 400, reason: 'BadRequest', message: 'expire may be at most 10 years (87600h)' })),
    );
    render(
      <I18nProvider>
        <IssueKey onClose={() => {}} />
      </I18nProvider>,
    );
    fireEvent.change(screen.getByLabelText('Valid for'), { target: { value: '87600h' } });
    fireEvent.click(screen.getByRole('button', { name: 'Issue key', hidden: true }));
    expect(await screen.findByText('expire may be at most 10 years (87600h)')).toBeTruthy();
    expect(screen.queryByTestId('api-key-token')).toBeNull();
  });
});
