// Prompt recordings (PH-15): what was uploaded, for listing; the bytes are in file storage.
import type { Selectable } from 'kysely';
import type { AudioFileEvent } from '../../domain/flow/audio-file.ts';
import type { Projection } from '../projection.ts';
import type { ReadModelDb } from '../read-model-db.ts';

export type AudioFileRow = Selectable<ReadModelDb['audio_files']>;

const handled: AudioFileEvent['type'][] = ['AudioUploaded', 'AudioDeleted'];

export const audioFilesProjection: Projection = {
  name: 'audioFiles',
  tables: ['audio_files'],
  eventTypes: new Set(handled),
  async apply(trx, e) {
    const event = { type: e.type, data: e.data } as AudioFileEvent;
    const m = e.metadata;
    switch (event.type) {
      case 'AudioUploaded': {
        const d = event.data;
        await trx
          .insertInto('audio_files')
          .values({
            instance_id: m.instanceId,
            id: d.audioId,
            name: d.name,
            duration_ms: d.durationMs,
            sample_rate: d.sampleRate,
            size_bytes: d.sizeBytes,
            created_at: m.occurredAt,
          })
          .onConflict((c) => c.columns(['instance_id', 'id']).doNothing())
          .execute();
        return;
      }
      case 'AudioDeleted': {
        const audioId = e.streamId.slice(e.streamId.indexOf('.') + 1);
        await trx
          .updateTable('audio_files')
          .set({ deleted_at: m.occurredAt })
          .where('instance_id', '=', m.instanceId)
          .where('id', '=', audioId)
          .where('deleted_at', 'is', null)
          .execute();
        return;
      }
      default: {
        const unknown: never = event;
        return unknown;
      }
    }
  },
};
