'use strict';
// Node.js comparator of functions/send-message for booking chats
// (POST /conversations/{id}/messages, API Gateway HTTP API v2 event), as
// shared/src/chat/send.rs, conversation/access.rs, idempotency.rs,
// conversation/outgoing.rs and store/messages.rs do:
//
//   auth     HS256 JWT from `Authorization: Bearer` (jsonwebtoken)
//   head     Query PK = CONV#<id> AND begins_with(SK, "#") (consistent)
//   claim    PutItem IDEM#<conv>#<user>#<key> if attribute_not_exists(PK)
//   send     POST {TWILIO_CONVERSATIONS_BASE_URL}/v1/Conversations/{sid}/Messages
//            (basic auth, form body Author/Body/Attributes), https keep-alive
//   store    one TransactWriteItems: Put message, conversation update,
//            participants' read/unread, unread counters, the key marked
//            sent, the SID guard
//
// See README.md for what is left out.

const https = require('node:https');
const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');
const { ulid } = require('ulid');
const { run } = require('./runtime');
const c = require('./common');
const {
  QueryCommand, PutItemCommand, GetItemCommand, UpdateItemCommand, TransactWriteItemsCommand,
} = require('@aws-sdk/client-dynamodb');

// ---- configuration, read once at init ---------------------------------------
const JWT_SECRET = process.env.AUTH_JWT_SECRET;
if (!JWT_SECRET) throw new Error('AUTH_JWT_SECRET is required (this comparator does not read *_ARN secrets)');
const JWT_AUDIENCE = process.env.AUTH_JWT_AUDIENCE || undefined;
const JWT_ISSUER = process.env.AUTH_JWT_ISSUER || undefined;
const TWILIO_BASE = new URL(process.env.TWILIO_CONVERSATIONS_BASE_URL || 'https://conversations.twilio.com');
const TWILIO_USER = process.env.TWILIO_API_KEY_SID || process.env.TWILIO_ACCOUNT_SID;
const TWILIO_PASS = process.env.TWILIO_API_KEY_SID ? process.env.TWILIO_API_KEY_SECRET : process.env.TWILIO_AUTH_TOKEN;
const TWILIO_AUTH = `Basic ${Buffer.from(`${TWILIO_USER}:${TWILIO_PASS}`).toString('base64')}`;
const twilioAgent = new https.Agent({ keepAlive: true, maxSockets: 50 });
const IDEM_TTL_SECS = 7 * 24 * 3600;
const PENDING_CLAIM_TIMEOUT_SECS = 30;
const STORE_SENT_ATTEMPTS = 24;
const MAX_JSON_BODY = 64 * 1024;

class ApiError extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

const json = (status, value) => ({
  statusCode: status,
  headers: { 'content-type': 'application/json' },
  multiValueHeaders: {},
  body: JSON.stringify(value),
  isBase64Encoded: false,
  cookies: [],
});

function errorResponse(e) {
  if (!(e instanceof ApiError)) {
    c.log('ERROR', 'request failed', { error: String(e && e.stack || e), code: 'internal' });
    return json(500, { error: { code: 'internal', message: 'internal error' } });
  }
  if (e.status >= 500) c.log('ERROR', 'request failed', { error: e.message, code: e.code });
  else c.log('INFO', 'request rejected', { code: e.code, status: e.status });
  return json(e.status, { error: { code: e.code, message: e.message, ...(e.extra || {}) } });
}

// ---- the request ------------------------------------------------------------
function caller(headers) {
  const h = headers.authorization;
  if (h === undefined) throw new ApiError(401, 'unauthorized', 'missing Authorization header');
  const token = h.startsWith('Bearer ') ? h.slice(7) : h.startsWith('bearer ') ? h.slice(7) : undefined;
  if (token === undefined) throw new ApiError(401, 'unauthorized', 'expected a Bearer token');
  let claims;
  try {
    claims = jwt.verify(token.trim(), JWT_SECRET, {
      algorithms: ['HS256'], clockTolerance: 30, audience: JWT_AUDIENCE, issuer: JWT_ISSUER,
    });
  } catch (e) {
    throw new ApiError(401, 'unauthorized', e.name === 'TokenExpiredError' ? 'token expired' : 'invalid token');
  }
  if (typeof claims !== 'object' || !('exp' in claims) || !('sub' in claims)) {
    throw new ApiError(401, 'unauthorized', 'invalid token');
  }
  const md = claims.app_metadata;
  const userType = md && md.user_type;
  if (typeof claims.sub !== 'string' || !['customer', 'provider', 'agent', 'service'].includes(userType)) {
    throw new ApiError(401, 'unauthorized', 'invalid token');
  }
  if (claims.sub.length === 0 || claims.sub.length > 128) throw new ApiError(401, 'unauthorized', 'invalid token subject');
  return { user_id: claims.sub, user_type: userType, org_id: md.org_id, role: md.role };
}

