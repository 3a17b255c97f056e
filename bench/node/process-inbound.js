'use strict';
// Node.js comparator of functions/process-inbound: an SQS batch of queued
// Twilio messaging webhooks (shared::envelope::Envelope); each inbound
// WhatsApp/SMS message is stored in its org's inbox conversation, as
// shared/src/inbox/inbound.rs, identity.rs and store/inbox.rs do:
//
//   route    GetItem ACCOUNT#twilio#<To> / #ACCOUNT (consistent), cached
//            for the life of the process (a warm invocation skips it)
//   resolve  GetItem CONV#<conv_id(org, twilio, channel, From)> / #META
//            (consistent): the phone-only contact's conversation
//   store    one TransactWriteItems: Put message, SID guard, conversation
//            update (or Put of a new one), contact update, org unread
//            counter, provider stats (when they move), route check
//
// See README.md for what is left out.

const { run } = require('./runtime');
const c = require('./common');
const { GetItemCommand, BatchGetItemCommand, TransactWriteItemsCommand } = require('@aws-sdk/client-dynamodb');

const DEFAULT_ORG_ID = process.env.DEFAULT_ORG_ID || undefined;
const MAX_ATTEMPTS = 16;

class Permanent extends Error {}

/** Business number -> {org, twilio_account} (shared::accounts routing cache). */
const routes = new Map();
/** Contact address -> conversation id (links; never re-pointed). */
const contactLinks = new Map();

async function getItem(k) {
  const out = await c.ddb.send(new GetItemCommand({ TableName: c.TABLE, Key: k, ConsistentRead: true }));
  return out.Item;
}

const param = (env, name) => {
  for (const p of env.params) if (p[0] === name) return p[1];
  return undefined;
};

// ---- the envelope and Twilio's webhook as events (shared::provider) -------
function parseEnvelope(raw) {
  let env;
  try {
    env = JSON.parse(raw);
  } catch (e) {
    throw new Permanent(String(e.message));
  }
  if (env === null || typeof env !== 'object') throw new Permanent('envelope is not an object');
  if (env.outbox !== undefined && env.outbox !== null) {
    throw new Permanent('outbox records are not implemented in this comparator');
  }
  if (env.v !== 1) throw new Permanent(`unsupported envelope version ${env.v}`);
  if (!['messaging', 'conversations', 'meta'].includes(env.source)) throw new Permanent('unknown source');
  if (!['inbound_message', 'status_callback', 'conversation_event', 'provider_webhook'].includes(env.kind)) {
    throw new Permanent('unknown kind');
  }
  if (!Array.isArray(env.params) || !env.params.every((p) => Array.isArray(p) && p.length === 2
      && typeof p[0] === 'string' && typeof p[1] === 'string')) {
    throw new Permanent('params must be [name, value] pairs');
  }
  if (typeof env.received_at !== 'string') throw new Permanent('missing received_at');
  return env;
}

function isBsuid(v) {
  if (v.length < 4 || !/^[A-Z]{2}\./.test(v)) return false;
  let rest = v.slice(3);
  if (rest.startsWith('ENT.')) rest = rest.slice(4);
  return rest.length > 0 && rest.length <= 128 && /^[A-Za-z0-9]+$/.test(rest);
}

/** shared::domain::Address::parse: `+E164` or `whatsapp:+E164`, trimmed. */
function parseAddress(v) {
  const t = v.trim();
  const number = t.startsWith('whatsapp:') ? t.slice(9) : t;
  const digits = number.startsWith('+') ? number.slice(1) : '';
  const ok = digits.length >= 8 && digits.length <= 15 && /^[0-9]+$/.test(digits) && digits[0] !== '0';
  return ok ? t : undefined;
}

function e164(v) {
  const t = v.trim();
  const digits = t.startsWith('+') ? t.slice(1) : t;
  const candidate = `+${digits}`;
  return parseAddress(candidate) ? candidate : undefined;
}

