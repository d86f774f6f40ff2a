// Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, the last a mod-31 check
// character.  A line-by-line port of services/common/uscc.py; tests/unit/test_forms_web.py runs both on
// the same corpus of codes and requires the same answers.
export const ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"; // 31 characters: no I, O, S, V, Z
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));
// 3^i mod 31: 1, 3, 9, 27, 19, 26, ... as printed in the standard
const WEIGHTS = Array.from({ length: 17 }, (_, i) => {
  let w = 1;
  for (let k = 0; k < i; k++) w = (w * 3) % 31;
  return w;
});

export function checkCharacter(first17) {
  let total = 0;
  for (let i = 0; i < 17; i++) total += VALUE.get(first17[i]) * WEIGHTS[i];
  return ALPHABET[(31 - (total % 31)) % 31];
}

// Why `code` is not a valid credit code (the server's English wording), or null when it is.
export function problem(code) {
  const chars = [...code];
  if (chars.length !== 18) return `must be 18 characters, got ${chars.length}`;
  const bad = [...new Set(chars.filter((c) => !VALUE.has(c)))].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  if (bad.length) return `contains characters outside the GB 32100 alphabet: ${bad.join("")}`;
  const expected = checkCharacter(code.slice(0, 17));
  if (code[17] !== expected) return `check character should be ${expected}, got ${code[17]}`;
  return null;
}

// The same problem in Chinese (services/intake/forms/fields.py _uscc_detail).
export function problemZh(code) {
  const chars = [...code];
  if (chars.length !== 18) return `应为 18 位，实际为 ${chars.length} 位`;
  const bad = [...new Set(chars.filter((c) => !VALUE.has(c)))].sort((a, b) => a.codePointAt(0) - b.codePointAt(0));
  if (bad.length) return `含有 GB 32100 字符集以外的字符：${bad.join("")}（不使用 I、O、S、V、Z 及小写字母）`;
  return `校验码应为 ${checkCharacter(code.slice(0, 17))}，实际为 ${code[17]}`;
}
