/* global document, window, fetch, location, navigator, RTCPeerConnection, MediaStream, setTimeout, clearTimeout, FormData, URL, crypto */
// Kefu demo agent: everything here goes through Kefu's public API.
//   HTTP:       POST /graphql with "Authorization: Bearer <token>" (loginAgent gives the token)
//   WebSocket:  /graphql, subprotocol graphql-transport-ws; the token goes in connection_init's payload
//   Chats:      agentOffers (ONLINE) → acceptOffer → conversationEvents(contactId, afterSeq) → sendChatMessage
//               (clientMessageId), POST /chat/uploads for images, setTyping, markRead, transferContact, endContact
//   Softphone:  RTCPeerConnection → complete offer (wait for ICE gathering) → connectSoftphone → answer;
//               softphoneCalls rings it; answerSoftphoneCall / rejectSoftphoneCall / hangUpSoftphoneCall.

import { graphql, GraphqlWs } from '/demo/shared/kefu-api.js';

const $ = (id) => document.getElementById(id);
const state = { token: null, ws: null, pc: null, stream: null, calls: new Map(), offers: new Map(), chats: new Map(), av: new Map() };
// For the browser test and the curious: the live peer connection.
window.kefuDemo = state;

function log(...parts) {
  const line = `${new Date().toLocaleTimeString()} ${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`;
  $('log').textContent = line + $('log').textContent;
}

const gql = (query, variables = {}) => graphql(query, variables, state.token);

// ---- log in and subscriptions ----

$('loginForm').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const data = await gql('mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', {
      input: { instanceId: $('instanceId').value.trim(), login: $('login').value.trim(), password: $('password').value },
    });
    state.token = data.loginAgent.token;
    const me = await gql('{ me { ... on AgentPrincipal { agent { id name presence } } } }').catch(() => null);
    state.agentId = me?.me?.agent?.id ?? null;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
    state.ws = new GraphqlWs(url, state.token, (e) => log('subscription error', e));
    await state.ws.connect();
    state.ws.onclose = () => log('the subscription socket closed');
    state.ws.subscribe('subscription { softphoneCalls { callId state contactId callerId callerName reason } }', (p) => onSoftphoneCall(p.data.softphoneCalls));
    state.ws.subscribe('subscription { agentOffers { offerId state transfer { fromAgent { name } note } contact { id channel customer { id name } data { key value } } } }', (p) => onOffer(p.data.agentOffers));
    state.ws.subscribe('subscription { agentStatusChanged { presence reason wrapUpUntil } }', (p) => showStatus(p.data.agentStatusChanged));
    $('loginSection').hidden = true;
    $('workspace').hidden = false;
    if (me?.me?.agent) $('presence').textContent = me.me.agent.presence;
    log('logged in');
  } catch (err) {
    log('login failed:', err.message);
  }
});

function showStatus(s) {
  $('presence').textContent = s.presence + (s.reason ? ` (${s.reason})` : '');
  const wrapping = s.wrapUpUntil !== null && Date.parse(s.wrapUpUntil) > Date.now();
  $('wrapUp').hidden = !wrapping;
  $('wrapUpUntil').textContent = wrapping ? new Date(s.wrapUpUntil).toLocaleTimeString() : '';
}

for (const id of ['presenceAvailable', 'presenceBreak', 'presenceOffline']) {
  $(id).addEventListener('click', async (e) => {
    try {
      const presence = e.target.dataset.presence;
      const data = await gql('mutation($p: PresenceChoice!) { setPresence(input: { presence: $p }) { presence } }', { p: presence });
      $('presence').textContent = data.setPresence.presence;
    } catch (err) {
      log('presence:', err.message);
    }
  });
}

$('endWrapUp').addEventListener('click', async () => {
  try {
    const data = await gql('mutation { endWrapUp { presence } }');
    $('wrapUp').hidden = true;
    $('presence').textContent = data.endWrapUp.presence;
    log('wrap-up ended');
  } catch (err) {
    log('end wrap-up:', err.message);
  }
});