/** ContactIds::from_twilio */
function contactFromTwilio(env, fromRaw) {
  const from = fromRaw.trim();
  const p = (name) => {
    const v = param(env, name);
    const t = v === undefined ? undefined : v.trim();
    return t ? t : undefined;
  };
  const whatsapp = from.startsWith('whatsapp:');
  const channel = whatsapp ? 'whatsapp' : 'sms';
  const rest = whatsapp ? from.slice(9) : from;
  const parent = p('ParentExternalUserId');
  const ids = {
    provider: 'twilio',
    channel,
    username: p('ProfileUsername'),
    parent_user_id: parent && isBsuid(parent) ? parent : undefined,
    user_id: undefined,
    phone: undefined,
  };
  const a = parseAddress(from);
  if (a !== undefined) {
    ids.phone = a.startsWith('whatsapp:') ? a.slice(9) : a;
  } else if (whatsapp && isBsuid(rest)) {
    ids.user_id = rest;
  } else {
    return undefined;
  }
  if (ids.user_id === undefined) {
    const ext = p('ExternalUserId');
    ids.user_id = ext && isBsuid(ext) ? ext : undefined;
  }
  if (ids.phone === undefined && whatsapp) {
    const wa = p('WaId');
    ids.phone = wa ? e164(wa) : undefined;
  }
  return ids;
}

const prefix = (ids) => (ids.channel === 'whatsapp' ? 'whatsapp:' : '');
const phoneAddress = (ids) => (ids.phone === undefined ? undefined : prefix(ids) + ids.phone);
const userAddress = (ids) => (ids.user_id === undefined ? undefined : prefix(ids) + ids.user_id);
const replyAddress = (ids) => phoneAddress(ids) ?? userAddress(ids);
const addresses = (ids) => [userAddress(ids), phoneAddress(ids)].filter((x) => x !== undefined);

/** twilio_details: a serde_json map, so its keys in sorted order. */
function twilioDetails(env, contact) {
  const d = {};
  const numMedia = Number.parseInt(param(env, 'NumMedia') || '', 10);
  const media = [];
  for (let i = 0; i < Math.min(Number.isNaN(numMedia) || numMedia < 0 ? 0 : numMedia, 10); i++) {
    const url = param(env, `MediaUrl${i}`);
    if (url !== undefined) media.push({ content_type: param(env, `MediaContentType${i}`) ?? null, url });
  }
  const bt = param(env, 'ButtonText');
  const bp = param(env, 'ButtonPayload');
  if (bt !== undefined || bp !== undefined) d.button = { payload: bp ?? null, text: bt ?? null };
  const lat = param(env, 'Latitude');
  const lon = param(env, 'Longitude');
  if (lat !== undefined && lon !== undefined) {
    d.location = { address: param(env, 'Address') ?? null, label: param(env, 'Label') ?? null, latitude: lat, longitude: lon };
  }
  if (media.length) d.media = media;
  d.twilio_params = env.params.map(([k, v]) => [k, v]);
  if (contact.username !== undefined) d.username = contact.username;
  return d;
}

/** twilio_events + twilio_details for an inbound message. */
function inboundEvent(env) {
  const nonEmpty = (v) => (v ? v : undefined);
  const sid = nonEmpty(param(env, 'MessageSid')) ?? nonEmpty(param(env, 'SmsMessageSid')) ?? nonEmpty(param(env, 'SmsSid'));
  if (!sid) throw new Permanent('missing MessageSid');
  const required = (name) => {
    const v = param(env, name);
    if (!v) throw new Permanent(`missing ${name}`);
    return v;
  };
  const from = required('From');
  const to = required('To');
  const contact = contactFromTwilio(env, from);
  if (!contact) throw new Permanent('unaddressable senders (parking) are not implemented in this comparator');
  const profile = param(env, 'ProfileName');
  return {
    provider: 'twilio',
    message_id: sid,
    business_address: to.trim(),
    channel: contact.channel,
    contact,
    profile_name: profile ? profile : undefined,
    body: param(env, 'Body') ?? '',
    details: twilioDetails(env, contact),
  };
}

// ---- routing and identity (inbound.rs route, identity.rs resolve) ---------
async function route(address) {
  const hit = routes.get(address);
  if (hit) return { org: hit.org, by_account: true, twilio_account: hit.twilio_account };
  const item = await getItem(c.key(`ACCOUNT#twilio#${address}`, '#ACCOUNT'));
  if (item) {
    const entry = { org: c.reqS(item, 'org_id'), twilio_account: c.getS(item, 'twilio_account_sid') };
    c.reqS(item, 'provider');
    c.reqS(item, 'address');
    routes.set(address, entry);
    return { org: entry.org, by_account: true, twilio_account: entry.twilio_account };
  }
  return DEFAULT_ORG_ID ? { org: DEFAULT_ORG_ID, by_account: false, twilio_account: undefined } : undefined;
}

const inboxConversationId = (org, provider, channel, contact) => `conv_${c.shortHash(['inbox', org, provider, channel, contact])}`;

