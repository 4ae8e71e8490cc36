// Reports and the device index in MongoDB: 2.7's nebula_reports documents (the report's own
// fields, an ObjectId _id that pages GET /reports, report_insert_date), idempotent on
// report_id; and nebula_devices, one document per hostname (its _id), moved forward only.
// The store passes the collections (a separate reports deployment where configured).

import { MongoBulkWriteError, ObjectId, type AnyBulkWriteOperation, type Collection, type Filter } from 'mongodb';
import { summarizeReport, type DeviceQuery, type DeviceRecord, type IncomingReport, type ReportQuery } from '../../model/report.ts';
import type { StoredReport } from '../types.ts';
import { DUPLICATE_KEY, isDuplicate, plain, type Raw } from './common.ts';
import { fromStored, toStored } from './keys.ts';

export interface ReportCollections {
  reports: Collection<Raw>;
  devices: Collection<Raw>;
}

/**
 * Stores the reports, skipping those whose report_id is stored already (a spool re-sent, a
 * Kafka batch read again) or appears earlier in the batch; moves each device's entry forward.
 */
export async function insertReports(c: ReportCollections, reports: IncomingReport[], now: Date): Promise<{ inserted: number; duplicates: number }> {
  const collection = c.reports;
  const ids = reports.map((r) => r.report_id).filter((id): id is string => typeof id === 'string');
  const seen = new Set<string>();
  if (ids.length > 0) {
    const found = await collection.find({ report_id: { $in: ids } }, { projection: { _id: 0, report_id: 1 } }).toArray();
    for (const d of found) seen.add(String(d.report_id));
  }
  const fresh: { report: IncomingReport; doc: Raw }[] = [];
  for (const report of reports) {
    const id = report.report_id;
    if (typeof id === 'string') {
      if (seen.has(id)) continue;
      seen.add(id);
    }
    const { _id, report_insert_date, ...fields } = report as Raw;
    fresh.push({ report, doc: { _id: new ObjectId(), ...toStored(fields), report_insert_date: now } });
  }
  const inserted = await insertFresh(collection, fresh.map((f) => f.doc));
  await advanceDevices(c.devices, inserted.map((i) => (fresh[i] as { report: IncomingReport }).report), now);
  return { inserted: inserted.length, duplicates: reports.length - inserted.length };
}

/**
 * Inserts the documents; returns the indexes of those stored by this call. A report whose
 * id a concurrent writer stored between the check and the insert is a duplicate (11000).
 */
async function insertFresh(collection: Collection<Raw>, docs: Raw[]): Promise<number[]> {
  if (docs.length === 0) return [];
  try {
    await collection.insertMany(docs, { ordered: true });
    return docs.map((_d, i) => i);
  } catch (err) {
    if (!(err instanceof MongoBulkWriteError) && !isDuplicate(err)) throw err;
  }
  // Some were refused as duplicates: settle each one alone. Our _ids are new ObjectIds, so a
  // document found under its _id was stored by this call before the batch stopped; any
  // other duplicate is a report_id stored by someone else.
  const stored: number[] = [];
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i] as Raw;
    try {
      await collection.insertOne(doc);
      stored.push(i);
    } catch (err) {
      if (!isDuplicate(err)) throw err;
      if ((await collection.countDocuments({ _id: doc._id }, { limit: 1 })) > 0) stored.push(i);
    }
  }
  return stored;
}

/** Moves each device's entry forward to its newest report in `reports` (never back). */
async function advanceDevices(devices: Collection<Raw>, reports: IncomingReport[], now: Date): Promise<void> {
  const latest = new Map<string, DeviceRecord>();
  for (const report of reports) {
    const record = summarizeReport(report, now.getTime());
    const current = latest.get(record.hostname);
    if (current === undefined || record.last_seen >= current.last_seen) latest.set(record.hostname, record);
  }
  if (latest.size === 0) return;
  const ops: AnyBulkWriteOperation<Raw>[] = [...latest.values()].map((record) => ({
    updateOne: {
      filter: { _id: record.hostname as unknown as ObjectId, last_seen: { $lte: record.last_seen } },
      update: { $set: toStored(record as unknown as Raw) },
      upsert: true,
    },
  }));
  for (let i = 0; i < ops.length; i += DEVICE_BULK) {
    try {
      await devices.bulkWrite(ops.slice(i, i + DEVICE_BULK), { ordered: false });
    } catch (err) {
      // A device whose entry is newer than this report: the upsert hits its _id. Left as is.
      if (err instanceof MongoBulkWriteError && err.writeErrors && [err.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY)) continue;
      if (isDuplicate(err)) continue;
      throw err;
    }
  }
}

/**
 * Device entries are written in bulks of at most this many updates. One bulk of a batch's 500
 * (a Kafka batch from 500 devices) stalls FerretDB 1.24 for minutes — bulks of 100 updates of
 * existing entries did not finish within 60 s, bulks of 50 took ~20 ms an update; MongoDB only
 * pays a few more round trips per batch.
 */
const DEVICE_BULK = 50;

export async function purgeReports(c: ReportCollections, before: Date): Promise<number> {
  return (await c.reports.deleteMany({ report_insert_date: { $lt: before } })).deletedCount;
}

export async function listDevices(c: ReportCollections, query: DeviceQuery): Promise<DeviceRecord[]> {
  const filter: Filter<Raw> = {};
  if (query.afterHostname !== undefined) filter._id = { $gt: query.afterHostname as unknown as ObjectId };
  const groups: Filter<Raw>[] = [];
  if (query.deviceGroup !== undefined) groups.push({ device_group: query.deviceGroup });
  if (query.inGroups !== undefined) groups.push({ device_group: { $in: [...query.inGroups] } });
  if (groups.length === 1) Object.assign(filter, groups[0]);
  else if (groups.length > 1) filter.$and = groups;
  const docs = await c.devices.find(filter).sort({ _id: 1 }).limit(query.pageSize).toArray();
  return docs.map((d) => plain<DeviceRecord>(d) as DeviceRecord);
}

export async function getDevice(c: ReportCollections, hostname: string): Promise<DeviceRecord | null> {
  return plain<DeviceRecord>(await c.devices.findOne({ _id: hostname as unknown as ObjectId }));
}

export async function queryReports(c: ReportCollections, query: ReportQuery): Promise<StoredReport[]> {
  const filter: Filter<Raw> = {};
  if (query.afterId !== undefined) filter._id = { $gt: ObjectId.createFromHexString(query.afterId) };
  if (query.hostname !== undefined) filter.hostname = query.hostname;
  if (query.deviceGroup !== undefined) filter.device_group = query.deviceGroup;
  if (query.inGroups !== undefined) {
    const inGroups = { device_group: { $in: [...query.inGroups] } };
    if (query.deviceGroup === undefined) Object.assign(filter, inGroups);
    else filter.$and = [inGroups];
  }
  if (query.creationTime !== undefined) {
    const { op, value } = query.creationTime;
    filter.report_creation_time = op === 'eq' ? value : { [`$${op}`]: value };
  }
  if (query.updated !== undefined) filter.updated = query.updated;
  const docs = await c.reports.find(filter).sort({ _id: 1 }).limit(query.pageSize).toArray();
  return docs.map((d) => {
    const { _id, report_insert_date, ...report } = d;
    const insertedAt = report_insert_date instanceof Date ? report_insert_date : (_id as ObjectId).getTimestamp();
    return { id: (_id as ObjectId).toHexString(), insertedAt, report: fromStored(report) };
  });
}