$('logout').addEventListener('click', async () => {
  await disconnectSoftphone();
  state.ws?.close();
  state.token = null;
  $('workspace').hidden = true;
  $('loginSection').hidden = false;
});

// ---- softphone ----

async function connectSoftphone() {
  $('softphoneState').textContent = 'connecting';
  state.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  state.pc = pc;
  for (const track of state.stream.getAudioTracks()) pc.addTrack(track, state.stream);
  pc.ontrack = (e) => {
    $('remoteAudio').srcObject = e.streams[0] ?? new MediaStream([e.track]);
  };
  pc.onconnectionstatechange = () => {
    $('softphoneState').textContent = pc.connectionState;
    log('softphone', pc.connectionState);
  };
  await pc.setLocalDescription(await pc.createOffer());
  // Kefu takes a complete offer: wait until every candidate is in it.
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 5000);
  });
  const data = await gql('mutation($sdp: String!) { connectSoftphone(input: { sdp: $sdp }) { id sdp codec } }', { sdp: pc.localDescription.sdp });
  await pc.setRemoteDescription({ type: 'answer', sdp: data.connectSoftphone.sdp });
  $('connectSoftphone').disabled = true;
  $('disconnectSoftphone').disabled = false;
  $('mute').disabled = false;
  log('softphone answered by Kefu, codec', data.connectSoftphone.codec);
}

async function disconnectSoftphone() {
  if (!state.pc) return;
  await gql('mutation { disconnectSoftphone }').catch(() => undefined);
  state.pc.close();
  state.pc = null;
  for (const t of state.stream?.getTracks() ?? []) t.stop();
  state.stream = null;
  $('softphoneState').textContent = 'not connected';
  $('connectSoftphone').disabled = false;
  $('disconnectSoftphone').disabled = true;
  $('mute').disabled = true;
}

$('connectSoftphone').addEventListener('click', () => connectSoftphone().catch((err) => {
  $('softphoneState').textContent = 'failed';
  log('softphone:', err.message);
}));
$('disconnectSoftphone').addEventListener('click', () => disconnectSoftphone());
$('mute').addEventListener('change', async (e) => {
  try {
    await gql('mutation($m: Boolean!) { setSoftphoneMuted(input: { muted: $m }) { muted } }', { m: e.target.checked });
  } catch (err) {
    log('mute:', err.message);
  }
});

function button(text, className, onClick) {
  const b = document.createElement('button');
  b.textContent = text;
  b.className = className;
  b.addEventListener('click', onClick);
  return b;
}

async function callAction(mutation, callId) {
  try {
    await gql(`mutation($id: ID!) { ${mutation}(input: { callId: $id }) { state } }`, { id: callId });
  } catch (err) {
    log(`${mutation}:`, err.message);
  }
}

function onSoftphoneCall(event) {
  log('call', event.state, event.callerId, event.reason ?? '');
  let row = state.calls.get(event.callId);
  if (!row) {
    row = document.createElement('div');
    row.className = 'call';
    row.dataset.callId = event.callId;
    state.calls.set(event.callId, row);
    $('calls').append(row);
  }
  row.dataset.state = event.state;
  row.replaceChildren();
  const label = document.createElement('span');
  label.className = 'call-label';
  label.textContent = `${event.callerName ?? ''} ${event.callerId} — ${event.state}${event.reason ? ` (${event.reason})` : ''} `;
  row.append(label);
  if (event.state === 'RINGING') {
    row.append(button('Answer', 'answer', () => callAction('answerSoftphoneCall', event.callId)));
    row.append(button('Reject', 'reject', () => callAction('rejectSoftphoneCall', event.callId)));
  } else if (event.state !== 'ENDED') {
    row.append(button('Hang up', 'hangup', () => callAction('hangUpSoftphoneCall', event.callId)));
  } else {
    setTimeout(() => {
      row.remove();
      state.calls.delete(event.callId);
    }, 5000);
  }
}