async function conversationMeta(convId) {
  const item = await getItem(c.key(c.convPk(convId), '#META'));
  return item ? c.metaFrom(item) : undefined;
}

async function contactLinksOf(org, provider, addrs) {
  const keys = addrs.map((a) => c.key(`CONTACTID#${org}#${provider}#${a}`, '#CONTACTID'));
  const out = await c.ddb.send(new BatchGetItemCommand({ RequestItems: { [c.TABLE]: { Keys: keys, ConsistentRead: true } } }));
  const items = (out.Responses && out.Responses[c.TABLE]) || [];
  const linked = [];
  for (const a of addrs) {
    const it = items.find((i) => c.getS(i, 'PK') === `CONTACTID#${org}#${provider}#${a}`);
    const conv = it && c.getS(it, 'conversation_id');
    if (conv) linked.push([a, conv]);
  }
  return linked;
}

/** identity::resolve: {conversation_id, address, unlinked, read} (read: null = known absent). */
async function resolve(org, contact) {
  const addrs = addresses(contact);
  const address = replyAddress(contact);
  if (address === undefined) throw new Error('a contact without any address');
  const derive = (a) => inboxConversationId(org, contact.provider, contact.channel, a);
  const done = (conv, unlinked, read) => ({ conversation_id: conv, address, unlinked, read });
  if (contact.channel === 'sms') return done(derive(address), [], undefined);
  const ck = (a) => `${org}#${contact.provider}#${a}`;
  const cached = addrs.map((a) => contactLinks.get(ck(a)));
  if (cached[0] !== undefined && cached.every((x) => x !== undefined)) return done(cached[0], [], undefined);
  let read;
  if (contact.user_id === undefined && contact.phone !== undefined) {
    const byPhone = derive(phoneAddress(contact));
    const meta = await conversationMeta(byPhone);
    if (meta) return done(byPhone, [], meta);
    read = [byPhone, null];
  }
  const linked = await contactLinksOf(org, contact.provider, addrs);
  for (const [a, conv] of linked) contactLinks.set(ck(a), conv);
  const unlinked = (conv) => addrs.filter((a) => !linked.some(([l, cv]) => l === a && cv === conv));
  for (const a of addrs) {
    const l = linked.find(([x]) => x === a);
    if (l) return done(l[1], unlinked(l[1]), undefined);
  }
  if (read) return done(read[0], unlinked(read[0]), null);
  if (contact.phone !== undefined) {
    const byPhone = derive(phoneAddress(contact));
    const meta = await conversationMeta(byPhone);
    if (meta) return done(byPhone, unlinked(byPhone), meta);
  }
  const conv = derive(addrs[0]);
  return done(conv, unlinked(conv), undefined);
}

// ---- the write (store/inbox.rs store_inbound) -------------------------------
function optKeyword(body) {
  const w = body.trim().toUpperCase();
  if (['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT'].includes(w)) return true;
  if (['START', 'UNSTOP'].includes(w)) return false;
  return undefined;
}

function statsDelta(from, to) {
  const w = (st, wanted) => (st === wanted ? 1 : 0);
  return {
    total: from === undefined ? 1 : 0,
    active: w(to, 'active') - w(from, 'active'),
    escalated: w(to, 'escalated') - w(from, 'escalated'),
  };
}

