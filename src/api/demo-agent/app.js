/* global document, window, fetch, WebSocket, location, navigator, RTCPeerConnection, MediaStream, setTimeout */
// Kefu demo agent: everything here goes through Kefu's public API.
//   HTTP:       POST /graphql with "Authorization: Bearer <token>" (loginAgent gives the token)
//   WebSocket:  /graphql, subprotocol graphql-transport-ws; the token goes in connection_init's payload
//   Softphone:  RTCPeerConnection → complete offer (wait for ICE gathering) → connectSoftphone → answer;
//               softphoneCalls rings it; answerSoftphoneCall / rejectSoftphoneCall / hangUpSoftphoneCall.

const $ = (id) => document.getElementById(id);
const state = { token: null, ws: null, pc: null, stream: null, calls: new Map(), offers: new Map() };
// For the browser test and the curious: the live peer connection.
window.kefuDemo = state;

function log(...parts) {
  const line = `${new Date().toLocaleTimeString()} ${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`;
  $('log').textContent = line + $('log').textContent;
}

async function gql(query, variables = {}) {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(state.token ? { authorization: `Bearer ${state.token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  return body.data;
}

/** A minimal graphql-ws (graphql-transport-ws) client: connection_init/ack, subscribe/next/error/complete, ping/pong. */
class GraphqlWs {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.nextId = 1;
    this.handlers = new Map();
    this.onclose = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, 'graphql-transport-ws');
      this.socket = socket;
      socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } }));
      socket.onerror = () => reject(new Error('WebSocket failed'));
      socket.onclose = (e) => {
        reject(new Error(`WebSocket closed: ${e.code} ${e.reason}`));
        this.onclose?.(e);
      };
      socket.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        switch (msg.type) {
          case 'connection_ack':
            resolve();
            break;
          case 'ping':
            socket.send(JSON.stringify({ type: 'pong' }));
            break;
          case 'next':
            this.handlers.get(msg.id)?.next(msg.payload);
            break;
          case 'error':
            this.handlers.get(msg.id)?.error(msg.payload);
            break;
          case 'complete':
            this.handlers.delete(msg.id);
            break;
        }
      };
    });
  }

  subscribe(query, next, error = (e) => log('subscription error', e)) {
    const id = String(this.nextId++);
    this.handlers.set(id, { next, error });
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
    return () => {
      this.handlers.delete(id);
      if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ id, type: 'complete' }));
    };
  }

  close() {
    this.onclose = null;
    this.socket?.close(1000, 'bye');
  }
}

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
    state.ws = new GraphqlWs(url, state.token);
    await state.ws.connect();
    state.ws.onclose = () => log('the subscription socket closed');
    state.ws.subscribe('subscription { softphoneCalls { callId state contactId callerId callerName reason } }', (p) => onSoftphoneCall(p.data.softphoneCalls));
    state.ws.subscribe('subscription { agentOffers { offerId state contact { id channel customer { id name } } } }', (p) => onOffer(p.data.agentOffers));
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
  // Phone offers are answered on the softphone; other channels are accepted here.
  if (offer.state === 'OFFERED' && c.channel !== 'PHONE') {
    const input = { contactId: c.id, offerId: offer.offerId };
    row.append(button('Accept', 'accept', () => gql('mutation($i: OfferInput!) { acceptOffer(input: $i) { id } }', { i: input }).catch((e) => log(e.message))));
    row.append(button('Decline', 'decline', () => gql('mutation($i: OfferInput!) { declineOffer(input: $i) { id } }', { i: input }).catch((e) => log(e.message))));
  }
}