function parseInput(event) {
  const ct = event.headers['content-type'] || '';
  if (ct.split(';')[0].trim().toLowerCase() !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', 'expected application/json');
  }
  const raw = event.body == null ? '' : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  if (Buffer.byteLength(raw) > MAX_JSON_BODY) throw new ApiError(413, 'payload_too_large', 'request body too large');
  if (raw.trim() === '') throw new ApiError(400, 'invalid_json', 'request body is empty');
  let v;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new ApiError(400, 'invalid_json', 'request body is not valid JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ApiError(422, 'invalid_request', 'invalid type: expected struct SendInput');
  }
  const str = (k) => {
    if (v[k] != null && typeof v[k] !== 'string') throw new ApiError(422, 'invalid_request', `invalid type for \`${k}\``);
    return v[k] ?? undefined;
  };
  const input = { body: str('body'), content_sid: str('content_sid'), content_variables: v.content_variables ?? undefined,
    template: v.template ?? undefined, media_urls: undefined };
  if (v.media_urls != null) {
    if (!Array.isArray(v.media_urls) || !v.media_urls.every((u) => typeof u === 'string')) {
      throw new ApiError(422, 'invalid_request', 'invalid type for `media_urls`');
    }
    input.media_urls = v.media_urls;
  }
  return input;
}

const idLike = (v, max) => v.length > 0 && v.length <= max && /^[A-Za-z0-9\-_.:@]+$/.test(v);

// ---- the conversation ---------------------------------------------------------
function participantFrom(i) {
  return {
    user_id: c.reqS(i, 'user_id'),
    user_type: c.reqS(i, 'user_type'),
    display_name: c.getS(i, 'display_name') || '',
    identity: c.getS(i, 'identity') || '',
    twilio_sid: c.getS(i, 'twilio_sid'),
    is_active: c.getBool(i, 'is_active') || false,
    joined_at: c.getS(i, 'joined_at') || '',
    left_at: c.getS(i, 'left_at'),
    unread_count: c.getN(i, 'unread_count') || 0,
    last_read_at: c.getS(i, 'last_read_at'),
    last_read_message_id: c.getS(i, 'last_read_message_id'),
  };
}

async function loadHead(convId) {
  let meta;
  const participants = [];
  let start;
  for (;;) {
    const out = await c.ddb.send(new QueryCommand({
      TableName: c.TABLE,
      KeyConditionExpression: 'PK = :pk AND begins_with(SK, :h)',
      ExpressionAttributeValues: { ':pk': c.s(c.convPk(convId)), ':h': c.s('#') },
      ConsistentRead: true,
      ExclusiveStartKey: start,
    }));
    for (const item of out.Items || []) {
      const sk = c.getS(item, 'SK') || '';
      if (sk === '#META') meta = c.metaFrom(item);
      else if (sk.startsWith('#PART#')) participants.push(participantFrom(item));
    }
    if (out.LastEvaluatedKey && Object.keys(out.LastEvaluatedKey).length) start = out.LastEvaluatedKey;
    else break;
  }
  return meta ? { meta, participants } : undefined;
}

const activeParticipant = (head, userId) => head.participants.find((p) => p.is_active && p.user_id === userId);

function canSee(head, who) {
  if (who.user_type === 'service') return true;
  if (head.meta.inbox) return who.user_type === 'agent' && who.org_id === head.meta.inbox.org_id;
  return activeParticipant(head, who.user_id) !== undefined;
}

// ---- Idempotency-Key (idempotency.rs, store/idempotency.rs) ------------------
const requestHash = (body) => crypto.createHash('sha256').update(body).digest('hex').slice(0, 32);

