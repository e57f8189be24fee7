// The registry as a person finds an image: a namespace is created from the page, an image is
// pushed into it with skopeo (Debian's, with the administrator's credentials, as `docker push`
// would), and the page shows its repository, its tag with digest and size, and the pull command.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { check, env, login, scenario, shot } from './lib.mjs';

const ns = `e2e-${Date.now().toString(36)}`;
const host = new URL(env.url).host;

/** A one-file tar archive (ustar), as a layer. */
function tar(name, data) {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(body);
  return Buffer.concat([header, body, Buffer.alloc(1024)]);
}

/** An OCI image layout holding one small image tagged v1; answers its directory and sizes. */
function imageLayout() {
  const dir = mkdtempSync(join(tmpdir(), 'tke-e2e-image-'));
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (buf) => {
    const hex = createHash('sha256').update(buf).digest('hex');
    writeFileSync(join(dir, 'blobs/sha256', hex), buf);
    return { digest: `sha256:${hex}`, size: buf.length };
  };
  const raw = tar('hello.txt', Buffer.from(`hello from ${ns}\n`));
  const layer = put(gzipSync(raw));
  const config = put(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(raw).digest('hex')}`] }, config: {} })),
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      }),
    ),
  );
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
  );
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  return { dir, digest: manifest.digest, size: config.size + layer.size };
}

await scenario('registry', async ({ page }) => {
  await login(page, '/tkestack/registry');
  await page.getByRole('button', { name: 'New namespace' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name', { exact: true }).fill('Not_A_Label');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await dialog.getByText('must consist of lowercase letters').waitFor();
  await dialog.getByLabel('Name', { exact: true }).fill(ns);
  await dialog.getByRole('button', { name: 'Create' }).click();
  await page.getByText(`${ns} created.`).waitFor();

  const image = imageLayout();
  const push = spawnSync(
    process.env.SKOPEO || '/usr/bin/skopeo',
    ['copy', '--dest-tls-verify=false', '--dest-creds', `${env.username}:${env.password}`, `oci:${image.dir}:v1`, `docker://${host}/${ns}/hello:v1`],
    { encoding: 'utf8', timeout: 120000 },
  );
  check(push.status === 0, `skopeo pushed the image: ${push.stderr}`);

  await page.getByPlaceholder('Search by name').fill(ns);
  await page.getByRole('link', { name: ns }).click();
  await page.getByRole('button', { name: 'hello' }).click({ timeout: 30000 });
  const tags = page.getByRole('dialog');
  const row = tags.getByRole('row').filter({ hasText: 'v1' });
  await row.getByText(image.digest.slice(0, 19)).waitFor();
  await row.getByText(`docker pull ${host}/${ns}/hello:v1`).waitFor();
  await row.getByText(`${image.size} B`).waitFor();
  check((await row.locator('td[title]').getAttribute('title')) === image.digest, 'the whole digest is on the cell');
  await shot(page, 'registry-tags');
});
