// What a chat started now can come to in a channel's chat flow (issue 12): the steps reachable from the start
// with each business-hours step taking the branch the time calls for, every other step any of its exits (the
// customer's answers and who is online are not known before the chat).
import { chatExitsOf, type ChatFlowDocument } from './chat-flow-document.ts';
import { isOpenAt } from './business-hours.ts';

/** Whether a chat started at `now` can reach a leaveMessage step (the customer can leave a message). */
export function canLeaveMessageAt(doc: ChatFlowDocument, now: Date | string): boolean {
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const todo = [doc.start];
  while (todo.length > 0) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const node = byId.get(id);
    if (!node) continue;
    if (node.type === 'leaveMessage') return true;
    if (node.type === 'businessHours') todo.push(isOpenAt(node, now) ? node.open : node.closed);
    else for (const exit of chatExitsOf(node)) todo.push(exit.to);
  }
  return false;
}

/**
 * Whether the flow is open at `now` by the business-hours step it starts with (after any send steps): false
 * when that step takes its closed branch, null when the flow does not start with one.
 */
export function flowOpenAt(doc: ChatFlowDocument, now: Date | string): boolean | null {
  const byId = new Map(doc.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  for (let node = byId.get(doc.start); node && !seen.has(node.id); node = node.type === 'send' ? byId.get(node.next) : undefined) {
    seen.add(node.id);
    if (node.type === 'businessHours') return isOpenAt(node, now);
  }
  return null;
}
