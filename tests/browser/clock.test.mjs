// The clock of hour and weekday: training reads them from log timestamps in UTC
// (`features::utc_hour_weekday`), so the page must fill them in UTC too, whatever the shopper's
// time zone (manifest `inputs.clock` is "utc"). Runs js/input.js's readContext in node processes
// whose TZ is far from UTC on both sides; the instants are the ones the native test
// `features::tests::utc_clock_matches_known_dates` checks.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ROOT } from './helpers.mjs';

const INSTANTS = [
  { ms: 893_286_649_000, hour: 23, weekday: 3 }, // 1998-04-22 23:10:49 UTC, a Wednesday
  { ms: 1_772_636_400_000, hour: 15, weekday: 3 }, // 2026-03-04 15:00:00 UTC, a Wednesday
];

const PROBE = `
  const { readContext } = await import(process.argv[1]);
  const read = (ms) => JSON.parse(new TextDecoder().decode(readContext({ timestamp: Number(ms) }, { maxTextBytes: 1024 })));
  const out = process.argv.slice(2).map(read).map(({ hour, weekday }) => ({ hour, weekday }));
  console.log(JSON.stringify({ offset: new Date(0).getTimezoneOffset(), out }));
`;

for (const tz of ['Pacific/Kiritimati', 'America/Los_Angeles', 'UTC']) {
  test(`context hour and weekday are UTC in TZ=${tz}`, () => {
    const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, `${ROOT}/js/input.js`, ...INSTANTS.map((i) => String(i.ms))], {
      env: { ...process.env, TZ: tz },
      encoding: 'utf8',
    });
    const { offset, out } = JSON.parse(stdout);
    if (tz !== 'UTC') assert.notEqual(offset, 0, `TZ=${tz} took effect (a zero offset would make this test prove nothing)`);
    assert.deepEqual(out, INSTANTS.map(({ hour, weekday }) => ({ hour, weekday })));
  });
}

test('the shipped manifest says which clock the model was trained on', () => {
  const manifest = JSON.parse(readFileSync(`${ROOT}/models/manifest.json`, 'utf8'));
  assert.equal(manifest.inputs?.clock, 'utc');
});