async function storeInbound(w) {
  const { message: msg } = w;
  const conv = msg.conversation_id;
  const gsk = c.activitySk(msg.created_at, conv);
  const items = [c.txPut(c.messageItem(msg), 'attribute_not_exists(PK)')];
  const sidIdx = items.length;
  items.push(c.claimSid(msg.twilio_sid, msg));
  const metaIdx = items.length;
  const meta = w.existing;
  if (!meta) {
    const m = c.key(c.convPk(conv), '#META');
    Object.assign(m, {
      id: c.s(conv), kind: c.s(w.channel), status: c.s(w.status), created_at: c.s(msg.created_at),
      created_by: c.s(msg.author_id), version: c.n(1), message_count: c.n(1), participant_count: c.n(1),
      first_message_at: c.s(msg.created_at), last_message_at: c.s(msg.created_at), last_message_id: c.s(msg.id),
      last_message_preview: c.s(w.effects.preview), last_message_author: c.s(msg.author_id),
      response_count: c.n(0), response_total_ms: c.n(0),
      pending_side: c.s(w.effects.pending_side), pending_since: c.s(w.effects.pending_since),
      participants: { L: [] },
      org_id: c.s(w.org_id), provider: c.s(w.provider), channel: c.s(w.channel),
      contact_address: c.s(w.contact_address), business_address: c.s(w.business_address),
      last_user_message_at: c.s(msg.created_at), unread_count: c.n(1), opted_out: c.b(w.opt_out === true),
      GSI1PK: c.s(`ORG#${w.org_id}#INBOX`), GSI1SK: c.s(gsk),
      GSI2PK: c.s(`ORG#${w.org_id}#PROV#${w.provider}`), GSI2SK: c.s(msg.created_at),
    });
    if (w.contact_name !== undefined) m.contact_name = c.s(w.contact_name);
    items.push(c.txPut(m, 'attribute_not_exists(PK)'));
  } else {
    let set = 'SET version = version + :one, message_count = message_count + :one, '
      + 'pending_side = :ps, pending_since = :pss, #status = :status';
    const values = [
      [':one', c.n(1)], [':v', c.n(meta.version)], [':ps', c.s(w.effects.pending_side)],
      [':pss', c.s(w.effects.pending_since)], [':status', c.s(w.status)],
    ];
    if (c.isNewest(meta, msg)) {
      set += ', last_message_at = :now, last_message_id = :mid, last_message_preview = :pv, '
        + 'last_message_author = :au, GSI1SK = :g';
      values.push([':now', c.s(msg.created_at)], [':mid', c.s(msg.id)], [':pv', c.s(w.effects.preview)],
        [':au', c.s(msg.author_id)], [':g', c.s(gsk)]);
    }
    const lastUser = meta.inbox && meta.inbox.last_user_message_at;
    if (lastUser === undefined || msg.created_at > lastUser) {
      set += ', last_user_message_at = :um, GSI2PK = :gp, GSI2SK = :um';
      values.push([':um', c.s(msg.created_at)], [':gp', c.s(`ORG#${w.org_id}#PROV#${w.provider}`)]);
    }
    if (meta.inbox && meta.inbox.business_address === '') {
      set += ', business_address = :ba';
      values.push([':ba', c.s(w.business_address)]);
    }
    if (w.contact_name !== undefined) {
      set += ', contact_name = :cn';
      values.push([':cn', c.s(w.contact_name)]);
    }
    if (w.opt_out !== undefined) {
      set += ', opted_out = :oo';
      values.push([':oo', c.b(w.opt_out)]);
    }
    if (w.effects.response_ms !== undefined) {
      set += ', response_count = response_count + :one, response_total_ms = response_total_ms + :rt, '
        + 'first_response_ms = if_not_exists(first_response_ms, :rt)';
      values.push([':rt', c.n(w.effects.response_ms)]);
    }
    set += ' ADD unread_count :one';
    items.push(c.txUpdate(c.key(c.convPk(conv), '#META'), set, 'version = :v', values, [['#status', 'status']]));
  }
  let contactSet = 'SET address = :a, channel = :ch, org_id = :o, conversation_id = :c, '
    + 'last_inbound_at = :t, created_at = if_not_exists(created_at, :t)';
  const contactValues = [
    [':a', c.s(w.contact_address)], [':ch', c.s(w.channel)], [':o', c.s(w.org_id)], [':c', c.s(conv)],
    [':t', c.s(msg.created_at)],
  ];
  if (w.contact_name !== undefined) {
    contactSet += ', profile_name = :pn';
    contactValues.push([':pn', c.s(w.contact_name)]);
  }
  if (w.opt_out !== undefined) {
    contactSet += ', opted_out = :oo, opted_out_changed_at = :t';
    contactValues.push([':oo', c.b(w.opt_out)]);
  }
  items.push(c.txUpdate(c.key(`CONTACT#${w.org_id}#${w.contact_address}`, '#CONTACT'), contactSet, undefined, contactValues));
  items.push(...c.addUnread(c.key(`ORG#${w.org_id}`, '#COUNTERS'), 1));
  const st = w.stats;
  if (st.total || st.active || st.escalated) {
    items.push(c.txUpdate(c.key(`ORG#${w.org_id}`, `#STATS#${w.provider}`), 'ADD #total :n, active :a, escalated :e',
      undefined, [[':n', c.n(st.total)], [':a', c.n(st.active)], [':e', c.n(st.escalated)]], [['#total', 'total']]));
  }
  const routeIdx = items.length;
  items.push({
    ConditionCheck: w.routed_by_account
      ? { TableName: c.TABLE, Key: c.key(`ACCOUNT#${w.provider}#${w.business_address}`, '#ACCOUNT'),
          ConditionExpression: 'org_id = :org', ExpressionAttributeValues: { ':org': c.s(w.org_id) } }
      : { TableName: c.TABLE, Key: c.key(`ACCOUNT#${w.provider}#${w.business_address}`, '#ACCOUNT'),
          ConditionExpression: 'attribute_not_exists(PK)' },
  });
  const out = await c.transact(items, TransactWriteItemsCommand);
  if (out === 'done') return 'stored';
  if (out === 'contended') return 'conflict';
  const sidFailed = out.failed.find(([i]) => i === sidIdx);
  if (sidFailed) return sidFailed[1] && sidFailed[1].message_sk ? 'duplicate' : 'conflict';
  if (out.failed.some(([i]) => i === metaIdx)) return 'conflict';
  if (out.failed.some(([i]) => i === routeIdx)) return 'rerouted';
  throw new Error(`inbound transaction condition failed at ${out.failed.map(([i]) => i)}`);
}

