/* global window, document, localStorage, fetch, WebSocket, FormData, CustomEvent, URL, navigator, location, crypto, setTimeout, clearTimeout, setInterval, clearInterval, console */
// Kefu's chat widget for a customer's web or H5 page. No build step: Kefu serves this file at /widget.js and a
// page needs only
//   <script src="https://kefu.example/widget.js" data-channel-key="wc_..." async></script>
// The API's base URL is the script's own origin. Optional attributes: data-title, data-welcome,
// data-position="left", data-open="true", data-locale="zh" (else the browser's language; English otherwise).
// A page may set window.KefuSettings = { customerId, customerHash, name, attributes: { plan: 'gold' } } before
// the tag (a verified customer: customerHash is the hex HMAC-SHA256 of customerId, made by the business's
// server; the attributes are shown to the agent with the chat).
//
// For the page: window.Kefu.open(), .close(), .toggle(), .isOpen(), .send(text), .conversation (the current
// chat: contactId, status, queuePosition, agentName, lastSeq), .on(name, fn) / .off(name, fn) with the events
// 'ready', 'open', 'close', 'message' (each message shown, replayed ones included), 'ended'; the same events
// are dispatched on window as 'kefu:<name>' (listen before the script has loaded).
//
// What it speaks (Kefu's public API only):
//   POST /graphql         startCustomerSession (token + visitorId kept in localStorage, renewed before expiry),
//                         startChat (clientChatId), sendChatMessage (clientMessageId), setTyping, markRead,
//                         endChat, conversation
//   POST /chat/uploads    images and files (multipart: contactId, file)
//   WS   /graphql         graphql-transport-ws, connection_init { authorization: 'Bearer …' },
//                         conversationEvents(contactId, afterSeq: the last seq it holds without a gap)
// Guarantees: messages are keyed by seq (a replayed or repeated one is shown once, in seq order); a dropped
// connection reconnects with backoff and resumes after the last seq; what is typed offline waits in an outbox
// in localStorage and is sent in order, each message with its clientMessageId, so a retry is stored once.
// Message text is only ever set with textContent: never parsed as HTML.
(() => {
  'use strict';
  if (window.Kefu && window.Kefu.version) return; // loaded twice: keep the first

  const script = document.currentScript || document.querySelector('script[data-channel-key]');
  if (!script || !script.dataset.channelKey) {
    console.error('Kefu widget: the script tag needs data-channel-key');
    return;
  }
  const channelKey = script.dataset.channelKey;
  const base = new URL(script.src, location.href).origin;
  const settings = Object.assign({}, window.KefuSettings || {});
  // The widget's words: English, or Chinese for data-locale="zh" (or a Chinese browser without data-locale).
  const STRINGS = {
    en: {
      title: 'Chat with us',
      placeholder: 'Type a message…',
      message: 'Message',
      send: 'Send',
      emoji: 'Emoji',
      attach: 'Send a file',
      open: 'Open chat',
      close: 'Close chat',
      endChat: 'End chat',
      ended: 'This chat has ended.',
      rateQuestion: 'How was your chat?',
      rateComment: 'Anything to add? (optional)',
      rateSend: 'Send rating',
      rateThanks: 'Thank you for your feedback!',
      newChat: 'Start a new chat',
      queued: 'You are in the queue: an agent will be with you shortly.',
      queuedNoAgent: 'Your message is kept: an agent will answer here as soon as one is available.',
      leaveMessageNow: 'No agent is online right now: leave a message and we will answer here',
      closedNow: 'We are closed right now: leave a message and we will answer here',
      closed: 'We are closed right now',
      leftMessage: 'Your message was left: an agent will answer here as soon as one is available.',
      joined: (name) => `${name || 'An agent'} joined the chat.`,
      transferred: 'Your chat is being passed to a colleague.',
      endedNoAgent: 'No agent is online right now. Please try again later.',
      endedIdle: 'The chat ended after a while without messages.',
      chattingWith: (name) => `Chatting with ${name || 'an agent'}`,
      waiting: 'Waiting for an agent…',
      chatEnded: 'Chat ended',
      noAgent: 'No agent is online right now',
      replyTime: 'We usually reply in a few minutes',
      next: 'You are next in the queue.',
      position: (n) => `You are number ${n} in the queue.`,
      typing: (name) => `${name || 'The agent'} is typing…`,
      seen: 'Seen',
      reconnecting: 'Reconnecting…',
      offline: 'You are offline: messages will be sent when you are back.',
      sending: 'Sending…',
      uploading: 'Uploading…',
      notSent: (why) => `Not sent: ${why}`,
      notSentEnded: 'Not sent: the chat has ended',
      notSentOffline: 'Not sent: no connection',
      noConnection: 'No connection: try again in a moment',
      unavailable: (why) => `The chat is not available: ${why}`,
    },
    zh: {
      title: '在线客服',
      placeholder: '请输入消息…',
      message: '消息',
      send: '发送',
      emoji: '表情',
      attach: '发送文件',
      open: '打开对话',
      close: '关闭对话',
      endChat: '结束会话',
      ended: '本次会话已结束。',
      rateQuestion: '您对本次服务满意吗？',
      rateComment: '还有什么想说的吗？（选填）',
      rateSend: '提交评价',
      rateThanks: '感谢您的评价！',
      newChat: '开始新会话',
      queued: '您已进入排队，客服将尽快为您服务。',
      queuedNoAgent: '您的留言已保存，客服上线后将在此回复您。',
      leaveMessageNow: '当前没有客服在线：请留言，我们会在此回复您',
      closedNow: '现在是非工作时间：请留言，我们会在此回复您',
      closed: '现在是非工作时间',
      leftMessage: '您的留言已收到，客服上线后将在此回复您。',
      joined: (name) => `${name || '客服'} 为您服务`,
      transferred: '正在为您转接其他客服。',
      endedNoAgent: '当前没有客服在线，请稍后再试。',
      endedIdle: '由于长时间没有消息，会话已自动结束。',
      chattingWith: (name) => `正在与 ${name || '客服'} 对话`,
      waiting: '正在等待客服…',
      chatEnded: '会话已结束',
      noAgent: '当前没有客服在线',
      replyTime: '我们通常在几分钟内回复',
      next: '马上就轮到您了。',
      position: (n) => `您当前排在第 ${n} 位。`,
      typing: (name) => `${name || '客服'} 正在输入…`,
      seen: '已读',
      reconnecting: '正在重新连接…',
      offline: '网络已断开：恢复后消息会自动发送。',
      sending: '发送中…',
      uploading: '上传中…',
      notSent: (why) => `未发送：${why}`,
      notSentEnded: '未发送：会话已结束',
      notSentOffline: '未发送：网络不可用',
      noConnection: '网络不可用，请稍后重试',
      unavailable: (why) => `暂时无法使用在线客服：${why}`,
    },
  };
  const locale = (script.dataset.locale || navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  const T = STRINGS[locale];
  const options = {
    title: script.dataset.title || T.title,
    welcome: script.dataset.welcome || null,
    position: script.dataset.position === 'left' ? 'left' : 'right',
    open: script.dataset.open === 'true',
    // Audio and video call buttons (issue 14) are the web channel's setting (updateWebChannel av); the tag's
    // data-av="audio,video" can only narrow them (data-av="" shows none). A channel without AV settings
    // shows what data-av names (none without it). Shown when Kefu takes AV calls and, per the channel's
    // setting, while an agent of the visual menu is available.
    av: script.dataset.av === undefined ? null : script.dataset.av.split(',').map((k) => k.trim()).filter((k) => k === 'audio' || k === 'video'),
  };

  // ---- storage (one JSON entry per channel key; memory only when localStorage is unavailable) ----

  const storageKey = `kefu:${channelKey}`;
  let memoryStore = null;
  function load() {
    try {
      return JSON.parse(localStorage.getItem(storageKey) || '{}') || {};
    } catch {
      return memoryStore || {};
    }
  }
  const st = Object.assign({ visitorId: null, customerId: null, token: null, expiresAt: null, contactId: null, clientChatId: null, outbox: [], welcome: null, open: false, seenSeq: 0 }, load());
  function save() {
    const data = JSON.stringify(st);
    try {
      localStorage.setItem(storageKey, data);
    } catch {
      memoryStore = JSON.parse(data);
    }
  }
  // A verified customer other than the stored one (another login on this browser): start afresh.
  if ((settings.customerId || null) !== (st.customerId || null)) {
    Object.assign(st, { customerId: settings.customerId || null, token: null, expiresAt: null, contactId: null, clientChatId: null, outbox: [] });
    save();
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---- events for the page (window.Kefu.on, and kefu:<name> events on window) ----

  const listeners = new Map();
  function emit(name, detail) {
    for (const fn of listeners.get(name) || []) {
      try {
        fn(detail);
      } catch (err) {
        console.error(err);
      }
    }
    window.dispatchEvent(new CustomEvent(`kefu:${name}`, { detail }));
  }

  // ---- HTTP GraphQL ----

  class ApiError extends Error {
    constructor(message, code, extensions) {
      super(message);
      this.code = code;
      this.extensions = extensions || {};
    }
  }
  /** A request that never reached Kefu (offline, connection refused): try again later. */
  const isNetworkError = (err) => !(err instanceof ApiError);

  async function post(query, variables, token) {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${base}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }), mode: 'cors', credentials: 'omit' });
    let body;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    const first = body && body.errors && body.errors[0];
    if (first) throw new ApiError(first.message, (first.extensions && first.extensions.code) || 'ERROR', first.extensions);
    if (!res.ok || !body) throw new ApiError(`HTTP ${res.status}`, res.status === 401 ? 'UNAUTHENTICATED' : 'ERROR');
    return body.data;
  }

  let sessionPromise = null;
  function session(force) {
    if (!force && st.token && st.expiresAt && Date.parse(st.expiresAt) - Date.now() > 60_000) return Promise.resolve(st.token);
    if (!sessionPromise) {
      sessionPromise = startSession().finally(() => {
        sessionPromise = null;
      });
    }
    return sessionPromise;
  }
  async function startSession() {
    const input = { channelKey };
    if (settings.customerId) {
      input.customerId = String(settings.customerId);
      input.customerHash = String(settings.customerHash || '');
    } else if (st.visitorId) {
      input.visitorId = st.visitorId;
    }
    if (settings.name) input.name = String(settings.name);
    const q = 'mutation($input: StartCustomerSessionInput!) { startCustomerSession(input: $input) { token expiresAt visitorId webChannel { name greeting agentsOnline availability takesMessages } } }';
    let data;
    try {
      data = await post(q, { input }, null);
    } catch (err) {
      // A stored visitor id Kefu no longer takes: become a new visitor.
      if (err.code !== 'BAD_USER_INPUT' || !input.visitorId) throw err;
      delete input.visitorId;
      st.visitorId = null;
      data = await post(q, { input }, null);
    }
    const s = data.startCustomerSession;
    st.token = s.token;
    st.expiresAt = s.expiresAt;
    if (s.visitorId) st.visitorId = s.visitorId;
    applyChannel(s.webChannel);
    save();
    return st.token;
  }

  /**
   * What the channel says of itself (issue 12): its greeting (null: the welcome prompt is off, or a chat flow
   * greets; the widget then shows none of its own) and whether a chat would reach an agent now.
   */
  function applyChannel(c) {
    st.welcome = c.greeting || null;
    agentsOnline = c.agentsOnline;
    availability = c.availability || null;
    takesMessages = c.takesMessages !== false;
    renderHeader();
    renderWelcome();
  }

  /** Asked again when the panel opens before a chat: agents come and go, work hours begin and end. */
  let channelAsked = 0;
  async function refreshChannel() {
    if (Date.now() - channelAsked < 10_000) return;
    channelAsked = Date.now();
    const d = await gql('query { customerWebChannel { greeting agentsOnline availability takesMessages } }', {});
    applyChannel(d.customerWebChannel);
    save();
  }

  /** A GraphQL request as the customer: renews the session once when Kefu says the token is no good. */
  async function gql(query, variables) {
    const token = await session(false);
    try {
      return await post(query, variables, token);
    } catch (err) {
      if (err.code !== 'UNAUTHENTICATED') throw err;
      return post(query, variables, await session(true));
    }
  }

  // ---- conversation state ----

  const MESSAGE = 'seq clientMessageId sender kind agentName text sentAt attachment { fileId name contentType bytes width height url thumbnailUrl } system { type agentName endStatus prompt } options { number label } image { url alt } link { title description url thumbUrl pagePath }';
  const CONVERSATION = 'contactId status queuePosition agentName lastSeq customerLastReadSeq agentLastReadSeq endStatus leftMessage';
  const messages = new Map(); // seq → message
  let contiguousSeq = 0; // every seq up to this one is here: resume after it
  let conv = null; // the latest Conversation
  let agentsOnline = null;
  let availability = null; // OPEN, NO_AGENT_ONLINE or OFF_HOURS (customerWebChannel)
  let takesMessages = true; // a chat started now is kept for an agent (else no "leave a message")
  let readSent = 0;
  let agentTypingTimer = null;
  let unread = 0;
  let lastError = null;

  function resetConversation() {
    messages.clear();
    contiguousSeq = 0;
    conv = null;
    readSent = 0;
    unread = 0;
  }

  function applyConversation(c) {
    if (!c || c.contactId !== st.contactId) return;
    conv = Object.assign({}, conv || {}, c);
    if (conv.status === 'ENDED') onEnded();
    renderHeader();
    renderSeen();
    renderFooter();
  }

  function addMessage(m) {
    if (!m || typeof m.seq !== 'number' || messages.has(m.seq)) return; // dedupe by seq
    messages.set(m.seq, m);
    while (messages.has(contiguousSeq + 1)) contiguousSeq++;
    // The outbox item it acknowledges (a retried send comes back with the same clientMessageId).
    if (m.sender === 'CUSTOMER' && m.clientMessageId) {
      const before = st.outbox.length;
      st.outbox = st.outbox.filter((o) => o.clientMessageId !== m.clientMessageId);
      if (st.outbox.length !== before) save();
      removePending(m.clientMessageId);
    }
    if (m.system) {
      const patch = { QUEUED: { status: 'QUEUED' }, CONNECTED: { status: 'CONNECTED', agentName: m.system.agentName, queuePosition: null }, TRANSFERRED: {}, ENDED: { status: 'ENDED', endStatus: m.system.endStatus } }[m.system.type];
      if (patch && (!conv || conv.status !== 'ENDED' || m.system.type === 'ENDED')) conv = Object.assign({}, conv || { contactId: st.contactId, customerLastReadSeq: 0, agentLastReadSeq: 0 }, patch);
    }
    if (m.sender === 'AGENT') {
      setAgentTyping(false);
      // Unread: agent messages after the last one shown in an open panel (a replay after a reload is not new).
      if (!isOpen() && m.seq > (st.seenSeq || 0)) {
        unread++;
        if (els.badge) renderBadge();
      }
    }
    if (isOpen() && m.seq > (st.seenSeq || 0)) {
      st.seenSeq = m.seq;
      save();
    }
    renderMessage(m);
    renderHeader();
    renderSeen();
    renderFooter();
    emit('message', publicMessage(m));
    if (conv && conv.status === 'ENDED') {
      onEnded();
      releaseWhenComplete();
    }
    scheduleRead();
  }

  function publicMessage(m) {
    return { seq: m.seq, sender: m.sender, kind: m.kind, text: m.text, agentName: m.agentName, sentAt: m.sentAt, attachment: m.attachment ? { name: m.attachment.name, contentType: m.attachment.contentType, url: m.attachment.url } : null, system: m.system, link: m.link || null };
  }

  let endedEmitted = null;
  function onEnded() {
    if (endedEmitted === st.contactId) return;
    endedEmitted = st.contactId;
    setAgentTyping(false);
    // Nothing more can be sent to an ended chat.
    if (st.outbox.length) {
      for (const o of st.outbox) markPendingFailed(o.clientMessageId, T.notSentEnded);
      st.outbox = [];
      save();
    }
    if (av.call && av.call.contactId === st.contactId) endAvMedia();
    emit('ended', { contactId: st.contactId, endStatus: conv && conv.endStatus });
    releaseWhenComplete();
    showSurvey(st.contactId).catch(() => undefined);
  }

  // ---- satisfaction (issue 12): the channel's scale as buttons, an optional comment, then thanks ----

  async function showSurvey(contactId) {
    const d = await gql('query($c: ID!) { conversation(contactId: $c) { ratable rating { value } survey { enabled scale { value label } } } }', { c: contactId });
    const c = d.conversation;
    if (contactId !== st.contactId || !els.rating) return;
    els.rating.replaceChildren();
    if (c.rating) return showThanks();
    if (!c.ratable || !c.survey.enabled) return;
    let chosen = null;
    const comment = h('textarea', { rows: '2', maxlength: '1000', placeholder: T.rateComment, 'aria-label': T.rateComment });
    const send = h('button', { type: 'button', class: 'rate-send', text: T.rateSend, disabled: true, onclick: () => rate(contactId, chosen, comment.value, send) });
    const scale = h('div', { class: 'scale', role: 'group', 'aria-label': T.rateQuestion });
    for (const e of c.survey.scale) {
      scale.append(h('button', { type: 'button', 'aria-pressed': 'false', 'data-value': String(e.value), text: e.label, onclick: (ev) => {
        chosen = e.value;
        for (const b of scale.children) b.setAttribute('aria-pressed', b === ev.currentTarget ? 'true' : 'false');
        send.disabled = false;
      } }));
    }
    els.rating.append(h('div', { class: 'rate-question', text: T.rateQuestion }), scale, comment, send);
    els.rating.hidden = false;
  }

  async function rate(contactId, value, comment, button) {
    if (value === null) return;
    button.disabled = true;
    try {
      const text = comment.trim();
      await gql('mutation($input: RateChatInput!) { rateChat(input: $input) { contactId } }', { input: { contactId, value, ...(text ? { comment: text } : {}) } });
      emit('rated', { contactId, value });
      showThanks();
    } catch (err) {
      // Rated already (another tab): the same thanks.
      if (err.code === 'CONFLICT') return showThanks();
      button.disabled = false;
      showError(isNetworkError(err) ? T.noConnection : err.message);
    }
  }

  function showThanks() {
    els.rating.replaceChildren(h('div', { class: 'rate-thanks', role: 'status', text: T.rateThanks }));
    els.rating.hidden = false;
  }

  /** An ended chat needs no connection once its last message (the ENDED notice) and all before it are here. */
  function releaseWhenComplete() {
    if (!conv || conv.status !== 'ENDED') return;
    const last = Math.max(conv.lastSeq || 0, ...messages.keys());
    const endedNotice = [...messages.values()].some((m) => m.system && m.system.type === 'ENDED');
    // The channel's end prompt (issue 12) follows the ENDED notice: the connection stays a little while for it.
    if (endedNotice && contiguousSeq >= last) setTimeout(() => conv && conv.status === 'ENDED' && ws.stop(), 10_000);
  }

  // ---- the chat's lifecycle ----

  // Tabs of one site share one chat (issue 11): starting it is done under a lock all the tabs take, and under
  // it a tab first looks at what another tab stored. A second tab that sends at the same moment so finds the
  // first one's chat (or its clientChatId, which startChat answers with the same chat) instead of starting another.
  const tabId = uuid();
  const lockName = `kefu-start:${channelKey}`;
  const leaseKey = `kefu-start-lease:${channelKey}`;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** Runs `task` holding the start lock: navigator.locks where the browser has it, else a lease in localStorage. */
  function withStartLock(task) {
    if (navigator.locks && typeof navigator.locks.request === 'function') return navigator.locks.request(lockName, () => task());
    return withLease(task);
  }

  /**
   * The fallback: a lease entry { owner, until } in localStorage. A tab writes itself as the owner when the entry
   * is free or expired, waits a moment and reads it back: the tab still named has it (a rival that wrote at the
   * same time overwrote one of the two, and the other sees that). A lease ends after 10 s (a tab closed mid-start
   * does not block the others); after 15 s of trying a tab goes on without one (startChat by clientChatId still
   * keeps a retry to one chat).
   */
  async function withLease(task) {
    const read = () => {
      try {
        return JSON.parse(localStorage.getItem(leaseKey) || 'null');
      } catch {
        return null;
      }
    };
    let held = false;
    try {
      for (const giveUp = Date.now() + 15_000; Date.now() < giveUp; ) {
        const lease = read();
        if (!lease || lease.owner === tabId || !(lease.until > Date.now())) {
          localStorage.setItem(leaseKey, JSON.stringify({ owner: tabId, until: Date.now() + 10_000 }));
          await sleep(30);
          const now = read();
          if (now && now.owner === tabId) {
            held = true;
            break;
          }
        }
        await sleep(50 + Math.floor(Math.random() * 100));
      }
    } catch {
      // No localStorage (a private mode that refuses it): nothing to share with other tabs either.
    }
    try {
      return await task();
    } finally {
      if (held) {
        try {
          const lease = read();
          if (lease && lease.owner === tabId) localStorage.removeItem(leaseKey);
        } catch {
          // gone already
        }
      }
    }
  }

  /** Under the start lock: the chat (or the chat id) another tab stored meanwhile, taken over. */
  function adoptStoredChat() {
    const stored = load();
    if ((stored.customerId || null) !== (st.customerId || null)) return;
    if (stored.contactId && !st.contactId) {
      st.contactId = stored.contactId;
      st.clientChatId = stored.clientChatId || null;
    } else if (stored.clientChatId && !st.clientChatId) {
      st.clientChatId = stored.clientChatId;
    }
  }

  let starting = null;
  function ensureChat() {
    if (st.contactId) return Promise.resolve(st.contactId);
    if (!starting) {
      starting = withStartLock(async () => {
        adoptStoredChat();
        if (st.contactId) {
          ws.start();
          refreshConversation().catch(() => undefined);
          return st.contactId;
        }
        if (!st.clientChatId) {
          st.clientChatId = uuid();
          save();
        }
        const attributes = Object.entries(settings.attributes || {}).map(([key, value]) => ({ key: String(key), value: String(value) }));
        const visitor = { pageUrl: location.href, referrer: document.referrer || null, userAgent: navigator.userAgent };
        if (attributes.length) visitor.attributes = attributes;
        const input = { clientChatId: st.clientChatId, visitor };
        // The text that starts the chat goes with it (stored once by its clientMessageId, the outbox's send of it
        // is then a retry): a channel's chat flow greets the customer after it, rather than taking it as an answer.
        const first = st.outbox[0];
        if (first && first.text && !first.fileId && typeof first.choice !== 'number') input.firstMessage = { clientMessageId: first.clientMessageId, text: first.text };
        const data = await gql(`mutation($input: StartChatInput!) { startChat(input: $input) { ${CONVERSATION} } }`, { input });
        st.contactId = data.startChat.contactId;
        save();
        applyConversation(data.startChat);
        ws.start();
        return st.contactId;
      }).finally(() => {
        starting = null;
      });
    }
    return starting;
  }

  function startNewChat() {
    ws.stop();
    st.contactId = null;
    st.clientChatId = null;
    st.outbox = [];
    st.seenSeq = 0;
    save();
    resetConversation();
    endedEmitted = null;
    if (els.rating) {
      els.rating.replaceChildren();
      els.rating.hidden = true;
    }
    renderAll();
    input.focus();
  }

  async function refreshConversation() {
    if (!st.contactId) return;
    const id = st.contactId;
    const data = await gql(`query($c: ID!) { conversation(contactId: $c) { ${CONVERSATION} } }`, { c: id });
    if (id === st.contactId) applyConversation(data.conversation);
  }

  /** A verified customer on a new device: continue their open chat, if any. */
  async function resumeVerifiedChat() {
    if (!settings.customerId || st.contactId) return;
    const data = await gql(`query { myConversations(first: 1) { edges { node { ${CONVERSATION} } } } }`, {});
    const open = data.myConversations.edges.map((e) => e.node).find((c) => c.status !== 'ENDED');
    if (open && !st.contactId) {
      st.contactId = open.contactId;
      save();
      applyConversation(open);
      ws.start();
    }
  }

  // ---- the outbox: sent in order, each with its clientMessageId ----

  let flushing = false;
  let flushTimer = null;
  let flushDelay = 1000;
  async function flush() {
    if (flushing) return;
    flushing = true;
    clearTimeout(flushTimer);
    try {
      while (st.outbox.length > 0) {
        const item = st.outbox[0];
        const contactId = await ensureChat();
        if (conv && conv.status === 'ENDED') return;
        const message = { clientMessageId: item.clientMessageId };
        if (item.fileId) message.fileId = item.fileId;
        else message.text = item.text;
        // A chat flow's button: its number, with its label as the text the transcript keeps.
        if (typeof item.choice === 'number') message.choice = item.choice;
        try {
          const data = await gql(`mutation($input: SendChatMessageInput!) { sendChatMessage(input: $input) { ${MESSAGE} } }`, { input: { contactId, message } });
          addMessage(data.sendChatMessage);
          // addMessage removed it; an answer for another chat (cannot happen) must not loop.
          st.outbox = st.outbox.filter((o) => o.clientMessageId !== item.clientMessageId);
          save();
          flushDelay = 1000;
        } catch (err) {
          if (isNetworkError(err)) throw err;
          if (err.code === 'RATE_LIMITED') {
            flushDelay = Math.max(1000, Number(err.extensions.retryAfterSeconds || 2) * 1000);
            throw err;
          }
          if (err.code === 'CONFLICT') {
            // The chat ended: the rest cannot be sent to it.
            await refreshConversation().catch(() => undefined);
            for (const o of st.outbox) markPendingFailed(o.clientMessageId, T.notSentEnded);
            st.outbox = [];
            save();
            return;
          }
          // Refused for what it is (too long, a bad file): drop it, say so, and go on with the next.
          markPendingFailed(item.clientMessageId, T.notSent(err.message));
          st.outbox = st.outbox.filter((o) => o.clientMessageId !== item.clientMessageId);
          save();
        }
      }
    } catch (err) {
      if (!isNetworkError(err) && err.code !== 'RATE_LIMITED') showError(err.message);
      flushTimer = setTimeout(flush, flushDelay);
      flushDelay = Math.min(flushDelay * 2, 30_000);
    } finally {
      flushing = false;
    }
  }

  function sendText(text, choice) {
    const t = String(text).trim();
    if (!t) return;
    if (conv && conv.status === 'ENDED') return;
    const item = { clientMessageId: uuid(), text: t, at: new Date().toISOString() };
    if (typeof choice === 'number') item.choice = choice;
    st.outbox.push(item);
    // The chat it starts (when none goes on) is named under the start lock (ensureChat), where every tab sees
    // the id another tab chose first.
    save();
    renderPending(item);
    stopTyping();
    flush();
  }

  async function sendFile(file) {
    if (!file) return;
    if (conv && conv.status === 'ENDED') return;
    const clientMessageId = uuid();
    const pending = { clientMessageId, fileName: file.name, uploading: true };
    renderPending(pending);
    try {
      const contactId = await ensureChat();
      const body = new FormData();
      body.append('contactId', contactId);
      body.append('file', file, file.name);
      const upload = async (token) => fetch(`${base}/chat/uploads`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body, mode: 'cors', credentials: 'omit' });
      let res = await upload(await session(false));
      if (res.status === 401) res = await upload(await session(true));
      const json = await res.json().catch(() => null);
      if (!res.ok) throw new ApiError((json && json.error && json.error.message) || `upload failed (HTTP ${res.status})`, (json && json.error && json.error.code) || 'ERROR');
      const item = { clientMessageId, fileId: json.fileId, fileName: json.name || file.name, at: new Date().toISOString() };
      st.outbox.push(item);
      save();
      flush();
    } catch (err) {
      markPendingFailed(clientMessageId, isNetworkError(err) ? T.notSentOffline : T.notSent(err.message));
    }
  }

  // ---- typing (throttled) and read state ----

  let typingOn = false;
  let typingSentAt = 0;
  let typingStopTimer = null;
  function typed() {
    if (!st.contactId || (conv && conv.status === 'ENDED')) return;
    const now = Date.now();
    if (!typingOn || now - typingSentAt > 3000) {
      typingOn = true;
      typingSentAt = now;
      setTyping(true);
    }
    clearTimeout(typingStopTimer);
    typingStopTimer = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingStopTimer);
    if (!typingOn) return;
    typingOn = false;
    setTyping(false);
  }
  function setTyping(typing) {
    if (!st.contactId) return;
    gql('mutation($input: SetTypingInput!) { setTyping(input: $input) }', { input: { contactId: st.contactId, typing } }).catch(() => undefined);
  }

  function setAgentTyping(on) {
    clearTimeout(agentTypingTimer);
    // A lost "stopped typing" must not leave the indicator on for ever.
    if (on) agentTypingTimer = setTimeout(() => setAgentTyping(false), 8000);
    if (els.typing) {
      els.typing.hidden = !on;
      els.typing.textContent = on ? T.typing(conv && conv.agentName) : '';
    }
  }

  let readTimer = null;
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(markRead, 300);
  }
  function markRead() {
    if (!st.contactId || !isOpen() || document.visibilityState === 'hidden') return;
    let last = 0;
    for (const m of messages.values()) if (m.sender !== 'CUSTOMER' && m.seq > last) last = m.seq;
    const already = Math.max(readSent, (conv && conv.customerLastReadSeq) || 0);
    if (last <= already) return;
    readSent = last;
    gql(`mutation($input: MarkReadInput!) { markRead(input: $input) { ${CONVERSATION} } }`, { input: { contactId: st.contactId, seq: last } })
      .then((d) => applyConversation(d.markRead))
      .catch(() => {
        readSent = 0;
      });
  }

  // ---- graphql-ws (graphql-transport-ws) with reconnects ----

  const ws = (() => {
    let socket = null;
    let wanted = false;
    let attempt = 0;
    let retryTimer = null;
    let pingTimer = null;
    let pongTimer = null;
    let subscribedFor = null;
    let connected = false;

    function start() {
      if (!st.contactId) return;
      wanted = true;
      if (!socket) open();
    }
    function stop() {
      wanted = false;
      clearTimeout(retryTimer);
      if (socket) close(socket, 1000);
      setConnected(false);
    }
    function setConnected(on) {
      connected = on;
      renderBanner();
    }
    function close(s, code) {
      clearInterval(pingTimer);
      clearTimeout(pongTimer);
      if (socket === s) socket = null;
      s.onopen = s.onmessage = s.onclose = s.onerror = null;
      try {
        s.close(code);
      } catch {
        // already closed
      }
    }
    function retry(forceSession) {
      if (!wanted) return;
      clearTimeout(retryTimer);
      // 0.5 s, 1 s, 2 s … up to 15 s, with jitter, so many widgets do not return at the same moment.
      const delay = Math.min(15_000, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() * 0.5);
      attempt++;
      retryTimer = setTimeout(() => open(forceSession), delay);
      renderBanner();
    }
    async function open(forceSession) {
      clearTimeout(retryTimer);
      if (!wanted || socket) return;
      let token;
      try {
        token = await session(Boolean(forceSession));
      } catch {
        return retry(false);
      }
      if (!wanted || socket) return;
      const s = new WebSocket(`${base.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      socket = s;
      const send = (msg) => s.readyState === WebSocket.OPEN && s.send(JSON.stringify(msg));
      s.onopen = () => send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
      s.onerror = () => undefined; // onclose follows
      s.onclose = (e) => {
        close(s);
        setConnected(false);
        // 4401 / 4403: the token was refused; renew it before the next attempt.
        retry(e.code === 4401 || e.code === 4403);
      };
      s.onmessage = (e) => {
        let msg;
        try {
          msg = JSON.parse(e.data);
        } catch {
          return;
        }
        clearTimeout(pongTimer);
        switch (msg.type) {
          case 'connection_ack':
            attempt = 0;
            subscribe(send);
            setConnected(true);
            // Liveness: a connection that stops answering (a laptop that slept, a dead NAT entry) is replaced.
            pingTimer = setInterval(() => {
              send({ type: 'ping' });
              pongTimer = setTimeout(() => {
                close(s);
                setConnected(false);
                retry(false);
              }, 10_000);
            }, 20_000);
            refreshConversation().catch(() => undefined);
            flush();
            break;
          case 'connection_error':
            // Refused at connection_init: most likely the token; renew it before the next attempt.
            close(s);
            setConnected(false);
            retry(true);
            break;
          case 'ping':
            send({ type: 'pong' });
            break;
          case 'next':
            if (msg.id === subscribedFor) onEvent(msg.payload);
            break;
          case 'error':
            if (msg.id === subscribedFor) onSubscriptionError(msg.payload, s);
            break;
          case 'complete':
            if (msg.id === subscribedFor && wanted && !(conv && conv.status === 'ENDED')) {
              close(s);
              setConnected(false);
              retry(false);
            }
            break;
        }
      };
    }
    let nextId = 1;
    function subscribe(send) {
      subscribedFor = String(nextId++);
      send({
        id: subscribedFor,
        type: 'subscribe',
        payload: {
          query: `subscription($c: ID!, $after: Int) { conversationEvents(contactId: $c, afterSeq: $after) { kind sender typing readSeq message { ${MESSAGE} } conversation { ${CONVERSATION} } } }`,
          variables: { c: st.contactId, after: contiguousSeq },
        },
      });
    }
    function onSubscriptionError(errors, s) {
      const code = Array.isArray(errors) && errors[0] && errors[0].extensions && errors[0].extensions.code;
      close(s);
      setConnected(false);
      if (code === 'NOT_FOUND' || code === 'FORBIDDEN') {
        // Not this customer's chat (another visitor id, a chat gone): forget it.
        wanted = false;
        st.contactId = null;
        st.clientChatId = null;
        save();
        resetConversation();
        renderAll();
        return;
      }
      retry(code === 'UNAUTHENTICATED');
    }
    function onEvent(payload) {
      const e = payload && payload.data && payload.data.conversationEvents;
      if (!e) return;
      if (e.contactId && e.contactId !== st.contactId) return;
      switch (e.kind) {
        case 'MESSAGE':
          addMessage(e.message);
          break;
        case 'TYPING':
          if (e.sender === 'AGENT') setAgentTyping(Boolean(e.typing));
          break;
        case 'READ':
          if (e.sender === 'AGENT' && conv) {
            conv.agentLastReadSeq = Math.max(conv.agentLastReadSeq || 0, e.readSeq || 0);
            renderSeen();
          }
          break;
        case 'STATUS':
          applyConversation(e.conversation);
          break;
      }
      if (e.conversation && e.kind !== 'STATUS') applyConversation(e.conversation);
    }
    return {
      start,
      stop,
      /** Reconnect now (the browser says it is online again). */
      nudge() {
        if (wanted && !socket) {
          attempt = 0;
          open(false);
        }
      },
      get connected() {
        return connected;
      },
      get wanted() {
        return wanted;
      },
    };
  })();

  // ---- the UI: a Shadow DOM, so no CSS leaks either way ----

  const css = `
  :host { all: initial; }
  .root { all: initial; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1f2328; }
  .root *, .root *::before, .root *::after { box-sizing: border-box; }
  [hidden] { display: none !important; }
  .launcher { position: fixed; bottom: 20px; ${options.position}: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0; background: #1f6feb; color: #fff; font-size: 26px; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25); z-index: 2147483000; }
  .launcher .badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; border-radius: 10px; background: #d1242f; color: #fff; font: 12px/20px system-ui, sans-serif; padding: 0 5px; }
  .panel { position: fixed; bottom: 88px; ${options.position}: 20px; width: 370px; height: min(600px, calc(100vh - 108px)); background: #fff; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; z-index: 2147483001; }
  header { background: #1f6feb; color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 8px; }
  header .titles { flex: 1; min-width: 0; }
  header .title { font-weight: 600; }
  header .subtitle { font-size: 13px; opacity: .9; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  header button { background: transparent; border: 0; color: #fff; font-size: 20px; cursor: pointer; padding: 2px 6px; }
  .banner { background: #fff8c5; color: #4d2d00; font-size: 13px; padding: 6px 12px; text-align: center; }
  .error { background: #ffebe9; color: #82071e; font-size: 13px; padding: 6px 12px; }
  .queue { background: #ddf4ff; color: #0a3069; font-size: 13px; padding: 6px 12px; text-align: center; }
  .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 6px; background: #f6f8fa; }
  .welcome { align-self: flex-start; background: #fff; border: 1px solid #d0d7de; border-radius: 12px; padding: 8px 12px; max-width: 85%; white-space: pre-wrap; }
  .msg { max-width: 80%; border-radius: 12px; padding: 8px 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
  .msg.customer { align-self: flex-end; background: #1f6feb; color: #fff; }
  .msg.customer a { color: #fff; }
  .msg.agent { align-self: flex-start; background: #fff; border: 1px solid #d0d7de; }
  .msg.bot { align-self: flex-start; background: #fff; border: 1px dashed #8c959f; }
  .msg.bot .options { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; white-space: normal; }
  .msg.bot .option { font: inherit; font-size: 13px; border: 1px solid #1f6feb; color: #1f6feb; background: #fff; border-radius: 14px; padding: 4px 10px; cursor: pointer; }
  .msg.bot .option:disabled { opacity: .5; cursor: default; }
  .msg .who { display: block; font-size: 12px; color: #57606a; margin-bottom: 2px; }
  .msg.pending { opacity: .6; }
  .msg.failed { background: #ffebe9; color: #82071e; }
  .msg .note { display: block; font-size: 11px; margin-top: 2px; }
  .system { align-self: center; font-size: 12px; color: #57606a; text-align: center; }
  .seen { align-self: flex-end; font-size: 11px; color: #57606a; margin-top: -4px; }
  .msg img { display: block; max-width: 100%; max-height: 200px; border-radius: 6px; cursor: zoom-in; }
  .link-card { display: block; margin-top: 2px; padding: 6px 8px; border: 1px solid rgba(0,0,0,.15); border-radius: 6px; background: rgba(255,255,255,.6); color: inherit; text-decoration: none; }
  .link-card img { max-height: 120px; cursor: pointer; margin-bottom: 4px; }
  .link-card .link-title { display: block; font-weight: 600; }
  .link-card .link-desc { display: block; white-space: pre-wrap; font-size: 90%; }
  .link-card .link-url { display: block; font-size: 80%; opacity: .75; overflow-wrap: anywhere; }
  .typing { font-size: 12px; color: #57606a; padding: 0 14px 4px; background: #f6f8fa; }
  .ended { padding: 10px 12px; text-align: center; border-top: 1px solid #d0d7de; }
  .rating { margin: 6px 0 10px; display: flex; flex-direction: column; gap: 6px; }
  .rating .scale { display: flex; flex-wrap: wrap; gap: 4px; justify-content: center; }
  .ended .rating .scale button { background: #fff; color: #1f2328; border: 1px solid #d0d7de; padding: 6px 8px; }
  .ended .rating .scale button[aria-pressed="true"] { background: #1f6feb; color: #fff; border-color: #1f6feb; }
  .rating textarea { resize: none; border: 1px solid #d0d7de; border-radius: 8px; padding: 6px; font: inherit; color: inherit; }
  .ended button, .composer button.send { background: #1f6feb; color: #fff; border: 0; border-radius: 8px; padding: 8px 12px; cursor: pointer; font: inherit; }
  .composer { border-top: 1px solid #d0d7de; display: flex; align-items: flex-end; gap: 4px; padding: 8px; position: relative; }
  .composer textarea { flex: 1; resize: none; border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; font: inherit; color: inherit; max-height: 120px; min-height: 38px; }
  .composer .icon { background: transparent; border: 0; font-size: 20px; cursor: pointer; padding: 4px; }
  .emoji { position: absolute; bottom: 54px; left: 8px; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 6px; display: grid; grid-template-columns: repeat(8, 32px); gap: 2px; box-shadow: 0 4px 14px rgba(0,0,0,.15); }
  .emoji button { background: transparent; border: 0; font-size: 20px; cursor: pointer; padding: 2px; }
  .footer-actions { display: flex; justify-content: flex-end; padding: 0 8px 6px; }
  .footer-actions button { background: transparent; border: 0; color: #57606a; font-size: 12px; cursor: pointer; text-decoration: underline; }
  .viewer { position: fixed; inset: 0; background: rgba(0,0,0,.85); display: flex; align-items: center; justify-content: center; z-index: 2147483002; cursor: zoom-out; }
  .viewer img { max-width: 95vw; max-height: 95vh; }
  @media (max-width: 480px) {
    .panel { inset: 0; width: 100%; height: 100%; border-radius: 0; bottom: 0; }
    .launcher.open { display: none; }
  }`;

  const host = document.createElement('kefu-chat-widget');
  host.setAttribute('style', 'all: initial !important; position: fixed !important; z-index: 2147483000 !important; display: block !important;');
  const shadow = host.attachShadow({ mode: 'open' });
  const h = (tag, props, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else if (v !== false && v != null) el.setAttribute(k, v);
    }
    for (const c of children) if (c) el.append(c);
    return el;
  };

  const els = {};
  const EMOJI = ['😀', '😂', '😊', '😍', '🤔', '😢', '😮', '😡', '👍', '👎', '👏', '🙏', '🎉', '❤️', '🔥', '✅', '❌', '👋', '🙂', '😉', '😅', '🤝', '💡', '⏰'];

  const input = h('textarea', { rows: '1', placeholder: T.placeholder, 'aria-label': T.message, class: 'input' });
  function buildUi() {
    const style = h('style');
    style.textContent = css;
    els.badge = h('span', { class: 'badge', hidden: true });
    els.launcher = h('button', { class: 'launcher', 'aria-label': T.open, title: options.title, onclick: () => (isOpen() ? close() : open()) }, '💬', els.badge);
    els.title = h('div', { class: 'title', text: options.title });
    els.subtitle = h('div', { class: 'subtitle' });
    els.banner = h('div', { class: 'banner', role: 'status', hidden: true });
    els.error = h('div', { class: 'error', role: 'alert', hidden: true });
    els.queue = h('div', { class: 'queue', role: 'status', hidden: true });
    els.welcome = h('div', { class: 'welcome' });
    els.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite' }, els.welcome);
    els.typing = h('div', { class: 'typing', hidden: true });
    els.fileInput = h('input', { type: 'file', hidden: true, onchange: () => {
      const f = els.fileInput.files && els.fileInput.files[0];
      els.fileInput.value = '';
      if (f) sendFile(f);
    } });
    els.emoji = h('div', { class: 'emoji', hidden: true, role: 'listbox', 'aria-label': T.emoji });
    for (const e of EMOJI) els.emoji.append(h('button', { type: 'button', text: e, 'aria-label': e, onclick: () => insertEmoji(e) }));
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    });
    input.addEventListener('input', () => {
      if (input.value) typed();
      else stopTyping();
    });
    els.composer = h(
      'div',
      { class: 'composer' },
      els.emoji,
      h('button', { type: 'button', class: 'icon emoji-toggle', 'aria-label': T.emoji, text: '😊', onclick: () => (els.emoji.hidden = !els.emoji.hidden) }),
      h('button', { type: 'button', class: 'icon attach', 'aria-label': T.attach, text: '📎', onclick: () => els.fileInput.click() }),
      input,
      h('button', { type: 'button', class: 'send', text: T.send, onclick: submit }),
      els.fileInput,
    );
    els.endButton = h('button', { type: 'button', class: 'end-chat', text: T.endChat, onclick: endChat });
    els.actions = h('div', { class: 'footer-actions', hidden: true }, els.endButton);
    els.rating = h('div', { class: 'rating', hidden: true });
    els.ended = h('div', { class: 'ended', hidden: true }, h('div', { class: 'ended-text', text: T.ended }), els.rating, h('button', { type: 'button', class: 'new-chat', text: T.newChat, onclick: startNewChat }));
    buildAvUi();
    els.panel = h(
      'div',
      { class: 'panel', role: 'dialog', 'aria-label': options.title, hidden: true },
      h('header', null, h('div', { class: 'titles' }, els.title, els.subtitle), h('button', { type: 'button', class: 'close', 'aria-label': T.close, text: '×', onclick: () => close() })),
      els.banner,
      els.avBar,
      els.avMenu,
      els.avStage,
      els.queue,
      els.error,
      els.log,
      els.typing,
      els.composer,
      els.actions,
      els.ended,
    );
    els.viewer = h('div', { class: 'viewer', hidden: true, onclick: () => (els.viewer.hidden = true) }, h('img', { alt: '' }));
    shadow.append(style, h('div', { class: 'root' }, els.launcher, els.panel, els.viewer));
    document.body.append(host);
  }

  function insertEmoji(e) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    input.value = input.value.slice(0, start) + e + input.value.slice(end);
    input.selectionStart = input.selectionEnd = start + e.length;
    els.emoji.hidden = true;
    input.focus();
  }

  function submit() {
    const text = input.value;
    if (!text.trim()) return;
    input.value = '';
    sendText(text);
  }

  async function endChat() {
    if (!st.contactId) return;
    try {
      const d = await gql(`mutation($input: EndChatInput!) { endChat(input: $input) { ${CONVERSATION} } }`, { input: { contactId: st.contactId } });
      applyConversation(d.endChat);
    } catch (err) {
      showError(isNetworkError(err) ? T.noConnection : err.message);
    }
  }

  function showError(message) {
    lastError = message;
    els.error.textContent = message;
    els.error.hidden = false;
    setTimeout(() => {
      if (lastError === message) els.error.hidden = true;
    }, 8000);
  }

  function isOpen() {
    return Boolean(els.panel) && !els.panel.hidden;
  }

  let warned = false;
  function open() {
    els.panel.hidden = false;
    els.launcher.classList.add('open');
    els.launcher.setAttribute('aria-label', T.close);
    st.open = true;
    st.seenSeq = Math.max(st.seenSeq || 0, ...messages.keys());
    save();
    unread = 0;
    renderBadge();
    // Open: a session (for the greeting and whether anyone can answer now) and the conversation, if one goes on.
    session(false).then(() => refreshChannel()).catch((err) => {
      // Refused (a forged identity, a page the channel does not allow, a disabled channel): say so.
      if (!isNetworkError(err)) showError(T.unavailable(err.message));
      // A browser hides a CORS refusal behind a network error: tell the page's developer what it may be.
      else if (navigator.onLine !== false && !warned) {
        warned = true;
        console.warn(`Kefu widget: cannot reach ${base} (is this page's origin, ${location.origin}, among the channel's allowed origins?)`);
      }
    });
    if (st.contactId) ws.start();
    loadAv();
    scrollDown();
    scheduleRead();
    input.focus();
    emit('open');
  }

  function close() {
    els.panel.hidden = true;
    els.launcher.classList.remove('open');
    els.launcher.setAttribute('aria-label', T.open);
    st.open = false;
    save();
    emit('close');
  }

  // ---- rendering ----

  function scrollDown() {
    els.log.scrollTop = els.log.scrollHeight;
  }

  function systemText(s) {
    switch (s.type) {
      case 'QUEUED':
        // No queue promise when nobody could answer now: the message is kept for when someone can.
        return availability === 'NO_AGENT_ONLINE' || availability === 'OFF_HOURS' ? T.queuedNoAgent : T.queued;
      case 'CONNECTED':
        return T.joined(s.agentName);
      case 'TRANSFERRED':
        return T.transferred;
      case 'ENDED':
        return s.endStatus === 'NO_AGENT_ONLINE' ? T.endedNoAgent : s.endStatus === 'CUSTOMER_IDLE' ? T.endedIdle : T.ended;
      default:
        return '';
    }
  }

  function formatBytes(n) {
    if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MB`;
    if (n >= 1024) return `${Math.round(n / 1024)} KB`;
    return `${n} B`;
  }

  /** Text with http(s) links made clickable: text nodes and anchors only, never HTML. */
  function textNodes(text) {
    const out = [];
    const re = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
    let at = 0;
    for (const m of text.matchAll(re)) {
      if (m.index > at) out.push(document.createTextNode(text.slice(at, m.index)));
      const a = document.createElement('a');
      a.href = m[0];
      a.textContent = m[0];
      a.target = '_blank';
      a.rel = 'noopener noreferrer nofollow';
      out.push(a);
      at = m.index + m[0].length;
    }
    if (at < text.length) out.push(document.createTextNode(text.slice(at)));
    return out;
  }

  function safeUrl(u) {
    try {
      const url = new URL(u, base);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
    } catch {
      return null;
    }
  }

  /** A chat flow's message (issue 12): a bot bubble with its image, its text and its options as buttons. */
  function flowMessageElement(m) {
    const el = h('div', { class: 'msg bot', 'data-seq': String(m.seq) });
    const src = m.image && safeUrl(m.image.url);
    if (src) {
      const img = h('img', { src, alt: m.image.alt || '', loading: 'lazy' });
      img.addEventListener('load', scrollDown);
      el.append(img);
    }
    appendBody(el, m);
    if (m.options && m.options.length > 0) {
      const row = h('div', { class: 'options', role: 'group' });
      for (const o of m.options) {
        row.append(
          h('button', {
            type: 'button',
            class: 'option',
            'data-number': String(o.number),
            text: o.label,
            onclick: () => {
              if (conv && conv.status === 'ENDED') return;
              for (const b of row.querySelectorAll('button')) b.disabled = true;
              sendText(o.label, o.number);
            },
          }),
        );
      }
      el.append(row);
    }
    return el;
  }

  function messageElement(m) {
    if (m.system && m.system.type === 'PROMPT') return promptElement(m);
    if (m.sender === 'SYSTEM' && (m.kind === 'TEXT' || m.kind === 'LINK')) return flowMessageElement(m);
    if (m.kind === 'SYSTEM' || m.sender === 'SYSTEM') {
      return h('div', { class: `system system-${(m.system && m.system.type) || 'note'}`, 'data-seq': String(m.seq), text: m.system ? systemText(m.system) : m.text || '' });
    }
    const mine = m.sender === 'CUSTOMER';
    const el = h('div', { class: `msg ${mine ? 'customer' : 'agent'} kind-${m.kind.toLowerCase()}`, 'data-seq': String(m.seq) });
    if (!mine && m.agentName) el.append(h('span', { class: 'who', text: m.agentName }));
    appendBody(el, m);
    return el;
  }

  /** An agent's link card (issue 13): its words as text, the link as an anchor opening a new tab; never HTML. */
  function linkCard(link) {
    const href = link.url && safeUrl(link.url);
    const card = h(href ? 'a' : 'div', href ? { class: 'link-card', href, target: '_blank', rel: 'noopener noreferrer nofollow' } : { class: 'link-card' });
    const thumb = link.thumbUrl && safeUrl(link.thumbUrl);
    if (thumb) {
      const img = h('img', { src: thumb, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' });
      img.addEventListener('load', scrollDown);
      card.append(img);
    }
    card.append(h('span', { class: 'link-title', text: link.title }));
    if (link.description) card.append(h('span', { class: 'link-desc', text: link.description }));
    card.append(h('span', { class: 'link-url', text: href ? new URL(href).host : link.pagePath ? `Mini program: ${link.pagePath}` : '' }));
    return card;
  }

  function appendBody(el, m) {
    if (m.kind === 'LINK' && m.link) el.append(linkCard(m.link));
    const a = m.attachment;
    const url = a && safeUrl(a.url);
    if (a && url && m.kind === 'IMAGE') {
      const img = h('img', { src: safeUrl(a.thumbnailUrl) || url, alt: a.name || 'image', loading: 'lazy' });
      if (a.width && a.height) {
        img.width = Math.min(240, a.width);
        img.height = Math.round((img.width * a.height) / a.width);
      }
      img.addEventListener('click', () => {
        els.viewer.firstChild.src = url;
        els.viewer.firstChild.alt = a.name || '';
        els.viewer.hidden = false;
      });
      img.addEventListener('load', scrollDown);
      el.append(img);
    } else if (a && url) {
      el.append(h('a', { class: 'file', href: url, target: '_blank', rel: 'noopener noreferrer', text: `📎 ${a.name} (${formatBytes(a.bytes || 0)})` }));
    }
    if (m.text) {
      const span = h('span', { class: 'text' });
      span.append(...textNodes(m.text));
      el.append(span);
    }
  }

  function renderMessage(m) {
    if (!els.log) return;
    const el = messageElement(m);
    // In seq order, before any message still waiting in the outbox.
    let after = null;
    for (const child of els.log.children) {
      const seq = Number(child.dataset.seq);
      if (child.classList.contains('pending') || (child.dataset.seq && seq > m.seq)) {
        after = child;
        break;
      }
    }
    const nearBottom = els.log.scrollHeight - els.log.scrollTop - els.log.clientHeight < 80;
    els.log.insertBefore(el, after);
    if (nearBottom || m.sender === 'CUSTOMER') scrollDown();
  }

  function renderPending(item) {
    if (!els.log || els.log.querySelector(`[data-client-id="${item.clientMessageId}"]`)) return;
    const el = h('div', { class: 'msg customer pending', 'data-client-id': item.clientMessageId });
    if (item.text) el.append(h('span', { class: 'text', text: item.text }));
    else el.append(h('span', { class: 'text', text: `📎 ${item.fileName || 'file'}` }));
    el.append(h('span', { class: 'note', text: item.uploading ? T.uploading : T.sending }));
    els.log.append(el);
    scrollDown();
  }

  function removePending(clientMessageId) {
    const el = els.log && els.log.querySelector(`[data-client-id="${clientMessageId}"]`);
    if (el) el.remove();
  }

  function markPendingFailed(clientMessageId, note) {
    const el = els.log && els.log.querySelector(`[data-client-id="${clientMessageId}"]`);
    if (!el) return;
    el.classList.remove('pending');
    el.classList.add('failed');
    el.removeAttribute('data-client-id');
    const n = el.querySelector('.note');
    if (n) n.textContent = note;
  }

  function renderSeen() {
    if (!els.log) return;
    for (const old of els.log.querySelectorAll('.seen')) old.remove();
    const upTo = (conv && conv.agentLastReadSeq) || 0;
    if (!upTo) return;
    let lastMine = null;
    for (const m of messages.values()) if (m.sender === 'CUSTOMER' && m.seq <= upTo && (!lastMine || m.seq > lastMine.seq)) lastMine = m;
    if (!lastMine) return;
    const el = els.log.querySelector(`[data-seq="${lastMine.seq}"]`);
    if (el) el.after(h('div', { class: 'seen', text: T.seen }));
  }

  function renderHeader() {
    if (!els.subtitle) return;
    let sub;
    const status = conv && conv.status;
    if (status === 'CONNECTED') sub = T.chattingWith(conv.agentName);
    else if (status === 'QUEUED' || status === 'OFFERED') sub = T.waiting;
    else if (status === 'ENDED') sub = T.chatEnded;
    else if (availability === 'OFF_HOURS') sub = takesMessages ? T.closedNow : T.closed;
    else if (availability === 'NO_AGENT_ONLINE') sub = takesMessages ? T.leaveMessageNow : T.noAgent;
    else if (agentsOnline === false) sub = T.noAgent;
    else sub = T.replyTime;
    els.subtitle.textContent = sub;
    const pos = conv && (status === 'QUEUED' || status === 'OFFERED') ? conv.queuePosition : null;
    // A message left for the group (a chat flow's leaveMessage, issue 12): answered here, whenever an agent comes.
    const left = conv && conv.leftMessage && status === 'QUEUED';
    els.queue.hidden = !pos && !left;
    els.queue.textContent = left ? T.leftMessage : pos ? (pos === 1 ? T.next : T.position(pos)) : '';
  }

  /**
   * A reception prompt of the channel (issue 12): said by the service, like a bot's message. The welcome is
   * the greeting the widget shows at the top already (the channel's welcome prompt): its row stays hidden.
   */
  function promptElement(m) {
    const el = h('div', { class: `msg bot prompt prompt-${m.system.prompt || 'note'}`, 'data-seq': String(m.seq), text: m.text || '' });
    if (m.system.prompt === 'WELCOME') el.hidden = true;
    return el;
  }

  /** The channel's greeting (data-welcome may word it for the page); none when the channel has none. */
  function renderWelcome() {
    if (!els.welcome) return;
    const text = st.welcome ? options.welcome || st.welcome : '';
    els.welcome.textContent = text;
    els.welcome.hidden = !text;
  }

  function renderFooter() {
    if (!els.composer) return;
    const ended = Boolean(conv && conv.status === 'ENDED');
    els.composer.hidden = ended;
    els.ended.hidden = !ended;
    els.actions.hidden = ended || !st.contactId;
    renderBanner();
  }

  function renderBanner() {
    if (!els.banner) return;
    const active = Boolean(st.contactId) && !(conv && conv.status === 'ENDED');
    const down = active && ws.wanted && !ws.connected;
    els.banner.hidden = !down;
    els.banner.textContent = down ? (navigator.onLine === false ? T.offline : T.reconnecting) : '';
  }

  function renderBadge() {
    els.badge.hidden = unread === 0;
    els.badge.textContent = String(unread);
  }

  function renderAll() {
    for (const el of Array.from(els.log.children)) if (el !== els.welcome) el.remove();
    const sorted = [...messages.values()].sort((a, b) => a.seq - b.seq);
    for (const m of sorted) els.log.append(messageElement(m));
    for (const item of st.outbox) renderPending(item);
    renderWelcome();
    renderHeader();
    renderSeen();
    renderFooter();
    setAgentTyping(false);
    scrollDown();
  }

  // ---- start ----

  /**
   * Another tab of the site changed the shared state (a session, a new chat, its outbox): follow it, so the tabs
   * show one conversation. Nothing is saved here (no ping-pong between tabs).
   */
  function followOtherTab(e) {
    if (e.key !== storageKey || !e.newValue) return;
    let other;
    try {
      other = JSON.parse(e.newValue);
    } catch {
      return;
    }
    const chatChanged = (other.contactId || null) !== (st.contactId || null);
    Object.assign(st, { visitorId: other.visitorId, token: other.token, expiresAt: other.expiresAt, contactId: other.contactId || null, clientChatId: other.clientChatId || null, welcome: other.welcome });
    if (chatChanged) {
      ws.stop();
      st.outbox = (other.outbox || []).slice();
      resetConversation();
      endedEmitted = null;
      renderAll();
      if (st.contactId) ws.start();
      return;
    }
    // The same chat: take in what the other tab still has to send (each id is stored once, whoever sends it).
    const acknowledged = new Set([...messages.values()].map((m) => m.clientMessageId).filter(Boolean));
    const known = new Set(st.outbox.map((o) => o.clientMessageId));
    let added = false;
    for (const o of other.outbox || []) {
      if (known.has(o.clientMessageId) || acknowledged.has(o.clientMessageId) || !o.fileId === !o.text) continue;
      st.outbox.push(o);
      renderPending(o);
      added = true;
    }
    if (added) flush();
  }

  // ---- audio and video calls (issue 14): the visual menu, then WebRTC to Kefu, which relays to the agent ----
  // The call is a contact with its own conversation: the widget follows it (messages and pictures during the
  // call go there), and endChat ends the call. Kefu wants a complete offer (ICE gathering done).

  const AV_T = {
    en: { audio: 'Voice call', video: 'Video call', choose: 'What do you need help with?', cancel: 'Cancel', hangUp: 'Hang up', mute: 'Mute', unmute: 'Unmute', cameraOff: 'Camera off', cameraOn: 'Camera on', turnVideoOn: 'Turn on video', connecting: 'Calling…', failed: (why) => `The call could not start: ${why}`, videoFailed: (why) => `Video could not start: ${why}` },
    zh: { audio: '语音通话', video: '视频通话', choose: '请选择您需要的服务', cancel: '取消', hangUp: '挂断', mute: '静音', unmute: '取消静音', cameraOff: '关闭摄像头', cameraOn: '打开摄像头', turnVideoOn: '开启视频', connecting: '正在呼叫…', failed: (why) => `无法发起通话：${why}`, videoFailed: (why) => `无法开启视频：${why}` },
  }[locale];
  const av = { options: null, call: null, kinds: [] };

  function buildAvUi() {
    els.avBar = h('div', { class: 'av-bar', hidden: true, style: 'display:flex;gap:6px;padding:6px 12px' });
    els.avMenu = h('div', { class: 'av-menu', hidden: true, role: 'listbox', style: 'padding:6px 12px' });
    els.avStage = h('div', { class: 'av-stage', hidden: true, style: 'padding:6px 12px' });
  }

  function av_label(kind) {
    return kind === 'video' ? AV_T.video : AV_T.audio;
  }

  /** The menu entries a call of this kind can go to now (per the channel's "only while agents are online"). */
  function avEntries(kind) {
    const o = av.options;
    if (!o) return [];
    return o.menu.filter((e) => e.kinds.includes(kind.toUpperCase()) && (!o.onlyWhenAgentsOnline || e.agentsOnline));
  }

  async function loadAv() {
    // data-av="" (or naming nothing known): no calls from this page; a channel without AV settings needs data-av.
    if ((options.av && !options.av.length) || av.call) return;
    try {
      const d = await gql('query { avCallOptions { enabled configured kinds onlyWhenAgentsOnline iceServers { urls username credential } menu { number skillGroupId title description iconUrl kinds agentsOnline } } }', {});
      av.options = d.avCallOptions;
    } catch {
      av.options = null;
    }
    const o = av.options;
    const channelKinds = o ? (o.configured ? o.kinds.map((k) => k.toLowerCase()) : options.av || []) : [];
    av.kinds = ['audio', 'video'].filter((k) => channelKinds.includes(k) && (!options.av || options.av.includes(k)) && avEntries(k).length > 0);
    els.avBar.replaceChildren(
      ...av.kinds.map((kind) => h('button', { type: 'button', class: `av-start av-${kind}`, text: kind === 'video' ? `🎥 ${av_label(kind)}` : `📞 ${av_label(kind)}`, onclick: () => showAvMenu(kind) })),
    );
    els.avBar.hidden = !(o && o.enabled && av.kinds.length > 0) || Boolean(av.call);
  }

  /** An entry's icon: Kefu's own (a path on Kefu's origin) or an https URL. */
  function avIcon(e) {
    if (!e.iconUrl) return null;
    const src = e.iconUrl.startsWith('/') ? base + e.iconUrl : e.iconUrl;
    if (!/^https?:\/\//.test(src)) return null;
    return h('img', { class: 'av-entry-icon', src, alt: '', width: 32, height: 32, style: 'float:left;width:32px;height:32px;margin-right:8px;object-fit:contain' });
  }

  function showAvMenu(kind) {
    const entries = avEntries(kind);
    if (entries.length === 1) return startAvCall(kind, entries[0]);
    els.avMenu.replaceChildren(h('div', { class: 'av-menu-title', text: AV_T.choose }));
    for (const e of entries) {
      els.avMenu.append(
        h('button', { type: 'button', class: 'av-entry', 'data-skill-group-id': e.skillGroupId, 'data-menu-entry': e.number == null ? '' : String(e.number), style: 'display:block;width:100%;text-align:left;margin:4px 0;overflow:hidden', onclick: () => startAvCall(kind, e) },
          avIcon(e), h('strong', { text: e.title }), e.description ? h('div', { class: 'av-entry-description', text: e.description }) : null),
      );
    }
    els.avMenu.append(h('button', { type: 'button', class: 'av-cancel', text: AV_T.cancel, onclick: () => (els.avMenu.hidden = true) }));
    els.avMenu.hidden = false;
  }

  async function startAvCall(kind, entry) {
    els.avMenu.hidden = true;
    els.avBar.hidden = true;
    const call = { kind, entry, pc: null, stream: null };
    av.call = call;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: kind === 'video' });
      call.stream = stream;
      const iceServers = (av.options.iceServers || []).map((s) => (s.username ? { urls: s.urls, username: s.username, credential: s.credential } : { urls: s.urls }));
      const pc = new window.RTCPeerConnection({ iceServers });
      call.pc = pc;
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
      const remote = new window.MediaStream();
      pc.ontrack = (e) => remote.addTrack(e.track);
      showAvStage(call, remote);
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc);
      const clientCallId = uuid();
      const visitor = { pageUrl: location.href, referrer: document.referrer || null, userAgent: navigator.userAgent };
      const chosen = entry.number == null ? { skillGroupId: entry.skillGroupId } : { menuEntry: entry.number };
      const d = await gql('mutation($input: StartAvCallInput!) { startAvCall(input: $input) { contactId sdp videoCodec } }', {
        input: { clientCallId, ...chosen, sdp: pc.localDescription.sdp, visitor },
      });
      await pc.setRemoteDescription({ type: 'answer', sdp: d.startAvCall.sdp });
      call.contactId = d.startAvCall.contactId;
      // The call's conversation becomes the widget's: messages and pictures during the call go there.
      ws.stop();
      st.contactId = call.contactId;
      st.clientChatId = clientCallId;
      st.outbox = [];
      st.seenSeq = 0;
      save();
      resetConversation();
      renderAll();
      ws.start();
      refreshConversation().catch(() => undefined);
      emit('call', { contactId: call.contactId, kind });
    } catch (err) {
      endAvMedia();
      showError(AV_T.failed(err.message || String(err)));
      loadAv();
    }
  }

  /** Kefu wants complete offers: wait for ICE gathering (5 s at most). */
  function iceGathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      setTimeout(resolve, 5000);
    });
  }

  /**
   * An audio call becomes a video call: the camera joins the connection and a new offer goes to Kefu
   * (renegotiateAvCall), which tells the agent's page to add its video too.
   */
  async function turnVideoOn(call, remote) {
    const camera = await navigator.mediaDevices.getUserMedia({ video: true });
    const track = camera.getVideoTracks()[0];
    call.stream.addTrack(track);
    call.pc.addTrack(track, call.stream);
    await call.pc.setLocalDescription(await call.pc.createOffer());
    await iceGathered(call.pc);
    const d = await gql('mutation($input: RenegotiateAvCallInput!) { renegotiateAvCall(input: $input) { sdp videoCodec } }', { input: { contactId: call.contactId, sdp: call.pc.localDescription.sdp } });
    await call.pc.setRemoteDescription({ type: 'answer', sdp: d.renegotiateAvCall.sdp });
    call.kind = 'video';
    showAvStage(call, remote);
    emit('video', { contactId: call.contactId });
  }

  function showAvStage(call, remote) {
    call.remote = remote;
    const remoteView = h(call.kind === 'video' ? 'video' : 'audio', { class: 'av-remote', autoplay: true, playsinline: true, style: 'width:100%;max-height:200px;background:#000' });
    remoteView.srcObject = remote;
    const controls = h('div', { class: 'av-controls', style: 'display:flex;gap:6px;margin-top:4px' });
    const status = h('span', { class: 'av-status', text: AV_T.connecting });
    const mute = h('button', { type: 'button', class: 'av-mute', text: AV_T.mute, onclick: () => {
      for (const t of call.stream.getAudioTracks()) t.enabled = !t.enabled;
      mute.textContent = call.stream.getAudioTracks().every((t) => t.enabled) ? AV_T.mute : AV_T.unmute;
    } });
    controls.append(status, mute);
    if (call.kind === 'video') {
      const local = h('video', { class: 'av-local', autoplay: true, playsinline: true, style: 'width:30%' });
      local.muted = true;
      local.srcObject = call.stream;
      // Camera off: nothing is sent (replaceTrack(null)); on: the camera again.
      const camera = h('button', { type: 'button', class: 'av-camera', text: AV_T.cameraOff, onclick: async () => {
        const sender = call.pc.getSenders().find((x) => (x.track ? x.track.kind === 'video' : true));
        const on = camera.textContent !== AV_T.cameraOff;
        await sender.replaceTrack(on ? call.stream.getVideoTracks()[0] : null);
        camera.textContent = on ? AV_T.cameraOff : AV_T.cameraOn;
      } });
      controls.append(camera);
      els.avStage.replaceChildren(remoteView, local, controls);
    } else {
      // The entry takes video: the customer may turn the camera on during the call.
      if (call.entry && (call.entry.kinds || []).includes('VIDEO')) {
        const upgrade = h('button', { type: 'button', class: 'av-video-on', text: AV_T.turnVideoOn, onclick: () => {
          if (!call.contactId) return;
          upgrade.disabled = true;
          turnVideoOn(call, remote).catch((err) => {
            upgrade.disabled = false;
            showError(AV_T.videoFailed(err.message || String(err)));
          });
        } });
        controls.append(upgrade);
      }
      els.avStage.replaceChildren(remoteView, controls);
    }
    controls.append(h('button', { type: 'button', class: 'av-hang-up', text: AV_T.hangUp, onclick: () => endChat() }));
    call.pc.onconnectionstatechange = () => (status.textContent = call.pc.connectionState === 'connected' ? '' : call.pc.connectionState);
    els.avStage.hidden = false;
  }

  /** The call's media stops (hung up, ended by the agent or by Kefu): the camera and microphone are released. */
  function endAvMedia() {
    const call = av.call;
    if (!call) return;
    av.call = null;
    if (call.pc) call.pc.close();
    if (call.stream) for (const t of call.stream.getTracks()) t.stop();
    els.avStage.replaceChildren();
    els.avStage.hidden = true;
  }

  function boot() {
    buildUi();
    renderAll();
    window.addEventListener('online', () => {
      ws.nudge();
      flush();
      renderBanner();
    });
    window.addEventListener('offline', renderBanner);
    window.addEventListener('storage', followOtherTab);
    shadow.addEventListener('keydown', (e) => {
      if (e.key !== 'Escape') return;
      if (!els.viewer.hidden) els.viewer.hidden = true;
      else if (!els.emoji.hidden) els.emoji.hidden = true;
      else close();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        ws.nudge();
        scheduleRead();
      }
    });
    if (st.open || options.open) open();
    // A chat that goes on (this page was reloaded, or another page of the site): show it again.
    if (st.contactId) {
      ws.start();
      if (st.outbox.length) flush();
    } else if (settings.customerId) {
      resumeVerifiedChat().catch(() => undefined);
    }
    emit('ready', { contactId: st.contactId });
  }

  window.Kefu = {
    version: '1',
    open: () => open(),
    close: () => close(),
    toggle: () => (isOpen() ? close() : open()),
    isOpen,
    /** Sends a message as the customer (as if typed). */
    send: (text) => sendText(text),
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(fn);
      return () => listeners.get(name).delete(fn);
    },
    off(name, fn) {
      listeners.get(name)?.delete(fn);
    },
    /** The current chat, if any: { contactId, status, queuePosition, agentName, lastSeq }. */
    get conversation() {
      return st.contactId ? { contactId: st.contactId, status: conv && conv.status, queuePosition: conv && conv.queuePosition, agentName: conv && conv.agentName, lastSeq: contiguousSeq } : null;
    },
  };

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot);
})();
