// What the inspector app keeps on the phone, in IndexedDB (idb): nothing typed is lost to a reload, a
// closed tab or a dead battery.
//   kv       the device token, who it is (/app/me), the last open-hazards list, remembered choices
//   records  every record: its submission (with the submission_id minted here), its state, the server's
//            answer; drafts are records in state "draft", saved on every keystroke
//   photos   evidence photos as Blobs, until the server has them
import { openDB } from "idb";

export const STATES = ["draft", "queued", "sent", "accepted", "needs_fixing"];

let dbp = null;

export function db() {
  dbp ??= openDB("score-app", 1, {
    upgrade(d) {
      d.createObjectStore("kv");
      const records = d.createObjectStore("records", { keyPath: "id" });
      records.createIndex("state", "state");
      d.createObjectStore("photos", { keyPath: "id" });
    },
  });
  return dbp;
}

export async function kvGet(key) {
  return (await db()).get("kv", key);
}

export async function kvSet(key, value) {
  return (await db()).put("kv", value, key);
}

export async function kvDelete(key) {
  return (await db()).delete("kv", key);
}

export async function putRecord(record) {
  record.updated = new Date().toISOString();
  return (await db()).put("records", record);
}

export async function getRecord(id) {
  return (await db()).get("records", id);
}

export async function deleteRecord(id) {
  return (await db()).delete("records", id);
}

export async function allRecords() {
  const all = await (await db()).getAll("records");
  return all.sort((a, b) => (b.created || "").localeCompare(a.created || ""));
}

export async function recordsIn(...states) {
  const d = await db();
  const found = [];
  for (const s of states) found.push(...(await d.getAllFromIndex("records", "state", s)));
  return found.sort((a, b) => (a.queued_at || "").localeCompare(b.queued_at || ""));
}

export async function putPhoto(photo) {
  return (await db()).put("photos", photo);
}

export async function getPhoto(id) {
  return (await db()).get("photos", id);
}

export async function deletePhoto(id) {
  return (await db()).delete("photos", id);
}