// ---- offers (every channel; phone offers ring the softphone) ----

function onOffer(offer) {
  let row = state.offers.get(offer.offerId);
  if (!row) {
    row = document.createElement('div');
    row.className = 'offer';
    state.offers.set(offer.offerId, row);
    $('offers').prepend(row);
  }
  row.dataset.state = offer.state;
  row.replaceChildren();
  const c = offer.contact;
  const label = document.createElement('span');
  label.textContent = `${c.channel} ${c.customer.name ?? ''} ${c.customer.id} — ${offer.state} `;
  row.append(label);
  if (offer.transfer) {
    const from = document.createElement('div');
    from.className = 'transfer-note';
    from.textContent = `Transferred by ${offer.transfer.fromAgent?.name ?? 'a colleague'}${offer.transfer.note ? `: ${offer.transfer.note}` : ''}`;
    row.append(from);
  }
  // Auto-accepted chats (OL-3) open at once.
  if (offer.state === 'ACCEPTED' && c.channel === 'ONLINE') openChat(c, offer.transfer);
  // Phone offers are answered on the softphone; other channels are accepted here.
  if (offer.state === 'OFFERED' && c.channel === 'AV') {
    row.append(button('Take video call', 'accept-av', () => takeAvCall(c, offer.offerId, offer.transfer).catch((e) => log('AV call:', e.message))));
    row.append(button('Decline', 'decline', () => gql('mutation($i: OfferInput!) { declineOffer(input: $i) { id } }', { i: { contactId: c.id, offerId: offer.offerId } }).catch((e) => log(e.message))));
  } else if (offer.state === 'OFFERED' && c.channel !== 'PHONE') {
    const input = { contactId: c.id, offerId: offer.offerId };
    row.append(
      button('Accept', 'accept', () =>
        gql('mutation($i: OfferInput!) { acceptOffer(input: $i) { id } }', { i: input })
          .then(() => c.channel === 'ONLINE' && openChat(c, offer.transfer))
          .catch((e) => log(e.message)),
      ),
    );
    row.append(button('Decline', 'decline', () => gql('mutation($i: OfferInput!) { declineOffer(input: $i) { id } }', { i: input }).catch((e) => log(e.message))));
  }
}

// ---- chats (ONLINE contacts): several at once, side by side with calls ----
// Every text goes into the page with textContent: a customer's "<script>" is shown as those characters.

