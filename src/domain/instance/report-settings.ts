// An instance's report settings (issue 15): the time zone its "today" is read in, and the default
// service-level threshold X, one of the thresholds the report projection keeps counts for.
import { ValidationError } from '../errors.ts';
import { isTimeZone } from '../flow/flow-document.ts';

/** Thresholds (seconds) the report projection keeps "left the queue within X" counts for: service level X is one of them. */
export const serviceLevelThresholds = [5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 240, 300, 600] as const;
export type ServiceLevelThreshold = (typeof serviceLevelThresholds)[number];

export interface ReportSettingsValue {
  timeZone: string;
  serviceLevelSeconds: number;
}

/** What an instance that never configured its reports uses. */
export const defaultReportSettings: ReportSettingsValue = { timeZone: 'UTC', serviceLevelSeconds: 20 };

/** ValidationError on `field` unless `seconds` is one of serviceLevelThresholds. */
export function checkServiceLevelSeconds(seconds: number, field: string): number {
  if (!(serviceLevelThresholds as readonly number[]).includes(seconds)) {
    throw new ValidationError(field, `must be one of ${serviceLevelThresholds.join(', ')} seconds`);
  }
  return seconds;
}

/**
 * An IANA time zone as written (in Intl's case where it lists it: asia/shanghai → Asia/Shanghai); ValidationError on `field` for
 * anything else. Offsets like +05:30 are refused: PostgreSQL reads them with the POSIX sign (inverted).
 */
export function checkTimeZone(zone: string, field: string): string {
  if (!zone || zone.length > 64 || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(zone) || !isTimeZone(zone)) {
    throw new ValidationError(field, 'not an IANA time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)');
  }
  // Intl resolves some zones to their old names (Asia/Kolkata → Asia/Calcutta): keep the one written, in
  // Intl's case when it lists it (asia/shanghai → Asia/Shanghai).
  return canonicalZones().get(zone.toLowerCase()) ?? zone;
}

let zonesByLowerCase: Map<string, string> | null = null;
function canonicalZones(): Map<string, string> {
  zonesByLowerCase ??= new Map(['UTC', ...Intl.supportedValuesOf('timeZone')].map((z) => [z.toLowerCase(), z]));
  return zonesByLowerCase;
}
