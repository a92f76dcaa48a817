/**
 * Every README example runs as written: each ```js block that starts with `// example: NAME`
 * is saved inside the package (so `import ... from 'camwire'` resolves to this build) and run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n\/\/ example: (\S+)\n([\s\S]*?)```/g)].map((m) => ({ name: m[1], code: m[2] }));

/** What each example must print, so a silently broken example fails. */
const expected: Record<string, RegExp[]> = {
  push: [/video jpeg 640 50000 from cam-1/, /command zoom/],
  pull: [/openChannel \[ 'video' \]/, /session up, key \d+n/],
  files: [/sha256 ok: true/, /all 1000000 bytes acknowledged/, /sent from offset 0 sha256 [0-9a-f]{64}/],
  relay: [/bob got hi-bob from alice/, /carol sees bob join room/, /bob got hello-room from carol/, /online: alice, bob, carol/],
  h264: [/desk decodes avc1\.[0-9A-F]{6} 640x360, a keyframe of \d+ bytes/],
  screen: [/unchanged: unchanged/, /sent 1 full frame and 29 updates: \d+ bytes/, /viewer shows jpeg 640 x 360/],
  record: [/recorded [1-9]\d* frames over [1-9]\d* ms/],
  client: [/bob got hi from alice/, /refused: 1202 peer closed the connection: 1202 wrong user name or password/],
};

test('readme - the examples are found', () => {
  assert.deepEqual(blocks.map((b) => b.name).sort(), Object.keys(expected).sort());
});

for (const b of blocks) {
  test(`readme - example "${b.name}" runs as written`, async (t) => {
    const file = path.join(root, 'build', `readme-${b.name}.mjs`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, b.code);
    t.after(() => fs.rmSync(file, { force: true }));
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
      execFile(process.execPath, [file], { cwd: root, timeout: 30000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`example ${b.name} failed: ${err.message}\n${stdout}\n${stderr}`));
        else resolve({ stdout });
      });
    });
    for (const re of expected[b.name] ?? []) assert.match(stdout, re);
  });
}