const CHAT_MESSAGE = 'seq clientMessageId sender kind agentName text sentAt attachment { name contentType bytes url thumbnailUrl } system { type agentName endStatus } link { title description url thumbUrl pagePath }';

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function openChat(contact, transfer) {
  if (state.chats.has(contact.id)) return;
  const chat = { contactId: contact.id, messages: new Map(), lastSeq: 0, readSent: 0, typingOn: false, typingAt: 0, typingTimer: null, dispose: null, ended: false };
  state.chats.set(contact.id, chat);
  const card = el('div', 'chat');
  card.dataset.contactId = contact.id;
  const title = el('div', 'chat-title', `${contact.customer.name ?? 'Visitor'} · ${contact.customer.id}`);
  const status = el('div', 'chat-status', 'connected');
  const info = el('div', 'chat-info');
  for (const d of contact.data ?? []) info.append(el('div', null, `${d.key}: ${d.value}`));
  if (transfer) info.append(el('div', 'transfer-note', `Transferred by ${transfer.fromAgent?.name ?? 'a colleague'}${transfer.note ? `: ${transfer.note}` : ''}`));
  const logEl = el('div', 'chat-log');
  const typing = el('div', 'chat-typing');
  typing.hidden = true;
  const input = el('input', 'chat-input');
  input.placeholder = 'Reply…';
  const send = button('Send', 'chat-send', () => sendChat(chat, input));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') sendChat(chat, input);
  });
  input.addEventListener('input', () => chatTyping(chat, input.value !== ''));
  const file = el('input', 'chat-file');
  file.type = 'file';
  file.accept = 'image/*';
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    file.value = '';
    if (f) sendChatFile(chat, f);
  });
  const target = el('input', 'transfer-target');
  target.placeholder = 'agent id or skill group id';
  const note = el('input', 'transfer-note-input');
  note.placeholder = 'note';
  const toAgent = button('Transfer to agent', 'transfer-agent', () => transferChat(chat, { toAgentId: target.value.trim(), note: note.value || null }));
  const toGroup = button('Transfer to group', 'transfer-group', () => transferChat(chat, { toSkillGroupId: target.value.trim(), note: note.value || null }));
  const end = button('End chat', 'chat-end', () =>
    gql('mutation($c: ID!) { endContact(input: { contactId: $c }) { status } }', { c: chat.contactId }).catch((e) => log('end chat:', e.message)),
  );
  const close = button('Close', 'chat-close', () => closeChat(chat));
  // A link card (issue 13): a web page; Kefu checks it (http/https, lengths) and answers BAD_USER_INPUT otherwise.
  const sendLink = button('Link…', 'chat-link', () => {
    const url = window.prompt('Link address (https://…)');
    if (!url) return;
    const title = window.prompt('Link title');
    if (!title) return;
    const description = window.prompt('Description (optional)') || null;
    sendChatMessage(chat, { link: { title, url, description } }).catch(() => undefined);
  });
  const composer = el('div', 'chat-composer');
  composer.append(input, send, file, sendLink);
  const actions = el('div', 'chat-actions');
  actions.append(target, note, toAgent, toGroup, end, close);
  card.append(title, status, info, logEl, typing, composer, actions);
  Object.assign(chat, { card, logEl, status, typing, composer, actions, input });
  $('chats').append(card);
  subscribeChat(chat);
}

function subscribeChat(chat) {
  chat.dispose?.();
  chat.dispose = state.ws.subscribe(
    `subscription($c: ID!, $a: Int) { conversationEvents(contactId: $c, afterSeq: $a) { kind sender typing readSeq message { ${CHAT_MESSAGE} } conversation { status agentName endStatus customerLastReadSeq } } }`,
    (p) => onChatEvent(chat, p.data?.conversationEvents),
    (e) => log('chat subscription:', JSON.stringify(e)),
    { c: chat.contactId, a: chat.lastSeq },
  );
}

function onChatEvent(chat, e) {
  if (!e) return;
  if (e.kind === 'MESSAGE') addChatMessage(chat, e.message);
  if (e.kind === 'TYPING' && e.sender === 'CUSTOMER') {
    chat.typing.hidden = !e.typing;
    chat.typing.textContent = e.typing ? 'The customer is typing…' : '';
  }
  if (e.kind === 'READ' && e.sender === 'CUSTOMER') {
    chat.customerRead = e.readSeq;
    showChatSeen(chat);
  }
  if (e.conversation) {
    chat.conversation = e.conversation;
    showChatStatus(chat);
    if (e.conversation.status === 'ENDED') chatEnded(chat);
  }
}

