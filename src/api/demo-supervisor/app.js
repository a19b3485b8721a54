/* global document, window, location, setInterval, URLSearchParams */
// Kefu supervisor dashboard: everything here goes through Kefu's public API.
//   HTTP:       POST /graphql with "Authorization: Bearer <token>" (loginAgent gives a supervisor's token;
//               an admin API key works too)
//   WebSocket:  /graphql, subprotocol graphql-transport-ws; the token goes in connection_init's payload
//   Overview:   reportOverviewChanged(interval) sends today's figures as they are, then after each change
//   Monitors:   agentMonitor, then agentStatusChanged (every agent); skillGroupMonitorChanged (all groups)
//   Exports:    GET /exports/<name>.csv?…&access_token=<token> (a link cannot send a header)
import { graphql, GraphqlWs } from '/demo/shared/kefu-api.js';
import { ratesChart, volumeChart } from '/demo/supervisor/charts.js';

const $ = (id) => document.getElementById(id);
const state = { token: null, ws: null, overview: null, agents: new Map(), stopOverview: null };
// For the browser test and the curious.
window.kefuSupervisor = state;

function log(...parts) {
  const line = `${new Date().toLocaleTimeString()} ${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`;
  $('log').textContent = line + $('log').textContent;
}

const gql = (query, variables = {}) => graphql(query, variables, state.token);

