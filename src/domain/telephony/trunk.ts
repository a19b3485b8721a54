// A SIP trunk of an instance (PH-1, PH-2): the carrier's addresses that may send calls in (an allow-list
// of IPs and CIDR ranges), optional digest credentials the carrier authenticates with (kept as HA1
// only), and where outbound calls go. One stream per trunk: `trunk-<instanceId>.<trunkId>`.
import type { DomainEvent } from '../decider.ts';

export interface TrunkDigest {
  username: string;
  /** md5(username:realm:password), hex; the password itself is never kept. */
  ha1: string;
}

export interface TrunkSettings {
  name: string;
  allowedAddresses: string[];
  digest: TrunkDigest | null;
  outboundUri: string | null;
}

export type TrunkEvent =
  | DomainEvent<'TrunkCreated', TrunkSettings & { trunkId: string }>
  | DomainEvent<'TrunkUpdated', Partial<TrunkSettings>>
  | DomainEvent<'TrunkDeleted', Record<string, never>>;

export type TrunkState = { status: 'none' } | ({ status: 'active'; id: string } & TrunkSettings) | { status: 'deleted'; id: string };

export const initialTrunkState = (): TrunkState => ({ status: 'none' });

export function evolveTrunk(state: TrunkState, event: TrunkEvent): TrunkState {
  switch (event.type) {
    case 'TrunkCreated': {
      const { trunkId, ...settings } = event.data;
      return { status: 'active', id: trunkId, ...settings };
    }
    case 'TrunkUpdated':
      return state.status === 'active' ? { ...state, ...event.data } : state;
    case 'TrunkDeleted':
      return state.status === 'active' ? { status: 'deleted', id: state.id } : state;
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}
