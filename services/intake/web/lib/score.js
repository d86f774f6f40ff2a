// The inspection score, as the server computes it (services/intake/forms/scoring.py `score`): passed ÷
// applicable × 100, rounded half-up on the exact fraction to one decimal; null when nothing applies.
// Integer arithmetic only, so 1 of 16 gives 6.3 here exactly as Fraction gives it there (a float would
// round 6.25 either way).
export function score(results) {
  let passed = 0;
  let failed = 0;
  for (const r of results) {
    if (r === "pass") passed += 1;
    else if (r === "fail") failed += 1;
  }
  const n = passed + failed;
  if (n === 0) return null;
  // floor(1000·passed/n + 1/2) = floor((2000·passed + n) / 2n): tenths of a percent, half up
  const tenths = Math.floor((2000 * passed + n) / (2 * n));
  return tenths / 10;
}

export function counts(results) {
  const c = { pass: 0, fail: 0, not_applicable: 0 };
  for (const r of results) if (r in c) c[r] += 1;
  return c;
}