/** A subscription's data, or its errors in the log. */
const dataOf = (name, handle) => (payload) => {
  if (payload.errors?.length) log(name, payload.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; '));
  if (payload.data?.[name]) handle(payload.data[name]);
};

// ---- sign in ----

$('loginForm').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const pasted = $('token').value.trim();
    if (pasted) state.token = pasted;
    else {
      const data = await gql('mutation($input: LoginAgentInput!) { loginAgent(input: $input) { token } }', {
        input: { instanceId: $('instanceId').value.trim(), login: $('login').value.trim(), password: $('password').value },
      });
      state.token = data.loginAgent.token;
    }
    state.ws = new GraphqlWs(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`, state.token, (e) => log('subscription error', e));
    await state.ws.connect();
    state.ws.onclose = () => {
      $('status').textContent = 'Disconnected: reload the page to reconnect.';
      log('the subscription socket closed');
    };
    $('loginSection').hidden = true;
    $('dashboard').hidden = false;
    await startMonitors();
    startOverview();
    exportLinks();
    $('status').textContent = 'Live';
    log('signed in');
  } catch (err) {
    log('sign-in failed:', err.message);
  }
});

// ---- overview (RP-1) ----

const metricFields = 'queued handled abandoned answerRate serviceLevel serviceLevelSeconds averageSpeedOfAnswerSeconds averageAbandonSeconds talkSeconds averageHandleSeconds';
const overviewQuery = `subscription($interval: OverviewInterval) {
  reportOverviewChanged(interval: $interval) {
    date timeZone interval serviceLevelSeconds asOf
    slices { channel skillGroupId skillGroup { id name } totals { ${metricFields} } intervals { intervalStart localStart metrics { ${metricFields} } } }
  }
}`;

const charts = { volume: volumeChart($('volumeChart')), rates: ratesChart($('ratesChart')) };

function startOverview() {
  state.stopOverview?.();
  state.stopOverview = state.ws.subscribe(overviewQuery, dataOf('reportOverviewChanged', showOverview), undefined, { interval: $('interval').value });
}

const percent = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
const secs = (v) => (v === null || v === undefined ? '–' : String(Math.round(v)));

function showOverview(o) {
  state.overview = o;
  $('overviewDate').textContent = o.date;
  $('overviewZone').textContent = o.timeZone;
  const channel = $('channel').value;
  const slice = o.slices.find((s) => s.channel === channel && s.skillGroupId === null) ?? null;
  const t = slice?.totals;
  const tiles = [
    ['Queued', t?.queued ?? 0],
    ['Handled', t?.handled ?? 0],
    ['Abandoned', t?.abandoned ?? 0],
    ['Answer rate', percent(t?.answerRate)],
    [`Service level (${o.serviceLevelSeconds} s)`, percent(t?.serviceLevel)],
    ['Avg. wait (s)', secs(t?.averageSpeedOfAnswerSeconds)],
    [channel === 'AV' ? 'AV talk time (s)' : 'Talk time (s)', secs(t?.talkSeconds)],
  ];
  $('tiles').replaceChildren(
    ...tiles.map(([k, v]) => {
      const tile = document.createElement('div');
      tile.className = 'tile';
      tile.innerHTML = '<div class="v"></div><div class="k"></div>';
      tile.querySelector('.v').textContent = String(v);
      tile.querySelector('.k').textContent = k;
      return tile;
    }),
  );
  charts.volume.update(slice, o.timeZone);
  charts.rates.update(slice, o.timeZone);
  $('slices').tBodies[0].replaceChildren(
    ...o.slices.map((s) =>
      row([s.channel, s.skillGroupId === null ? '(all)' : (s.skillGroup?.name ?? s.skillGroupId)], [s.totals.queued, s.totals.handled, s.totals.abandoned, percent(s.totals.answerRate), percent(s.totals.serviceLevel), secs(s.totals.averageSpeedOfAnswerSeconds), secs(s.totals.talkSeconds)]),
    ),
  );
}

$('interval').addEventListener('change', () => state.ws && startOverview());
$('channel').addEventListener('change', () => state.overview && showOverview(state.overview));

// ---- monitors (RP-3) ----

function row(texts, numbers = []) {
  const tr = document.createElement('tr');
  for (const t of texts) {
    const td = document.createElement('td');
    td.textContent = t;
    tr.append(td);
  }
  for (const n of numbers) {
    const td = document.createElement('td');
    td.className = 'num';
    td.textContent = String(n);
    tr.append(td);
  }
  return tr;
}

const agentFields = 'agent { id name } presence reason since onlineSecondsToday workload { phone online av } wrapUpUntil contactsHandledToday';

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h > 0 ? `${h}:` : ''}${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function showAgents() {
  const rows = [...state.agents.values()].sort((a, b) => a.agent.name.localeCompare(b.agent.name));
  $('agents').tBodies[0].replaceChildren(
    ...rows.map((s) => {
      const wrapping = s.wrapUpUntil !== null && Date.parse(s.wrapUpUntil) > Date.now();
      const presence = `${s.presence}${s.reason ? ` (${s.reason})` : ''}${wrapping ? ' · after-call work' : ''}`;
      const tr = row([s.agent.name, presence], [duration((Date.now() - Date.parse(s.since)) / 1000), duration(s.onlineSecondsToday), `${s.workload.phone} / ${s.workload.online} / ${s.workload.av}`, s.contactsHandledToday]);
      tr.dataset.agentId = s.agent.id;
      tr.dataset.presence = s.presence;
      tr.cells[1].className = `presence-${s.presence}`;
      return tr;
    }),
  );
}

async function startMonitors() {
  const data = await gql(`{ agentMonitor { ${agentFields} } }`);
  for (const s of data.agentMonitor) state.agents.set(s.agent.id, s);
  showAgents();
  state.ws.subscribe(`subscription { agentStatusChanged { ${agentFields} } }`, dataOf('agentStatusChanged', (s) => {
    state.agents.set(s.agent.id, s);
    showAgents();
  }));
  state.ws.subscribe('subscription { skillGroupMonitorChanged { skillGroup { id name channel } agentsOnline agentsFree queueLength longestWaitSeconds } }', dataOf('skillGroupMonitorChanged', (groups) => {
    $('groups').tBodies[0].replaceChildren(
      ...groups.map((g) => {
        const tr = row([`${g.skillGroup.name} (${g.skillGroup.channel})`], [g.agentsOnline, g.agentsFree, g.queueLength, g.longestWaitSeconds]);
        tr.dataset.skillGroupId = g.skillGroup.id;
        return tr;
      }),
    );
  }));
  // Time in state goes on between changes.
  setInterval(showAgents, 1000);
}

// ---- exports ----

function exportLinks() {
  const today = new Date().toISOString().slice(0, 10);
  if (!$('exportFrom').value) $('exportFrom').value = today;
  if (!$('exportTo').value) $('exportTo').value = today;
  const timeZone = state.overview?.timeZone ?? 'UTC';
  const from = $('exportFrom').value;
  const to = $('exportTo').value;
  // Records are filtered by instants: from the first day's local midnight (the browser's zone) to the one after the last day.
  const midnight = (d, days = 0) => {
    const at = new Date(`${d}T00:00`);
    at.setDate(at.getDate() + days);
    return at.toISOString();
  };
  const records = { from: midnight(from), to: midnight(to, 1), timeZone };
  const report = { from, to, interval: $('exportInterval').value, timeZone };
  const links = [
    ['Call records', 'call-records', records],
    ['Chat records', 'chat-records', records],
    ['Instance report', 'instance-report', report],
    ['Skill group report', 'skill-group-report', report],
    ['Agent report', 'agent-report', report],
    ["Today's overview", 'overview', { interval: $('interval').value }],
  ];
  $('exportLinks').replaceChildren(
    ...links.map(([label, name, params]) => {
      const a = document.createElement('a');
      a.textContent = label;
      a.href = `/exports/${name}.csv?${new URLSearchParams({ ...params, access_token: state.token })}`;
      a.dataset.export = name;
      a.rel = 'noreferrer';
      return a;
    }),
  );
}

for (const id of ['exportFrom', 'exportTo', 'exportInterval', 'interval']) $(id).addEventListener('change', () => state.token && exportLinks());