async function claim(conv, who, k, hash, messageId) {
  if (k === undefined) return { fresh: undefined };
  const now = Math.floor(Date.now() / 1000);
  const record = { pk: `IDEM#${conv}#${who.user_id}#${k}`, request_hash: hash, message_id: messageId, claimed_at: now };
  const item = c.key(record.pk, '#IDEM');
  item.request_hash = c.s(hash);
  item.message_id = c.s(messageId);
  item.state = c.s('pending');
  item.expires_at = c.n(now + IDEM_TTL_SECS);
  item.claimed_at = c.n(now);
  try {
    await c.ddb.send(new PutItemCommand({ TableName: c.TABLE, Item: item, ConditionExpression: 'attribute_not_exists(PK)' }));
    return { fresh: record };
  } catch (e) {
    if (!(e && e.name === 'ConditionalCheckFailedException')) throw e;
  }
  const got = await c.ddb.send(new GetItemCommand({ TableName: c.TABLE, Key: c.key(record.pk, '#IDEM'), ConsistentRead: true }));
  const prev = got.Item;
  if (!prev) throw new ApiError(503, 'unavailable', 'idempotency record vanished');
  if (c.reqS(prev, 'request_hash') !== hash) {
    throw new ApiError(422, 'idempotency_key_reused', 'this Idempotency-Key was used for a different message');
  }
  const state = c.getS(prev, 'state');
  if (state === 'sent') {
    const sk = c.getS(prev, 'message_sk');
    const m = sk && (await c.ddb.send(new GetItemCommand({ TableName: c.TABLE, Key: c.key(c.convPk(conv), sk), ConsistentRead: true }))).Item;
    if (!m) throw new ApiError(500, 'internal', 'idempotent message missing');
    return { replay: [false, messageViewOfItem(m)] };
  }
  const unknown = 'an earlier request with this Idempotency-Key timed out at Twilio; it was not re-sent. '
    + 'Check the conversation before sending again with a new key';
  if (state === 'unknown' || now - (c.getN(prev, 'claimed_at') || 0) > PENDING_CLAIM_TIMEOUT_SECS) {
    throw new ApiError(409, 'delivery_unknown', unknown);
  }
  throw new ApiError(409, 'request_in_progress', 'a request with this Idempotency-Key is still in progress; retry shortly');
}

async function release(idem, outcomeUnknown) {
  if (!idem) return;
  try {
    if (outcomeUnknown) {
      await c.ddb.send(new UpdateItemCommand({
        TableName: c.TABLE, Key: c.key(idem.pk, '#IDEM'), UpdateExpression: 'SET #st = :u', ConditionExpression: '#st = :p',
        ExpressionAttributeNames: { '#st': 'state' }, ExpressionAttributeValues: { ':u': c.s('unknown'), ':p': c.s('pending') },
      }));
    } else {
      await c.transact([{ Delete: {
        TableName: c.TABLE, Key: c.key(idem.pk, '#IDEM'), ConditionExpression: '#st = :p',
        ExpressionAttributeNames: { '#st': 'state' }, ExpressionAttributeValues: { ':p': c.s('pending') },
      } }], TransactWriteItemsCommand);
    }
  } catch (e) {
    c.log('ERROR', 'could not update idempotency record', { error: String(e && e.message || e) });
  }
}

// ---- Twilio Conversations (twilio/mod.rs send_conversation_message) ----------
function twilioPost(path, form) {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: TWILIO_BASE.hostname,
      port: TWILIO_BASE.port || 443,
      path,
      method: 'POST',
      agent: twilioAgent,
      timeout: 10000,
      headers: {
        authorization: TWILIO_AUTH,
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
        accept: '*/*',
        'user-agent': 'booking-messaging-node-bench/0.0.0',
      },
    }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(Object.assign(e, { outcomeUnknown: true })));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('twilio timeout'), { outcomeUnknown: true })));
    req.on('error', (e) => reject(Object.assign(e, { outcomeUnknown: e.outcomeUnknown ?? true })));
    req.end(body);
  });
}

async function sendConversationMessage(sid, author, body, attributes) {
  const res = await twilioPost(`/v1/Conversations/${encodeURIComponent(sid)}/Messages`,
    [['Author', author], ['Body', body], ['Attributes', attributes]]);
  if (res.status >= 200 && res.status < 300) return JSON.parse(res.body);
  let code;
  try { code = JSON.parse(res.body).code; } catch { /* not JSON */ }
  throw Object.assign(new Error(`twilio ${res.status}`), { twilioStatus: res.status, twilioCode: code, outcomeUnknown: res.status >= 500 });
}