function addChatMessage(chat, m) {
  if (!m || chat.messages.has(m.seq)) return;
  chat.messages.set(m.seq, m);
  while (chat.messages.has(chat.lastSeq + 1)) chat.lastSeq++;
  const row = el('div', `chat-msg ${m.sender.toLowerCase()}`);
  row.dataset.seq = String(m.seq);
  if (m.system) {
    const s = m.system;
    row.textContent = s.type === 'PROMPT' ? `Told the customer: ${m.text ?? ''}` : s.type === 'CONNECTED' ? `${s.agentName ?? 'An agent'} joined` : s.type === 'ENDED' ? `Chat ended (${s.endStatus ?? ''})` : s.type === 'TRANSFERRED' ? 'Transferred' : 'Queued';
  } else {
    // SYSTEM without a notice: the chat flow's message to the customer (issue 12).
    row.append(el('span', 'who', m.sender === 'CUSTOMER' ? 'Customer: ' : m.sender === 'SYSTEM' ? 'Chat flow: ' : `${m.agentName ?? 'Agent'}: `));
    if (m.attachment) appendAttachment(row, m.attachment, m.kind);
    if (m.kind === 'LINK' && m.link) appendLinkCard(row, m.link);
    if (m.text) row.append(el('span', 'text', m.text));
  }
  const after = [...chat.logEl.children].find((c) => Number(c.dataset.seq) > m.seq) ?? null;
  chat.logEl.insertBefore(row, after);
  chat.logEl.scrollTop = chat.logEl.scrollHeight;
  if (m.sender === 'CUSTOMER') chat.typing.hidden = true;
  if (m.system?.type === 'ENDED') chatEnded(chat);
  markChatRead(chat);
}

/** A link card (issue 13): text and an anchor to an http(s) address opening a new tab, never HTML. */
function appendLinkCard(row, link) {
  let href = null;
  try {
    const u = new URL(link.url ?? '');
    if (u.protocol === 'https:' || u.protocol === 'http:') href = u.href;
  } catch {
    href = null;
  }
  const card = el(href ? 'a' : 'div', 'link-card');
  if (href) {
    card.href = href;
    card.target = '_blank';
    card.rel = 'noopener noreferrer';
  }
  card.append(el('strong', 'link-title', link.title));
  if (link.description) card.append(el('div', 'link-desc', link.description));
  card.append(el('div', 'link-url', href ?? (link.pagePath ? `Mini program page: ${link.pagePath}` : '')));
  row.append(card);
}

/** Signed links (customers' and, where Kefu signs them, agents') work in <img>; others are fetched with the token. */
function appendAttachment(row, a, kind) {
  const link = el('a', 'attachment');
  link.target = '_blank';
  link.rel = 'noopener';
  const show = async (url, put) => {
    const u = new URL(url, location.href);
    if (u.searchParams.has('sig') || u.origin !== location.origin) return put(u.href);
    const res = await fetch(u.href, { headers: { authorization: `Bearer ${state.token}` } });
    put(URL.createObjectURL(await res.blob()));
  };
  show(a.url, (href) => (link.href = href)).catch(() => undefined);
  if (kind === 'IMAGE') {
    const img = el('img', 'thumb');
    img.alt = a.name;
    show(a.thumbnailUrl ?? a.url, (src) => (img.src = src)).catch(() => undefined);
    link.append(img);
  } else {
    link.textContent = `📎 ${a.name} (${Math.ceil(a.bytes / 1024)} KB)`;
  }
  row.append(link);
}

function showChatSeen(chat) {
  for (const old of chat.logEl.querySelectorAll('.seen')) old.remove();
  const mine = [...chat.messages.values()].filter((m) => m.sender === 'AGENT' && m.seq <= (chat.customerRead ?? 0)).at(-1);
  const row = mine && chat.logEl.querySelector(`[data-seq="${mine.seq}"]`);
  if (row) row.append(el('span', 'seen', ' ✓ seen'));
}

function markChatRead(chat) {
  const last = Math.max(0, ...[...chat.messages.values()].filter((m) => m.sender !== 'AGENT').map((m) => m.seq));
  if (last <= chat.readSent || chat.ended) return;
  chat.readSent = last;
  gql('mutation($i: MarkReadInput!) { markRead(input: $i) { agentLastReadSeq } }', { i: { contactId: chat.contactId, seq: last } }).catch(() => {
    chat.readSent = 0;
  });
}

