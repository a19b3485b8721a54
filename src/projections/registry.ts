import { agentsProjection } from './agents/agents.projection.ts';
import { instancesProjection } from './instances/instances.projection.ts';
import type { Projection } from './projection.ts';
import { skillGroupsProjection } from './skill-groups/skill-groups.projection.ts';
import { contactsProjection } from './contacts/contacts.projection.ts';
import { blacklistProjection } from './blacklist/blacklist.projection.ts';

export const allProjections: Projection[] = [instancesProjection, agentsProjection, skillGroupsProjection, contactsProjection, blacklistProjection];

export function projectionNamed(name: string): Projection | undefined {
  return allProjections.find((p) => p.name === name);
}
