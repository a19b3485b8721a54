// What a call session needs from the rest of Kefu, passed in (no globals), so a test can see every seam.
import type { Logger } from 'pino';
import type { CommandHandler } from '../../adapters/eventstore/command-handler.ts';
import type { MediaEngine } from '../../adapters/media/media-port.ts';
import type { Prompt } from '../../domain/flow/flow-document.ts';
import type { FlowDocument } from '../../domain/flow/flow-document.ts';
import type { AgentDeviceLost } from '../../domain/skill-group/skill-group.ts';
import type { SatisfactionSurvey } from '../../domain/instance/satisfaction.ts';
import type { ContactWatch } from './contact-watch.ts';
import type { AgentDevices } from './devices/agent-device.ts';

export interface CallDeps {
  commands: CommandHandler;
  media: MediaEngine;
  devices: AgentDevices;
  watch: ContactWatch;
  /** Audio for a prompt (an uploaded file or text to speech), 8 kHz mono. */
  promptAudio(instanceId: string, prompt: Prompt): Promise<Int16Array>;
  holdMusic: Int16Array;
  /** KEFU_SILENCE_ALERT_SECONDS: a connected side silent this long is reported (CallMediaSilent); absent or 0, never. */
  silenceAlertSeconds?: number;
  loadFlow(instanceId: string, flowId: string): Promise<FlowDocument | null>;
  isBlacklisted(instanceId: string, caller: string, now: Date): Promise<boolean>;
  /** False when the skill group's queue already holds its maximum (PH-9 max queue length). */
  queueHasRoom(instanceId: string, skillGroupId: string): Promise<boolean>;
  /** The skill group's onAgentDeviceLost: a call whose agent's device vanished ends (END) or goes back to its queue (REQUEUE). */
  onAgentDeviceLost(instanceId: string, skillGroupId: string): Promise<AgentDeviceLost>;
  /** Where this call's recording goes (the folder is created). */
  recordingPath(instanceId: string, recordingId: string): Promise<string>;
  /**
   * PH-4: who a phone's transfer (SIP REFER) names: another agent by SIP username, or a PHONE skill group by
   * id, in the call's instance; null when neither (the REFER is answered 404). Absent: phones cannot transfer.
   */
  findTransferTarget?(instanceId: string, name: string): Promise<TransferTarget | null>;
  /**
   * Issue 12: the instance's satisfaction survey setting; with PHONE on, a caller whose agent hangs up hears
   * the keypad survey before Kefu hangs up. Absent: no phone survey.
   */
  satisfactionSurvey?(instanceId: string): Promise<SatisfactionSurvey>;
  /** This SIP node's name, kept on each call so a restart ends the calls it held. */
  node: string;
  logger: Logger;
  clock: () => Date;
}

export type TransferTarget = { agentId: string; skillGroupId: null } | { agentId: null; skillGroupId: string };