function chatTyping(chat, typing) {
  clearTimeout(chat.typingTimer);
  const now = Date.now();
  if (typing && (!chat.typingOn || now - chat.typingAt > 3000)) {
    chat.typingOn = true;
    chat.typingAt = now;
    gql('mutation($i: SetTypingInput!) { setTyping(input: $i) }', { i: { contactId: chat.contactId, typing: true } }).catch(() => undefined);
  }
  if (typing) chat.typingTimer = setTimeout(() => chatTyping(chat, false), 4000);
  else if (chat.typingOn) {
    chat.typingOn = false;
    gql('mutation($i: SetTypingInput!) { setTyping(input: $i) }', { i: { contactId: chat.contactId, typing: false } }).catch(() => undefined);
  }
}

async function sendChat(chat, input) {
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  chatTyping(chat, false);
  await sendChatMessage(chat, { text });
}

async function sendChatMessage(chat, message) {
  // One clientMessageId per message, kept across retries: Kefu stores it once.
  const clientMessageId = crypto.randomUUID();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const d = await gql(`mutation($i: SendChatMessageInput!) { sendChatMessage(input: $i) { ${CHAT_MESSAGE} } }`, { i: { contactId: chat.contactId, message: { clientMessageId, ...message } } });
      addChatMessage(chat, d.sendChatMessage);
      return;
    } catch (e) {
      log('send:', e.message);
      if (!(e instanceof TypeError)) return; // refused (ended, too long): retrying will not help
      await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
    }
  }
}

async function sendChatFile(chat, file) {
  try {
    const form = new FormData();
    form.append('contactId', chat.contactId);
    form.append('file', file, file.name);
    const res = await fetch('/chat/uploads', { method: 'POST', headers: { authorization: `Bearer ${state.token}` }, body: form });
    const body = await res.json();
    if (!res.ok) throw new Error(`${body.error?.code ?? res.status}: ${body.error?.message ?? 'upload failed'}`);
    await sendChatMessage(chat, { fileId: body.fileId });
  } catch (e) {
    log('upload:', e.message);
  }
}

async function transferChat(chat, input) {
  if (!input.toAgentId && !input.toSkillGroupId) return log('transfer: give an agent id or a skill group id');
  try {
    await gql('mutation($i: TransferContactInput!) { transferContact(input: $i) { status } }', { i: { contactId: chat.contactId, ...input } });
    chatLeft(chat, 'transferred');
  } catch (e) {
    log('transfer:', e.message);
  }
}

/** "connected", or after a transfer "transferred · connected" (the chat goes on with someone else). */
function showChatStatus(chat) {
  const c = chat.conversation;
  const now = c ? c.status.toLowerCase() + (c.endStatus ? ` (${c.endStatus})` : '') : 'connected';
  chat.status.textContent = chat.left ? `${chat.left} · ${now}` : now;
}

function chatLeft(chat, why) {
  stopAvCall(chat.contactId);
  chat.left = why;
  showChatStatus(chat);
  chat.composer.hidden = true;
  for (const b of chat.actions.querySelectorAll('button:not(.chat-close), input')) b.disabled = true;
}

function chatEnded(chat) {
  if (chat.ended) return;
  stopAvCall(chat.contactId);
  chat.ended = true;
  chat.card.dataset.ended = 'true';
  chat.typing.hidden = true;
  if (!chat.left) {
    chat.composer.hidden = true;
    for (const b of chat.actions.querySelectorAll('button:not(.chat-close), input')) b.disabled = true;
  }
  showChatStatus(chat);
}

function closeChat(chat) {
  chat.dispose?.();
  chat.card.remove();
  state.chats.delete(chat.contactId);
}

// ---- AV calls (issue 14): the customer's audio and video, relayed by Kefu; the chat card beside it ----
// acceptAvCall takes the offer with this browser's complete SDP offer (camera and microphone); the call's
// conversation is the chat card's (messages, transfer, end). A transfer or the end closes the media here.