// ---- storing the sent message (outgoing.rs store_sent, messages.rs store_message)
function storeMessageItems(head, msg, fx, idem) {
  const conv = head.meta.id;
  const items = [c.txPut(c.messageItem(msg), 'attribute_not_exists(PK)')];
  const metaIdx = items.length;
  const newest = c.isNewest(head.meta, msg);
  const first = head.meta.first_message_at;
  const firstAt = first !== undefined && first < msg.created_at ? first : msg.created_at;
  let set = 'SET version = version + :one, message_count = message_count + :one, '
    + 'first_message_at = :first, pending_side = :ps, pending_since = :pss';
  const values = [[':one', c.n(1)], [':v', c.n(head.meta.version)], [':first', c.s(firstAt)],
    [':ps', c.s(fx.pending_side)], [':pss', c.s(fx.pending_since)]];
  if (newest) {
    set += ', last_message_at = :now, last_message_id = :mid, last_message_preview = :pv, last_message_author = :au';
    if (head.meta.inbox) {
      set += ', GSI1SK = :g';
      values.push([':g', c.s(c.activitySk(msg.created_at, conv))]);
    }
    values.push([':now', c.s(msg.created_at)], [':mid', c.s(msg.id)], [':pv', c.s(fx.preview)], [':au', c.s(msg.author_id)]);
  }
  if (msg.twilio_index !== undefined) {
    set += ', last_message_index = :ix';
    const cur = head.meta.last_message_index;
    values.push([':ix', c.n(cur === undefined ? msg.twilio_index : Math.max(cur, msg.twilio_index))]);
  }
  if (fx.response_ms !== undefined) {
    set += ', response_count = response_count + :one, response_total_ms = response_total_ms + :rt, '
      + 'first_response_ms = if_not_exists(first_response_ms, :rt)';
    values.push([':rt', c.n(fx.response_ms)]);
  }
  items.push(c.txUpdate(c.key(c.convPk(conv), '#META'), set, 'version = :v', values));
  const gsk = c.activitySk(msg.created_at, conv);
  for (const p of head.participants.filter((x) => x.is_active)) {
    if (p.user_id === msg.author_id) {
      if (newest) {
        items.push(c.txUpdate(c.key(c.convPk(conv), `#PART#${p.user_id}`),
          'SET GSI1SK = :g, last_read_at = :now, last_read_message_id = :mid', undefined,
          [[':g', c.s(gsk)], [':now', c.s(msg.created_at)], [':mid', c.s(msg.id)]]));
      }
    } else {
      const [expr, vals] = newest ? ['SET GSI1SK = :g ADD unread_count :one', [[':g', c.s(gsk)]]] : ['ADD unread_count :one', []];
      vals.push([':one', c.n(1)]);
      items.push(c.txUpdate(c.key(c.convPk(conv), `#PART#${p.user_id}`), expr, undefined, vals));
      items.push(...c.addUnread(c.key(`USER#${p.user_id}`, '#COUNTERS'), 1));
    }
  }
  if (idem) {
    items.push(c.txUpdate(c.key(idem.pk, '#IDEM'), 'SET #st = :sent, message_sk = :sk', undefined,
      [[':sent', c.s('sent')], [':sk', c.s(c.sortKey(msg))]], [['#st', 'state']]));
  }
  let sidIdx;
  if (msg.twilio_sid !== undefined) {
    sidIdx = items.length;
    items.push(c.claimSid(msg.twilio_sid, msg));
  }
  return { items, metaIdx, sidIdx };
}

async function storeSent(head, msg, now, idem) {
  let guarded = true;
  for (let attempt = 0; attempt < STORE_SENT_ATTEMPTS; attempt++) {
    const fx = c.messageEffects(head.meta, msg.author_type, msg.body, now);
    const write = guarded ? msg : { ...msg, twilio_sid: undefined };
    const { items, metaIdx, sidIdx } = storeMessageItems(head, write, fx, idem);
    const out = await c.transact(items, TransactWriteItemsCommand);
    if (out === 'done') return;
    let conflict = out === 'contended';
    if (!conflict) {
      const sidFailed = out.failed.find(([i]) => i === sidIdx);
      if (sidFailed) {
        const old = sidFailed[1];
        const owner = old && c.getS(old, 'conversation_id') !== undefined && c.getS(old, 'message_sk') !== undefined;
        if (!owner) conflict = true;
        else if (c.getS(old, 'conversation_id') === msg.conversation_id && c.getS(old, 'message_sk') === c.sortKey(msg)) return;
        else {
          // The webhook echo stored it first, or another message holds the
          // SID: not handled further here (see README).
          guarded = false;
          continue;
        }
      } else if (out.failed.some(([i]) => i === metaIdx)) conflict = true;
      else throw new Error(`message transaction condition failed at ${out.failed.map(([i]) => i)}`);
    }
    await new Promise((res) => setTimeout(res, Math.min(5 * 2 ** attempt, 200) * Math.random()));
    head = await loadHead(msg.conversation_id);
    if (!head) throw new ApiError(404, 'not_found', 'not found');
  }
  throw new ApiError(503, 'unavailable', 'too much contention');
}

