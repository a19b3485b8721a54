// What the SIP adapter and call sessions look up, read from the read models: the instance and flow of a
// dialled number, an instance's trunks, an agent's SIP extension; and the flow document and prompt audio
// a call plays.
import { decodeWavTo8kMono } from '../media/audio-file.ts';
import type { SipDirectory, SipExtension, SipNumber, SipTrunk } from '../sip/sip-directory.ts';
import { parseFlowDocument, type FlowDocument } from '../../domain/flow/flow-document.ts';
import { normalizeNumber, numberKey } from '../../domain/telephony/phone-number.ts';
import { normalizeSipUsername } from '../../domain/telephony/sip-username.ts';
import type { ReadModel } from '../../projections/projection.ts';
import { audioFileKey, type FileStorage } from '../storage/file-storage.ts';

export class ReadModelSipDirectory implements SipDirectory {
  private readonly db: ReadModel;

  constructor(db: ReadModel) {
    this.db = db;
  }

  async findNumber(number: string): Promise<SipNumber | null> {
    const normalized = normalizeNumber(number);
    if (!normalized) return null;
    const row = await this.db.selectFrom('phone_numbers').select(['instance_id', 'number', 'flow_id']).where('number_key', '=', numberKey(normalized)).executeTakeFirst();
    return row ? { instanceId: row.instance_id, number: row.number, flowId: row.flow_id } : null;
  }

  async trunksOf(instanceId: string): Promise<SipTrunk[]> {
    const rows = await this.db
      .selectFrom('trunks')
      .select(['id', 'instance_id', 'allowed_addresses', 'digest_username', 'digest_ha1'])
      .where('instance_id', '=', instanceId)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      instanceId: r.instance_id,
      allowedAddresses: r.allowed_addresses,
      digest: r.digest_username !== null && r.digest_ha1 !== null ? { username: r.digest_username, ha1: r.digest_ha1 } : null,
    }));
  }

  /** Null for a username nobody holds, and for a deleted agent's. */
  async findExtension(username: string): Promise<SipExtension | null> {
    const row = await this.db
      .selectFrom('sip_extensions as x')
      .innerJoin('agents as a', (j) => j.onRef('a.instance_id', '=', 'x.instance_id').onRef('a.id', '=', 'x.agent_id'))
      .select(['x.instance_id', 'x.agent_id', 'x.ha1'])
      .where('x.username', '=', normalizeSipUsername(username))
      .where('a.deleted_at', 'is', null)
      .orderBy('x.updated_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row ? { instanceId: row.instance_id, agentId: row.agent_id, ha1: row.ha1 } : null;
  }
}

/** The current version's document of an IVR flow of the instance, or null (no such flow, deleted, or a CHAT flow). */
export async function loadFlow(db: ReadModel, instanceId: string, flowId: string): Promise<FlowDocument | null> {
  const row = await db
    .selectFrom('flows')
    .select('definition')
    .where('instance_id', '=', instanceId)
    .where('id', '=', flowId)
    .where('kind', '=', 'IVR')
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return row ? parseFlowDocument(row.definition) : null;
}

/** An uploaded prompt's samples (8 kHz mono), or null when the instance has no such file. */
export async function loadAudio(storage: FileStorage, instanceId: string, audioId: string): Promise<Int16Array | null> {
  if (!/^[0-9a-f-]{36}$/i.test(audioId) || !/^[0-9a-f-]{36}$/i.test(instanceId)) return null;
  const bytes = await storage.read(audioFileKey(instanceId, audioId));
  return bytes ? decodeWavTo8kMono(bytes) : null;
}