async function takeAvCall(contact, offerId, transfer) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true }).catch(() => navigator.mediaDevices.getUserMedia({ audio: true }));
  const { avCallOptions } = await gql('query { avCallOptions { iceServers { urls username credential } } }');
  const iceServers = avCallOptions.iceServers.map((s) => (s.username ? { urls: s.urls, username: s.username, credential: s.credential } : { urls: s.urls }));
  const pc = new RTCPeerConnection({ iceServers });
  for (const track of stream.getTracks()) pc.addTrack(track, stream);
  // Without a camera the agent still sees the customer.
  if (stream.getVideoTracks().length === 0) pc.addTransceiver('video', { direction: 'recvonly' });
  const remote = new MediaStream();
  pc.ontrack = (e) => remote.addTrack(e.track);
  pc.onconnectionstatechange = () => log('AV call', contact.id, pc.connectionState);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 5000);
  });
  let answer;
  try {
    answer = await gql('mutation($i: AcceptAvCallInput!) { acceptAvCall(input: $i) { sdp videoCodec } }', { i: { contactId: contact.id, offerId, sdp: pc.localDescription.sdp } });
  } catch (e) {
    pc.close();
    for (const t of stream.getTracks()) t.stop();
    throw e;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp: answer.acceptAvCall.sdp });
  log('AV call taken, video', answer.acceptAvCall.videoCodec ?? 'none');
  const call = { pc, stream, renegotiating: false, dispose: null };
  state.av.set(contact.id, call);
  // An audio call becoming a video call: when the customer's video starts and this side's has not, this
  // browser sends a new offer on the same connection (Kefu kept its video m-line for this).
  call.dispose = state.ws.subscribe('subscription($c: ID!) { avCallMedia(contactId: $c) { customerVideo agentVideo videoCodec } }', (p) => {
    const m = p.data?.avCallMedia;
    if (!m || !m.customerVideo || m.agentVideo || call.renegotiating || state.av.get(contact.id) !== call) return;
    call.renegotiating = true;
    renegotiateAvCall(contact.id, pc)
      .then((codec) => log('AV call now has video', codec))
      .catch((e) => log('AV video:', e.message))
      .finally(() => (call.renegotiating = false));
  }, undefined, { c: contact.id });
  openChat(contact, transfer);
  const chat = state.chats.get(contact.id);
  const media = el('div', 'av-media');
  const remoteVideo = el('video', 'av-remote');
  remoteVideo.autoplay = true;
  remoteVideo.playsInline = true;
  remoteVideo.srcObject = remote;
  remoteVideo.style.width = '100%';
  const localVideo = el('video', 'av-local');
  localVideo.autoplay = true;
  localVideo.muted = true;
  localVideo.playsInline = true;
  localVideo.srcObject = stream;
  localVideo.style.width = '30%';
  const mute = button('Mute', 'av-mute', () => {
    for (const t of stream.getAudioTracks()) t.enabled = !t.enabled;
    mute.textContent = stream.getAudioTracks().every((t) => t.enabled) ? 'Mute' : 'Unmute';
  });
  const camera = button('Camera off', 'av-camera', () => {
    for (const t of stream.getVideoTracks()) t.enabled = !t.enabled;
    camera.textContent = stream.getVideoTracks().every((t) => t.enabled) ? 'Camera off' : 'Camera on';
  });
  media.append(remoteVideo, localVideo, mute, camera);
  chat?.card.insertBefore(media, chat.logEl);
}

async function renegotiateAvCall(contactId, pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    setTimeout(resolve, 5000);
  });
  const r = await gql('mutation($i: RenegotiateAvCallInput!) { renegotiateAvCall(input: $i) { sdp videoCodec } }', { i: { contactId, sdp: pc.localDescription.sdp } });
  await pc.setRemoteDescription({ type: 'answer', sdp: r.renegotiateAvCall.sdp });
  return r.renegotiateAvCall.videoCodec;
}

function stopAvCall(contactId) {
  const av = state.av.get(contactId);
  if (!av) return;
  state.av.delete(contactId);
  if (typeof av.dispose === 'function') av.dispose();
  av.pc.close();
  for (const t of av.stream.getTracks()) t.stop();
  state.chats.get(contactId)?.card.querySelector('.av-media')?.remove();
}