const messageView = (m) => {
  const v = {
    id: m.id, conversation_id: m.conversation_id, author_id: m.author_id, author_type: m.author_type,
    body: m.body, created_at: m.created_at, status: m.status, twilio_message_sid: m.twilio_sid ?? null,
  };
  if (m.error_code !== undefined) v.error_code = m.error_code;
  return v;
};

function messageViewOfItem(i) {
  return messageView({
    id: c.reqS(i, 'id'), conversation_id: c.reqS(i, 'conversation_id'), author_id: c.reqS(i, 'author_id'),
    author_type: c.getS(i, 'author_type') || 'system', body: c.getS(i, 'body') || '', created_at: c.reqS(i, 'created_at'),
    status: c.getS(i, 'status') || 'sent', twilio_sid: c.getS(i, 'twilio_sid'), error_code: c.getS(i, 'error_code'),
  });
}

// ---- the handler (functions/send-message, chat/send.rs) ------------------------
async function run1(event) {
  const headers = event.headers || {};
  const who = caller(headers);
  const id = event.pathParameters && event.pathParameters.id;
  if (!id) throw new ApiError(404, 'not_found', 'not found');
  let idemKey = headers['idempotency-key'];
  if (idemKey !== undefined && !(idemKey.length > 0 && idemKey.length <= 255 && /^[\x21-\x7e]+$/.test(idemKey))) {
    throw new ApiError(400, 'invalid_idempotency_key', 'Idempotency-Key must be 1-255 visible ASCII characters');
  }
  const input = parseInput(event);
  if (!(id.startsWith('conv_') && idLike(id, 64))) throw new ApiError(404, 'not_found', 'not found');
  const head = await loadHead(id);
  if (!head || !canSee(head, who)) throw new ApiError(404, 'not_found', 'not found');
  if (head.meta.inbox) {
    throw new ApiError(501, 'not_implemented', 'WhatsApp/SMS replies are not implemented in this comparator');
  }
  if (input.content_sid !== undefined || input.media_urls !== undefined) {
    throw new ApiError(422, 'invalid_request', 'templates and media are for WhatsApp/SMS conversations; send a body');
  }
  if (input.body === undefined) throw new ApiError(422, 'invalid_request', 'missing field `body`');
  const me = activeParticipant(head, who.user_id);
  if (!me) throw new ApiError(403, 'not_a_participant', 'only an active participant of this conversation can do this');
  if (head.meta.status === 'closed') throw new ApiError(409, 'conversation_closed', 'this conversation is closed');
  const body = input.body;
  if (body.trim() === '') throw new ApiError(422, 'empty_body', 'body must contain text');
  const chars = Array.from(body).length;
  if (chars > 1600) throw new ApiError(422, 'body_too_long', `body has ${chars} characters; the limit is 1600`);
  const conv = head.meta.id;
  const messageId = `msg_${ulid().toLowerCase()}`;
  const cl = await claim(conv, who, idemKey, requestHash(body), messageId);
  if (cl.replay) return json(200, cl.replay[1]);
  const idem = cl.fresh;
  if (head.meta.twilio_sid === undefined) throw new ApiError(500, 'internal', 'booking conversation without Twilio SID');
  // serde_json::json! keeps its keys sorted.
  const attributes = JSON.stringify({ conversation_id: conv, message_id: messageId, user_type: me.user_type });
  let sent;
  try {
    sent = await sendConversationMessage(head.meta.twilio_sid, me.identity, body, attributes);
  } catch (e) {
    await release(idem, e.outcomeUnknown !== false);
    throw new ApiError(e.twilioStatus === 429 ? 429 : 503, e.twilioStatus === 429 ? 'twilio_rate_limited' : 'twilio_unavailable',
      'the message could not be sent', e.twilioCode ? { twilio_code: e.twilioCode } : undefined);
  }
  const now = new Date();
  const msg = {
    id: messageId,
    conversation_id: conv,
    author_id: me.user_id,
    author_type: me.user_type,
    body,
    created_at: c.formatTs(now),
    twilio_sid: sent.sid,
    twilio_index: typeof sent.index === 'number' ? sent.index : undefined,
    status: 'sent',
  };
  await storeSent(head, msg, now, idem);
  return json(201, messageView(msg));
}

async function handler(event) {
  try {
    return await run1(event);
  } catch (e) {
    return errorResponse(e);
  }
}

Promise.all([c.warmUpDynamo(), c.warmUp(twilioAgent, TWILIO_BASE.href)])
  .then(() => run(handler))
  .catch((e) => {
    process.stderr.write(`${e && e.stack || e}\n`);
    process.exit(1);
  });
