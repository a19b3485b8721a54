// Every device an agent can take calls on, from each kind's source (SIP registrations, connected browser
// softphones, the mobile-answering setting), in that order.
import type { AgentDevice, AgentDevices } from './agent-device.ts';

export type DeviceSource = (instanceId: string, agentId: string) => Promise<AgentDevice[]> | AgentDevice[];

export class DeviceDirectory implements AgentDevices {
  private readonly sources: DeviceSource[];

  constructor(sources: DeviceSource[]) {
    this.sources = sources;
  }

  async devicesOf(instanceId: string, agentId: string): Promise<AgentDevice[]> {
    const found = await Promise.all(this.sources.map((source) => source(instanceId, agentId)));
    return found.flat();
  }
}
