// Sending what waits on the phone, safely: photos first (PUT, idempotent by their id), then the queued
// records in one batch request (each stands or falls on its own; the server stores a record once by its
// submission_id, so a retry after a lost answer is answered with the first receipt, never a second copy).
// Runs on load, on the browser's "online" event and after each record is queued.
import { call, Offline, refusal } from "./api.js";
import { lang } from "./i18n.js";
import { getPhoto, putPhoto, putRecord, recordsIn } from "./db.js";

export const BATCH = 50;
let tail = Promise.resolve();

// One sync at a time: a call while one runs is chained after it (new records may have been queued since).
export function sync(token, onChange = () => {}) {
  const next = tail.then(() => run(token, onChange));
  tail = next.catch(() => {});
  return next;
}

async function uploadPhotos(token, record) {
  for (const id of record.photos || []) {
    const photo = await getPhoto(id);
    if (!photo || photo.uploaded) continue;
    const { status, body } = await call(token, "PUT", `/api/v1/attachments/${id}`, { body: photo.blob, type: photo.type });
    if (status === 200 || status === 201) {
      photo.uploaded = true;
      photo.sha256 = body?.sha256 ?? photo.sha256;
      await putPhoto(photo);
    } else if (status >= 400 && status < 500 && status !== 401 && status !== 429) {
      return { path: photo.path || "", message: body?.error?.message || String(status), code: body?.error?.code || "photo" };
    } else {
      throw new Offline(`photo upload answered ${status}`); // the server is not taking it now: try later
    }
  }
  return null;
}

async function run(token, onChange) {
  // the browser knows it has no network: leave everything "queued" (a request would only fail)
  if (!token || !navigator.onLine) return { sent: 0 };
  const waiting = await recordsIn("queued", "sent");
  let sent = 0;
  try {
    const ready = [];
    for (const r of waiting) {
      const problem = await uploadPhotos(token, r);
      if (problem) {
        Object.assign(r, { state: "needs_fixing", errors: [problem], errors_lang: lang() });
        await putRecord(r);
        onChange(r);
      } else ready.push(r);
    }
    for (let i = 0; i < ready.length; i += BATCH) {
      const chunk = ready.slice(i, i + BATCH);
      for (const r of chunk) {
        r.state = "sent"; // on its way: if no answer comes, it is sent again (same id, same content)
        r.sent_at = new Date().toISOString();
        await putRecord(r);
        onChange(r);
      }
      const { status, body } = await call(token, "POST", "/api/v1/submissions/batch", {
        json: { submissions: chunk.map((r) => r.body) },
      });
      if (status !== 207) {
        if (status === 401 || status === 429 || status >= 500) throw new Offline(`batch answered ${status}`);
        for (const r of chunk) {
          Object.assign(r, { state: "needs_fixing", errors: refusal(body), errors_lang: lang(), http_status: status });
          await putRecord(r);
          onChange(r);
        }
        continue;
      }
      for (const result of body.results) {
        const r = chunk[result.index];
        if (result.status === 200 || result.status === 201) {
          Object.assign(r, { state: "accepted", receipt: result.receipt, errors: [], http_status: result.status });
          sent += 1;
        } else {
          Object.assign(r, {
            state: "needs_fixing",
            errors: refusal(result),
            errors_lang: lang(),
            http_status: result.status,
          });
        }
        await putRecord(r);
        onChange(r);
      }
    }
  } catch (e) {
    if (!(e instanceof Offline)) throw e;
    // offline or the server is unwell: everything stays queued or sent, and goes again next time
  }
  return { sent };
}