// ---- one message (inbound.rs inbound_message / inbound_once) ---------------
async function inboundOnce(env, m) {
  const r = await route(m.business_address);
  if (!r) throw new Permanent('parking unroutable messages is not implemented in this comparator');
  if ((env.account ?? undefined) !== r.twilio_account) {
    throw new Permanent('parking messages signed by another account is not implemented in this comparator');
  }
  const resolved = await resolve(r.org, m.contact);
  const conv = resolved.conversation_id;
  const t = Date.parse(env.received_at);
  const at = Number.isNaN(t) ? new Date() : new Date(t);
  const msg = {
    id: `msg_${m.message_id.toLowerCase()}`,
    conversation_id: conv,
    author_id: resolved.address,
    author_type: 'contact',
    body: m.body,
    created_at: c.formatTs(at),
    twilio_sid: m.message_id,
    status: 'received',
    details: m.details,
  };
  let read = resolved.read;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = read !== undefined ? (read || undefined) : await conversationMeta(conv);
    read = undefined;
    const fx = c.messageEffects(existing, 'contact', m.body, at);
    const outcome = await storeInbound({
      org_id: r.org, provider: m.provider, channel: m.channel, contact_address: resolved.address,
      contact_name: m.profile_name, business_address: m.business_address, message: msg, effects: fx,
      existing, opt_out: optKeyword(m.body),
      status: existing ? (existing.status === 'closed' ? 'active' : existing.status) : 'active',
      routed_by_account: r.by_account,
      stats: existing ? statsDelta(existing.status, existing.status === 'closed' ? 'active' : existing.status)
        : statsDelta(undefined, 'active'),
    });
    if (outcome === 'stored') {
      c.log('INFO', 'inbound message stored', { conversation_id: conv, provider: m.provider, channel: m.channel });
      return 'done';
    }
    if (outcome === 'duplicate') {
      c.log('INFO', 'inbound message already stored', { conversation_id: conv });
      return 'done';
    }
    if (outcome === 'rerouted') return 'moved';
    await new Promise((res) => setTimeout(res, Math.min(5 * 2 ** attempt, 200) * Math.random()));
  }
  throw new Error('contention on conversation');
}

async function processRecord(raw) {
  const env = parseEnvelope(raw);
  if (env.kind !== 'inbound_message') {
    throw new Permanent(`${env.kind} is not implemented in this comparator`);
  }
  const m = inboundEvent(env);
  for (let i = 0; i < 2; i++) {
    const r = await inboundOnce(env, m);
    if (r === 'done') return;
    routes.delete(m.business_address);
  }
  throw new Error("a number's chat account keeps changing");
}

async function handler(event) {
  const failed = await Promise.all((event.Records || []).map(async (record) => {
    const id = record.messageId || '';
    if (typeof record.body !== 'string') {
      c.log('ERROR', 'record without body', { message_id: id });
      return id;
    }
    try {
      await processRecord(record.body);
      return undefined;
    } catch (e) {
      if (e instanceof Permanent) {
        c.log('ERROR', 'record can never succeed; it will reach the DLQ', { why: e.message, message_id: id });
      } else {
        c.log('WARN', 'record failed; SQS will redeliver it', { error: String(e && e.message || e), message_id: id });
      }
      return id;
    }
  }));
  return { batchItemFailures: failed.filter((id) => id !== undefined).map((id) => ({ itemIdentifier: id })) };
}

c.warmUpDynamo().then(() => run(handler)).catch((e) => {
  process.stderr.write(`${e && e.stack || e}\n`);
  process.exit(1);
});
